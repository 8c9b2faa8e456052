"""Trades (one per maker order a taker filled) and their lifecycle MATCHED -> MINED -> CONFIRMED, or
RETRYING -> FAILED; the JSON shapes `/data/trades` and `/data/order` answer with; taker fees."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

from polyhunter.localpoly.book import RestingOrder
from polyhunter.localpoly.orders import UNIT, price_text, shares_text
from polyhunter.localpoly.world import ClobMarket

MATCHED, MINED, CONFIRMED, RETRYING, FAILED = "MATCHED", "MINED", "CONFIRMED", "RETRYING", "FAILED"
FEE_QUANTUM = 10  # fees are rounded to 1e-5 collateral = 10 base units


def taker_fee(shares: int, price: Fraction, rate_bps: int, exponent: int = 1) -> int:
    """Taker fee in base units: shares × rate × (p(1−p))^exponent, rounded half up to 1e-5 collateral."""
    if rate_bps == 0 or shares == 0:
        return 0
    exact = Fraction(shares) * Fraction(rate_bps, 10_000) * (price * (1 - price)) ** exponent
    quanta = exact / FEE_QUANTUM
    rounded = (quanta.numerator * 2 + quanta.denominator) // (2 * quanta.denominator)
    return int(rounded) * FEE_QUANTUM


def capped_fee(fee: int, notional: int, max_fee_bps: int) -> int:
    """`fee` clamped to the exchange's cap, `notional × maxFeeRate / 10 000` floored as the exchange
    computes it (`_checkFee`); a cap of 0 means no cap there, so none here."""
    if max_fee_bps == 0:
        return fee
    return min(fee, notional * max_fee_bps // 10_000)


@dataclass(eq=False)
class Trade:
    """One fill between a taker order and one maker order, at the maker's price."""

    trade_id: str
    market: ClobMarket
    taker: RestingOrder
    maker: RestingOrder
    shares: int  # base units of the taker's token
    price: Fraction  # taker's price per share
    maker_price: Fraction  # maker's price per share of the maker's token
    maker_fill: int  # in the maker order's maker-amount terms
    fee: int  # taker fee, base units of collateral
    match_type: str = "COMPLEMENTARY"
    bucket_index: int = 0
    """Which of the match's `matchOrders` transactions settles this trade (`settle_bucket_makers`)."""
    status: str = MATCHED
    transaction_hash: str = ""
    block_number: int | None = None
    match_time: int = field(default_factory=lambda: int(time.time()))
    last_update: int = field(default_factory=lambda: int(time.time()))
    history: list[str] = field(default_factory=lambda: [MATCHED])

    def set_status(self, status: str) -> None:
        self.status = status
        self.last_update = int(time.time())
        self.history.append(status)

    def involves(self, address: str) -> bool:
        return address in (self.taker.owner_address, self.maker.owner_address)

    def to_json(self, viewer: str | None = None) -> dict[str, Any]:
        market = self.market
        taker_side = self.taker.side
        is_maker = (
            viewer is not None and viewer == self.maker.owner_address and viewer != self.taker.owner_address
        )
        tick = market.tick_size
        outcome, _ = market.outcome(self.taker.token_id)
        maker_outcome, _ = market.outcome(self.maker.token_id)
        return {
            "id": self.trade_id,
            "taker_order_id": self.taker.order_id,
            "market": market.condition_id,
            "asset_id": str(self.taker.token_id),
            "side": taker_side,
            "size": shares_text(self.shares),
            "fee_rate_bps": str(market.taker_fee_rate_bps),
            "fee": str(self.fee),
            "price": price_text(self.price, tick),
            "status": self.status,
            "match_time": str(self.match_time),
            "last_update": str(self.last_update),
            "outcome": outcome,
            "bucket_index": self.bucket_index,
            "owner": self.taker.owner_key,
            "maker_address": self.taker.maker,
            "transaction_hash": self.transaction_hash,
            "trader_side": "MAKER" if is_maker else "TAKER",
            "type": self.match_type,
            "maker_orders": [
                {
                    "order_id": self.maker.order_id,
                    "owner": self.maker.owner_key,
                    "maker_address": self.maker.maker,
                    "matched_amount": shares_text(self.shares),
                    "price": price_text(self.maker_price, tick),
                    "fee_rate_bps": "0",
                    "asset_id": str(self.maker.token_id),
                    "outcome": maker_outcome,
                    "side": self.maker.side,
                }
            ],
        }


def order_json(order: RestingOrder, market: ClobMarket) -> dict[str, Any]:
    """`/data/order/{id}` and `/data/orders` entries."""
    outcome, _ = market.outcome(order.token_id)
    return {
        "id": order.order_id,
        "status": order.status,
        "owner": order.owner_key,
        "maker_address": order.maker,
        "market": market.condition_id,
        "asset_id": str(order.token_id),
        "side": order.side,
        "original_size": shares_text(order.signed.shares),
        "size_matched": shares_text(order.matched_shares),
        "price": price_text(order.price, market.tick_size),
        "outcome": outcome,
        "expiration": str(order.expiration),
        "order_type": order.order_type,
        "created_at": order.created_at,
        "associate_trades": list(order.trade_ids),
    }


def usd_text(base_units: int) -> str:
    return shares_text(base_units) if base_units else "0"


__all__ = [
    "CONFIRMED",
    "FAILED",
    "MATCHED",
    "MINED",
    "RETRYING",
    "UNIT",
    "Trade",
    "capped_fee",
    "order_json",
    "taker_fee",
]
