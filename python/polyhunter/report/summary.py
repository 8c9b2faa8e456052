"""A period's figures per follower and per leader, built from the store (and the chain and venue when given),
rendered as text, JSON or CSV.

Figures: copies by status (created in the period), volume (EXECUTED fills' collateral, tokens × price, summed
exactly then rounded toward −∞), slippage and delay p50/p95 by nearest rank (the smallest value with at least
p % of the values at or below it) over the copies filled in the period, gas (wei) and fees (base units) of
those copies, realised PnL from fills and from redemptions in the period (the books run from the first copy,
so a sale in the period is measured against the cost of buys before it), and unrealised PnL at the midpoint
at the report's end. Rounding of PnL: `polyhunter.report.pnl`.
"""

from __future__ import annotations

import csv
import io
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any, Literal, Protocol

from polyhunter.models import TradeStatus
from polyhunter.report.pnl import (
    PPM,
    ZERO,
    Book,
    BookKey,
    Holding,
    Redemption,
    build_ledger,
    curve_of,
    floor_units,
    leader_curve,
    reconcile,
    unrealised,
)
from polyhunter.store.base import Store
from polyhunter.units import format_usd


class Midpoints(Protocol):
    """The venue's midpoints (collateral per token, exact), None for a token without a two-sided book."""

    async def midpoints(self, token_ids: Sequence[int]) -> dict[int, Fraction | None]: ...


class Balances(Protocol):
    """Outcome-token balances on chain, (Proxy, token id) → base units."""

    async def balances(self, pairs: Sequence[tuple[str, int]]) -> dict[tuple[str, int], int]: ...


class Redemptions(Protocol):
    """The Proxies' redemptions up to a time (the redeemer's records)."""

    async def redemptions(self, proxies: Sequence[str], until_ms: int) -> list[Redemption]: ...


def nearest_rank(values: Sequence[int], percent: int) -> int | None:
    """The `percent`th percentile by nearest rank (an observed value, no interpolation); None when empty."""
    if not values:
        return None
    ordered = sorted(values)
    rank = -((-percent * len(ordered)) // 100)  # ceil(p × n / 100), exact
    return ordered[max(rank, 1) - 1]


Scope = Literal["follower", "leader"]


@dataclass(slots=True)
class Figures:
    """One follower's or one leader's figures over the period (money in base units, gas in wei)."""

    scope: Scope
    address: str
    counterparts: list[str]
    """The leaders a follower copies, or the followers copying a leader."""
    copies: dict[str, int]
    volume: int
    slippage_bps: list[int]
    delay_ms: list[int]
    gas_wei: int
    fees: int
    realised_fills: int
    realised_redemptions: int
    unrealised: int | None
    """None when no midpoint was asked for; with some tokens unpriced it covers the priced ones."""
    unpriced: list[int] = field(default_factory=list)
    holdings: list[Holding] = field(default_factory=list)
    curve: list[tuple[int, int]] = field(default_factory=list)
    leader_curve: list[tuple[int, int]] = field(default_factory=list)

    @property
    def realised(self) -> int:
        return self.realised_fills + self.realised_redemptions

    def stats(self) -> dict[str, int | None]:
        return {
            "slippage_p50_bps": nearest_rank(self.slippage_bps, 50),
            "slippage_p95_bps": nearest_rank(self.slippage_bps, 95),
            "delay_p50_ms": nearest_rank(self.delay_ms, 50),
            "delay_p95_ms": nearest_rank(self.delay_ms, 95),
        }

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "scope": self.scope,
            "address": self.address,
            "leaders" if self.scope == "follower" else "followers": self.counterparts,
            "copies": dict(sorted(self.copies.items())),
            "volume": self.volume,
            **self.stats(),
            "slippage_count": len(self.slippage_bps),
            "delay_count": len(self.delay_ms),
            "gas_wei": self.gas_wei,
            "fees": self.fees,
            "realised_fills": self.realised_fills,
            "realised_redemptions": self.realised_redemptions,
            "realised": self.realised,
            "unrealised": self.unrealised,
            "unpriced_tokens": [str(t) for t in self.unpriced],
        }
        if self.scope == "follower":
            out["holdings"] = [h.to_json() for h in self.holdings]
            out["curve"] = [list(p) for p in self.curve]
            out["leader_curve"] = [list(p) for p in self.leader_curve]
        return out


