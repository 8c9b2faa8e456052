// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {IERC20} from "./interfaces/IERC20.sol";
import {IERC1155} from "./interfaces/IERC1155.sol";
import {Owned} from "./utils/Owned.sol";
import {ReentrancyGuard} from "./utils/ReentrancyGuard.sol";
import {SafeERC20} from "./utils/SafeERC20.sol";
import {Proxy} from "./Proxy.sol";

/// @title Executor
/// @notice The only door through which the operator fleet (authorised workers) touches followers' Proxies.
/// A worker can move allowlisted tokens between a registered Proxy and itself, and nothing else:
///  - pull: Proxy -> the calling worker (collateral for a BUY, outcome tokens for a SELL), within the
///    Proxy's limits;
///  - push: the calling worker -> Proxy (outcome tokens after a BUY, collateral after a SELL);
///  - repay a debt: Proxy -> an authorised worker that fronted a buy (Smart Buffer), within the limits.
/// There is no arbitrary target or calldata, no approve/permit/setApprovalForAll/transferFrom on a Proxy's
/// behalf and no delegatecall; a push only spends the calling worker's own allowance. Every operation emits
/// an event; batched forms take arrays of Proxies and revert as a whole.
contract Executor is Owned, ReentrancyGuard {
    using SafeERC20 for IERC20;

    uint8 public constant KIND_NONE = 0;
    uint8 public constant KIND_ERC20 = 1;
    uint8 public constant KIND_ERC1155 = 2;
    uint16 public constant MAX_FEE_BPS = 1_000;

    error NotWorker(address caller);
    error NotFactory(address caller);
    error NotProxy(address proxy);
    error ExecutorPaused();
    error TokenNotAllowed(address token, uint8 kind);
    error LengthMismatch();
    error FactoryAlreadySet(address factory);
    error FeeTooHigh(uint256 bps);
    error ZeroAddress();

    event WorkerSet(address indexed worker, bool authorised);
    event TokenSet(address indexed token, uint8 kind);
    event PausedSet(bool paused);
    event FeeSet(address indexed treasury, uint16 bps);
    event FactorySet(address indexed factory);
    event ProxyRegistered(address indexed proxy, address indexed owner);
    event Pulled(
        address indexed proxy, address indexed worker, address indexed token, uint256 id, uint256 amount, uint256 fee
    );
    event Pushed(address indexed proxy, address indexed worker, address indexed token, uint256 id, uint256 amount);
    event DebtRepaid(
        address indexed proxy,
        address indexed creditor,
        address indexed token,
        uint256 amount,
        uint256 fee,
        bytes32 debtId,
        address worker
    );

    address public factory;
    address public treasury;
    uint16 public feeBps;
    bool public paused;
    mapping(address => bool) public isWorker;
    mapping(address => uint8) public tokenKind;
    /// @notice Registered Proxies (by the factory) -> their owners; zero for anything else.
    mapping(address => address) public proxyOwner;

    constructor(address owner_) Owned(owner_) {}

    modifier onlyWorker() {
        if (!isWorker[msg.sender]) revert NotWorker(msg.sender);
        if (paused) revert ExecutorPaused();
        _;
    }

    // ---------------------------------------------------------------- admin

    function setWorker(address worker, bool authorised) external onlyOwner {
        isWorker[worker] = authorised;
        emit WorkerSet(worker, authorised);
    }

    function setWorkers(address[] calldata workers, bool authorised) external onlyOwner {
        for (uint256 i; i < workers.length; ++i) {
            isWorker[workers[i]] = authorised;
            emit WorkerSet(workers[i], authorised);
        }
    }

    /// @notice Allowlists `token` as ERC-20 (1) or ERC-1155 (2), or removes it (0).
    function setToken(address token, uint8 kind) external onlyOwner {
        if (kind > KIND_ERC1155) revert TokenNotAllowed(token, kind);
        tokenKind[token] = kind;
        emit TokenSet(token, kind);
    }

    function setPaused(bool value) external onlyOwner {
        paused = value;
        emit PausedSet(value);
    }

    /// @notice The copy fee: `bps` of each collateral pull and debt repayment, paid by the Proxy to `treasury_`.
    function setFee(address treasury_, uint16 bps) external onlyOwner {
        if (bps > MAX_FEE_BPS) revert FeeTooHigh(bps);
        if (bps != 0 && treasury_ == address(0)) revert ZeroAddress();
        treasury = treasury_;
        feeBps = bps;
        emit FeeSet(treasury_, bps);
    }

    /// @notice Binds the one ProxyFactory allowed to register Proxies; settable once.
    function setFactory(address factory_) external onlyOwner {
        if (factory != address(0)) revert FactoryAlreadySet(factory);
        if (factory_ == address(0)) revert ZeroAddress();
        factory = factory_;
        emit FactorySet(factory_);
    }

    function registerProxy(address proxy, address owner_) external {
        if (msg.sender != factory) revert NotFactory(msg.sender);
        proxyOwner[proxy] = owner_;
        emit ProxyRegistered(proxy, owner_);
    }

    // ------------------------------------------------------ worker: single

    /// @notice Proxy -> calling worker: `amount` of an allowlisted ERC-20 (a BUY's collateral).
    function pullERC20(address proxy, address token, uint256 amount) external onlyWorker nonReentrant {
        _requireKind(token, KIND_ERC20);
        _pullERC20(proxy, token, amount);
    }

    /// @notice Proxy -> calling worker: `amount` of ERC-1155 `id` (a SELL's outcome tokens).
    function pullERC1155(address proxy, address token, uint256 id, uint256 amount) external onlyWorker nonReentrant {
        _requireKind(token, KIND_ERC1155);
        _pullERC1155(proxy, token, id, amount);
    }

    /// @notice Calling worker -> Proxy: `amount` of an allowlisted ERC-20 (a SELL's proceeds).
    function pushERC20(address proxy, address token, uint256 amount) external onlyWorker nonReentrant {
        _requireKind(token, KIND_ERC20);
        _pushERC20(proxy, token, amount);
    }

    /// @notice Calling worker -> Proxy: `amount` of ERC-1155 `id` (a BUY's outcome tokens).
    function pushERC1155(address proxy, address token, uint256 id, uint256 amount) external onlyWorker nonReentrant {
        _requireKind(token, KIND_ERC1155);
        _pushERC1155(proxy, token, id, amount);
    }

    /// @notice Proxy -> `creditor` (an authorised worker that fronted a buy): `amount` of an ERC-20.
    function repayDebt(address proxy, address token, uint256 amount, address creditor, bytes32 debtId)
        external
        onlyWorker
        nonReentrant
    {
        _requireKind(token, KIND_ERC20);
        _repayDebt(proxy, token, amount, creditor, debtId);
    }

    // ------------------------------------------------------- worker: batch

    function pullERC20Batch(address[] calldata proxies, address token, uint256[] calldata amounts)
        external
        onlyWorker
        nonReentrant
    {
        _eachERC20(proxies, token, amounts, _pullERC20);
    }

    function pullERC1155Batch(
        address[] calldata proxies,
        address token,
        uint256[] calldata ids,
        uint256[] calldata amounts
    ) external onlyWorker nonReentrant {
        _eachERC1155(proxies, token, ids, amounts, _pullERC1155);
    }

    function pushERC20Batch(address[] calldata proxies, address token, uint256[] calldata amounts)
        external
        onlyWorker
        nonReentrant
    {
        _eachERC20(proxies, token, amounts, _pushERC20);
    }

    function pushERC1155Batch(
        address[] calldata proxies,
        address token,
        uint256[] calldata ids,
        uint256[] calldata amounts
    ) external onlyWorker nonReentrant {
        _eachERC1155(proxies, token, ids, amounts, _pushERC1155);
    }

    function repayDebtBatch(
        address[] calldata proxies,
        address token,
        uint256[] calldata amounts,
        address creditor,
        bytes32[] calldata debtIds
    ) external onlyWorker nonReentrant {
        _requireKind(token, KIND_ERC20);
        if (proxies.length != amounts.length || proxies.length != debtIds.length) revert LengthMismatch();
        for (uint256 i; i < proxies.length; ++i) {
            _repayDebt(proxies[i], token, amounts[i], creditor, debtIds[i]);
        }
    }

    // ------------------------------------------------------------ internal

    function _requireKind(address token, uint8 kind) private view {
        if (tokenKind[token] != kind) revert TokenNotAllowed(token, kind);
    }

    function _eachERC20(
        address[] calldata proxies,
        address token,
        uint256[] calldata amounts,
        function(address, address, uint256) op
    ) private {
        _requireKind(token, KIND_ERC20);
        if (proxies.length != amounts.length) revert LengthMismatch();
        for (uint256 i; i < proxies.length; ++i) {
            op(proxies[i], token, amounts[i]);
        }
    }

    function _eachERC1155(
        address[] calldata proxies,
        address token,
        uint256[] calldata ids,
        uint256[] calldata amounts,
        function(address, address, uint256, uint256) op
    ) private {
        _requireKind(token, KIND_ERC1155);
        if (proxies.length != ids.length || proxies.length != amounts.length) revert LengthMismatch();
        for (uint256 i; i < proxies.length; ++i) {
            op(proxies[i], token, ids[i], amounts[i]);
        }
    }

    function _requireProxy(address proxy) private view {
        if (proxyOwner[proxy] == address(0)) revert NotProxy(proxy);
    }

    function _fee(uint256 amount) private view returns (uint256) {
        return amount * feeBps / 10_000;
    }

    function _pullERC20(address proxy, address token, uint256 amount) private {
        _requireProxy(proxy);
        uint256 fee = _fee(amount);
        emit Pulled(proxy, msg.sender, token, 0, amount, fee);
        Proxy(proxy).executorTransferERC20(token, msg.sender, amount, treasury, fee);
    }

    function _pullERC1155(address proxy, address token, uint256 id, uint256 amount) private {
        _requireProxy(proxy);
        emit Pulled(proxy, msg.sender, token, id, amount, 0);
        Proxy(proxy).executorTransferERC1155(token, id, msg.sender, amount);
    }

    function _pushERC20(address proxy, address token, uint256 amount) private {
        _requireProxy(proxy);
        emit Pushed(proxy, msg.sender, token, 0, amount);
        IERC20(token).safeTransferFrom(msg.sender, proxy, amount);
    }

    function _pushERC1155(address proxy, address token, uint256 id, uint256 amount) private {
        _requireProxy(proxy);
        emit Pushed(proxy, msg.sender, token, id, amount);
        IERC1155(token).safeTransferFrom(msg.sender, proxy, id, amount, "");
    }

    function _repayDebt(address proxy, address token, uint256 amount, address creditor, bytes32 debtId) private {
        _requireProxy(proxy);
        if (!isWorker[creditor]) revert NotWorker(creditor);
        uint256 fee = _fee(amount);
        emit DebtRepaid(proxy, creditor, token, amount, fee, debtId, msg.sender);
        Proxy(proxy).executorTransferERC20(token, creditor, amount, treasury, fee);
    }
}
