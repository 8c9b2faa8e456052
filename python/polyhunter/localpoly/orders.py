"""Signed V2 orders as the CLOB receives them: strict parsing of the JSON body, EIP-712 hashing, the
POLY_1271 wrap, and the market rules (tick, minimum size, precision) with production's error strings.

Amounts are integers in 6-decimal base units and prices exact `Fraction`s; nothing here is a float.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction
from typing import Any, Literal

from eth_abi.abi import encode

from polyhunter._core import keccak256
from polyhunter.localpoly import errors as e
from polyhunter.localpoly.errors import ClobApiError, bad_request

Side = Literal["BUY", "SELL"]
OrderType = Literal["GTC", "GTD", "FOK", "FAK"]
ORDER_TYPES: tuple[OrderType, ...] = ("GTC", "GTD", "FOK", "FAK")
UNIT = 10**6  # base units per share and per pUSD

ORDER_TYPE_STRING = (
    "Order(uint256 salt,address maker,address signer,uint256 tokenId,uint256 makerAmount,"
    "uint256 takerAmount,uint8 side,uint8 signatureType,uint256 timestamp,bytes32 metadata,bytes32 builder)"
)
ORDER_TYPEHASH = keccak256(ORDER_TYPE_STRING.encode())
_DOMAIN_TYPEHASH = keccak256(
    b"EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)"
)
_TYPED_DATA_SIGN_TYPEHASH = keccak256(
    (
        "TypedDataSign(Order contents,string name,string version,uint256 chainId,"
        "address verifyingContract,bytes32 salt)" + ORDER_TYPE_STRING
    ).encode()
)
ORDER_TUPLE = "(uint256,address,address,uint256,uint256,uint256,uint8,uint8,uint256,bytes32,bytes32,bytes)"
_ORDER_FIELD_TYPES = [
    "bytes32",
    "uint256",
    "address",
    "address",
    "uint256",
    "uint256",
    "uint256",
    "uint8",
    "uint8",
    "uint256",
    "bytes32",
    "bytes32",
]
_ADDRESS = re.compile(r"0x[0-9a-fA-F]{40}")
_BYTES32 = re.compile(r"0x[0-9a-fA-F]{64}")
_HEX = re.compile(r"0x(?:[0-9a-fA-F]{2})*")
# Fields only V1 orders carry: their presence means an old client.
_V1_FIELDS = frozenset({"nonce", "feeRateBps", "taker"})


def exchange_domain_separator(exchange: str, chain_id: int) -> bytes:
    """The V2 exchange's EIP-712 domain separator ("Polymarket CTF Exchange", version "2")."""
    return keccak256(
        encode(
            ["bytes32", "bytes32", "bytes32", "uint256", "address"],
            [_DOMAIN_TYPEHASH, keccak256(b"Polymarket CTF Exchange"), keccak256(b"2"), chain_id, exchange],
        )
    )


@dataclass(frozen=True)
class SignedOrder:
    """A V2 order with its signature, as signed (the fields the EIP-712 struct covers, plus signature)."""

    salt: int
    maker: str
    signer: str
    token_id: int
    maker_amount: int
    taker_amount: int
    side: Side
    signature_type: int
    timestamp: int
    metadata: bytes
    builder: bytes
    signature: bytes

    @property
    def side_code(self) -> int:
        return 0 if self.side == "BUY" else 1

    @property
    def price(self) -> Fraction:
        """Collateral per share: makerAmount/takerAmount for a BUY, takerAmount/makerAmount for a SELL."""
        if self.side == "BUY":
            return Fraction(self.maker_amount, self.taker_amount)
        return Fraction(self.taker_amount, self.maker_amount)

    @property
    def shares(self) -> int:
        """Shares (base units) the order trades in full."""
        return self.taker_amount if self.side == "BUY" else self.maker_amount

    @property
    def usd(self) -> int:
        """Collateral (base units) the order trades in full."""
        return self.maker_amount if self.side == "BUY" else self.taker_amount

    def struct_hash(self) -> bytes:
        return keccak256(
            encode(
                _ORDER_FIELD_TYPES,
                [
                    ORDER_TYPEHASH,
                    self.salt,
                    self.maker,
                    self.signer,
                    self.token_id,
                    self.maker_amount,
                    self.taker_amount,
                    self.side_code,
                    self.signature_type,
                    self.timestamp,
                    self.metadata,
                    self.builder,
                ],
            )
        )

    def order_hash(self, domain_separator: bytes) -> bytes:
        """The EIP-712 digest under the exchange's domain: the order id the exchange emits."""
        return keccak256(b"\x19\x01" + domain_separator + self.struct_hash())

    def as_abi(self) -> tuple[Any, ...]:
        """The `Order` tuple of `matchOrders` calldata (signature last)."""
        return (
            self.salt,
            self.maker,
            self.signer,
            self.token_id,
            self.maker_amount,
            self.taker_amount,
            self.side_code,
            self.signature_type,
            self.timestamp,
            self.metadata,
            self.builder,
            self.signature,
        )