CSV_COLUMNS = (
    "scope",
    "address",
    *(f"copies_{s.value.lower()}" for s in TradeStatus),
    "volume",
    "slippage_p50_bps",
    "slippage_p95_bps",
    "delay_p50_ms",
    "delay_p95_ms",
    "gas_wei",
    "fees",
    "realised_fills",
    "realised_redemptions",
    "realised",
    "unrealised",
)


@dataclass(slots=True)
class Report:
    since_ms: int
    until_ms: int
    followers: list[Figures]
    leaders: list[Figures]

    def to_json(self) -> dict[str, Any]:
        return {
            "since_ms": self.since_ms,
            "until_ms": self.until_ms,
            "units": {"money": "collateral base units (6 decimals)", "gas": "wei", "delay": "ms"},
            "followers": [f.to_json() for f in self.followers],
            "leaders": [f.to_json() for f in self.leaders],
        }

    def to_csv(self) -> str:
        """One row per follower, then per leader (money in base units)."""
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(CSV_COLUMNS)
        for f in (*self.followers, *self.leaders):
            stats = f.stats()
            writer.writerow(
                [
                    f.scope,
                    f.address,
                    *(f.copies.get(s.value, 0) for s in TradeStatus),
                    f.volume,
                    *(("" if v is None else v) for v in stats.values()),
                    f.gas_wei,
                    f.fees,
                    f.realised_fills,
                    f.realised_redemptions,
                    f.realised,
                    "" if f.unrealised is None else f.unrealised,
                ]
            )
        return buffer.getvalue()

    def to_text(self) -> str:
        if not self.followers:
            return "no copies in this period"
        lines: list[str] = []
        for f in (*self.followers, *self.leaders):
            s = f.stats()
            statuses = ", ".join(f"{k} {v}" for k, v in sorted(f.copies.items())) or "none"
            unreal = "not asked" if f.unrealised is None else f"{_usd(f.unrealised)} USD"
            if f.unpriced:
                unreal += f" ({len(f.unpriced)} token(s) without a midpoint)"
            lines += [
                f"{f.scope} {f.address}: copies {statuses}; volume {_usd(f.volume)} USD",
                f"    slippage p50/p95 {_opt(s['slippage_p50_bps'])}/{_opt(s['slippage_p95_bps'])} bps, "
                f"delay p50/p95 {_opt(s['delay_p50_ms'])}/{_opt(s['delay_p95_ms'])} ms, gas {f.gas_wei} wei, "
                f"fees {_usd(f.fees)} USD",
                f"    realised {_usd(f.realised)} USD (fills {_usd(f.realised_fills)}, redemptions "
                f"{_usd(f.realised_redemptions)}), unrealised {unreal}",
            ]
            lines += [
                f"    holding {h.proxy} {h.token_id}: chain {_opt(h.chain)}, copies {h.copies}"
                + (f", moved outside polyhunter {h.difference:+d}" if h.difference else "")
                for h in f.holdings
            ]
        return "\n".join(lines)


def _opt(value: int | None) -> str:
    return "-" if value is None else str(value)


def _usd(units: int) -> str:
    return ("-" if units < 0 else "") + format_usd(abs(units))


def _realised_between(books: Iterable[Book], since_ms: int) -> tuple[Fraction, Fraction]:
    """(fills, redemptions) realised in the period: at the end less what was realised before `since_ms`."""
    fills = redemptions = ZERO
    for book in books:
        f0, r0 = book.realised_before(since_ms)
        fills += book.realised_fills - f0
        redemptions += book.realised_redemptions - r0
    return fills, redemptions


