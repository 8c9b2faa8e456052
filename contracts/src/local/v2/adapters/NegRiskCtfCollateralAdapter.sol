// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {CtfCollateralAdapter} from "./CtfCollateralAdapter.sol";
import {NegRiskAdapter} from "./NegRiskAdapter.sol";

/// @title NegRiskCtfCollateralAdapter
/// @notice Local/test chains only: the CtfCollateralAdapter for neg-risk markets. Split, merge, redeem and
/// convert go through the NegRiskAdapter (positions over its wrapped collateral); pUSD in and out as in the
/// parent, and again only the caller's own positions move.
contract NegRiskCtfCollateralAdapter is CtfCollateralAdapter {
    NegRiskAdapter public immutable negRiskAdapter;

    constructor(address ctf_, address pusd_, address usdce_, address onramp_, address offramp_, address adapter_)
        CtfCollateralAdapter(ctf_, pusd_, usdce_, onramp_, offramp_)
    {
        negRiskAdapter = NegRiskAdapter(adapter_);
        usdce.approve(adapter_, type(uint256).max);
        ctf.setApprovalForAll(adapter_, true);
    }

    /// @notice `NegRiskAdapter.convertPositions` for the caller: its NO of the questions in `indexSet` in,
    /// YES of the others (less the market's fee) and the USDC.e released, as pUSD, out.
    function convertPositions(bytes32 marketId, uint256 indexSet, uint256 amount) external nonReentrant {
        NegRiskAdapter adapter = negRiskAdapter;
        uint256 count = adapter.getQuestionCount(marketId);
        // The adapter validates the index set; the arrays below just follow it.
        (uint256[] memory noIds, uint256[] memory yesIds) = _convertIds(marketId, indexSet, count);
        ctf.safeBatchTransferFrom(msg.sender, address(this), noIds, _same(noIds.length, amount), "");
        uint256 before = usdce.balanceOf(address(this));
        adapter.convertPositions(marketId, indexSet, amount);
        uint256 out = amount - amount * adapter.getFeeBips(marketId) / adapter.FEE_DENOMINATOR();
        if (yesIds.length != 0 && out != 0) {
            ctf.safeBatchTransferFrom(address(this), msg.sender, yesIds, _same(yesIds.length, out), "");
        }
        uint256 released = usdce.balanceOf(address(this)) - before;
        if (released != 0) onramp.wrap(address(usdce), msg.sender, released);
    }

    function _convertIds(bytes32 marketId, uint256 indexSet, uint256 count)
        private
        view
        returns (uint256[] memory noIds, uint256[] memory yesIds)
    {
        uint256 noCount;
        for (uint256 i = 0; i < count; ++i) {
            if (indexSet & (1 << i) != 0) ++noCount;
        }
        noIds = new uint256[](noCount);
        yesIds = new uint256[](count - noCount);
        uint256 n;
        uint256 y;
        for (uint256 i = 0; i < count; ++i) {
            bytes32 questionId = bytes32(uint256(marketId) + i);
            if (indexSet & (1 << i) != 0) noIds[n++] = negRiskAdapter.getPositionId(questionId, false);
            else yesIds[y++] = negRiskAdapter.getPositionId(questionId, true);
        }
    }

    function _same(uint256 length, uint256 value) private pure returns (uint256[] memory values) {
        values = new uint256[](length);
        for (uint256 i = 0; i < length; ++i) {
            values[i] = value;
        }
    }

    function _positionIds(bytes32 conditionId) internal view override returns (uint256[] memory) {
        return negRiskAdapter.positionIds(conditionId);
    }

    function _split(bytes32 conditionId, uint256 amount) internal override {
        negRiskAdapter.splitPosition(conditionId, amount);
    }

    function _merge(bytes32 conditionId, uint256 amount) internal override {
        negRiskAdapter.mergePositions(conditionId, amount);
    }

    function _redeem(bytes32 conditionId, uint256[] memory amounts) internal override {
        negRiskAdapter.redeemPositions(conditionId, amounts);
    }
}
