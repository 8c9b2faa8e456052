"""A price-time priority order book for one token: resting orders by exact price, oldest first.

The book knows prices and remaining amounts only; who may trade and how fills settle is the engine's job.
Levels are shown worst-first (the best price last), as production's `/book` does.
"""

from __future__ import annotations

import bisect
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from fractions import Fraction

from polyhunter.localpoly.orders import Side, SignedOrder


@dataclass(eq=False)
class RestingOrder:
    """An order on (or once on) the book. `remaining` is in the order's maker-amount terms."""

    order_id: str
    signed: SignedOrder
    owner_key: str
    owner_address: str
    condition_id: str
    order_type: str
    expiration: int
    created_at: int
    seq: int
    remaining: int
    status: str = "LIVE"  # LIVE, MATCHED, CANCELED
    matched_shares: int = 0
    trade_ids: list[str] = field(default_factory=list)

    @property
    def side(self) -> Side:
        return self.signed.side

    @property
    def price(self) -> Fraction:
        return self.signed.price

    @property
    def token_id(self) -> int:
        return self.signed.token_id

    @property
    def maker(self) -> str:
        return self.signed.maker

    def available_shares(self) -> int:
        """Whole base units of shares the remainder still trades at the order's own ratio."""
        if self.side == "SELL":
            return self.remaining
        return self.remaining * self.signed.taker_amount // self.signed.maker_amount

    @property
    def live(self) -> bool:
        return self.status == "LIVE"


#: Which resting orders count (the engine's view: e.g. a GTD order past its expiry does not).
Keep = Callable[[RestingOrder], bool]


class _Side:
    """One side of a book: price levels kept sorted ascending, each a FIFO queue."""

    def __init__(self) -> None:
        self.prices: list[Fraction] = []
        self.levels: dict[Fraction, deque[RestingOrder]] = {}

    def add(self, order: RestingOrder) -> None:
        level = self.levels.get(order.price)
        if level is None:
            bisect.insort(self.prices, order.price)
            level = self.levels[order.price] = deque()
        level.append(order)

    def remove(self, order: RestingOrder) -> None:
        level = self.levels.get(order.price)
        if level is None:
            return
        try:
            level.remove(order)
        except ValueError:
            return
        if not level:
            del self.levels[order.price]
            self.prices.remove(order.price)

    def ascending(self) -> Iterator[RestingOrder]:
        for price in list(self.prices):
            yield from list(self.levels.get(price, ()))

    def descending(self) -> Iterator[RestingOrder]:
        for price in reversed(list(self.prices)):
            yield from list(self.levels.get(price, ()))

    def depth(self, keep: Keep | None = None) -> list[tuple[Fraction, int]]:
        """(price, shares) per level, ascending, counting only the orders `keep` accepts (all when None)."""
        return [
            (p, sum(o.available_shares() for o in self.levels[p] if keep is None or keep(o)))
            for p in self.prices
        ]


class OrderBook:
    """Bids and asks of one token."""

    def __init__(self, token_id: int) -> None:
        self.token_id = token_id
        self.bids = _Side()
        self.asks = _Side()

    def side(self, side: Side) -> _Side:
        return self.bids if side == "BUY" else self.asks

    def add(self, order: RestingOrder) -> None:
        self.side(order.side).add(order)

    def remove(self, order: RestingOrder) -> None:
        self.side(order.side).remove(order)

    def best_bid(self) -> Fraction | None:
        return self.bids.prices[-1] if self.bids.prices else None

    def best_ask(self) -> Fraction | None:
        return self.asks.prices[0] if self.asks.prices else None

    def crossing(self, side: Side, limit: Fraction) -> Iterator[RestingOrder]:
        """Resting orders a taker on `side` with price `limit` would take, best price first, then oldest."""
        if side == "BUY":
            for order in self.asks.ascending():
                if order.price > limit:
                    return
                yield order
        else:
            for order in self.bids.descending():
                if order.price < limit:
                    return
                yield order

    def bid_levels(self, keep: Keep | None = None) -> list[tuple[Fraction, int]]:
        """Bids worst-first (lowest price first, the best bid last), of the orders `keep` accepts."""
        return [lvl for lvl in self.bids.depth(keep) if lvl[1] > 0]

    def ask_levels(self, keep: Keep | None = None) -> list[tuple[Fraction, int]]:
        """Asks worst-first (highest price first, the best ask last), of the orders `keep` accepts."""
        return [lvl for lvl in reversed(self.asks.depth(keep)) if lvl[1] > 0]
