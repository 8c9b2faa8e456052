"""CLOB authentication: L1 (an EIP-712 `ClobAuth` signature) issues API keys, L2 (HMAC headers) uses them.

API credentials are derived deterministically from a per-process secret and (address, nonce), so
`/auth/derive-api-key` returns exactly what `/auth/api-key` created. They live in memory only and are never
logged; comparisons are constant-time.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass

from eth_abi.abi import encode

from polyhunter._core import keccak256, recover_address
from polyhunter.clobauth import (
    CLOB_AUTH_MESSAGE,
    POLY_ADDRESS,
    POLY_API_KEY,
    POLY_NONCE,
    POLY_PASSPHRASE,
    POLY_SIGNATURE,
    POLY_TIMESTAMP,
    ApiCreds,
    hmac_signature,
)
from polyhunter.localpoly.errors import DERIVE_FAILED, UNAUTHORIZED, ClobApiError, bad_request

_DOMAIN_TYPEHASH = keccak256(b"EIP712Domain(string name,string version,uint256 chainId)")
_CLOB_AUTH_TYPEHASH = keccak256(b"ClobAuth(address address,string timestamp,uint256 nonce,string message)")


def clob_auth_digest(chain_id: int, address: str, timestamp: str, nonce: int) -> bytes:
    """The EIP-712 digest an L1 header signs (domain "ClobAuthDomain" v1, no verifying contract)."""
    domain = keccak256(
        encode(
            ["bytes32", "bytes32", "bytes32", "uint256"],
            [_DOMAIN_TYPEHASH, keccak256(b"ClobAuthDomain"), keccak256(b"1"), chain_id],
        )
    )
    struct = keccak256(
        encode(
            ["bytes32", "address", "bytes32", "uint256", "bytes32"],
            [
                _CLOB_AUTH_TYPEHASH,
                address,
                keccak256(timestamp.encode()),
                nonce,
                keccak256(CLOB_AUTH_MESSAGE.encode()),
            ],
        )
    )
    return keccak256(b"\x19\x01" + domain + struct)


@dataclass(frozen=True, repr=False)
class IssuedCreds(ApiCreds):
    """An API key the server issued: bound to the EOA that made it (`address`, lower-case) and its nonce."""

    address: str
    nonce: int

    def __repr__(self) -> str:  # never show the secret or passphrase
        return f"IssuedCreds(address={self.address}, api_key={self.api_key})"


def _header(headers: Mapping[str, str], name: str) -> str:
    value = headers.get(name)
    if value is None or value == "":
        raise ClobApiError(401, UNAUTHORIZED)
    return value


class Authenticator:
    """Issues and checks credentials for one chain id; `clock` is injectable for tests."""

    def __init__(self, chain_id: int, *, max_skew_s: int = 300) -> None:
        self.chain_id = chain_id
        self.max_skew_s = max_skew_s
        self._root = os.urandom(32)
        self._by_key: dict[str, IssuedCreds] = {}
        self._by_owner: dict[tuple[str, int], IssuedCreds] = {}

    def _check_clock(self, timestamp: str) -> None:
        try:
            ts = int(timestamp)
        except ValueError:
            raise ClobApiError(401, UNAUTHORIZED) from None
        if abs(time.time() - ts) > self.max_skew_s:
            raise ClobApiError(401, UNAUTHORIZED)

    def _derive(self, address: str, nonce: int) -> IssuedCreds:
        seed = hmac.new(self._root, f"{address}:{nonce}".encode(), hashlib.sha256).digest()
        more = hashlib.sha256(seed + b"secret").digest()
        return IssuedCreds(
            address=address,
            nonce=nonce,
            api_key=str(uuid.UUID(bytes=seed[:16], version=4)),
            secret=base64.urlsafe_b64encode(more).decode(),
            passphrase=hashlib.sha256(seed + b"passphrase").hexdigest(),
        )

    def verify_l1(self, headers: Mapping[str, str]) -> tuple[str, int]:
        """Checks L1 headers; returns (address lower-case, nonce) or raises 401."""
        address = _header(headers, POLY_ADDRESS)
        signature = _header(headers, POLY_SIGNATURE)
        timestamp = _header(headers, POLY_TIMESTAMP)
        raw_nonce = headers.get(POLY_NONCE) or "0"
        self._check_clock(timestamp)
        try:
            nonce = int(raw_nonce)
            if nonce < 0 or nonce >= 2**256:
                raise ValueError
            sig = bytes.fromhex(signature.removeprefix("0x"))
            digest = clob_auth_digest(self.chain_id, address, timestamp, nonce)
            signer = recover_address(digest, sig)
        except (ValueError, TypeError, OverflowError):
            raise ClobApiError(401, UNAUTHORIZED) from None
        except Exception:  # the Rust edge maps bad signatures to InvalidInputError and friends
            raise ClobApiError(401, UNAUTHORIZED) from None
        if signer != address.lower():
            raise ClobApiError(401, UNAUTHORIZED)
        return signer, nonce

    def create(self, headers: Mapping[str, str]) -> IssuedCreds:
        """`POST /auth/api-key`: the key of (address, nonce), registered (idempotent)."""
        address, nonce = self.verify_l1(headers)
        creds = self._derive(address, nonce)
        self._by_key[creds.api_key] = creds
        self._by_owner[(address, nonce)] = creds
        return creds

    def derive(self, headers: Mapping[str, str]) -> IssuedCreds:
        """`GET /auth/derive-api-key`: the key `create` made for (address, nonce), else 400."""
        address, nonce = self.verify_l1(headers)
        creds = self._by_owner.get((address, nonce))
        if creds is None:
            raise bad_request(DERIVE_FAILED)
        return creds

    def keys_of(self, address: str) -> list[str]:
        return [c.api_key for c in self._by_key.values() if c.address == address]

    def delete(self, creds: IssuedCreds) -> None:
        self._by_key.pop(creds.api_key, None)
        self._by_owner.pop((creds.address, creds.nonce), None)

    def verify_l2(self, headers: Mapping[str, str], method: str, path: str, body: str) -> IssuedCreds:
        """Checks L2 headers against the request as received; returns the key's creds or raises 401."""
        address = _header(headers, POLY_ADDRESS).lower()
        api_key = _header(headers, POLY_API_KEY)
        passphrase = _header(headers, POLY_PASSPHRASE)
        timestamp = _header(headers, POLY_TIMESTAMP)
        signature = _header(headers, POLY_SIGNATURE)
        creds = self._by_key.get(api_key)
        if creds is None or creds.address != address:
            raise ClobApiError(401, UNAUTHORIZED)
        if not hmac.compare_digest(creds.passphrase.encode(), passphrase.encode()):
            raise ClobApiError(401, UNAUTHORIZED)
        self._check_clock(timestamp)
        expected = hmac_signature(creds.secret, timestamp, method, path, body)
        if not hmac.compare_digest(expected.encode(), signature.encode()):
            raise ClobApiError(401, UNAUTHORIZED)
        return creds
