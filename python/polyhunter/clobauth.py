"""Polymarket CLOB authentication primitives shared by our clients and our local CLOB server.

Both sides of the protocol must agree byte for byte, so the L2 HMAC signature, the API credentials (whose
`repr` never shows the secret or the passphrase) and the header names live here once. The L1 `ClobAuth`
EIP-712 signature is made in Rust (`Signer.sign_clob_auth`) and checked by the server.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from dataclasses import dataclass

#: The text an L1 `ClobAuth` signature attests.
CLOB_AUTH_MESSAGE = "This message attests that I control the given wallet"

POLY_ADDRESS = "POLY_ADDRESS"
POLY_SIGNATURE = "POLY_SIGNATURE"
POLY_TIMESTAMP = "POLY_TIMESTAMP"
POLY_NONCE = "POLY_NONCE"
POLY_API_KEY = "POLY_API_KEY"
POLY_PASSPHRASE = "POLY_PASSPHRASE"  # noqa: S105 (a header name, not a secret)


def hmac_signature(secret: str, timestamp: str, method: str, path: str, body: str) -> str:
    """Polymarket's L2 signature: URL-safe base64 (padded) HMAC-SHA256 under the base64url-decoded `secret`
    over `timestamp + METHOD + path + body`, body being exactly what is sent.

    The official client replaces single quotes by double quotes in the body it signs (a leftover of signing
    Python reprs) while sending the body unchanged, so both sides here do the same to agree with it.
    """
    message = f"{timestamp}{method}{path}{body.replace(chr(39), chr(34))}"
    digest = hmac.new(base64.urlsafe_b64decode(secret), message.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).decode()


@dataclass(frozen=True, repr=False)
class ApiCreds:
    """One CLOB API key with its secret and passphrase; `repr` shows the key only."""

    api_key: str
    secret: str
    passphrase: str

    def to_json(self) -> dict[str, str]:
        """The shape `/auth/api-key` and `/auth/derive-api-key` answer with."""
        return {"apiKey": self.api_key, "secret": self.secret, "passphrase": self.passphrase}

    def __repr__(self) -> str:
        return f"ApiCreds(api_key={self.api_key!r})"
