// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {IERC20} from "./interfaces/IERC20.sol";
import {IERC1155, IERC1155Receiver} from "./interfaces/IERC1155.sol";
import {ReentrancyGuard} from "./utils/ReentrancyGuard.sol";
import {SafeERC20} from "./utils/SafeERC20.sol";

/// @notice The two calls of the Gnosis ConditionalTokens a Proxy makes on its own balance: both burn only the
/// caller's positions and pay only the caller.
interface IConditionalTokens {
    function redeemPositions(address collateralToken, bytes32 parentCollectionId, bytes32 conditionId, uint256[] calldata indexSets)
        external;
    function mergePositions(
        address collateralToken,
        bytes32 parentCollectionId,
        bytes32 conditionId,
        uint256[] calldata partition,
        uint256 amount
    ) external;
}

/// @notice The NegRiskAdapter's WrappedCollateral: anyone unwraps their own balance into the underlying.
interface IWrappedCollateral {
    function underlying() external view returns (address);
    function unwrap(address to, uint256 amount) external;
}

/// @notice What a Proxy reads back from the factory that is deploying it.
interface IProxyDeployer {
    function parameters()
        external
        view
        returns (address owner, address executor, uint128 maxPerTrade, uint128 maxPerDay);
}

/// @title Proxy
/// @notice A follower's wallet. The owner deposits and withdraws at any time (also while paused); the Executor
/// may only send tokens out to its worker (or that worker's registered trading wallet), within the owner's
/// per-trade and per-day limits, and only while neither side is paused. There is no generic call, no approval
/// and no delegatecall: nothing here can be made to grant anyone an allowance. The owner or the Executor may
/// redeem the Proxy's resolved positions and merge its matched YES + NO at the CTF: the CTF burns and pays the
/// caller only, so the proceeds stay here.
contract Proxy is ReentrancyGuard, IERC1155Receiver {
    using SafeERC20 for IERC20;

    error NotOwner(address caller);
    error NotExecutor(address caller);
    error ProxyPaused();
    error ExceedsMaxPerTrade(uint256 amount, uint256 maxPerTrade);
    error ExceedsMaxPerDay(uint256 spentToday, uint256 maxPerDay);
    error NotOwnerOrExecutor(address caller);

    event Deposited(address indexed token, uint256 amount);
    event Withdrawn(address indexed token, uint256 indexed id, address indexed to, uint256 amount);
    event LimitsSet(uint256 maxPerTrade, uint256 maxPerDay);
    event PausedSet(bool paused);
    event ExecutorTransfer(address indexed token, uint256 indexed id, address indexed to, uint256 amount, uint256 fee);
    event Redeemed(address indexed ctf, address indexed collateral, bytes32 indexed conditionId, uint256 paid);
    event Merged(address indexed ctf, address indexed collateral, bytes32 indexed conditionId, uint256 amount);

    address public immutable factory;
    address public immutable owner;
    address public immutable executor;

    // One slot each: a pull reads the limits with one SLOAD and updates the daily spend with one SSTORE.
    uint128 public maxPerTrade;
    uint128 public maxPerDay;
    uint64 public spendDay;
    uint184 public spentOnDay;
    bool public paused;

    /// @dev No arguments, so that the init code hash is one constant per build and the CREATE2 address of
    /// any owner's Proxy can be computed off chain (docs/seams.md).
    constructor() {
        factory = msg.sender;
        uint128 perTrade;
        uint128 perDay;
        (owner, executor, perTrade, perDay) = IProxyDeployer(msg.sender).parameters();
        maxPerTrade = perTrade;
        maxPerDay = perDay;
        emit LimitsSet(perTrade, perDay);
    }

    modifier onlyOwner() {
        if (msg.sender != owner) revert NotOwner(msg.sender);
        _;
    }

    modifier onlyExecutor() {
        if (msg.sender != executor) revert NotExecutor(msg.sender);
        _;
    }

    // ---------------------------------------------------------------- owner

    /// @notice Pulls `amount` of an ERC-20 from the owner (who approved this Proxy beforehand).
    function deposit(address token, uint256 amount) external onlyOwner nonReentrant {
        emit Deposited(token, amount);
        IERC20(token).safeTransferFrom(msg.sender, address(this), amount);
    }

    function withdrawERC20(address token, address to, uint256 amount) external onlyOwner nonReentrant {
        emit Withdrawn(token, 0, to, amount);
        IERC20(token).safeTransfer(to, amount);
    }

    function withdrawERC1155(address token, uint256 id, address to, uint256 amount) external onlyOwner nonReentrant {
        emit Withdrawn(token, id, to, amount);
        IERC1155(token).safeTransferFrom(address(this), to, id, amount, "");
    }

    /// @notice Caps what the Executor may move out: per operation and per UTC day (base units; an outcome
    /// token counts as 1 collateral unit, the most it can be worth).
    function setLimits(uint128 perTrade, uint128 perDay) external onlyOwner {
        maxPerTrade = perTrade;
        maxPerDay = perDay;
        emit LimitsSet(perTrade, perDay);
    }

    function setPaused(bool value) external onlyOwner {
        paused = value;
        emit PausedSet(value);
    }

    /// @notice What the Executor may still move out today.
    function remainingToday() external view returns (uint256) {
        uint256 spent = spendDay == block.timestamp / 1 days ? spentOnDay : 0;
        return spent >= maxPerDay ? 0 : maxPerDay - spent;
    }

    modifier onlyOwnerOrExecutor() {
        if (msg.sender != owner && msg.sender != executor) revert NotOwnerOrExecutor(msg.sender);
        _;
    }

    // ------------------------------------------------------ redeem and merge

    /// @notice Redeems all of this Proxy's positions of the resolved binary `conditionId` over `collateral`
    /// at `ctf`; with `unwrap` (neg-risk positions, over the adapter's WrappedCollateral) the payout is unwrapped
    /// into its underlying here. Returns what the Proxy's balance of the paying token grew by. Allowed while
    /// paused: nothing leaves the Proxy.
    function redeem(address ctf, address collateral, bytes32 conditionId, bool unwrap)
        external
        onlyOwnerOrExecutor
        nonReentrant
        returns (uint256 paid)
    {
        uint256 before = IERC20(collateral).balanceOf(address(this));
        IConditionalTokens(ctf).redeemPositions(collateral, bytes32(0), conditionId, _binaryPartition());
        paid = IERC20(collateral).balanceOf(address(this)) - before;
        if (unwrap && paid != 0) paid = _unwrap(collateral, paid);
        emit Redeemed(ctf, collateral, conditionId, paid);
    }

    /// @notice Merges `amount` YES + NO of `conditionId` over `collateral` back into `amount` collateral (its
    /// underlying with `unwrap`), kept here.
    function merge(address ctf, address collateral, bytes32 conditionId, uint256 amount, bool unwrap)
        external
        onlyOwnerOrExecutor
        nonReentrant
        returns (uint256 paid)
    {
        uint256 before = IERC20(collateral).balanceOf(address(this));
        IConditionalTokens(ctf).mergePositions(collateral, bytes32(0), conditionId, _binaryPartition(), amount);
        paid = IERC20(collateral).balanceOf(address(this)) - before;
        if (unwrap && paid != 0) paid = _unwrap(collateral, paid);
        emit Merged(ctf, collateral, conditionId, amount);
    }

    function _unwrap(address wrapped, uint256 amount) private returns (uint256) {
        IERC20 underlying = IERC20(IWrappedCollateral(wrapped).underlying());
        uint256 before = underlying.balanceOf(address(this));
        IWrappedCollateral(wrapped).unwrap(address(this), amount);
        return underlying.balanceOf(address(this)) - before;
    }

    function _binaryPartition() private pure returns (uint256[] memory partition) {
        partition = new uint256[](2);
        partition[0] = 1;
        partition[1] = 2;
    }

    // ------------------------------------------------------------- executor

    /// @notice Sends `amount` of `token` to the Executor's worker `to` and `fee` to `feeTo`; both count
    /// against the limits. The Executor checks the token allowlist and that `to` is an authorised worker or
    /// its registered wallet.
    function executorTransferERC20(address token, address to, uint256 amount, address feeTo, uint256 fee)
        external
        onlyExecutor
        nonReentrant
    {
        _spend(amount + fee);
        emit ExecutorTransfer(token, 0, to, amount, fee);
        IERC20(token).safeTransfer(to, amount);
        if (fee != 0) IERC20(token).safeTransfer(feeTo, fee);
    }

    function executorTransferERC1155(address token, uint256 id, address to, uint256 amount)
        external
        onlyExecutor
        nonReentrant
    {
        _spend(amount);
        emit ExecutorTransfer(token, id, to, amount, 0);
        IERC1155(token).safeTransferFrom(address(this), to, id, amount, "");
    }

    function _spend(uint256 amount) private {
        if (paused) revert ProxyPaused();
        if (amount > maxPerTrade) revert ExceedsMaxPerTrade(amount, maxPerTrade);
        uint64 today = uint64(block.timestamp / 1 days);
        uint256 spent = (spendDay == today ? spentOnDay : 0) + amount;
        if (spent > maxPerDay) revert ExceedsMaxPerDay(spent, maxPerDay);
        spendDay = today;
        spentOnDay = uint184(spent);
    }

    // ------------------------------------------------------------- ERC-1155

    function onERC1155Received(address, address, uint256, uint256, bytes calldata) external pure returns (bytes4) {
        return IERC1155Receiver.onERC1155Received.selector;
    }

    function onERC1155BatchReceived(address, address, uint256[] calldata, uint256[] calldata, bytes calldata)
        external
        pure
        returns (bytes4)
    {
        return IERC1155Receiver.onERC1155BatchReceived.selector;
    }

    function supportsInterface(bytes4 interfaceId) external pure returns (bool) {
        return interfaceId == 0x01ffc9a7 || interfaceId == 0x4e2312e0; // ERC-165, ERC-1155 receiver
    }
}
