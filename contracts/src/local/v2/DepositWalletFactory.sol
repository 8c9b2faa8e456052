// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {Owned} from "../../utils/Owned.sol";
import {DepositWallet} from "./DepositWallet.sol";

/// @title DepositWalletFactory
/// @notice Local/test chains only: deploys each owner's DepositWallet with CREATE2, salt = the owner's address
/// left-padded. Anyone may pay for the deployment; the wallet is bound to `owner` all the same. The wallet's
/// constructor takes no arguments and reads its owner back from here, so `predict(owner)` and the off-chain
/// helper need only the init code hash. Also holds the switch every wallet reads for plain signatures.
contract DepositWalletFactory is Owned {
    error AlreadyDeployed(address owner, address wallet);
    error ZeroOwner();

    event WalletDeployed(address indexed owner, address indexed wallet);
    event PlainSignaturesAcceptedSet(bool accepted);

    /// @notice Whether wallets accept the owner's plain 65-byte signature of a hash (off by default).
    bool public plainSignaturesAccepted;

    // Set only for the duration of a CREATE2, in transient storage.
    address private transient _deployingOwner;

    constructor() Owned(msg.sender) {}

    /// @notice Deploys `owner`'s wallet; reverts `AlreadyDeployed` when it exists.
    function deploy(address owner_) external returns (address wallet) {
        if (owner_ == address(0)) revert ZeroOwner();
        address predicted = predict(owner_);
        if (predicted.code.length != 0) revert AlreadyDeployed(owner_, predicted);
        _deployingOwner = owner_;
        wallet = address(new DepositWallet{salt: salt(owner_)}());
        _deployingOwner = address(0);
        emit WalletDeployed(owner_, wallet);
    }

    /// @notice Read by the wallet being deployed.
    function deployingOwner() external view returns (address) {
        return _deployingOwner;
    }

    function setPlainSignaturesAccepted(bool accepted) external onlyOwner {
        plainSignaturesAccepted = accepted;
        emit PlainSignaturesAcceptedSet(accepted);
    }

    function salt(address owner_) public pure returns (bytes32) {
        return bytes32(uint256(uint160(owner_)));
    }

    function walletInitCodeHash() public pure returns (bytes32) {
        return keccak256(type(DepositWallet).creationCode);
    }

    /// @notice The address of `owner`'s wallet, deployed or not.
    function predict(address owner_) public view returns (address) {
        bytes32 digest =
            keccak256(abi.encodePacked(bytes1(0xff), address(this), salt(owner_), walletInitCodeHash()));
        return address(uint160(uint256(digest)));
    }
}
