// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {IERC20} from "../../../interfaces/IERC20.sol";
import {ReentrancyGuard} from "../../../utils/ReentrancyGuard.sol";
import {SafeERC20} from "../../../utils/SafeERC20.sol";
import {CollateralOfframp} from "../CollateralOfframp.sol";
import {CollateralOnramp} from "../CollateralOnramp.sol";
import {IConditionalTokensV2, PositionReceiver} from "./IConditionalTokensV2.sol";

/// @title CtfCollateralAdapter
/// @notice Local/test chains only: split, merge and redeem with pUSD on binary CTF conditions whose positions
/// are over USDC.e, as Polymarket V2's adapter of that name does on Polygon. pUSD comes in through the
/// public offramp (burnt, USDC.e released from the reserve) and goes out through the public onramp (only
/// for the USDC.e the CTF just paid), so the adapter holds no privilege over pUSD and cannot mint any that
/// is not backed. It only ever takes positions and pUSD from the caller, and pays only the caller.
/// The functions keep the CTF's signatures, so a caller that speaks to the CTF speaks to the adapter; the
/// collateral, parent collection and partition arguments are ignored (always USDC.e, root, [YES, NO]).
contract CtfCollateralAdapter is PositionReceiver, ReentrancyGuard {
    using SafeERC20 for IERC20;

    IConditionalTokensV2 public immutable ctf;
    IERC20 public immutable pusd;
    IERC20 public immutable usdce;
    CollateralOnramp public immutable onramp;
    CollateralOfframp public immutable offramp;

    event PositionSplit(address indexed stakeholder, bytes32 indexed conditionId, uint256 amount);
    event PositionsMerge(address indexed stakeholder, bytes32 indexed conditionId, uint256 amount);
    event PayoutRedemption(address indexed redeemer, bytes32 indexed conditionId, uint256[] amounts, uint256 payout);

    constructor(address ctf_, address pusd_, address usdce_, address onramp_, address offramp_) {
        ctf = IConditionalTokensV2(ctf_);
        pusd = IERC20(pusd_);
        usdce = IERC20(usdce_);
        onramp = CollateralOnramp(onramp_);
        offramp = CollateralOfframp(offramp_);
        pusd.approve(offramp_, type(uint256).max);
        usdce.approve(onramp_, type(uint256).max);
        usdce.approve(ctf_, type(uint256).max);
    }

    /// @notice Takes `amount` pUSD from the caller and gives it `amount` YES and NO of `conditionId`.
    function splitPosition(address, bytes32, bytes32 conditionId, uint256[] calldata, uint256 amount)
        external
        nonReentrant
    {
        pusd.safeTransferFrom(msg.sender, address(this), amount);
        offramp.unwrap(address(usdce), address(this), amount);
        _split(conditionId, amount);
        ctf.safeBatchTransferFrom(address(this), msg.sender, _positionIds(conditionId), _pair(amount, amount), "");
        emit PositionSplit(msg.sender, conditionId, amount);
    }

    /// @notice Takes `amount` YES and NO of `conditionId` from the caller and pays it `amount` pUSD.
    function mergePositions(address, bytes32, bytes32 conditionId, uint256[] calldata, uint256 amount)
        external
        nonReentrant
    {
        ctf.safeBatchTransferFrom(msg.sender, address(this), _positionIds(conditionId), _pair(amount, amount), "");
        uint256 before = usdce.balanceOf(address(this));
        _merge(conditionId, amount);
        onramp.wrap(address(usdce), msg.sender, usdce.balanceOf(address(this)) - before);
        emit PositionsMerge(msg.sender, conditionId, amount);
    }

    /// @notice Redeems all of the caller's YES and NO of a resolved `conditionId` and pays the payout in pUSD
    /// (losing positions are burnt for nothing). Reverts while the condition is unresolved.
    function redeemPositions(address, bytes32, bytes32 conditionId, uint256[] calldata) external nonReentrant {
        uint256[] memory ids = _positionIds(conditionId);
        uint256[] memory amounts = _pair(ctf.balanceOf(msg.sender, ids[0]), ctf.balanceOf(msg.sender, ids[1]));
        ctf.safeBatchTransferFrom(msg.sender, address(this), ids, amounts, "");
        uint256 before = usdce.balanceOf(address(this));
        _redeem(conditionId, amounts);
        uint256 payout = usdce.balanceOf(address(this)) - before;
        if (payout != 0) onramp.wrap(address(usdce), msg.sender, payout);
        emit PayoutRedemption(msg.sender, conditionId, amounts, payout);
    }

    /// @notice [YES, NO] token ids of `conditionId` as this adapter trades them.
    function positionIds(bytes32 conditionId) external view returns (uint256[] memory) {
        return _positionIds(conditionId);
    }

    function _positionIds(bytes32 conditionId) internal view virtual returns (uint256[] memory) {
        return _pair(
            ctf.getPositionId(address(usdce), ctf.getCollectionId(bytes32(0), conditionId, 1)),
            ctf.getPositionId(address(usdce), ctf.getCollectionId(bytes32(0), conditionId, 2))
        );
    }

    function _split(bytes32 conditionId, uint256 amount) internal virtual {
        ctf.splitPosition(address(usdce), bytes32(0), conditionId, _binaryPartition(), amount);
    }

    function _merge(bytes32 conditionId, uint256 amount) internal virtual {
        ctf.mergePositions(address(usdce), bytes32(0), conditionId, _binaryPartition(), amount);
    }

    function _redeem(bytes32 conditionId, uint256[] memory) internal virtual {
        ctf.redeemPositions(address(usdce), bytes32(0), conditionId, _binaryPartition());
    }
}
