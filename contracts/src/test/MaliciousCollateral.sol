// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

interface IReenter {
    function pullERC20(address proxy, address token, uint256 amount) external;
    function redeemBatch(address[] calldata proxies, address ctf, address collateral, bytes32 conditionId) external;
}

/// @title MaliciousCollateral
/// @notice Tests only: an ERC-20 that an owner (by mistake) allowlisted as wrapped collateral and authorised
/// as a worker. Anyone may split it into CTF positions (its `transferFrom` moves balances without an
/// allowance check); when a Proxy unwraps a payout of it, it re-enters the Executor to pull the Proxy's real
/// collateral (`mode` 1) or to redeem again (`mode` 2).
contract MaliciousCollateral {
    mapping(address => uint256) public balanceOf;
    address private _executor;
    address private _proxy;
    address private _real;
    address private _ctf;
    bytes32 private _condition;
    uint8 private _mode;

    function arm(address executor, address proxy, address real, address ctf, bytes32 condition, uint8 mode) external {
        (_executor, _proxy, _real, _ctf, _condition, _mode) = (executor, proxy, real, ctf, condition, mode);
    }

    function mint(address to, uint256 amount) external {
        balanceOf[to] += amount;
    }

    function transfer(address to, uint256 amount) external returns (bool) {
        balanceOf[msg.sender] -= amount;
        balanceOf[to] += amount;
        return true;
    }

    function transferFrom(address from, address to, uint256 amount) external returns (bool) {
        balanceOf[from] -= amount;
        balanceOf[to] += amount;
        return true;
    }

    function underlying() external view returns (address) {
        return _real;
    }

    function unwrap(address, uint256) external {
        if (_mode == 1) {
            IReenter(_executor).pullERC20(_proxy, _real, 1);
        } else if (_mode == 2) {
            address[] memory proxies = new address[](1);
            proxies[0] = _proxy;
            IReenter(_executor).redeemBatch(proxies, _ctf, address(this), _condition);
        }
    }
}
