// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {Proxy} from "./Proxy.sol";

interface IProxyRegistry {
    function registerProxy(address proxy, address owner) external;
}

/// @title ProxyFactory
/// @notice Deploys each follower's Proxy with CREATE2, salt = the owner's address left-padded, bound to one
/// Executor. The Proxy's constructor takes no arguments and reads its parameters back from here (the
/// Uniswap-V2-pair pattern), so `predict(owner)` and the off-chain helper need only the init code hash.
contract ProxyFactory {
    error ProxyExists(address owner, address proxy);

    event ProxyCreated(address indexed owner, address indexed proxy, uint256 maxPerTrade, uint256 maxPerDay);

    address public immutable executor;

    // Set only for the duration of a CREATE2, in transient storage.
    address private transient _owner;
    uint128 private transient _maxPerTrade;
    uint128 private transient _maxPerDay;

    constructor(address executor_) {
        executor = executor_;
    }

    /// @notice Deploys the caller's Proxy with its first limits; the caller is its owner.
    function createProxy(uint128 maxPerTrade, uint128 maxPerDay) external returns (address proxy) {
        address predicted = predict(msg.sender);
        if (predicted.code.length != 0) revert ProxyExists(msg.sender, predicted);
        _owner = msg.sender;
        _maxPerTrade = maxPerTrade;
        _maxPerDay = maxPerDay;
        proxy = address(new Proxy{salt: salt(msg.sender)}());
        _owner = address(0);
        _maxPerTrade = 0;
        _maxPerDay = 0;
        emit ProxyCreated(msg.sender, proxy, maxPerTrade, maxPerDay);
        IProxyRegistry(executor).registerProxy(proxy, msg.sender);
    }

    /// @notice Read by the Proxy being deployed.
    function parameters()
        external
        view
        returns (address owner, address executor_, uint128 maxPerTrade, uint128 maxPerDay)
    {
        return (_owner, executor, _maxPerTrade, _maxPerDay);
    }

    function salt(address owner) public pure returns (bytes32) {
        return bytes32(uint256(uint160(owner)));
    }

    function proxyInitCodeHash() public pure returns (bytes32) {
        return keccak256(type(Proxy).creationCode);
    }

    /// @notice The address of `owner`'s Proxy, deployed or not.
    function predict(address owner) public view returns (address) {
        bytes32 digest = keccak256(abi.encodePacked(bytes1(0xff), address(this), salt(owner), proxyInitCodeHash()));
        return address(uint160(uint256(digest)));
    }
}
