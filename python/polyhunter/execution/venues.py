"""The venue seam: what a copy flow needs from the place it trades, and the outcomes a trade can have.

A flow moves funds between Proxies and a worker through the Executor; the venue only trades. It is asked,
in order: `quote` (preflight's slippage bound), `admit` (refusals known before anything is pulled: below the
venue's minimum, market closed, trading disabled), `trade` (one order for all the legs of a flow, journaled
under `trade_step` before it leaves the worker) and, from recovery, `resolve` (what became of a journaled
trade whose outcome the flow never learnt).

A trade ends in one of three values, never in an exception for a normal refusal:
- `Fill`: something traded (all of it, or part of it for a FAK order); amounts are exact base units.
- `Refused`: certainly nothing traded, for a reason that is not a fault (`Refusal`): the copy is SKIPPED.
- `Failed`: a fault. `unknown=False`: certainly nothing traded (the funds go back, the copy is FAILED);
  `unknown=True`: it may have traded, so nothing is undone and recovery asks `resolve` later.
`JobRelinquished` (the journal refusing the job's first record) is the one exception a trade lets through.

LocalExchange (`localexchange.py`) trades by a transaction the worker sends and fills exactly at the
order's amounts; the CLOB venue posts a signed order (journaled as `ORDER_POSTED` with its exact bytes) and
follows it to settlement. See docs/seams.md "The venue protocol".
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from fractions import Fraction
from typing import Literal, Protocol

from polyhunter.execution.base import JobJournal
from polyhunter.execution.fleet import OperatorWallet
from polyhunter.models import JournalEntry, Side, SkipReason, Step

ORDER_POSTED = Step.ORDER_POSTED
"""Journal step of a venue whose trade is a posted order (the CLOB): its hash and exact bytes, stored
before posting, so that after a crash the same order is asked about and never re-signed."""


class OrderKind(StrEnum):
    """FOK: all or nothing; FAK: what matches now, the rest cancelled."""

    FOK = "FOK"
    FAK = "FAK"


class Refusal(StrEnum):
    """Why a venue did not trade, when that is not a fault: these are the copy's SKIPPED reasons (each value
    is a `models.SkipReason`)."""

    FOK_NOT_FILLED = SkipReason.FOK_NOT_FILLED.value
    FAK_NOT_FILLED = SkipReason.FAK_NOT_FILLED.value
    VENUE_FAILED = SkipReason.VENUE_FAILED.value
    """Matched, then the settlement failed on chain: nothing moved."""
    VENUE_UNAVAILABLE = SkipReason.VENUE_UNAVAILABLE.value
    """Cancel-only, trading disabled, or post-only beyond the job's deadline."""
    MARKET_CLOSED = SkipReason.MARKET_CLOSED.value
    BELOW_MIN_SIZE = SkipReason.BELOW_MIN_SIZE.value


@dataclass(frozen=True, slots=True)
class Order:
    """One trade for all the legs of a flow.

    BUY: spend at most `collateral` (fee included) for `shares` outcome tokens; SELL: sell at most `shares`
    for at least `collateral`. `price_ppm` is the limit (worst acceptable price per share, ppm of $1)."""

    token_id: int
    side: Side
    shares: int
    collateral: int
    price_ppm: int
    kind: OrderKind = OrderKind.FOK


@dataclass(frozen=True, slots=True)
class Fill:
    """What a trade moved, in base units: `shares` bought or sold, `collateral` paid or received before the
    fee, `fee` (collateral; a BUY pays it on top, a SELL's proceeds are net of it), the venue's
    `reference` (the fill's transaction hash, or the order hash) and the chain transactions that settled
    it."""

    shares: int
    collateral: int
    fee: int
    reference: bytes
    tx_hashes: tuple[bytes, ...]
    complete: bool = True
    """False: a FAK order filled in part; the rest was cancelled, nothing more will fill."""

    @property
    def price(self) -> Fraction:
        """Average price per share, exact."""
        if self.shares == 0:
            raise ZeroDivisionError("a fill of no shares has no price")
        return Fraction(self.collateral, self.shares)

    def spent(self, side: Side) -> int:
        """Collateral that left the worker (BUY: paid plus fee) or reached it (SELL: proceeds less fee)."""
        return self.collateral + self.fee if side == "BUY" else self.collateral - self.fee


@dataclass(frozen=True, slots=True)
class Refused:
    """Certainly nothing traded, and not a fault."""

    reason: Refusal
    detail: str = ""


@dataclass(frozen=True, slots=True)
class Failed:
    """A fault; `unknown` when the trade may still have happened (recovery decides)."""

    detail: str
    unknown: bool = False


TradeOutcome = Fill | Refused | Failed

SettlementState = Literal["ok", "reverted", "pending", "void"]
"""What recovery learns of a journaled trade: ok (traded), reverted (certainly not), pending (may still
trade: ask again later), void (never reached the venue, or can no longer trade)."""


@dataclass(frozen=True, slots=True)
class Settlement:
    """`resolve`'s answer for one journaled trade entry; `reference` is what recovery records for it."""

    state: SettlementState
    reference: bytes


class Venue(Protocol):
    """Where the flows trade. Implementations: `LocalExchangeVenue` (local chains); the CLOB next."""

    name: str
    trade_step: str
    """The journal step of a trade: FILLED (a transaction) or ORDER_POSTED (a posted order)."""

    async def quote(self, token_id: int, side: Side) -> int | None:
        """The venue's current price for `side` of `token_id`, ppm of $1 (None: no quote)."""
        ...

    async def admit(self, order: Order) -> Refused | None:
        """A refusal known before anything is pulled (minimum size, market closed, trading off)."""
        ...

    async def trade(
        self, wallet: OperatorWallet, order: Order, journals: Sequence[JobJournal]
    ) -> TradeOutcome:
        """Trades `order` for `wallet`, journaling it to every leg's journal before it leaves."""
        ...

    async def resolve(self, entry: JournalEntry, nonces: dict[str, int]) -> Settlement:
        """What became of a journaled trade (`entry.step == trade_step`); `nonces` caches the mined
        transaction count per wallet across one recovery pass."""
        ...


def split_pro_rata(total: int, weights: Sequence[int]) -> list[int]:
    """`total` split in proportion to `weights`, each part rounded down, then the units rounding left
    given one each to the largest remainders (ties: the earlier leg), so the parts sum to `total` and no
    unit stays with the worker. Exact when `total == sum(weights)`: each part is its weight. `total` may
    exceed the weights' sum (a BUY that bought more shares than asked, at a better price)."""
    if total < 0 or any(w < 0 for w in weights):
        raise ValueError(f"cannot split {total} by weights {list(weights)}: negative amount")
    whole = sum(weights)
    if whole == 0:
        if total:
            raise ValueError(f"cannot split {total} by weights that sum to zero")
        return [0] * len(weights)
    parts = [total * w // whole for w in weights]
    left = total - sum(parts)
    by_remainder = sorted(range(len(weights)), key=lambda i: (-(total * weights[i] % whole), i))
    for i in by_remainder[:left]:
        parts[i] += 1
    return parts