def poly1271_digest(order: SignedOrder, domain_separator: bytes, chain_id: int) -> bytes:
    """The digest a deposit wallet's owner signs for `order` (ERC-7739 nested TypedDataSign, wallet
    domain "DepositWallet" v1, verifying contract = the wallet = order.signer, salt 0)."""
    struct = keccak256(
        encode(
            ["bytes32", "bytes32", "bytes32", "bytes32", "uint256", "address", "bytes32"],
            [
                _TYPED_DATA_SIGN_TYPEHASH,
                order.struct_hash(),
                keccak256(b"DepositWallet"),
                keccak256(b"1"),
                chain_id,
                order.signer,
                bytes(32),
            ],
        )
    )
    return keccak256(b"\x19\x01" + domain_separator + struct)


def poly1271_wrap(sig65: bytes, order: SignedOrder, domain_separator: bytes) -> bytes:
    """sig65 ‖ exchange domain separator ‖ contents hash ‖ type string ‖ uint16 length of it."""
    type_bytes = ORDER_TYPE_STRING.encode()
    return sig65 + domain_separator + order.struct_hash() + type_bytes + len(type_bytes).to_bytes(2, "big")


@dataclass(frozen=True)
class OrderRequest:
    """One entry of `POST /order` / `POST /orders`."""

    order: SignedOrder
    owner: str
    order_type: OrderType
    post_only: bool
    defer_exec: bool
    expiration: int


def _uint(raw: Any, name: str, bits: int = 256) -> int:
    if isinstance(raw, bool):
        raise bad_request(f"invalid order: {name} must be an unsigned integer")
    if isinstance(raw, int):
        value = raw
    elif isinstance(raw, str) and raw.isdigit() and raw.isascii():
        value = int(raw)
    else:
        raise bad_request(f"invalid order: {name} must be an unsigned integer")
    if not 0 <= value < 2**bits:
        raise bad_request(f"invalid order: {name} out of range")
    return value


def _address(raw: Any, name: str) -> str:
    if not isinstance(raw, str) or not _ADDRESS.fullmatch(raw):
        raise bad_request(f"invalid order: {name} must be a 0x-prefixed address")
    return raw.lower()


def _bytes32(raw: Any, name: str) -> bytes:
    if raw is None:
        return bytes(32)
    if not isinstance(raw, str) or not _BYTES32.fullmatch(raw):
        raise bad_request(f"invalid order: {name} must be 0x-prefixed 32 bytes")
    return bytes.fromhex(raw[2:])


def parse_order(raw: Any) -> SignedOrder:
    """The `order` object of a post, strictly typed; 400 with a clear message otherwise."""
    if not isinstance(raw, dict):
        raise bad_request("invalid order: 'order' must be an object")
    if _V1_FIELDS & raw.keys() or "timestamp" not in raw:
        raise bad_request(e.INVALID_VERSION)
    side = raw.get("side")
    if side not in ("BUY", "SELL"):
        raise bad_request("invalid order: side must be BUY or SELL")
    signature = raw.get("signature")
    if not isinstance(signature, str) or not _HEX.fullmatch(signature) or len(signature) < 4:
        raise bad_request("invalid order: signature must be 0x-prefixed hex")
    order = SignedOrder(
        salt=_uint(raw.get("salt"), "salt"),
        maker=_address(raw.get("maker"), "maker"),
        signer=_address(raw.get("signer"), "signer"),
        token_id=_uint(raw.get("tokenId"), "tokenId"),
        maker_amount=_uint(raw.get("makerAmount"), "makerAmount"),
        taker_amount=_uint(raw.get("takerAmount"), "takerAmount"),
        side=side,
        signature_type=_uint(raw.get("signatureType"), "signatureType", 8),
        timestamp=_uint(raw.get("timestamp"), "timestamp"),
        metadata=_bytes32(raw.get("metadata"), "metadata"),
        builder=_bytes32(raw.get("builder"), "builder"),
        signature=bytes.fromhex(signature[2:]),
    )
    if order.maker_amount == 0 or order.taker_amount == 0:
        raise bad_request("invalid order: makerAmount and takerAmount must be positive")
    return order


