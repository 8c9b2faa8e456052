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
///
/// Worker wallets (the CLOB's deposit wallets): the owner may bind each worker to one trading wallet
/// (`setWorkerWallet`). The `...To` pulls and `repayDebtTo` send to a destination that must be the calling
/// worker (the creditor, for a debt) or its registered wallet; the `...From` pushes spend from a source that
/// must be the calling worker or its registered wallet (which approved this Executor once, through its
/// owner-only `execute`). A wallet is bound for ever to the first worker registered with it: its owner key
/// never changes, so after a worker key leaks, no other worker can be pointed at the wallet that key controls.
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
    error NotOwnWallet(address worker, address account);
    error WalletTaken(address wallet, address worker);
    error InvalidWallet(address wallet);

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

    event WorkerWalletSet(address indexed worker, address indexed wallet);
    event PulledTo(
        address indexed proxy,
        address indexed worker,
        address indexed token,
        uint256 id,
        uint256 amount,
        uint256 fee,
        address to
    );
    event PushedFrom(
        address indexed proxy, address indexed worker, address indexed token, uint256 id, uint256 amount, address from
    );
    /// @dev Indexed like `DebtRepaid` (proxy, creditor, token), so that one log filter finds both.
    event DebtRepaidTo(
        address indexed proxy,
        address indexed creditor,
        address indexed token,
        uint256 amount,
        uint256 fee,
        bytes32 debtId,
        address worker,
        address to
    );

    address public factory;
    address public treasury;
    uint16 public feeBps;
    bool public paused;
    mapping(address => bool) public isWorker;
    mapping(address => uint8) public tokenKind;
    /// @notice Registered Proxies (by the factory) -> their owners; zero for anything else.
    mapping(address => address) public proxyOwner;
    /// @notice A worker's registered trading wallet; zero for none.
    mapping(address => address) public walletOf;
    /// @notice The worker a wallet was first registered to; it stays bound to it after being cleared or
    /// replaced, so it can be registered again to that worker only.
    mapping(address => address) public workerOfWallet;

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

    /// @notice Registers `wallet` as `worker`'s trading wallet, or clears the registration (`wallet` zero).
    /// `worker` must be authorised; `wallet` must be a contract (a deposit wallet: an EOA would be a second
    /// key outside the fleet), neither a worker, a Proxy nor this Executor, and never registered to another
    /// worker before: a wallet belongs for ever to the first worker bound to it, even once cleared or replaced.
    /// So whatever a wallet holds can only ever be pushed on by its own worker, and a leaked worker key, which
    /// controls that worker's wallet, can never receive another worker's pulls. Replacing a worker's wallet
    /// leaves what the old one holds there: register the old one again to push it back into Proxies.
    function setWorkerWallet(address worker, address wallet) external onlyOwner {
        if (wallet != address(0)) {
            if (!isWorker[worker]) revert NotWorker(worker);
            if (
                wallet == worker || wallet == address(this) || wallet.code.length == 0 || isWorker[wallet]
                    || proxyOwner[wallet] != address(0)
            ) revert InvalidWallet(wallet);
            address bound = workerOfWallet[wallet];
            if (bound == address(0)) workerOfWallet[wallet] = worker;
            else if (bound != worker) revert WalletTaken(wallet, bound);
        }
        walletOf[worker] = wallet;
        emit WorkerWalletSet(worker, wallet);
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

    // ------------------------------------------- worker: to / from a wallet

    /// @notice Proxy -> `to` (the calling worker or its wallet): `amount` of an allowlisted ERC-20.
    function pullERC20To(address proxy, address token, uint256 amount, address to) external onlyWorker nonReentrant {
        _requireKind(token, KIND_ERC20);
        _requireOwn(to);
        _pullERC20To(proxy, token, amount, to);
    }

    /// @notice Proxy -> `to` (the calling worker or its wallet): `amount` of ERC-1155 `id`.
    function pullERC1155To(address proxy, address token, uint256 id, uint256 amount, address to)
        external
        onlyWorker
        nonReentrant
    {
        _requireKind(token, KIND_ERC1155);
        _requireOwn(to);
        _pullERC1155To(proxy, token, id, amount, to);
    }

    /// @notice `from` (the calling worker or its wallet) -> Proxy: `amount` of an allowlisted ERC-20.
    function pushERC20From(address proxy, address token, uint256 amount, address from)
        external
        onlyWorker
        nonReentrant
    {
        _requireKind(token, KIND_ERC20);
        _requireOwn(from);
        _pushERC20From(proxy, token, amount, from);
    }

    /// @notice `from` (the calling worker or its wallet) -> Proxy: `amount` of ERC-1155 `id`.
    function pushERC1155From(address proxy, address token, uint256 id, uint256 amount, address from)
        external
        onlyWorker
        nonReentrant
    {
        _requireKind(token, KIND_ERC1155);
        _requireOwn(from);
        _pushERC1155From(proxy, token, id, amount, from);
    }

    /// @notice Proxy -> `to` (the authorised `creditor` or its wallet): `amount` of an ERC-20.
    function repayDebtTo(address proxy, address token, uint256 amount, address creditor, address to, bytes32 debtId)
        external
        onlyWorker
        nonReentrant
    {
        _requireKind(token, KIND_ERC20);
        _requireCreditorAccount(creditor, to);
        _repayDebtTo(proxy, token, amount, creditor, to, debtId);
    }

    function pullERC20BatchTo(address[] calldata proxies, address token, uint256[] calldata amounts, address to)
        external
        onlyWorker
        nonReentrant
    {
        _requireKind(token, KIND_ERC20);
        _requireOwn(to);
        if (proxies.length != amounts.length) revert LengthMismatch();
        for (uint256 i; i < proxies.length; ++i) {
            _pullERC20To(proxies[i], token, amounts[i], to);
        }
    }

    function pullERC1155BatchTo(
        address[] calldata proxies,
        address token,
        uint256[] calldata ids,
        uint256[] calldata amounts,
        address to
    ) external onlyWorker nonReentrant {
        _requireKind(token, KIND_ERC1155);
        _requireOwn(to);
        if (proxies.length != ids.length || proxies.length != amounts.length) revert LengthMismatch();
        for (uint256 i; i < proxies.length; ++i) {
            _pullERC1155To(proxies[i], token, ids[i], amounts[i], to);
        }
    }

    function pushERC20BatchFrom(address[] calldata proxies, address token, uint256[] calldata amounts, address from)
        external
        onlyWorker
        nonReentrant
    {
        _requireKind(token, KIND_ERC20);
        _requireOwn(from);
        if (proxies.length != amounts.length) revert LengthMismatch();
        for (uint256 i; i < proxies.length; ++i) {
            _pushERC20From(proxies[i], token, amounts[i], from);
        }
    }

    function pushERC1155BatchFrom(
        address[] calldata proxies,
        address token,
        uint256[] calldata ids,
        uint256[] calldata amounts,
        address from
    ) external onlyWorker nonReentrant {
        _requireKind(token, KIND_ERC1155);
        _requireOwn(from);
        if (proxies.length != ids.length || proxies.length != amounts.length) revert LengthMismatch();
        for (uint256 i; i < proxies.length; ++i) {
            _pushERC1155From(proxies[i], token, ids[i], amounts[i], from);
        }
    }

    function repayDebtBatchTo(
        address[] calldata proxies,
        address token,
        uint256[] calldata amounts,
        address creditor,
        address to,
        bytes32[] calldata debtIds
    ) external onlyWorker nonReentrant {
        _requireKind(token, KIND_ERC20);
        _requireCreditorAccount(creditor, to);
        if (proxies.length != amounts.length || proxies.length != debtIds.length) revert LengthMismatch();
        for (uint256 i; i < proxies.length; ++i) {
            _repayDebtTo(proxies[i], token, amounts[i], creditor, to, debtIds[i]);
        }
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

    /// @dev `account` must be the calling worker or its registered wallet (zero never matches "no wallet").
    function _requireOwn(address account) private view {
        if (account != msg.sender && (account == address(0) || account != walletOf[msg.sender])) {
            revert NotOwnWallet(msg.sender, account);
        }
    }

    function _requireCreditorAccount(address creditor, address to) private view {
        if (!isWorker[creditor]) revert NotWorker(creditor);
        if (to != creditor && (to == address(0) || to != walletOf[creditor])) revert NotOwnWallet(creditor, to);
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

    function _pullERC20To(address proxy, address token, uint256 amount, address to) private {
        _requireProxy(proxy);
        uint256 fee = _fee(amount);
        emit PulledTo(proxy, msg.sender, token, 0, amount, fee, to);
        Proxy(proxy).executorTransferERC20(token, to, amount, treasury, fee);
    }

    function _pullERC1155To(address proxy, address token, uint256 id, uint256 amount, address to) private {
        _requireProxy(proxy);
        emit PulledTo(proxy, msg.sender, token, id, amount, 0, to);
        Proxy(proxy).executorTransferERC1155(token, id, to, amount);
    }

    function _pushERC20From(address proxy, address token, uint256 amount, address from) private {
        _requireProxy(proxy);
        emit PushedFrom(proxy, msg.sender, token, 0, amount, from);
        IERC20(token).safeTransferFrom(from, proxy, amount);
    }

    function _pushERC1155From(address proxy, address token, uint256 id, uint256 amount, address from) private {
        _requireProxy(proxy);
        emit PushedFrom(proxy, msg.sender, token, id, amount, from);
        IERC1155(token).safeTransferFrom(from, proxy, id, amount, "");
    }

    function _repayDebtTo(
        address proxy,
        address token,
        uint256 amount,
        address creditor,
        address to,
        bytes32 debtId
    ) private {
        _requireProxy(proxy);
        uint256 fee = _fee(amount);
        emit DebtRepaidTo(proxy, creditor, token, amount, fee, debtId, msg.sender, to);
        Proxy(proxy).executorTransferERC20(token, to, amount, treasury, fee);
    }
}
