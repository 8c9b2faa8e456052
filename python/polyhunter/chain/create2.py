"""CREATE2 addresses, computed off chain exactly as the EVM does (EIP-1014).

A Proxy's address depends on its build: `init_code_hash` is keccak256 of the Proxy's creation code, which
changes with every change to `Proxy.sol` (the redeem/merge build did). Take it from the factory that deploys
the Proxies (`ProxyFactory.proxyInitCodeHash()`, as the supervisor does at start and `Deployment`
records), never from a constant: `deploy.proxy_init_code_hash()` (the artifact's) equals it only for a
factory of the same build (docs/seams.md "Redemptions and merges" on Proxies of an earlier build).
"""

from __future__ import annotations

from polyhunter._core import keccak256
from polyhunter.errors import InvalidInputError


def _address_bytes(value: str, what: str) -> bytes:
    text = value[2:] if value[:2] in ("0x", "0X") else None
    if text is None or len(text) != 40:
        raise InvalidInputError(f"{what} must be 0x + 40 hex digits: {value!r}")
    try:
        return bytes.fromhex(text)
    except ValueError:
        raise InvalidInputError(f"{what} is not hex: {value!r}") from None


def _bytes32(value: bytes | str, what: str) -> bytes:
    raw = bytes.fromhex(value[2:]) if isinstance(value, str) and value[:2] in ("0x", "0X") else value
    if not isinstance(raw, bytes) or len(raw) != 32:
        raise InvalidInputError(f"{what} must be 32 bytes: {value!r}")
    return raw


def create2_address(deployer: str, salt: bytes | str, init_code_hash: bytes | str) -> str:
    """`keccak256(0xff ‖ deployer ‖ salt ‖ init_code_hash)[12:]`, as a lower-case 0x address."""
    preimage = (
        b"\xff"
        + _address_bytes(deployer, "deployer")
        + _bytes32(salt, "salt")
        + _bytes32(init_code_hash, "init code hash")
    )
    return "0x" + keccak256(preimage)[12:].hex()


def proxy_salt(owner: str) -> bytes:
    """The ProxyFactory's salt for `owner`: the address left-padded to 32 bytes (docs/seams.md)."""
    return b"\x00" * 12 + _address_bytes(owner, "owner")


def proxy_address(factory: str, owner: str, init_code_hash: bytes | str) -> str:
    """The address of `owner`'s Proxy, whether or not it is deployed yet; `init_code_hash` is the factory's
    `proxyInitCodeHash()`."""
    return create2_address(factory, proxy_salt(owner), init_code_hash)
