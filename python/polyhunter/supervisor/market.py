"""What fan-out needs to know of a market beyond the signal: a fresh quote, and the venue's minimum size.

Quotes: the last traded price of each token, from the priced fills the pipeline sees, held 5 s in the Rust
`TtlLru`; a CTF transfer (no price) is priced from it, or skipped `no_price` when there is none fresh.
Market metadata (minimum order size, tick size) is cached per token for `SUPERVISOR_MARKET_META_TTL_MS`;
where it comes from is a function the venue provides (the local venue's minimum is one share).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from polyhunter._core import Signal, TtlLru

SHARE = 1_000_000


@dataclass(frozen=True, slots=True)
class MarketMeta:
    min_size: int
    """Smallest order, in outcome-token base units."""
    tick_ppm: int
    """Price increment, ppm of $1."""


def local_venue_meta(token_id: int) -> MarketMeta:
    """LocalExchange fills any size at any price: one share and one cent, like Polymarket's common markets."""
    return MarketMeta(min_size=SHARE, tick_ppm=10_000)


class MarketBook:
    def __init__(
        self,
        meta_source: Callable[[int], MarketMeta] = local_venue_meta,
        *,
        meta_ttl_ms: int = 300_000,
        quote_ttl_ms: int = 5_000,
    ) -> None:
        self._meta_source = meta_source
        self._meta = TtlLru(10_000, max(1, meta_ttl_ms))
        self._quotes = TtlLru(500, max(1, quote_ttl_ms))

    def meta(self, token_id: int) -> MarketMeta:
        cached = self._meta.get(token_id)
        if cached is None:
            cached = self._meta_source(token_id)
            self._meta.set(token_id, cached)
        meta: MarketMeta = cached
        return meta

    def min_sizes(self, signals: Sequence[Signal]) -> dict[int | str, int]:
        return {s.token_id: self.meta(s.token_id).min_size for s in signals}

    def observe(self, signals: Sequence[Signal]) -> None:
        """Remembers the price of every priced fill as its token's latest quote."""
        for s in signals:
            if s.price_den:
                self._quotes.set(s.token_id, (s.price_num, s.price_den))

    def priced(self, signals: Sequence[Signal]) -> list[Signal]:
        """The signals, those without a price priced from a fresh quote when there is one."""
        out: list[Signal] = []
        for s in signals:
            quote = None if s.price_den else self._quotes.get(s.token_id)
            if quote is None:
                out.append(s)
                continue
            num, den = quote
            out.append(
                Signal(
                    leader=s.leader,
                    token_id=s.token_id,
                    side=s.side,
                    size=s.size,
                    tx_hash=s.tx_hash,
                    log_index=s.log_index,
                    sub_index=s.sub_index,
                    price_num=num,
                    price_den=den,
                    usd=s.size * num // den,
                    block_number=s.block_number,
                    block_hash=s.block_hash,
                    exchange=s.exchange,
                    source=s.source,
                    removed=s.removed,
                    seen_at_ns=s.seen_at_ns,
                )
            )
        return out
