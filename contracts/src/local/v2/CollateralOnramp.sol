// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {IERC20} from "../../interfaces/IERC20.sol";
import {Owned} from "../../utils/Owned.sol";
import {ReentrancyGuard} from "../../utils/ReentrancyGuard.sol";
import {SafeERC20} from "../../utils/SafeERC20.sol";

/// @notice The part of pUSD the ramps call.
interface IPolyUSDMinter {
    function mint(address to, uint256 amount) external;
    function burn(uint256 amount) external;
}

/// @title CollateralOnramp
/// @notice Local/test chains only: wraps an allowed USD stablecoin (USDC.e, USDC) into pUSD 1:1 and keeps the
/// stablecoin as the reserve backing pUSD. The reserve leaves only through `release`, callable only by the
/// offramp, which is fixed once and then cannot be changed, not even by the owner: the only way to take a
/// reserve out is to burn the same amount of pUSD.
contract CollateralOnramp is Owned, ReentrancyGuard {
    using SafeERC20 for IERC20;

    error AssetNotAllowed(address asset);
    error RampPaused();
    error ZeroAmount();
    error ZeroAddress();
    error NotOfframp(address caller);
    error OfframpAlreadySet(address offramp);

    event AssetSet(address indexed asset, bool allowed);
    event Paused(bool paused);
    event OfframpSet(address indexed offramp);
    event Wrapped(address indexed asset, address indexed payer, address indexed to, uint256 amount);
    event Released(address indexed asset, address indexed to, uint256 amount);

    IPolyUSDMinter public immutable pusd;
    address public offramp;
    bool public paused;
    mapping(address => bool) public isAsset;

    constructor(address pusd_) Owned(msg.sender) {
        pusd = IPolyUSDMinter(pusd_);
    }

    function setAsset(address asset, bool allowed) external onlyOwner {
        if (asset == address(0)) revert ZeroAddress();
        isAsset[asset] = allowed;
        emit AssetSet(asset, allowed);
    }

    function setPaused(bool paused_) external onlyOwner {
        paused = paused_;
        emit Paused(paused_);
    }

    /// @notice Names the offramp, once: afterwards no key can redirect the reserve.
    function setOfframp(address offramp_) external onlyOwner {
        if (offramp != address(0)) revert OfframpAlreadySet(offramp);
        if (offramp_ == address(0)) revert ZeroAddress();
        offramp = offramp_;
        emit OfframpSet(offramp_);
    }

    /// @notice Pulls `amount` of `asset` from the caller into the reserve and mints `amount` pUSD to `to`.
    function wrap(address asset, address to, uint256 amount) external nonReentrant {
        if (paused) revert RampPaused();
        if (!isAsset[asset]) revert AssetNotAllowed(asset);
        if (amount == 0) revert ZeroAmount();
        if (to == address(0)) revert ZeroAddress();
        IERC20(asset).safeTransferFrom(msg.sender, address(this), amount);
        pusd.mint(to, amount);
        emit Wrapped(asset, msg.sender, to, amount);
    }

    /// @notice Pays `amount` of `asset` out of the reserve; only the offramp, after it burnt as much pUSD.
    function release(address asset, address to, uint256 amount) external nonReentrant {
        if (msg.sender != offramp || msg.sender == address(0)) revert NotOfframp(msg.sender);
        IERC20(asset).safeTransfer(to, amount);
        emit Released(asset, to, amount);
    }
}
