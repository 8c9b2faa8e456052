// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {IERC20} from "../../../interfaces/IERC20.sol";
import {ReentrancyGuard} from "../../../utils/ReentrancyGuard.sol";
import {SafeERC20} from "../../../utils/SafeERC20.sol";
import {IConditionalTokensV2, PositionReceiver} from "./IConditionalTokensV2.sol";
import {WrappedCollateral} from "./WrappedCollateral.sol";

/// @title NegRiskAdapter
/// @notice Local/test chains only: a minimal model of Polymarket's NegRiskAdapter, with its interface and
/// semantics. A market (id = a hash with its low byte cleared) groups up to 256 binary questions (question
/// id = market id + index), each a CTF condition whose oracle is this adapter and whose positions are over
/// its WrappedCollateral (USDC.e inside). At most one question of a market resolves YES, so the NO tokens
/// of k questions are worth (k - 1) collateral plus the YES tokens of every other question: that is
/// `convertPositions`. Positions only ever leave the caller's own balance.
contract NegRiskAdapter is PositionReceiver, ReentrancyGuard {
    using SafeERC20 for IERC20;

    error MarketAlreadyPrepared();
    error MarketNotPrepared();
    error MarketAlreadyDetermined();
    error FeeBipsOutOfBounds();
    error IndexOutOfBounds();
    error InvalidIndexSet();
    error LengthMismatch();
    error NoConvertiblePositions();
    error OnlyOracle();
    error UnexpectedCollateralToken();

    event MarketPrepared(bytes32 indexed marketId, address indexed oracle, uint256 feeBips, bytes data);
    event QuestionPrepared(bytes32 indexed marketId, bytes32 indexed questionId, uint256 index, bytes data);
    event OutcomeReported(bytes32 indexed marketId, bytes32 indexed questionId, bool outcome);
    event PositionSplit(address indexed stakeholder, bytes32 indexed conditionId, uint256 amount);
    event PositionsMerge(address indexed stakeholder, bytes32 indexed conditionId, uint256 amount);
    event PositionsConverted(
        address indexed stakeholder, bytes32 indexed marketId, uint256 indexed indexSet, uint256 amount
    );
    event PayoutRedemption(address indexed redeemer, bytes32 indexed conditionId, uint256[] amounts, uint256 payout);

    struct Market {
        address oracle;
        uint16 questionCount;
        uint16 feeBips;
        bool determined;
        uint8 result;
    }

    uint256 public constant FEE_DENOMINATOR = 10_000;
    /// @notice Where converted NO tokens go: an address nobody holds a key for, as on Polygon.
    address public constant NO_TOKEN_BURN_ADDRESS = address(bytes20(keccak256("NO_TOKEN_BURN_ADDRESS")));
    bytes32 private constant MARKET_MASK = ~bytes32(uint256(0xff));

    IConditionalTokensV2 public immutable ctf;
    IERC20 public immutable col;
    WrappedCollateral public immutable wcol;
    address public immutable vault;

    mapping(bytes32 => Market) private _markets;

    constructor(address ctf_, address col_, address vault_) {
        ctf = IConditionalTokensV2(ctf_);
        col = IERC20(col_);
        vault = vault_;
        wcol = new WrappedCollateral(col_);
        col.approve(address(wcol), type(uint256).max);
        wcol.approve(ctf_, type(uint256).max);
    }

    // --- markets and questions ----------------------------------------------------------------------------

    /// @notice Prepares a market whose oracle is the caller; returns its id.
    function prepareMarket(uint256 feeBips, bytes calldata data) external returns (bytes32 marketId) {
        if (feeBips > FEE_DENOMINATOR) revert FeeBipsOutOfBounds();
        marketId = keccak256(abi.encode(msg.sender, feeBips, data)) & MARKET_MASK;
        if (_markets[marketId].oracle != address(0)) revert MarketAlreadyPrepared();
        _markets[marketId] = Market(msg.sender, 0, uint16(feeBips), false, 0);
        emit MarketPrepared(marketId, msg.sender, feeBips, data);
    }

    /// @notice Adds the market's next question (its oracle only) and prepares its CTF condition.
    function prepareQuestion(bytes32 marketId, bytes calldata data) external returns (bytes32 questionId) {
        Market storage market = _markets[marketId];
        if (market.oracle == address(0)) revert MarketNotPrepared();
        if (market.oracle != msg.sender) revert OnlyOracle();
        uint256 index = market.questionCount;
        if (index > 0xff) revert IndexOutOfBounds();
        questionId = bytes32(uint256(marketId) + index);
        market.questionCount = uint16(index + 1);
        ctf.prepareCondition(address(this), questionId, 2);
        emit QuestionPrepared(marketId, questionId, index, data);
    }

    /// @notice Resolves a question (the market's oracle only). A second YES in one market is refused.
    function reportOutcome(bytes32 questionId, bool outcome) external {
        bytes32 marketId = questionId & MARKET_MASK;
        Market storage market = _markets[marketId];
        if (market.oracle == address(0)) revert MarketNotPrepared();
        if (market.oracle != msg.sender) revert OnlyOracle();
        uint256 index = uint256(questionId) & 0xff;
        if (index >= market.questionCount) revert IndexOutOfBounds();
        if (outcome) {
            if (market.determined) revert MarketAlreadyDetermined();
            market.determined = true;
            market.result = uint8(index);
        }
        ctf.reportPayouts(questionId, outcome ? _pair(1, 0) : _pair(0, 1));
        emit OutcomeReported(marketId, questionId, outcome);
    }

    // --- positions ----------------------------------------------------------------------------------------

    /// @notice Takes `amount` USDC.e from the caller and gives it `amount` YES and NO of the condition.
    function splitPosition(bytes32 conditionId, uint256 amount) public nonReentrant {
        col.safeTransferFrom(msg.sender, address(this), amount);
        wcol.wrap(address(this), amount);
        ctf.splitPosition(address(wcol), bytes32(0), conditionId, _binaryPartition(), amount);
        ctf.safeBatchTransferFrom(address(this), msg.sender, positionIds(conditionId), _pair(amount, amount), "");
        emit PositionSplit(msg.sender, conditionId, amount);
    }

    /// @notice The CTF's signature, for callers that treat the adapter as the CTF (a neg-risk exchange).
    function splitPosition(address collateral, bytes32, bytes32 conditionId, uint256[] calldata, uint256 amount)
        external
    {
        if (collateral != address(col)) revert UnexpectedCollateralToken();
        splitPosition(conditionId, amount);
    }

    /// @notice Takes `amount` YES and NO of the condition from the caller and pays it `amount` USDC.e.
    function mergePositions(bytes32 conditionId, uint256 amount) public nonReentrant {
        ctf.safeBatchTransferFrom(msg.sender, address(this), positionIds(conditionId), _pair(amount, amount), "");
        ctf.mergePositions(address(wcol), bytes32(0), conditionId, _binaryPartition(), amount);
        wcol.unwrap(msg.sender, amount);
        emit PositionsMerge(msg.sender, conditionId, amount);
    }

    function mergePositions(address collateral, bytes32, bytes32 conditionId, uint256[] calldata, uint256 amount)
        external
    {
        if (collateral != address(col)) revert UnexpectedCollateralToken();
        mergePositions(conditionId, amount);
    }

    /// @notice Redeems `amounts` = [YES, NO] of the caller's positions of a resolved condition for USDC.e.
    function redeemPositions(bytes32 conditionId, uint256[] calldata amounts) external nonReentrant {
        if (amounts.length != 2) revert LengthMismatch();
        ctf.safeBatchTransferFrom(msg.sender, address(this), positionIds(conditionId), amounts, "");
        uint256 before = wcol.balanceOf(address(this));
        ctf.redeemPositions(address(wcol), bytes32(0), conditionId, _binaryPartition());
        uint256 payout = wcol.balanceOf(address(this)) - before;
        if (payout != 0) wcol.unwrap(msg.sender, payout);
        emit PayoutRedemption(msg.sender, conditionId, amounts, payout);
    }

    /// @notice Converts `amount` NO of each question in `indexSet` (bit i = question i) into `amount` YES of
    /// each other question and (k - 1) × `amount` USDC.e, k = the questions in the set; a fee (if the market
    /// has one) is kept from both and paid to the vault.
    function convertPositions(bytes32 marketId, uint256 indexSet, uint256 amount) external nonReentrant {
        Market storage market = _markets[marketId];
        uint256 count = market.questionCount;
        if (market.oracle == address(0)) revert MarketNotPrepared();
        if (count <= 1) revert NoConvertiblePositions();
        if (indexSet == 0 || indexSet >> count != 0) revert InvalidIndexSet();
        if (amount == 0) return;

        uint256 noCount;
        for (uint256 i = 0; i < count; ++i) {
            if (indexSet & (1 << i) != 0) ++noCount;
        }
        uint256[] memory noIds = new uint256[](noCount);
        uint256[] memory yesIds = new uint256[](count - noCount);
        uint256[] memory allNoIds = new uint256[](count);
        {
            uint256 n;
            uint256 y;
            for (uint256 i = 0; i < count; ++i) {
                bytes32 questionId = bytes32(uint256(marketId) + i);
                allNoIds[i] = getPositionId(questionId, false);
                if (indexSet & (1 << i) != 0) {
                    noIds[n++] = allNoIds[i];
                } else {
                    yesIds[y++] = getPositionId(questionId, true);
                }
            }
        }
        ctf.safeBatchTransferFrom(msg.sender, address(this), noIds, _filled(noCount, amount), "");

        // The YES the caller gets are split from wrapped collateral minted for the purpose; their NO twins
        // join the caller's NO, and that full set of NO (worth count - 1 in every outcome) is burnt, which
        // is what backs both the minted collateral and the (k - 1) × amount released below.
        if (yesIds.length != 0) {
            wcol.mint(amount * yesIds.length);
            for (uint256 i = 0; i < count; ++i) {
                if (indexSet & (1 << i) == 0) {
                    bytes32 conditionId = getConditionId(bytes32(uint256(marketId) + i));
                    ctf.splitPosition(address(wcol), bytes32(0), conditionId, _binaryPartition(), amount);
                }
            }
        }
        ctf.safeBatchTransferFrom(address(this), NO_TOKEN_BURN_ADDRESS, allNoIds, _filled(count, amount), "");

        uint256 fee = amount * market.feeBips / FEE_DENOMINATOR;
        uint256 out = amount - fee;
        if (yesIds.length != 0) {
            ctf.safeBatchTransferFrom(address(this), msg.sender, yesIds, _filled(yesIds.length, out), "");
            if (fee != 0) {
                ctf.safeBatchTransferFrom(address(this), vault, yesIds, _filled(yesIds.length, fee), "");
            }
        }
        if (noCount > 1) {
            wcol.release(msg.sender, out * (noCount - 1));
            if (fee != 0) wcol.release(vault, fee * (noCount - 1));
        }
        emit PositionsConverted(msg.sender, marketId, indexSet, amount);
    }

    // --- views ----------------------------------------------------------------------------------------------

    function getConditionId(bytes32 questionId) public view returns (bytes32) {
        return ctf.getConditionId(address(this), questionId, 2);
    }

    /// @notice The CTF token id of a question's YES (`outcome` true) or NO position.
    function getPositionId(bytes32 questionId, bool outcome) public view returns (uint256) {
        return _positionId(getConditionId(questionId), outcome ? 1 : 2);
    }

    /// @notice [YES, NO] token ids of a condition over the wrapped collateral.
    function positionIds(bytes32 conditionId) public view returns (uint256[] memory) {
        return _pair(_positionId(conditionId, 1), _positionId(conditionId, 2));
    }

    function getOracle(bytes32 marketId) external view returns (address) {
        return _markets[marketId].oracle;
    }

    function getQuestionCount(bytes32 marketId) external view returns (uint256) {
        return _markets[marketId].questionCount;
    }

    function getFeeBips(bytes32 marketId) external view returns (uint256) {
        return _markets[marketId].feeBips;
    }

    function getDetermined(bytes32 marketId) external view returns (bool) {
        return _markets[marketId].determined;
    }

    function getResult(bytes32 marketId) external view returns (uint256) {
        return _markets[marketId].result;
    }

    function _positionId(bytes32 conditionId, uint256 indexSet) private view returns (uint256) {
        return ctf.getPositionId(address(wcol), ctf.getCollectionId(bytes32(0), conditionId, indexSet));
    }

    function _filled(uint256 length, uint256 value) private pure returns (uint256[] memory values) {
        values = new uint256[](length);
        for (uint256 i = 0; i < length; ++i) {
            values[i] = value;
        }
    }
}
