// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {IERC1155Receiver} from "../../interfaces/IERC1155.sol";

/// @notice What a DepositWallet reads from the factory that deploys it (and later, the signature switch).
interface IDepositWalletFactory {
    function deployingOwner() external view returns (address);
    function plainSignaturesAccepted() external view returns (bool);
}

/// @title DepositWallet
/// @notice Local/test chains only: Polymarket V2's ERC-1271 smart wallet, one per owner EOA. It holds pUSD and
/// CTF positions, runs owner-only call batches, and signs orders for the exchange (signature type 3,
/// POLY_1271) through the ERC-7739 nested TypedDataSign wrap that py-clob-client-v2 produces:
///   signature = sig65 ‖ appDomainSeparator ‖ contentsHash ‖ contentsType ‖ uint16(len(contentsType)),
/// the owner signing keccak256(0x1901 ‖ appDomainSeparator ‖ TypedDataSign struct hash), where the struct binds
/// this wallet's own domain (name "DepositWallet", version "1", this chain, this address). So a signature made
/// for one wallet, chain or application never validates for another. The plain form (the owner's 65-byte
/// signature of `hash` itself) carries no such binding; it is refused unless the factory's switch allows it.
contract DepositWallet is IERC1155Receiver {
    struct Call {
        address target;
        uint256 value;
        bytes data;
    }

    error NotOwner(address caller);
    error CallFailed(uint256 index, bytes reason);

    event Executed(uint256 calls);

    bytes4 internal constant ERC1271_MAGIC = 0x1626ba7e;
    bytes4 internal constant ERC1271_INVALID = 0xffffffff;
    bytes32 internal constant NAME_HASH = keccak256("DepositWallet");
    bytes32 internal constant VERSION_HASH = keccak256("1");
    // secp256k1n / 2: a larger s is the malleable twin of a valid signature (EIP-2).
    uint256 internal constant HALF_N = 0x7fffffffffffffffffffffffffffffff5d576e7357a4501ddfe92f46681b20a0;
    // 65-byte signature + app domain separator + contents hash + uint16 length.
    uint256 internal constant WRAP_FIXED_BYTES = 65 + 32 + 32 + 2;

    address public immutable factory;
    address public immutable owner;

    /// @dev No arguments, so that the init code hash is one constant per build and the CREATE2 address of any
    /// owner's wallet can be computed off chain from (factory, owner, init code hash).
    constructor() {
        factory = msg.sender;
        owner = IDepositWalletFactory(msg.sender).deployingOwner();
    }

    receive() external payable {}

    /// @notice Runs `calls` in order; any failure reverts the whole batch with its index and revert data.
    function execute(Call[] calldata calls) external payable {
        if (msg.sender != owner) revert NotOwner(msg.sender);
        for (uint256 i = 0; i < calls.length; ++i) {
            (bool ok, bytes memory reason) = calls[i].target.call{value: calls[i].value}(calls[i].data);
            if (!ok) revert CallFailed(i, reason);
        }
        emit Executed(calls.length);
    }

    /// @notice ERC-1271: 0x1626ba7e when the owner signed `hash` as described above, 0xffffffff otherwise.
    /// Never reverts on malformed input.
    function isValidSignature(bytes32 hash, bytes calldata signature) external view returns (bytes4) {
        return _isValid(hash, signature) ? ERC1271_MAGIC : ERC1271_INVALID;
    }

    /// @notice ERC-5267: the wallet's own EIP-712 domain, which the nested signature binds.
    function eip712Domain()
        external
        view
        returns (
            bytes1 fields,
            string memory name,
            string memory version,
            uint256 chainId,
            address verifyingContract,
            bytes32 salt,
            uint256[] memory extensions
        )
    {
        return (hex"0f", "DepositWallet", "1", block.chainid, address(this), bytes32(0), new uint256[](0));
    }

    function onERC1155Received(address, address, uint256, uint256, bytes calldata) external pure returns (bytes4) {
        return IERC1155Receiver.onERC1155Received.selector;
    }

    function onERC1155BatchReceived(address, address, uint256[] calldata, uint256[] calldata, bytes calldata)
        external
        pure
        returns (bytes4)
    {
        return IERC1155Receiver.onERC1155BatchReceived.selector;
    }

    function supportsInterface(bytes4 interfaceId) external pure returns (bool) {
        return interfaceId == 0x01ffc9a7 // ERC-165
            || interfaceId == 0x4e2312e0 // ERC-1155 receiver
            || interfaceId == 0x1626ba7e; // ERC-1271
    }

    function _isValid(bytes32 hash, bytes calldata sig) private view returns (bool) {
        uint256 len = sig.length;
        if (len == 65) {
            return IDepositWalletFactory(factory).plainSignaturesAccepted() && _recover(hash, sig) == owner;
        }
        if (len < WRAP_FIXED_BYTES) return false;
        uint256 typeLen = uint16(bytes2(sig[len - 2:len]));
        if (len != WRAP_FIXED_BYTES + typeLen) return false;
        bytes32 appDomainSeparator = bytes32(sig[65:97]);
        bytes32 contentsHash = bytes32(sig[97:129]);
        // The caller's hash must be the very content the owner signed, under the same application domain.
        if (hash != keccak256(abi.encodePacked(hex"1901", appDomainSeparator, contentsHash))) return false;
        (bool ok, bytes32 structHash) = _typedDataSignHash(contentsHash, sig[129:129 + typeLen]);
        if (!ok) return false;
        return _recover(keccak256(abi.encodePacked(hex"1901", appDomainSeparator, structHash)), sig) == owner;
    }

    /// @dev The TypedDataSign struct hash binding `contentsHash` (of type `contentsType`) to this wallet's
    /// domain; not ok when the contents name is invalid.
    function _typedDataSignHash(bytes32 contentsHash, bytes calldata contentsType)
        private
        view
        returns (bool ok, bytes32 structHash)
    {
        bytes calldata contentsName;
        (ok, contentsName) = _contentsName(contentsType);
        if (!ok) return (false, bytes32(0));
        bytes32 typeHash = keccak256(
            abi.encodePacked(
                "TypedDataSign(",
                contentsName,
                " contents,string name,string version,uint256 chainId,address verifyingContract,bytes32 salt)",
                contentsType
            )
        );
        structHash = keccak256(
            abi.encode(typeHash, contentsHash, NAME_HASH, VERSION_HASH, block.chainid, address(this), bytes32(0))
        );
    }

    /// @dev Solady's rule for the contents name: the prefix of the type up to "(" (or all of it), not starting
    /// with a lower-case letter or "(", and holding none of ", )" or NUL (they would let a crafted type
    /// string alias another).
    function _contentsName(bytes calldata contentsType) private pure returns (bool ok, bytes calldata name) {
        if (contentsType.length == 0) return (false, contentsType);
        bytes1 first = contentsType[0];
        if ((first >= 0x61 && first <= 0x7a) || first == 0x28) return (false, contentsType);
        uint256 i = 0;
        for (; i < contentsType.length; ++i) {
            bytes1 c = contentsType[i];
            if (c == 0x28) break;
            if (c == 0x2c || c == 0x20 || c == 0x29 || c == 0x00) return (false, contentsType);
        }
        return (true, contentsType[:i]);
    }

    /// @dev The signer of `digest` from the first 65 bytes of `sig` (r ‖ s ‖ v); address(0) when the
    /// signature is malleable (high s), has another v than 27/28, or does not recover.
    function _recover(bytes32 digest, bytes calldata sig) private pure returns (address) {
        bytes32 r = bytes32(sig[0:32]);
        bytes32 s = bytes32(sig[32:64]);
        uint8 v = uint8(sig[64]);
        if (v != 27 && v != 28) return address(0);
        if (uint256(s) > HALF_N) return address(0);
        return ecrecover(digest, v, r, s);
    }
}
