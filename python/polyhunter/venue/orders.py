"""A signed V2 order serialized once into the exact bytes `POST /order` sends, with its order hash.

The bytes are what gets journaled, signed (L2 HMAC) and sent, and, after an unknown outcome, sent again
unchanged: a re-serialized or re-signed order (new salt, new timestamp) would be a second order.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from eth_utils.address import to_checksum_address

from polyhunter import fastjson
from polyhunter._core import OrderV2, SignedTypedData
from polyhunter.errors import InvalidInputError

OrderType = Literal["GTC", "GTD", "FOK", "FAK"]
ORDER_TYPES: tuple[OrderType, ...] = ("GTC", "GTD", "FOK", "FAK")


@dataclass(frozen=True)
class PreparedOrder:
    """`body`: the exact JSON bytes to post; `order_hash`: "0x" + 64 hex digits (the venue's order id)."""

    body: bytes
    order_hash: str

    def __post_init__(self) -> None:
        if not (len(self.order_hash) == 66 and self.order_hash.startswith("0x")):
            raise InvalidInputError(f"order hash {self.order_hash!r} is not 0x + 64 hex digits")
        try:
            bytes.fromhex(self.order_hash[2:])
        except ValueError:
            raise InvalidInputError(f"order hash {self.order_hash!r} is not hex") from None
        if not self.body:
            raise InvalidInputError("an order body cannot be empty")

    def __repr__(self) -> str:
        return f"PreparedOrder(order_hash={self.order_hash}, {len(self.body)} bytes)"


def prepare_order(
    order: OrderV2,
    signed: SignedTypedData,
    *,
    owner: str,
    order_type: OrderType = "FOK",
    post_only: bool = False,
    expiration: int = 0,
) -> PreparedOrder:
    """The body of `POST /order` for `order` as signed (`Signer.sign_order`), posted by API key `owner`.

    Field names and types follow the V2 wire format; uint256 values other than the salt are decimal
    strings so that no JSON reader rounds them. `expiration` (unix seconds) is only for GTD orders."""
    if order_type not in ORDER_TYPES:
        raise InvalidInputError(f"order type {order_type!r} is not one of {', '.join(ORDER_TYPES)}")
    if post_only and order_type in ("FOK", "FAK"):
        raise InvalidInputError("a FOK or FAK order cannot be post-only")
    if (expiration != 0) != (order_type == "GTD"):
        raise InvalidInputError("an expiration is given for GTD orders and only for them")
    if not owner:
        raise InvalidInputError("the order's owner (the API key) is missing")
    payload = {
        "order": {
            "salt": order.salt,
            "maker": to_checksum_address(order.maker),
            "signer": to_checksum_address(order.signer),
            "tokenId": str(order.token_id),
            "makerAmount": str(order.maker_amount),
            "takerAmount": str(order.taker_amount),
            "side": order.side,
            "expiration": str(expiration),
            "signatureType": order.signature_type,
            "timestamp": str(order.timestamp),
            "metadata": "0x" + order.metadata.hex(),
            "builder": "0x" + order.builder.hex(),
            "signature": signed.signature_hex,
        },
        "owner": owner,
        "orderType": order_type,
        "deferExec": False,
        "postOnly": post_only,
    }
    # Encoded once: these bytes are signed (L2 HMAC) and posted as they are.
    body = fastjson.dumps(payload)
    return PreparedOrder(body=body, order_hash="0x" + signed.hash.hex())
