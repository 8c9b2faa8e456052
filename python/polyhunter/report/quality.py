"""The quality of one executed copy: signed slippage, delay, its share of a batched transaction's gas.

Rules (docs/seams.md "Copy quality"):
- slippage in bps is `(ours − leader's) / leader's × 10 000` for a BUY and `(leader's − ours) / leader's ×
  10 000` for a SELL, so positive is always worse than the leader; computed on the integer ppm prices and
  rounded toward +∞ (a copy is never shown better than it was);
- the delay runs from the leader's fill to our outcome in ms: from the fill's block time when the caller
  knows it (`delay_from="block_time"`), else from our first sighting of the fill (`"first_seen"`, what the
  pipeline records: the earliest source's `seen_at`);
- a transaction carrying several copies (a batch) splits its gas equally between its legs, the wei left
  over going one each to the first legs in batch order, so the shares add up to the gas paid exactly.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from polyhunter.errors import InvalidInputError
from polyhunter.execution.base import ExecutionResult
from polyhunter.models import CopyJob, CopyQuality, Side, TradeStatus

BPS = 10_000


def slippage_bps(side: Side, leader_price_ppm: int | None, fill_price_ppm: int | None) -> int | None:
    """Signed slippage in bps (positive = worse than the leader), rounded toward +∞; None when a price is
    unknown or the leader's is zero."""
    if leader_price_ppm is None or fill_price_ppm is None or leader_price_ppm <= 0:
        return None
    worse = fill_price_ppm - leader_price_ppm if side == "BUY" else leader_price_ppm - fill_price_ppm
    return -((-worse * BPS) // leader_price_ppm)


def split_gas(total_wei: int, legs: int) -> list[int]:
    """Each leg's share of a transaction's gas: equal, the remainder one wei each to the first legs."""
    if legs <= 0:
        raise InvalidInputError(f"a transaction's gas is split between at least one leg, got {legs}")
    if total_wei < 0:
        raise InvalidInputError(f"gas paid cannot be negative, got {total_wei} wei")
    share, left = divmod(total_wei, legs)
    return [share + (1 if n < left else 0) for n in range(legs)]


def copy_quality(
    job: CopyJob,
    result: ExecutionResult,
    *,
    filled_at: int,
    source: str,
    seen_at_ms: int | None = None,
    block_time_ms: int | None = None,
) -> CopyQuality | None:
    """The quality row of an EXECUTED copy with a fill (None for anything else).

    `filled_at` is when our outcome was known (ms); the delay is measured from `block_time_ms` when given,
    else from `seen_at_ms` (None when neither is known). Gas and fee come from the result (0 when the
    engine did not report them)."""
    if result.status is not TradeStatus.EXECUTED or result.fill_size is None or result.fill_price_ppm is None:
        return None
    if block_time_ms is not None:
        start: int | None = block_time_ms
        delay_from = "block_time"
    else:
        start, delay_from = seen_at_ms, "first_seen"
    return CopyQuality(
        key=job.key,
        follower=job.follower.lower(),
        leader=job.leader.lower(),
        token_id=job.token_id,
        side=job.side,
        leader_price_ppm=job.leader_price_ppm,
        leader_size=job.leader_size,
        fill_price_ppm=result.fill_price_ppm,
        fill_size=result.fill_size,
        slippage_bps=slippage_bps(job.side, job.leader_price_ppm, result.fill_price_ppm),
        delay_ms=None if start is None else max(0, filled_at - start),
        delay_from="block_time" if delay_from == "block_time" else "first_seen",
        source=source or "unknown",
        gas_wei=result.gas_wei or 0,
        fee=result.fee or 0,
        filled_at=filled_at,
    )


def receipt_gas_wei(receipt: Mapping[str, Any]) -> int:
    """What a mined transaction paid for gas (wei): `gasUsed × effectiveGasPrice` of its JSON-RPC receipt
    (hex quantities); 0 when the receipt does not say."""
    try:
        return int(str(receipt["gasUsed"]), 16) * int(str(receipt["effectiveGasPrice"]), 16)
    except (KeyError, TypeError, ValueError):
        return 0
