// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {IERC1155Receiver} from "../interfaces/IERC1155.sol";

interface IPullERC1155 {
    function pullERC1155(address proxy, address token, uint256 id, uint256 amount) external;
}

/// @title ReentrantWorker
/// @notice Tests only: an attacker that an owner (by mistake) authorised as a worker. When the CTF calls its
/// ERC-1155 receiver hook during a pull, it calls the Executor again to pull a second time.
contract ReentrantWorker is IERC1155Receiver {
    address private _executor;
    address private _proxy;
    address private _token;
    uint256 private _id;
    uint256 private _amount;
    bool private _armed;

    function attack(address executor, address proxy, address token, uint256 id, uint256 amount) external {
        (_executor, _proxy, _token, _id, _amount, _armed) = (executor, proxy, token, id, amount, true);
        IPullERC1155(executor).pullERC1155(proxy, token, id, amount);
    }

    function onERC1155Received(address, address, uint256, uint256, bytes calldata) external returns (bytes4) {
        if (_armed) {
            _armed = false;
            IPullERC1155(_executor).pullERC1155(_proxy, _token, _id, _amount);
        }
        return IERC1155Receiver.onERC1155Received.selector;
    }

    function onERC1155BatchReceived(address, address, uint256[] calldata, uint256[] calldata, bytes calldata)
        external
        pure
        returns (bytes4)
    {
        return IERC1155Receiver.onERC1155BatchReceived.selector;
    }
}
