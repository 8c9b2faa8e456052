// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {IERC20} from "../../interfaces/IERC20.sol";
import {IERC1155, IERC1155Receiver} from "../../interfaces/IERC1155.sol";
import {ReentrancyGuard} from "../../utils/ReentrancyGuard.sol";
import {SafeERC20} from "../../utils/SafeERC20.sol";

/// @notice The Gnosis ConditionalTokens calls the exchange makes for MINT and MERGE matches.
interface IConditionalTokensSplitMerge {
    function splitPosition(
        address collateralToken,
        bytes32 parentCollectionId,
        bytes32 conditionId,
        uint256[] calldata partition,
        uint256 amount
    ) external;
    function mergePositions(
        address collateralToken,
        bytes32 parentCollectionId,
        bytes32 conditionId,
        uint256[] calldata partition,
        uint256 amount
    ) external;
}

interface IERC1271Wallet {
    function isValidSignature(bytes32 hash, bytes calldata signature) external view returns (bytes4);
}

/// @notice Polymarket CTF Exchange V2's signed order; the EIP-712 type covers every field but `signature`.
/// side: 0 BUY, 1 SELL. signatureType: 0 EOA, 1 POLY_PROXY, 2 POLY_GNOSIS_SAFE, 3 POLY_1271.
struct Order {
    uint256 salt;
    address maker;
    address signer;
    uint256 tokenId;
    uint256 makerAmount;
    uint256 takerAmount;
    uint8 side;
    uint8 signatureType;
    uint256 timestamp;
    bytes32 metadata;
    bytes32 builder;
    bytes signature;
}

/// @notice `remaining` is 0 for an order never filled (then the whole makerAmount remains).
struct OrderStatus {
    bool isFilledOrCancelled;
    uint256 remaining;
}

