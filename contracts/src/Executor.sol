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
///  - repay a debt: Proxy -> an authorised worker that fronted a buy (Smart Buffer), within the limits;
///  - redeem or merge: a Proxy redeems its resolved positions, or merges matched YES + NO, at the allowlisted
///    CTF; the CTF pays the Proxy itself, so nothing goes to the worker or anywhere else.
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
///
/// What a leaked worker key can take is bounded three ways:
///  - **Hourly cap per worker.** Everything a worker makes Proxies send towards it (its pulls, and the debt
///    repayments whose creditor it is), counted as the Proxy's limits count it (collateral at face value plus
///    the fee, outcome tokens at 1 unit each), is charged to that worker in 20-minute sub-windows. A call is
///    allowed only if the charges of the current sub-window and the 3 before it, plus the call's, stay within
///    `workerCap(worker)`. Every 60-minute period meets at most 4 consecutive sub-windows, all of them counted
///    by the check of the last charge in it: so a worker receives **at most its cap in any 60-minute
///    period**, and a compromised worker's haul before the owner pauses it `t` seconds later is at most
///    `cap * ceil(t / 3600)`.
///  - **Debts on chain.** A Smart Buffer push records its debt (at most the pushed amount, owed to the worker
///    or the wallet it fronted from, keyed by a never-reused id); a repayment pays at most what is still open
///    of a recorded debt, only to its recorded payee, and counts against the creditor's cap.
///  - **Delayed widening.** After `finishSetup`, owner changes that widen what workers may do (authorise a
///    worker, register a wallet, raise a cap, add a token, change the treasury or raise the fee) are queued
///    and run only `changeDelay` seconds later; narrowing ones (deauthorise, lower a cap, pause) are immediate.
contract Executor is Owned, ReentrancyGuard {
    using SafeERC20 for IERC20;

    uint8 public constant KIND_NONE = 0;
    uint8 public constant KIND_ERC20 = 1;
    uint8 public constant KIND_ERC1155 = 2;
    /// @notice A collateral that positions may be over (USDC.e) but that workers never pull or push: only
    /// `redeemBatch`/`mergeBatch` name it.
    uint8 public constant KIND_COLLATERAL = 3;
    /// @notice The NegRiskAdapter's WrappedCollateral: positions over it are redeemed or merged and unwrapped
    /// into its underlying by the Proxy.
    uint8 public constant KIND_WRAPPED = 4;
    uint16 public constant MAX_FEE_BPS = 1_000;
    uint256 public constant WORKER_SUBWINDOW = 20 minutes;
    uint256 public constant WORKER_SUBWINDOWS = 4;
    /// @notice The charges of one sub-window are packed as uint48 (2**48 - 1 base units = $281M).
    uint256 public constant MAX_WORKER_CAP = type(uint48).max;

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
    error WorkerCapExceeded(address worker, uint256 wouldBe, uint256 cap);
    error CapTooHigh(uint256 cap);
    error InvalidDebt(uint256 debtAmount, uint256 pushed);
    error DebtExists(bytes32 debtId);
    error UnknownDebt(bytes32 debtId);
    error DebtMismatch(bytes32 debtId);
    error DebtExceedsOpen(bytes32 debtId, uint256 amount, uint256 open);
    error ChangeNeedsDelay(bytes4 selector);
    error NotDelayable(bytes4 selector);
    error ChangeAlreadyQueued(bytes32 id);
    error ChangeNotQueued(bytes32 id);
    error ChangeNotReady(bytes32 id, uint256 readyAt);
    error NotCollateral(address token);

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

    event ProxyRedeemed(
        address indexed proxy, bytes32 indexed conditionId, address indexed collateral, uint256 paid, address worker
    );
    event ProxyMerged(
        address indexed proxy, bytes32 indexed conditionId, address indexed collateral, uint256 amount, address worker
    );

    event WorkerWalletSet(address indexed worker, address indexed wallet);
    event WorkerCapSet(address indexed worker, uint256 cap);
    event DebtRecorded(
        bytes32 indexed debtId,
        address indexed proxy,
        address indexed creditor,
        address token,
        uint256 amount,
        address payee
    );
    event DebtReassigned(
        bytes32 indexed debtId, address indexed creditor, address indexed newCreditor, address newPayee
    );
    event ChangeQueued(bytes32 indexed id, bytes call, uint256 readyAt);
    event ChangeExecuted(bytes32 indexed id, bytes call);
    event ChangeCancelled(bytes32 indexed id);
    event SetupFinished();
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

    /// @notice Seconds a widening change waits between `queueChange` and `executeChange`.
    uint256 public immutable changeDelay;
    /// @notice The cap of a worker the owner never gave one (`setWorkerCap`).
    uint256 public immutable defaultWorkerCap;
    /// @notice False during deployment, when every admin call applies at once; `finishSetup` ends it.
    bool public setupFinished;
    /// @notice When a queued change (id = keccak256 of its calldata) may run; zero when not queued.
    mapping(bytes32 => uint256) public changeReadyAt;
    // Cap + 1, so that zero means "the default".
    mapping(address => uint256) private _capPlusOne;
    // Bits 0-63: the newest sub-window's index; then 4 x uint48 charges, newest first.
    mapping(address => uint256) private _charges;
    // One slot per debt: the top 160 bits commit to (proxy, token, creditor, payee), the low 96 are still open.
    mapping(bytes32 => uint256) private _debts;
    // Set only while `executeChange` calls this contract.
    bool private transient _inChange;

    constructor(address owner_, uint256 changeDelay_, uint256 defaultWorkerCap_) Owned(owner_) {
        if (defaultWorkerCap_ > MAX_WORKER_CAP) revert CapTooHigh(defaultWorkerCap_);
        changeDelay = changeDelay_;
        defaultWorkerCap = defaultWorkerCap_;
    }

    modifier onlyWorker() {
        if (!isWorker[msg.sender]) revert NotWorker(msg.sender);
        if (paused) revert ExecutorPaused();
        _;
    }

    // ---------------------------------------------------------------- admin

    function setWorker(address worker, bool authorised) external {
        _authoriseChange(authorised && !isWorker[worker]);
        isWorker[worker] = authorised;
        emit WorkerSet(worker, authorised);
    }

    function setWorkers(address[] calldata workers, bool authorised) external {
        _authoriseChange(authorised);
        for (uint256 i; i < workers.length; ++i) {
            isWorker[workers[i]] = authorised;
            emit WorkerSet(workers[i], authorised);
        }
    }

    /// @notice Allowlists `token` as ERC-20 (1), ERC-1155 (2), redemption-only collateral (3) or wrapped
    /// collateral (4), or removes it (0).
    function setToken(address token, uint8 kind) external {
        if (kind > KIND_WRAPPED) revert TokenNotAllowed(token, kind);
        _authoriseChange(kind != KIND_NONE && kind != tokenKind[token]);
        tokenKind[token] = kind;
        emit TokenSet(token, kind);
    }

    function setPaused(bool value) external onlyOwner {
        paused = value;
        emit PausedSet(value);
    }

    /// @notice The copy fee: `bps` of each collateral pull and debt repayment, paid by the Proxy to `treasury_`.
    function setFee(address treasury_, uint16 bps) external {
        if (bps > MAX_FEE_BPS) revert FeeTooHigh(bps);
        _authoriseChange(treasury_ != treasury || bps > feeBps);
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
    function setWorkerWallet(address worker, address wallet) external {
        _authoriseChange(wallet != address(0) && wallet != walletOf[worker]);
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

    /// @notice Sets `worker`'s hourly cap (base units, see the contract's notice); raising it waits the delay.
    function setWorkerCap(address worker, uint256 cap) external {
        if (cap > MAX_WORKER_CAP) revert CapTooHigh(cap);
        _authoriseChange(cap > workerCap(worker));
        _capPlusOne[worker] = cap + 1;
        emit WorkerCapSet(worker, cap);
    }

    /// @notice Moves an open debt to another creditor (a fleet rotation): `newCreditor` must be an authorised
    /// worker and `newPayee` it or its registered wallet. Immediate: what Proxies owe does not change.
    function reassignDebt(
        bytes32 debtId,
        address proxy,
        address token,
        address creditor,
        address payee,
        address newCreditor,
        address newPayee
    ) external onlyOwner {
        uint256 record = _debtRecord(debtId, proxy, token, creditor, payee);
        _requireCreditorAccount(newCreditor, newPayee);
        _debts[debtId] = _debtCommitment(proxy, token, newCreditor, newPayee) | uint96(record);
        emit DebtReassigned(debtId, creditor, newCreditor, newPayee);
    }

    /// @notice Handing the Executor over waits the delay after setup: a stolen owner key must not take the
    /// Executor before the real owner has paused it and cancelled what the thief queued.
    function transferOwnership(address newOwner) external override {
        _authoriseChange(true);
        pendingOwner = newOwner;
        emit OwnershipTransferStarted(owner, newOwner);
    }

    /// @notice Ends deployment: from now on widening changes go through `queueChange` (unless `changeDelay`
    /// is zero, as on local chains).
    function finishSetup() external onlyOwner {
        setupFinished = true;
        emit SetupFinished();
    }

    /// @notice Queues a widening admin call (its full calldata) to run after `changeDelay`.
    function queueChange(bytes calldata call) external onlyOwner returns (bytes32 id) {
        bytes4 selector = bytes4(call);
        if (
            selector != this.setWorker.selector && selector != this.setWorkers.selector
                && selector != this.setWorkerWallet.selector && selector != this.setWorkerCap.selector
                && selector != this.setToken.selector && selector != this.setFee.selector
                && selector != this.transferOwnership.selector
        ) revert NotDelayable(selector);
        id = keccak256(call);
        if (changeReadyAt[id] != 0) revert ChangeAlreadyQueued(id);
        uint256 readyAt = block.timestamp + changeDelay;
        changeReadyAt[id] = readyAt;
        emit ChangeQueued(id, call, readyAt);
    }

    /// @notice Runs a queued change whose delay has passed; its own checks apply as they are now.
    function executeChange(bytes calldata call) external onlyOwner {
        bytes32 id = keccak256(call);
        uint256 readyAt = changeReadyAt[id];
        if (readyAt == 0) revert ChangeNotQueued(id);
        if (block.timestamp < readyAt) revert ChangeNotReady(id, readyAt);
        delete changeReadyAt[id];
        _inChange = true;
        (bool ok, bytes memory reason) = address(this).call(call);
        _inChange = false;
        if (!ok) {
            assembly ("memory-safe") {
                revert(add(reason, 32), mload(reason))
            }
        }
        emit ChangeExecuted(id, call);
    }

    function cancelChange(bytes32 id) external onlyOwner {
        if (changeReadyAt[id] == 0) revert ChangeNotQueued(id);
        delete changeReadyAt[id];
        emit ChangeCancelled(id);
    }

    // ---------------------------------------------------------------- views

    /// @notice `worker`'s cap: what Proxies may send towards it in any 60-minute period (base units).
    function workerCap(address worker) public view returns (uint256) {
        uint256 capPlusOne = _capPlusOne[worker];
        return capPlusOne == 0 ? defaultWorkerCap : capPlusOne - 1;
    }

    /// @notice What counts against `worker`'s cap now: a call charging `v` passes iff this + v <= the cap.
    function workerPulledInWindow(address worker) external view returns (uint256 total) {
        uint256 packed = _charges[worker];
        uint256 shift = block.timestamp / WORKER_SUBWINDOW - uint64(packed);
        for (uint256 i; i + shift < WORKER_SUBWINDOWS; ++i) {
            total += uint48(packed >> (64 + 48 * i));
        }
    }

    /// @notice The key under which `worker`'s push with `debtId` records its debt: `debtOpen`, the
    /// repayments and `reassignDebt` take this key (it stays the same when the owner moves the debt).
    function debtKey(address worker, bytes32 debtId) public pure returns (bytes32) {
        return keccak256(abi.encode(worker, debtId));
    }

    /// @notice What is still owed of debt `debtId` (zero once repaid, or for an id never recorded).
    function debtOpen(bytes32 debtId) external view returns (uint256) {
        return uint96(_debts[debtId]);
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

    /// @notice Calling worker -> Proxy: outcome tokens it bought with its own float (Smart Buffer), recording
    /// the debt `debtId`: `debtAmount` of `debtToken` (at most `amount`, a token being worth at most 1 unit),
    /// owed to the calling worker.
    function pushERC1155WithDebt(
        address proxy,
        address token,
        uint256 id,
        uint256 amount,
        address debtToken,
        uint256 debtAmount,
        bytes32 debtId
    ) external onlyWorker nonReentrant {
        _requireKind(token, KIND_ERC1155);
        _recordDebt(proxy, debtToken, debtAmount, amount, debtId, msg.sender);
        _pushERC1155(proxy, token, id, amount);
    }

    /// @notice As `pushERC1155WithDebt`, from `from` (the calling worker or its wallet), to which the debt is
    /// then owed.
    function pushERC1155FromWithDebt(
        address proxy,
        address token,
        uint256 id,
        uint256 amount,
        address from,
        address debtToken,
        uint256 debtAmount,
        bytes32 debtId
    ) external onlyWorker nonReentrant {
        _requireKind(token, KIND_ERC1155);
        _requireOwn(from);
        _recordDebt(proxy, debtToken, debtAmount, amount, debtId, from);
        _pushERC1155From(proxy, token, id, amount, from);
    }

    /// @notice Proxy -> `creditor`: repays up to what is open of the recorded debt `debtId`, owed to the
    /// authorised worker `creditor` itself.
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

    /// @dev Admin calls: the owner; a widening one only during setup or with no delay, else through the queue.
    function _authoriseChange(bool widening) private view {
        if (_inChange && msg.sender == address(this)) return;
        if (msg.sender != owner) revert NotOwner(msg.sender);
        if (widening && setupFinished && changeDelay != 0) revert ChangeNeedsDelay(msg.sig);
    }

    /// @dev Charges `value` to `worker`'s window, rolling it forward to the current sub-window first.
    function _charge(address worker, uint256 value) private {
        uint256 cap = workerCap(worker);
        uint256 packed = _charges[worker];
        uint256 index = block.timestamp / WORKER_SUBWINDOW;
        uint256 shift = index - uint64(packed);
        uint256 total = value;
        uint256 next;
        // Each count is below 2**48 and `value` below the cap's bound checked next: no sum can overflow.
        unchecked {
            if (shift == 0) {
                // The common case (several charges in one sub-window, a batch): add to the newest count.
                for (uint256 i; i < WORKER_SUBWINDOWS; ++i) {
                    total += uint48(packed >> (64 + 48 * i));
                }
                next = packed + (value << 64);
            } else {
                // The charges of old slot j move to slot j + shift; those that would leave the window drop.
                next = index | (value << 64);
                for (uint256 i = shift; i < WORKER_SUBWINDOWS; ++i) {
                    uint256 count = uint48(packed >> (64 + 48 * (i - shift)));
                    total += count;
                    next += count << (64 + 48 * i);
                }
            }
        }
        if (value > cap || total > cap) revert WorkerCapExceeded(worker, total, cap);
        _charges[worker] = next;
    }

    function _debtCommitment(address proxy, address token, address creditor, address payee)
        private
        pure
        returns (uint256)
    {
        return uint256(keccak256(abi.encode(proxy, token, creditor, payee))) >> 96 << 96;
    }

    function _recordDebt(
        address proxy,
        address debtToken,
        uint256 debtAmount,
        uint256 pushed,
        bytes32 debtId,
        address payee
    ) private {
        _requireKind(debtToken, KIND_ERC20);
        if (debtAmount == 0 || debtAmount > pushed || debtAmount > type(uint96).max) {
            revert InvalidDebt(debtAmount, pushed);
        }
        // Keyed by the recording worker: another worker (a leaked key) cannot take an id first.
        bytes32 key = debtKey(msg.sender, debtId);
        if (_debts[key] != 0) revert DebtExists(key);
        _debts[key] = _debtCommitment(proxy, debtToken, msg.sender, payee) | debtAmount;
        emit DebtRecorded(key, proxy, msg.sender, debtToken, debtAmount, payee);
    }

    /// @dev The record of `debtId`, which must be the debt of `proxy` in `token` owed to `creditor`, paid to `payee`.
    function _debtRecord(bytes32 debtId, address proxy, address token, address creditor, address payee)
        private
        view
        returns (uint256 record)
    {
        record = _debts[debtId];
        if (record == 0) revert UnknownDebt(debtId);
        if (record >> 96 << 96 != _debtCommitment(proxy, token, creditor, payee)) revert DebtMismatch(debtId);
    }

    function _settleDebt(bytes32 debtId, address proxy, address token, uint256 amount, address creditor, address payee)
        private
    {
        uint256 record = _debtRecord(debtId, proxy, token, creditor, payee);
        uint256 open = uint96(record);
        if (amount > open) revert DebtExceedsOpen(debtId, amount, open);
        _debts[debtId] = record - amount;
    }

    // ------------------------------------------------------ redeem and merge

    /// @notice Each Proxy redeems all its positions of the resolved `conditionId` over `collateral` at `ctf`;
    /// the payout stays in the Proxy. All or nothing.
    function redeemBatch(address[] calldata proxies, address ctf, address collateral, bytes32 conditionId)
        external
        onlyWorker
        nonReentrant
    {
        bool unwrap = _positionsCall(ctf, collateral);
        for (uint256 i; i < proxies.length; ++i) {
            _requireProxy(proxies[i]);
            uint256 paid = Proxy(proxies[i]).redeem(ctf, collateral, conditionId, unwrap);
            emit ProxyRedeemed(proxies[i], conditionId, collateral, paid, msg.sender);
        }
    }

    /// @notice Each Proxy merges `amounts[i]` YES + NO of `conditionId` over `collateral` back into collateral,
    /// kept in the Proxy. All or nothing.
    function mergeBatch(
        address[] calldata proxies,
        address ctf,
        address collateral,
        bytes32 conditionId,
        uint256[] calldata amounts
    ) external onlyWorker nonReentrant {
        if (proxies.length != amounts.length) revert LengthMismatch();
        bool unwrap = _positionsCall(ctf, collateral);
        for (uint256 i; i < proxies.length; ++i) {
            _requireProxy(proxies[i]);
            Proxy(proxies[i]).merge(ctf, collateral, conditionId, amounts[i], unwrap);
            emit ProxyMerged(proxies[i], conditionId, collateral, amounts[i], msg.sender);
        }
    }

    /// @dev The CTF must be the allowlisted ERC-1155 and the collateral an allowlisted one; true when the
    /// Proxy must unwrap what it is paid.
    function _positionsCall(address ctf, address collateral) private view returns (bool unwrap) {
        _requireKind(ctf, KIND_ERC1155);
        uint8 kind = tokenKind[collateral];
        if (kind != KIND_ERC20 && kind != KIND_COLLATERAL && kind != KIND_WRAPPED) revert NotCollateral(collateral);
        return kind == KIND_WRAPPED;
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
        _charge(msg.sender, amount + fee);
        emit Pulled(proxy, msg.sender, token, 0, amount, fee);
        Proxy(proxy).executorTransferERC20(token, msg.sender, amount, treasury, fee);
    }

    function _pullERC1155(address proxy, address token, uint256 id, uint256 amount) private {
        _requireProxy(proxy);
        _charge(msg.sender, amount);
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
        _settleDebt(debtId, proxy, token, amount, creditor, creditor);
        uint256 fee = _fee(amount);
        _charge(creditor, amount + fee);
        emit DebtRepaid(proxy, creditor, token, amount, fee, debtId, msg.sender);
        Proxy(proxy).executorTransferERC20(token, creditor, amount, treasury, fee);
    }

    function _pullERC20To(address proxy, address token, uint256 amount, address to) private {
        _requireProxy(proxy);
        uint256 fee = _fee(amount);
        _charge(msg.sender, amount + fee);
        emit PulledTo(proxy, msg.sender, token, 0, amount, fee, to);
        Proxy(proxy).executorTransferERC20(token, to, amount, treasury, fee);
    }

    function _pullERC1155To(address proxy, address token, uint256 id, uint256 amount, address to) private {
        _requireProxy(proxy);
        _charge(msg.sender, amount);
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
        _settleDebt(debtId, proxy, token, amount, creditor, to);
        uint256 fee = _fee(amount);
        _charge(creditor, amount + fee);
        emit DebtRepaidTo(proxy, creditor, token, amount, fee, debtId, msg.sender, to);
        Proxy(proxy).executorTransferERC20(token, to, amount, treasury, fee);
    }
}
