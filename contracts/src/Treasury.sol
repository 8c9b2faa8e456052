// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {IERC20} from "./interfaces/IERC20.sol";
import {Owned} from "./utils/Owned.sol";
import {ReentrancyGuard} from "./utils/ReentrancyGuard.sol";
import {SafeERC20} from "./utils/SafeERC20.sol";

/// @title Treasury
/// @notice Receives the optional copy fee the Executor charges (Executor.feeBps); the owner withdraws it.
contract Treasury is Owned, ReentrancyGuard {
    using SafeERC20 for IERC20;

    event Withdrawn(address indexed token, address indexed to, uint256 amount);

    constructor(address owner_) Owned(owner_) {}

    function withdraw(address token, address to, uint256 amount) external onlyOwner nonReentrant {
        emit Withdrawn(token, to, amount);
        IERC20(token).safeTransfer(to, amount);
    }
}
