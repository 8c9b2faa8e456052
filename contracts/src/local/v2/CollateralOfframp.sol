// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {IERC20} from "../../interfaces/IERC20.sol";
import {Owned} from "../../utils/Owned.sol";
import {ReentrancyGuard} from "../../utils/ReentrancyGuard.sol";
import {SafeERC20} from "../../utils/SafeERC20.sol";
import {CollateralOnramp, IPolyUSDMinter} from "./CollateralOnramp.sol";

/// @title CollateralOfframp
/// @notice Local/test chains only: unwraps pUSD 1:1 into an allowed stablecoin. It takes the caller's pUSD,
/// burns it, then asks the onramp to release the same amount of the asset from the reserve.
contract CollateralOfframp is Owned, ReentrancyGuard {
    using SafeERC20 for IERC20;

    error AssetNotAllowed(address asset);
    error RampPaused();
    error ZeroAmount();
    error ZeroAddress();

    event Paused(bool paused);
    event Unwrapped(address indexed asset, address indexed payer, address indexed to, uint256 amount);

    IERC20 public immutable pusd;
    CollateralOnramp public immutable onramp;
    bool public paused;

    constructor(address pusd_, address onramp_) Owned(msg.sender) {
        pusd = IERC20(pusd_);
        onramp = CollateralOnramp(onramp_);
    }

    function setPaused(bool paused_) external onlyOwner {
        paused = paused_;
        emit Paused(paused_);
    }

    /// @notice Burns `amount` of the caller's pUSD and pays `amount` of `asset` from the reserve to `to`.
    function unwrap(address asset, address to, uint256 amount) external nonReentrant {
        if (paused) revert RampPaused();
        // The onramp's list is the one list of assets that back pUSD.
        if (!onramp.isAsset(asset)) revert AssetNotAllowed(asset);
        if (amount == 0) revert ZeroAmount();
        if (to == address(0)) revert ZeroAddress();
        pusd.safeTransferFrom(msg.sender, address(this), amount);
        IPolyUSDMinter(address(pusd)).burn(amount);
        onramp.release(asset, to, amount);
        emit Unwrapped(asset, msg.sender, to, amount);
    }
}