def parse_order_request(raw: Any) -> OrderRequest:
    """One posted order with its envelope (owner, orderType, postOnly, deferExec)."""
    if not isinstance(raw, dict):
        raise bad_request("invalid payload: each order must be an object")
    order = parse_order(raw.get("order"))
    owner = raw.get("owner")
    if not isinstance(owner, str) or not owner:
        raise bad_request("invalid payload: owner must be the API key")
    order_type = raw.get("orderType", "GTC")
    if order_type not in ORDER_TYPES:
        raise bad_request(f"invalid order type: {order_type!r}")
    post_only = raw.get("postOnly", False)
    defer_exec = raw.get("deferExec", False)
    if not isinstance(post_only, bool) or not isinstance(defer_exec, bool):
        raise bad_request("invalid payload: postOnly and deferExec must be booleans")
    if defer_exec:
        # Production has not published what deferred execution does; refusing beats silently ignoring.
        raise bad_request(e.DEFER_EXEC_UNSUPPORTED)
    if post_only and order_type in ("FOK", "FAK"):
        raise bad_request("invalid post-only order: FOK and FAK orders cannot be post-only")
    expiration = _uint(raw["order"].get("expiration", "0"), "expiration")
    return OrderRequest(order, owner, order_type, post_only, defer_exec, expiration)


def decimals_of(amount: int) -> int:
    """Decimal places of a base-unit amount shown in whole units (1_230_000 -> 2)."""
    text = f"{amount:07d}"[-6:].rstrip("0")
    return len(text)


def to_decimal(value: Fraction | int, places: int = 6) -> Decimal:
    """An exact Fraction as a Decimal with at most `places` decimals (floor), trailing zeros dropped."""
    frac = Fraction(value)
    scaled = frac.numerator * 10**places // frac.denominator
    return (Decimal(scaled) / Decimal(10**places)).normalize()


def shares_text(base_units: int) -> str:
    """Base units as the CLOB shows sizes ("12.5")."""
    return format((Decimal(base_units) / UNIT).normalize(), "f")


def price_text(price: Fraction, tick: Decimal) -> str:
    """A price shown with the tick's decimals ("0.5" stays "0.5" as production shows it)."""
    return format(to_decimal(price, max(-tick.as_tuple().exponent, 0) + 4), "f")  # type: ignore[operator]


@dataclass(frozen=True)
class MarketRules:
    """What a market enforces on a new order."""

    tick_size: Decimal
    min_order_size: Decimal


def check_rules(
    order: SignedOrder,
    order_type: OrderType,
    rules: MarketRules,
    *,
    exact_tick_ratio: bool,
    market_decimals: tuple[int, int, int, int] | None,
    limit_decimals: tuple[int, int, int, int] | None,
) -> None:
    """Tick, range, minimum size and amount precision; raises `ClobApiError` 400 with production's text.

    `*_decimals` = (buy maker, buy taker, sell maker, sell taker) caps, or None when not enforced.
    """
    tick = Fraction(rules.tick_size)
    price = order.price
    marketable_type = order_type in ("FOK", "FAK")
    if not tick <= price <= 1 - tick:
        raise e.tick_error(to_decimal(price), rules.tick_size)
    # Market orders carry a worst price implied by rounded amounts, so only limit orders must sit on a tick.
    if exact_tick_ratio and not marketable_type and (price / tick).denominator != 1:
        raise e.tick_error(to_decimal(price), rules.tick_size)
    caps = market_decimals if marketable_type else limit_decimals
    if caps is not None:
        maker_cap, taker_cap = (caps[0], caps[1]) if order.side == "BUY" else (caps[2], caps[3])
        if decimals_of(order.maker_amount) > maker_cap or decimals_of(order.taker_amount) > taker_cap:
            raise e.precision_error(order.side, maker_cap, taker_cap)
    if not marketable_type:
        size = Decimal(order.shares) / UNIT
        if size < rules.min_order_size:
            raise e.min_size_error(size, rules.min_order_size)


def check_marketable_buy(order: SignedOrder, minimum_usd: Decimal) -> None:
    """A BUY that takes liquidity must be worth at least `minimum_usd`."""
    usd = Decimal(order.maker_amount) / UNIT
    if order.side == "BUY" and usd < minimum_usd:
        raise e.marketable_buy_error(usd, minimum_usd)


__all__ = [
    "ClobApiError",
    "MarketRules",
    "OrderRequest",
    "SignedOrder",
    "check_marketable_buy",
    "check_rules",
    "exchange_domain_separator",
    "parse_order",
    "parse_order_request",
    "poly1271_digest",
    "poly1271_wrap",
]
