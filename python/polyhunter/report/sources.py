"""Where a report's outside figures come from: CTF balances on chain, midpoints from the venue's books (or
given by hand), and the redeemer's records of redemptions and merges.

Each is one of `polyhunter.report.summary`'s protocols (`Balances`, `Midpoints`, `Redemptions`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from fractions import Fraction
from typing import TYPE_CHECKING, Any

from polyhunter.errors import ChainError, InvalidInputError
from polyhunter.report.pnl import Redemption

if TYPE_CHECKING:  # web3 and the venue client load their stacks: only when a report asks the chain or venue
    from web3 import Web3

    from polyhunter.store.base import Store
    from polyhunter.venue.client import ClobClient

BATCH = 200
"""Balances asked per `balanceOfBatch` call."""


class ChainBalances:
    """The CTF's `balanceOfBatch`, `BATCH` pairs per call, off the event loop (web3 is synchronous)."""

    def __init__(self, w3: Web3, ctf: str) -> None:
        self.w3 = w3
        self.ctf = ctf

    def _read(self, pairs: Sequence[tuple[str, int]]) -> dict[tuple[str, int], int]:
        from web3 import Web3
        from web3.exceptions import Web3Exception

        from polyhunter.chain.tx import contract

        handle = contract(self.w3, "ConditionalTokens", self.ctf)
        out: dict[tuple[str, int], int] = {}
        for start in range(0, len(pairs), BATCH):
            chunk = pairs[start : start + BATCH]
            holders = [Web3.to_checksum_address(p) for p, _ in chunk]
            try:
                values = handle.functions.balanceOfBatch(holders, [t for _, t in chunk]).call()
            except (OSError, Web3Exception) as exc:
                raise ChainError(f"CTF balanceOfBatch at {self.ctf}: {type(exc).__name__}: {exc}") from None
            out.update({(p.lower(), t): int(v) for (p, t), v in zip(chunk, values, strict=True)})
        return out

    async def balances(self, pairs: Sequence[tuple[str, int]]) -> dict[tuple[str, int], int]:
        return await asyncio.to_thread(self._read, list(pairs)) if pairs else {}


def midpoint_of(bids: Sequence[Any], asks: Sequence[Any]) -> Fraction | None:
    """(best bid + best ask) / 2, exact; None unless both sides have a level. Levels carry a Decimal `price`
    and are sorted best first (`venue.wire.OrderBook`)."""
    if not bids or not asks:
        return None
    return (Fraction(bids[0].price) + Fraction(asks[0].price)) / 2


class BookMidpoints:
    """Midpoints from the venue's order books (`GET /book`), one request per token; a token the venue has no
    book for (a resolved or closed market) has none. Any other venue error fails the report."""

    def __init__(self, client: ClobClient) -> None:
        self.client = client

    async def midpoints(self, token_ids: Sequence[int]) -> dict[int, Fraction | None]:
        from polyhunter.venue.errors import OrderRefused

        out: dict[int, Fraction | None] = {}
        for token in token_ids:
            try:
                book = await self.client.book(token)
            except OrderRefused:
                out[token] = None
                continue
            out[token] = midpoint_of(book.bids, book.asks)
        return out


class FixedMidpoints:
    """Midpoints given by hand (`polyhunter report --mid TOKEN=PRICE`), before another source or alone."""

    def __init__(self, fixed: Mapping[int, Fraction], rest: Any = None) -> None:
        for token, price in fixed.items():
            if not 0 <= price <= 1:
                raise InvalidInputError(f"the midpoint of token {token} must be within 0 and 1, got {price}")
        self.fixed = dict(fixed)
        self.rest = rest

    async def midpoints(self, token_ids: Sequence[int]) -> dict[int, Fraction | None]:
        out: dict[int, Fraction | None] = {t: self.fixed[t] for t in token_ids if t in self.fixed}
        others = [t for t in token_ids if t not in self.fixed]
        if others and self.rest is not None:
            out.update(await self.rest.midpoints(others))
        return out


REDEEMED = ("DONE", "CLOSED")
"""Statuses of the redeemer's records whose payout is known."""


class StoreRedemptions:
    """The redeemer's records (`polyhunter.store.redemptions.Redemptions`, migration 8) as the books take
    them: a DONE or CLOSED REDEEM closes the condition's tokens (YES and NO over the row's collateral), a DONE
    MERGE takes `amount` of each outcome; at the time the row was finished (`updated_at`)."""

    def __init__(self, store: Store) -> None:
        self.store = store

    async def redemptions(self, proxies: Sequence[str], until_ms: int) -> list[Redemption]:
        from polyhunter.chain.ctf import binary_token_ids
        from polyhunter.store.redemptions import Redemptions

        records = Redemptions(self.store)
        out: list[Redemption] = []
        for proxy in sorted({p.lower() for p in proxies}):
            for row in await records.find(proxy=proxy):
                if row.status not in REDEEMED or row.payout is None or row.updated_at >= until_ms:
                    continue
                tokens = binary_token_ids(row.collateral, row.condition_id)
                merged = row.amount if row.kind == "MERGE" else None
                out.append(Redemption(proxy, tokens, row.payout, row.updated_at, merged))
        # The redeemer merges a Proxy's matched YES + NO before it redeems the rest: within one ms, so do we.
        out.sort(key=lambda r: (r.at_ms, r.merged is None))
        return out
