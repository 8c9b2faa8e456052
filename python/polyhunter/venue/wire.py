"""The CLOB's JSON answers read into typed records: sizes and money as integer base units, prices as
`Decimal`, never floats (JSON numbers are parsed as `Decimal`). A shape we cannot read is a `DecodeError`
naming the field; each record keeps the raw object (`raw`) for the fields we do not model."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from polyhunter import fastjson
from polyhunter.errors import DecodeError

UNIT = 10**6  # base units per share and per unit of collateral


def parse_json(body: bytes) -> Any:
    """JSON with every non-integer number as an exact `Decimal` (orjson where no such number is in it)."""
    try:
        return fastjson.loads(body, parse_float=Decimal)
    except ValueError:
        raise DecodeError(f"CLOB answer is not JSON: {body[:120]!r}") from None


def decimal_of(value: Any, name: str) -> Decimal:
    """A price or size given as a string or JSON number, exactly."""
    if isinstance(value, bool) or not isinstance(value, str | int | Decimal):
        raise DecodeError(f"CLOB field {name}: expected a number, got {value!r}")
    try:
        out = Decimal(value)
    except InvalidOperation:
        raise DecodeError(f"CLOB field {name}: {value!r} is not a number") from None
    if not out.is_finite():
        raise DecodeError(f"CLOB field {name}: {value!r} is not finite")
    return out


def units_of(value: Any, name: str) -> int:
    """A size or amount in whole units ("12.5") as base units (12_500_000); more than 6 decimals or a
    negative value is a `DecodeError` (rounding a venue's number would be a silent error)."""
    if value in ("", None):
        return 0
    scaled = decimal_of(value, name) * UNIT
    if scaled != scaled.to_integral_value() or scaled < 0:
        raise DecodeError(f"CLOB field {name}: {value!r} is not a non-negative amount in 6 decimals")
    return int(scaled)


def _obj(data: Any, what: str) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise DecodeError(f"CLOB {what}: expected an object, got {type(data).__name__}")
    return data


def _str(data: dict[str, Any], key: str, what: str) -> str:
    value = data.get(key)
    if not isinstance(value, str):
        raise DecodeError(f"CLOB {what}: field {key!r} missing or not a string")
    return value


@dataclass(frozen=True)
class Level:
    price: Decimal
    size: int  # base units of shares


@dataclass(frozen=True)
class OrderBook:
    """`bids` best (highest) first, `asks` best (lowest) first, whatever order the venue sent."""

    token_id: int
    market: str
    bids: list[Level]
    asks: list[Level]
    tick_size: Decimal | None
    min_order_size: Decimal | None
    neg_risk: bool | None
    raw: dict[str, Any] = field(repr=False, compare=False)

    @classmethod
    def from_json(cls, data: Any) -> OrderBook:
        d = _obj(data, "book")

        def levels(key: str) -> list[Level]:
            rows = d.get(key) or []
            if not isinstance(rows, list):
                raise DecodeError(f"CLOB book: {key} is not a list")
            return [
                Level(decimal_of(_obj(r, key).get("price"), f"{key}.price"), units_of(r.get("size"), key))
                for r in rows
            ]

        bids = sorted(levels("bids"), key=lambda lvl: lvl.price, reverse=True)
        asks = sorted(levels("asks"), key=lambda lvl: lvl.price)
        tick, minimum = d.get("tick_size"), d.get("min_order_size")
        neg_risk = d.get("neg_risk")
        return cls(
            token_id=int(_str(d, "asset_id", "book")),
            market=str(d.get("market", "")),
            bids=bids,
            asks=asks,
            tick_size=decimal_of(tick, "tick_size") if tick is not None else None,
            min_order_size=decimal_of(minimum, "min_order_size") if minimum is not None else None,
            neg_risk=neg_risk if isinstance(neg_risk, bool) else None,
            raw=d,
        )


@dataclass(frozen=True)
class MarketInfo:
    """`/clob-markets/{condition_id}`: tokens (yes, no), tick, minimum size, neg-risk and fee data
    (taker fee = size × rate × (p(1−p))^exponent, `fee_rate` a fraction)."""

    condition_id: str
    token_ids: tuple[int, ...]
    tick_size: Decimal
    min_order_size: Decimal
    neg_risk: bool
    fee_rate: Decimal
    fee_exponent: int
    taker_base_fee_bps: int
    raw: dict[str, Any] = field(repr=False, compare=False)

    @classmethod
    def from_json(cls, data: Any) -> MarketInfo:
        d = _obj(data, "market")
        tokens = d.get("t") or []
        if not isinstance(tokens, list):
            raise DecodeError("CLOB market: 't' is not a list")
        fees = d.get("fd") if isinstance(d.get("fd"), dict) else {}
        assert isinstance(fees, dict)
        exponent = fees.get("e", 1)
        taker_bps = d.get("tbf", 0)
        if not isinstance(exponent, int) or not isinstance(taker_bps, int):
            raise DecodeError("CLOB market: fee exponent and tbf must be integers")
        return cls(
            condition_id=_str(d, "c", "market"),
            token_ids=tuple(int(_str(_obj(t, "market token"), "t", "market token")) for t in tokens),
            tick_size=decimal_of(d.get("mts"), "mts"),
            min_order_size=decimal_of(d.get("mos"), "mos"),
            neg_risk=bool(d.get("nr", False)),
            fee_rate=decimal_of(fees.get("r", 0), "fd.r"),
            fee_exponent=exponent,
            taker_base_fee_bps=taker_bps,
            raw=d,
        )


@dataclass(frozen=True)
class Placement:
    """The answer to a post: `status` "matched", "live", "delayed" or "unmatched"; amounts in base units
    (for a BUY, `making` is collateral paid and `taking` shares received; a SELL the other way)."""

    order_id: str
    status: str
    making: int
    taking: int
    trade_ids: list[str]
    transaction_hashes: list[str]
    raw: dict[str, Any] = field(repr=False, compare=False)

    @classmethod
    def from_json(cls, data: Any) -> Placement:
        d = _obj(data, "post answer")
        return cls(
            order_id=_str(d, "orderID", "post answer").lower(),
            status=str(d.get("status", "")),
            making=units_of(d.get("makingAmount"), "makingAmount"),
            taking=units_of(d.get("takingAmount"), "takingAmount"),
            trade_ids=[str(t) for t in d.get("tradeIDs") or []],
            transaction_hashes=[str(t) for t in d.get("transactionsHashes") or []],
            raw=d,
        )


@dataclass(frozen=True)
class OrderState:
    """`/data/order/{id}`: `status` LIVE, MATCHED, CANCELED (production may prefix `ORDER_STATUS_`)."""

    order_id: str
    status: str
    side: str
    token_id: int
    original_size: int
    size_matched: int
    price: Decimal
    trade_ids: list[str]
    raw: dict[str, Any] = field(repr=False, compare=False)

    @classmethod
    def from_json(cls, data: Any) -> OrderState:
        d = _obj(data, "order")
        return cls(
            order_id=_str(d, "id", "order").lower(),
            status=_str(d, "status", "order").upper().removeprefix("ORDER_STATUS_"),
            side=str(d.get("side", "")),
            token_id=int(_str(d, "asset_id", "order")),
            original_size=units_of(d.get("original_size"), "original_size"),
            size_matched=units_of(d.get("size_matched"), "size_matched"),
            price=decimal_of(d.get("price", "0"), "price"),
            trade_ids=[str(t) for t in d.get("associate_trades") or []],
            raw=d,
        )


@dataclass(frozen=True)
class TradeRecord:
    """One `/data/trades` entry: `status` MATCHED, MINED, CONFIRMED, RETRYING or FAILED."""

    trade_id: str
    taker_order_id: str
    status: str
    side: str
    token_id: int
    size: int
    price: Decimal
    transaction_hash: str
    raw: dict[str, Any] = field(repr=False, compare=False)

    @classmethod
    def from_json(cls, data: Any) -> TradeRecord:
        d = _obj(data, "trade")
        return cls(
            trade_id=_str(d, "id", "trade"),
            taker_order_id=str(d.get("taker_order_id", "")).lower(),
            status=_str(d, "status", "trade").upper().removeprefix("TRADE_STATUS_"),
            side=str(d.get("side", "")),
            token_id=int(_str(d, "asset_id", "trade")),
            size=units_of(d.get("size"), "size"),
            price=decimal_of(d.get("price", "0"), "price"),
            transaction_hash=str(d.get("transaction_hash", "")),
            raw=d,
        )


@dataclass(frozen=True)
class BalanceAllowance:
    """The venue's (cached) view of a funder's balance and its allowance per exchange, in base units."""

    balance: int
    allowances: dict[str, int]

    @classmethod
    def from_json(cls, data: Any) -> BalanceAllowance:
        d = _obj(data, "balance-allowance")
        allowances = d.get("allowances") or {}
        if not isinstance(allowances, dict):
            raise DecodeError("CLOB balance-allowance: allowances is not an object")

        def integer(value: Any, name: str) -> int:
            if isinstance(value, int) and not isinstance(value, bool):
                return value
            if isinstance(value, str) and value.isdigit() and value.isascii():
                return int(value)
            raise DecodeError(f"CLOB balance-allowance: {name} {value!r} is not an integer of base units")

        return cls(
            balance=integer(d.get("balance"), "balance"),
            allowances={str(k).lower(): integer(a, f"allowance of {k}") for k, a in allowances.items()},
        )


@dataclass(frozen=True)
class CancelResult:
    canceled: list[str]
    not_canceled: dict[str, str]

    @classmethod
    def from_json(cls, data: Any) -> CancelResult:
        d = _obj(data, "cancel answer")
        not_canceled = d.get("not_canceled") or {}
        if not isinstance(not_canceled, dict):
            raise DecodeError("CLOB cancel answer: not_canceled is not an object")
        return cls(
            canceled=[str(i).lower() for i in d.get("canceled") or []],
            not_canceled={str(k).lower(): str(v) for k, v in not_canceled.items()},
        )
