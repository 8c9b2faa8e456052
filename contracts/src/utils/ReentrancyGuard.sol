// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

/// @notice One lock per contract, kept in transient storage (EIP-1153): no storage refund games, ~100 gas.
abstract contract ReentrancyGuard {
    error Reentrancy();

    bool private transient _locked;

    modifier nonReentrant() {
        if (_locked) revert Reentrancy();
        _locked = true;
        _;
        _locked = false;
    }
}