async def build_report(
    store: Store,
    since_ms: int,
    until_ms: int,
    *,
    follower: str | None = None,
    leader: str | None = None,
    midpoints: Midpoints | None = None,
    balances: Balances | None = None,
    redemptions: Redemptions | None = None,
) -> Report:
    """The period's figures per follower and per leader (optionally one of each)."""
    history = await store.trades_between(0, until_ms, follower=follower, leader=leader)
    rows = await store.quality_between(0, until_ms, follower=follower, leader=leader)
    quality = {q.key: q for q in rows}
    proxies = sorted({r.proxy.lower() for r in history})
    redeemed = await redemptions.redemptions(proxies, until_ms) if redemptions is not None else []
    redeemed = [x for x in redeemed if x.at_ms < until_ms]
    ledger = build_ledger(history, quality, redeemed)
    held = ledger.held()
    chain = None
    if balances is not None:
        pairs = sorted(set(held) | {(r.proxy.lower(), r.token_id) for r in history})
        chain = await balances.balances(pairs)
    mids: dict[int, Fraction | None] = {}
    per_book: dict[BookKey, Fraction] = {}
    outside: dict[str, Fraction] = {}
    unpriced: set[int] = set()
    if midpoints is not None:
        tokens = sorted(
            {t for (_, _, t), b in ledger.books.items() if b.qty} | {t for (_, t) in (chain or {})}
        )
        mids = await midpoints.midpoints(tokens) if tokens else {}
        per_book, outside, unpriced = unrealised(ledger, mids, chain)
    in_period = [r for r in history if r.created_at >= since_ms]
    filled = [q for q in rows if q.filled_at >= since_ms]
    holdings = reconcile(held, chain)

    def figures(scope: Scope, address: str, pick: Callable[[str, str], bool]) -> Figures:
        copies = [r for r in in_period if pick(r.follower, r.leader)]
        books = {k: b for k, b in ledger.books.items() if pick(k[0], k[1])}
        fills, redeemed_pnl = _realised_between(books.values(), since_ms)
        qs = [q for q in filled if pick(q.follower, q.leader)]
        volume = sum(
            (
                Fraction(r.copy_size * r.copy_price_ppm, PPM)
                for r in copies
                if r.status is TradeStatus.EXECUTED and r.copy_size and r.copy_price_ppm is not None
            ),
            ZERO,
        )
        unreal: int | None = None
        if midpoints is not None:
            value = sum((v for k, v in per_book.items() if pick(k[0], k[1])), ZERO)
            if scope == "follower":
                value += outside.get(address, ZERO)
            unreal = floor_units(value)
        others = sorted(
            {r.leader if scope == "follower" else r.follower for r in history if pick(r.follower, r.leader)}
        )
        tokens = {k[2] for k, b in books.items() if b.qty}
        result = Figures(
            scope=scope,
            address=address,
            counterparts=others,
            copies=dict(Counter(str(r.status) for r in copies)),
            volume=floor_units(volume),
            slippage_bps=[q.slippage_bps for q in qs if q.slippage_bps is not None],
            delay_ms=[q.delay_ms for q in qs if q.delay_ms is not None],
            gas_wei=sum(q.gas_wei for q in qs),
            fees=sum(q.fee for q in qs),
            realised_fills=floor_units(fills),
            realised_redemptions=floor_units(redeemed_pnl),
            unrealised=unreal,
            unpriced=sorted(tokens & unpriced),
        )
        if scope == "follower":
            proxy = ledger.proxies.get(address)
            result.holdings = [h for h in holdings if h.proxy == proxy]
            result.curve = [(at, floor_units(v)) for at, v in curve_of(books.values()) if at >= since_ms]
            lead = leader_curve(history, address)
            result.leader_curve = [(at, floor_units(v)) for at, v in lead if at >= since_ms]
        return result

    followers = sorted({r.follower for r in history})
    leaders = sorted({r.leader for r in history})
    return Report(
        since_ms,
        until_ms,
        [figures("follower", f, lambda a, _b, f=f: a == f) for f in followers],  # type: ignore[misc]
        [figures("leader", x, lambda _a, b, x=x: b == x) for x in leaders],  # type: ignore[misc]
    )