/// @title CTFExchangeV2
/// @notice Local/test chains only: a settlement contract with Polymarket CTF Exchange V2's interface, order
/// hashing, signature rules, match types and events, so that orders signed by the official client for
/// Polygon settle here the same way. Deployed twice (standard and neg-risk): the instances differ only as
/// verifying contracts. Operators settle matches the off-chain book found; admins run the registry and pause.
///
/// Fill amounts are in each order's maker-amount terms; taking = making × takerAmount / makerAmount (floor).
/// The taker order's executed amounts are what the makers' fills imply (never more than `takerFillAmount`,
/// and at least the taker's own price), and they are what its status consumes and its events report.
/// Complementary legs move tokens peer to peer; MINT and MERGE legs go through this contract and the CTF.
contract CTFExchangeV2 is ReentrancyGuard, IERC1155Receiver {
    using SafeERC20 for IERC20;

    error NotAdmin(address caller);
    error NotOperator(address caller);
    error TradingIsPaused();
    error InvalidSignature(bytes32 orderHash);
    error InvalidSide(uint8 side);
    error ZeroMakerAmount();
    error ZeroFillAmount();
    error OrderFilledOrCancelled(bytes32 orderHash);
    error MakingGtRemaining(bytes32 orderHash, uint256 making, uint256 remaining);
    error NotCrossing();
    error MismatchedTokenIds();
    error TokenNotOfCondition(uint256 tokenId, bytes32 conditionId);
    error UnknownToken(uint256 tokenId);
    error MismatchedArrayLengths();
    error NoMakerOrders();
    error TakerFillExceeded(uint256 executed, uint256 takerFillAmount);
    error TooLittleTokensReceived(uint256 received, uint256 minimum);
    error FeeExceedsMaxRate(uint256 fee, uint256 maxFee);
    error FeeExceedsProceeds(uint256 fee, uint256 proceeds);
    error MaxFeeRateTooHigh(uint256 rateBps);
    error NotOrderMaker(address caller, address maker);
    error InvalidRegistration();
    error AlreadyRegistered(uint256 tokenId);
    error ZeroAddress();

    event OrderFilled(
        bytes32 indexed orderHash,
        address indexed maker,
        address indexed taker,
        uint8 side,
        uint256 tokenId,
        uint256 makerAmountFilled,
        uint256 takerAmountFilled,
        uint256 fee,
        bytes32 builder,
        bytes32 metadata
    );
    event OrdersMatched(
        bytes32 indexed takerOrderHash,
        address indexed takerOrderMaker,
        uint8 side,
        uint256 tokenId,
        uint256 makerAmountFilled,
        uint256 takerAmountFilled
    );
    event FeeCharged(address indexed receiver, uint256 amount);
    event OrderCancelled(bytes32 indexed orderHash);
    event TokenRegistered(uint256 indexed token0, uint256 indexed token1, bytes32 indexed conditionId);
    event TradingPaused(address indexed pauser);
    event TradingUnpaused(address indexed pauser);
    event NewAdmin(address indexed newAdmin, address indexed admin);
    event RemovedAdmin(address indexed removedAdmin, address indexed admin);
    event NewOperator(address indexed newOperator, address indexed admin);
    event RemovedOperator(address indexed removedOperator, address indexed admin);
    event FeeReceiverUpdated(address indexed receiver);
    event MaxFeeRateUpdated(uint256 rateBps);
    event NegRiskSet(bool negRisk);

    uint8 internal constant BUY = 0;
    uint8 internal constant SELL = 1;
    uint8 internal constant EOA = 0;
    uint8 internal constant POLY_1271 = 3;
    bytes4 internal constant ERC1271_MAGIC = 0x1626ba7e;
    uint256 internal constant BPS = 10_000;
    uint256 internal constant HALF_N = 0x7fffffffffffffffffffffffffffffff5d576e7357a4501ddfe92f46681b20a0;

    bytes32 public constant ORDER_TYPEHASH = keccak256(
        "Order(uint256 salt,address maker,address signer,uint256 tokenId,uint256 makerAmount,uint256 takerAmount,"
        "uint8 side,uint8 signatureType,uint256 timestamp,bytes32 metadata,bytes32 builder)"
    );
    bytes32 internal constant DOMAIN_TYPEHASH =
        keccak256("EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)");
    bytes32 internal constant NAME_HASH = keccak256("Polymarket CTF Exchange");
    bytes32 internal constant VERSION_HASH = keccak256("2");

    IERC20 public immutable collateral;
    address public immutable ctf;
    address public immutable depositWalletFactory;

    bool public negRisk;
    bool public paused;
    address public feeReceiver;
    uint256 public maxFeeRateBps = 500;

    mapping(address => bool) public isAdmin;
    mapping(address => bool) public isOperator;
    mapping(uint256 => uint256) internal _complement;
    mapping(uint256 => bytes32) internal _conditionOf;
    mapping(bytes32 => OrderStatus) internal _status;

    /// @dev One maker leg, computed (and its status consumed) before any transfer.
    struct Leg {
        bytes32 hash;
        uint256 making;
        uint256 taking;
        bool complementary;
    }

    /// @dev An OrderFilled row being emitted (one memory word on the stack instead of ten).
    struct Filled {
        bytes32 orderHash;
        address maker;
        address taker;
        uint8 side;
        uint256 tokenId;
        uint256 making;
        uint256 taking;
        uint256 fee;
    }

    /// @dev The taker's side of a match, summed over its legs.
    struct Totals {
        bytes32 takerHash;
        uint256 takerMaking;
        uint256 takerTaking;
        // MINT: tokens split and collateral the makers paid; MERGE: tokens merged and collateral makers earn.
        uint256 ctfAmount;
        uint256 ctfOffset;
        // Fees of complementary SELL makers when the taker buys: paid out of the taker's collateral.
        uint256 feesFromTaker;
        // Fees this contract holds during the match (BUY makers', MINT/MERGE legs', a SELL taker's).
        uint256 feesHeld;
    }

    constructor(address collateral_, address ctf_, address depositWalletFactory_) {
        if (collateral_ == address(0) || ctf_ == address(0)) revert ZeroAddress();
        collateral = IERC20(collateral_);
        ctf = ctf_;
        depositWalletFactory = depositWalletFactory_;
        feeReceiver = msg.sender;
        isAdmin[msg.sender] = true;
        emit NewAdmin(msg.sender, msg.sender);
        emit FeeReceiverUpdated(msg.sender);
        // MINT matches split collateral held here.
        IERC20(collateral_).approve(ctf_, type(uint256).max);
    }

    modifier onlyAdmin() {
        if (!isAdmin[msg.sender]) revert NotAdmin(msg.sender);
        _;
    }

    modifier onlyOperator() {
        if (!isOperator[msg.sender]) revert NotOperator(msg.sender);
        _;
    }

    // --- admin ----------------------------------------------------------------------------------------------

    function addAdmin(address admin) external onlyAdmin {
        isAdmin[admin] = true;
        emit NewAdmin(admin, msg.sender);
    }

    function removeAdmin(address admin) external onlyAdmin {
        isAdmin[admin] = false;
        emit RemovedAdmin(admin, msg.sender);
    }

    function addOperator(address operator) external onlyAdmin {
        isOperator[operator] = true;
        emit NewOperator(operator, msg.sender);
    }

    function removeOperator(address operator) external onlyAdmin {
        isOperator[operator] = false;
        emit RemovedOperator(operator, msg.sender);
    }

    function pauseTrading() external onlyAdmin {
        paused = true;
        emit TradingPaused(msg.sender);
    }

    function unpauseTrading() external onlyAdmin {
        paused = false;
        emit TradingUnpaused(msg.sender);
    }

    function setNegRisk(bool negRisk_) external onlyAdmin {
        negRisk = negRisk_;
        emit NegRiskSet(negRisk_);
    }

    function setFeeReceiver(address receiver) external onlyAdmin {
        if (receiver == address(0)) revert ZeroAddress();
        feeReceiver = receiver;
        emit FeeReceiverUpdated(receiver);
    }

    /// @notice 0 disables the check; 10 000 bps (100 %) and above are refused.
    function setMaxFeeRate(uint256 rateBps) external onlyAdmin {
        if (rateBps >= BPS) revert MaxFeeRateTooHigh(rateBps);
        maxFeeRateBps = rateBps;
        emit MaxFeeRateUpdated(rateBps);
    }

    /// @notice Registers a binary market's two outcome tokens, each as the other's complement.
    function registerToken(uint256 token, uint256 complement, bytes32 conditionId) external onlyAdmin {
        if (token == complement || token == 0 || complement == 0 || conditionId == bytes32(0)) {
            revert InvalidRegistration();
        }
        if (_conditionOf[token] != bytes32(0)) revert AlreadyRegistered(token);
        if (_conditionOf[complement] != bytes32(0)) revert AlreadyRegistered(complement);
        _complement[token] = complement;
        _complement[complement] = token;
        _conditionOf[token] = conditionId;
        _conditionOf[complement] = conditionId;
        emit TokenRegistered(token, complement, conditionId);
        emit TokenRegistered(complement, token, conditionId);
    }

    // --- views ----------------------------------------------------------------------------------------------

    function getComplement(uint256 token) external view returns (uint256) {
        if (_conditionOf[token] == bytes32(0)) revert UnknownToken(token);
        return _complement[token];
    }

    function getConditionId(uint256 token) external view returns (bytes32) {
        if (_conditionOf[token] == bytes32(0)) revert UnknownToken(token);
        return _conditionOf[token];
    }

    function getFeeReceiver() external view returns (address) {
        return feeReceiver;
    }

    function getMaxFeeRate() external view returns (uint256) {
        return maxFeeRateBps;
    }

    function getOrderStatus(bytes32 orderHash) external view returns (OrderStatus memory) {
        return _status[orderHash];
    }

    function domainSeparator() public view returns (bytes32) {
        return keccak256(abi.encode(DOMAIN_TYPEHASH, NAME_HASH, VERSION_HASH, block.chainid, address(this)));
    }

    /// @notice The EIP-712 digest of `order` under this exchange's domain: the order id.
    function hashOrder(Order memory order) public view returns (bytes32) {
        bytes32 structHash = keccak256(
            bytes.concat(
                abi.encode(
                    ORDER_TYPEHASH,
                    order.salt,
                    order.maker,
                    order.signer,
                    order.tokenId,
                    order.makerAmount,
                    order.takerAmount
                ),
                abi.encode(order.side, order.signatureType, order.timestamp, order.metadata, order.builder)
            )
        );
        return keccak256(abi.encodePacked(hex"1901", domainSeparator(), structHash));
    }

    /// @notice Reverts with the reason `order` could not be filled now (signature, size, side, status, token).
    function validateOrder(Order memory order) external view {
        if (_conditionOf[order.tokenId] == bytes32(0)) revert UnknownToken(order.tokenId);
        _validateOrder(hashOrder(order), order);
    }

    // --- cancel ---------------------------------------------------------------------------------------------

    /// @notice The order's maker (an EOA, or a deposit wallet through its `execute`) cancels it for good.
    function cancelOrder(Order memory order) external nonReentrant {
        _cancel(order);
    }

    function cancelOrders(Order[] memory orders) external nonReentrant {
        for (uint256 i = 0; i < orders.length; ++i) {
            _cancel(orders[i]);
        }
    }

    function _cancel(Order memory order) internal {
        if (msg.sender != order.maker) revert NotOrderMaker(msg.sender, order.maker);
        bytes32 orderHash = hashOrder(order);
        OrderStatus storage status = _status[orderHash];
        if (status.isFilledOrCancelled) revert OrderFilledOrCancelled(orderHash);
        status.isFilledOrCancelled = true;
        status.remaining = 0;
        emit OrderCancelled(orderHash);
    }

    // --- matching -------------------------------------------------------------------------------------------

    /// @notice Settles `takerOrder` against `makerOrders` (all of one condition), as the operator matched them.
    /// Selector 0x3c2b4399, as on Polygon.
    function matchOrders(
        bytes32 conditionId,
        Order memory takerOrder,
        Order[] memory makerOrders,
        uint256 takerFillAmount,
        uint256[] memory makerFillAmounts,
        uint256 takerFeeAmount,
        uint256[] memory makerFeeAmounts
    ) external nonReentrant onlyOperator {
        if (paused) revert TradingIsPaused();
        uint256 n = makerOrders.length;
        if (n == 0) revert NoMakerOrders();
        if (n != makerFillAmounts.length || n != makerFeeAmounts.length) revert MismatchedArrayLengths();

        // Checks and effects: every order validated and its status consumed before any token moves.
        Totals memory t;
        Leg[] memory legs = new Leg[](n);
        t.takerHash = hashOrder(takerOrder);
        _validateOrder(t.takerHash, takerOrder);
        _checkCondition(takerOrder.tokenId, conditionId);
        for (uint256 i = 0; i < n; ++i) {
            legs[i] = _prepareMaker(conditionId, takerOrder, makerOrders[i], makerFillAmounts[i], makerFeeAmounts[i]);
            _addLeg(t, takerOrder.side, legs[i], makerFeeAmounts[i]);
        }
        _closeTaker(t, takerOrder, takerFillAmount, takerFeeAmount);

        // Interactions.
        if (takerOrder.side == BUY) {
            _settleTakerBuy(conditionId, takerOrder, makerOrders, legs, makerFeeAmounts, t);
        } else {
            _settleTakerSell(conditionId, takerOrder, makerOrders, legs, makerFeeAmounts, t, takerFeeAmount);
        }

        _emitFills(takerOrder, makerOrders, legs, makerFeeAmounts, t, takerFeeAmount);
    }

    function _prepareMaker(
        bytes32 conditionId,
        Order memory taker,
        Order memory maker,
        uint256 fill,
        uint256 fee
    ) internal returns (Leg memory leg) {
        _checkCondition(maker.tokenId, conditionId);
        leg.complementary = maker.side != taker.side;
        if (leg.complementary) {
            if (maker.tokenId != taker.tokenId) revert MismatchedTokenIds();
            // BUY price ≥ SELL price, cross-multiplied: (mB / tB) ≥ (tS / mS).
            if (taker.makerAmount * maker.makerAmount < taker.takerAmount * maker.takerAmount) revert NotCrossing();
        } else {
            if (maker.tokenId != _complement[taker.tokenId]) revert MismatchedTokenIds();
            uint256 lhs = taker.takerAmount * maker.makerAmount + maker.takerAmount * taker.makerAmount;
            if (taker.side == BUY) {
                // MINT: the two BUY prices sum to at least 1.
                if (lhs < taker.takerAmount * maker.takerAmount) revert NotCrossing();
            } else {
                // MERGE: the two SELL prices sum to at most 1.
                if (lhs > taker.makerAmount * maker.makerAmount) revert NotCrossing();
            }
        }
        if (fill == 0) revert ZeroFillAmount();
        leg.hash = hashOrder(maker);
        _validateOrder(leg.hash, maker);
        _consume(leg.hash, maker, fill);
        leg.making = fill;
        leg.taking = fill * maker.takerAmount / maker.makerAmount;
        _checkFee(maker.side, fill, leg.taking, fee);
    }

    function _addLeg(Totals memory t, uint8 takerSide, Leg memory leg, uint256 fee) internal pure {
        if (leg.complementary) {
            t.takerMaking += leg.taking;
            t.takerTaking += leg.making;
            if (takerSide == BUY) t.feesFromTaker += fee;
            else t.feesHeld += fee;
        } else if (takerSide == BUY) {
            t.ctfAmount += leg.taking;
            t.ctfOffset += leg.making;
            t.feesHeld += fee;
        } else {
            t.ctfAmount += leg.making;
            t.ctfOffset += leg.taking;
            t.feesHeld += fee;
        }
    }

    function _closeTaker(Totals memory t, Order memory taker, uint256 takerFill, uint256 takerFee) internal {
        if (t.ctfAmount != 0) {
            // MINT: the taker pays what the BUY makers' collateral leaves of the split and gets all of it;
            // MERGE: the taker gives the merged amount and gets what the SELL makers leave of the collateral.
            if (t.ctfOffset > t.ctfAmount) revert NotCrossing();
            uint256 rest = t.ctfAmount - t.ctfOffset;
            if (taker.side == BUY) {
                t.takerMaking += rest;
                t.takerTaking += t.ctfAmount;
            } else {
                t.takerMaking += t.ctfAmount;
                t.takerTaking += rest;
            }
        }
        if (t.takerMaking > takerFill) revert TakerFillExceeded(t.takerMaking, takerFill);
        uint256 minimum = t.takerMaking * taker.takerAmount / taker.makerAmount;
        if (t.takerTaking < minimum) revert TooLittleTokensReceived(t.takerTaking, minimum);
        _consume(t.takerHash, taker, t.takerMaking);
        _checkFee(taker.side, t.takerMaking, t.takerTaking, takerFee);
        if (taker.side == SELL) t.feesHeld += takerFee;
        else t.feesFromTaker += takerFee;
    }

    function _settleTakerBuy(
        bytes32 conditionId,
        Order memory taker,
        Order[] memory makers,
        Leg[] memory legs,
        uint256[] memory fees,
        Totals memory t
    ) internal {
        for (uint256 i = 0; i < legs.length; ++i) {
            Leg memory leg = legs[i];
            if (leg.complementary) {
                // Maker SELL: its tokens to the taker, the taker's collateral to it (less its fee).
                _moveTokens(makers[i].maker, taker.maker, taker.tokenId, leg.making);
                _pullCollateral(taker.maker, makers[i].maker, leg.taking - fees[i]);
            } else {
                // Maker BUY of the complement: its collateral (and fee) in, for the split.
                _pullCollateral(makers[i].maker, address(this), leg.making + fees[i]);
            }
        }
        if (t.ctfAmount != 0) {
            _pullCollateral(taker.maker, address(this), t.ctfAmount - t.ctfOffset);
            IConditionalTokensSplitMerge(ctf).splitPosition(
                address(collateral), bytes32(0), conditionId, _partition(), t.ctfAmount
            );
            _moveTokens(address(this), taker.maker, taker.tokenId, t.ctfAmount);
            uint256 complement = _complement[taker.tokenId];
            for (uint256 i = 0; i < legs.length; ++i) {
                if (!legs[i].complementary) _moveTokens(address(this), makers[i].maker, complement, legs[i].taking);
            }
        }
        // The taker's own fee and its SELL makers' fees, then what BUY makers paid in.
        _pullCollateral(taker.maker, feeReceiver, t.feesFromTaker);
        _payCollateral(feeReceiver, t.feesHeld);
    }

    function _settleTakerSell(
        bytes32 conditionId,
        Order memory taker,
        Order[] memory makers,
        Leg[] memory legs,
        uint256[] memory fees,
        Totals memory t,
        uint256 takerFee
    ) internal {
        for (uint256 i = 0; i < legs.length; ++i) {
            Leg memory leg = legs[i];
            if (leg.complementary) {
                // Maker BUY: the taker's tokens to it; its collateral (and fee) in, paid out below.
                _moveTokens(taker.maker, makers[i].maker, taker.tokenId, leg.taking);
                _pullCollateral(makers[i].maker, address(this), leg.making + fees[i]);
            } else {
                // Maker SELL of the complement: its tokens in, for the merge.
                _moveTokens(makers[i].maker, address(this), makers[i].tokenId, leg.making);
            }
        }
        if (t.ctfAmount != 0) {
            _moveTokens(taker.maker, address(this), taker.tokenId, t.ctfAmount);
            IConditionalTokensSplitMerge(ctf).mergePositions(
                address(collateral), bytes32(0), conditionId, _partition(), t.ctfAmount
            );
            for (uint256 i = 0; i < legs.length; ++i) {
                if (!legs[i].complementary) _payCollateral(makers[i].maker, legs[i].taking - fees[i]);
            }
        }
        _payCollateral(taker.maker, t.takerTaking - takerFee);
        _payCollateral(feeReceiver, t.feesHeld);
    }

    function _emitFills(
        Order memory taker,
        Order[] memory makers,
        Leg[] memory legs,
        uint256[] memory fees,
        Totals memory t,
        uint256 takerFee
    ) internal {
        address receiver = feeReceiver;
        for (uint256 i = 0; i < legs.length; ++i) {
            if (fees[i] != 0) emit FeeCharged(receiver, fees[i]);
            _emitFilled(makers[i], legs[i].hash, taker.maker, legs[i].making, legs[i].taking, fees[i]);
        }
        if (takerFee != 0) emit FeeCharged(receiver, takerFee);
        _emitFilled(taker, t.takerHash, address(this), t.takerMaking, t.takerTaking, takerFee);
        emit OrdersMatched(t.takerHash, taker.maker, taker.side, taker.tokenId, t.takerMaking, t.takerTaking);
    }

    function _emitFilled(
        Order memory order,
        bytes32 orderHash,
        address taker,
        uint256 making,
        uint256 taking,
        uint256 fee
    ) internal {
        Filled memory f = Filled(orderHash, order.maker, taker, order.side, order.tokenId, making, taking, fee);
        _emitFilled(f, order.builder, order.metadata);
    }

    function _emitFilled(Filled memory f, bytes32 builder, bytes32 metadata) internal {
        emit OrderFilled(
            f.orderHash, f.maker, f.taker, f.side, f.tokenId, f.making, f.taking, f.fee, builder, metadata
        );
    }

    // --- checks ---------------------------------------------------------------------------------------------

    function _checkCondition(uint256 tokenId, bytes32 conditionId) internal view {
        if (conditionId == bytes32(0) || _conditionOf[tokenId] != conditionId) {
            revert TokenNotOfCondition(tokenId, conditionId);
        }
    }

    function _validateOrder(bytes32 orderHash, Order memory order) internal view {
        if (order.makerAmount == 0) revert ZeroMakerAmount();
        if (order.side > SELL) revert InvalidSide(order.side);
        if (_status[orderHash].isFilledOrCancelled) revert OrderFilledOrCancelled(orderHash);
        if (!_validSignature(orderHash, order)) revert InvalidSignature(orderHash);
    }

    function _consume(bytes32 orderHash, Order memory order, uint256 making) internal {
        OrderStatus storage status = _status[orderHash];
        uint256 remaining = status.remaining == 0 ? order.makerAmount : status.remaining;
        if (making > remaining) revert MakingGtRemaining(orderHash, making, remaining);
        remaining -= making;
        status.remaining = remaining;
        status.isFilledOrCancelled = remaining == 0;
    }

    /// @dev The fee is bounded by maxFeeRateBps of the fill's notional (the collateral side); a SELL's fee
    /// comes out of its proceeds, so it cannot exceed them.
    function _checkFee(uint8 side, uint256 making, uint256 taking, uint256 fee) internal view {
        if (fee == 0) return;
        uint256 notional = side == BUY ? making : taking;
        if (side == SELL && fee > taking) revert FeeExceedsProceeds(fee, taking);
        uint256 rate = maxFeeRateBps;
        if (rate == 0) return;
        uint256 maxFee = notional * rate / BPS;
        if (fee > maxFee) revert FeeExceedsMaxRate(fee, maxFee);
    }

    /// @dev EOA: the maker signed the digest itself. POLY_1271: the maker is a contract (a deposit wallet)
    /// that vouches for the digest. Proxy and Safe signatures (types 1, 2) are not modelled locally.
    function _validSignature(bytes32 orderHash, Order memory order) internal view returns (bool) {
        if (order.signer != order.maker) return false;
        if (order.signatureType == EOA) {
            return order.signer != address(0) && _recover(orderHash, order.signature) == order.signer;
        }
        if (order.signatureType == POLY_1271) {
            if (order.maker.code.length == 0) return false;
            (bool ok, bytes memory ret) = order.maker.staticcall(
                abi.encodeCall(IERC1271Wallet.isValidSignature, (orderHash, order.signature))
            );
            return ok && ret.length == 32 && bytes32(ret) == bytes32(ERC1271_MAGIC);
        }
        return false;
    }

    function _recover(bytes32 digest, bytes memory sig) internal pure returns (address) {
        if (sig.length != 65) return address(0);
        bytes32 r;
        bytes32 s;
        uint8 v;
        assembly ("memory-safe") {
            r := mload(add(sig, 0x20))
            s := mload(add(sig, 0x40))
            v := byte(0, mload(add(sig, 0x60)))
        }
        if ((v != 27 && v != 28) || uint256(s) > HALF_N) return address(0);
        return ecrecover(digest, v, r, s);
    }

    // --- transfers ------------------------------------------------------------------------------------------

    function _partition() internal pure returns (uint256[] memory partition) {
        partition = new uint256[](2);
        partition[0] = 1;
        partition[1] = 2;
    }

    function _moveTokens(address from, address to, uint256 id, uint256 amount) internal {
        if (amount != 0) IERC1155(ctf).safeTransferFrom(from, to, id, amount, "");
    }

    function _pullCollateral(address from, address to, uint256 amount) internal {
        if (amount != 0) collateral.safeTransferFrom(from, to, amount);
    }

    function _payCollateral(address to, uint256 amount) internal {
        if (amount != 0) collateral.safeTransfer(to, amount);
    }

    // --- ERC-1155 receiver (positions sit here during MINT and MERGE legs) ----------------------------------

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
        return interfaceId == 0x01ffc9a7 || interfaceId == 0x4e2312e0;
    }
}
