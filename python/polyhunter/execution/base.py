"""The execution seam (docs/seams.md): `async execute(job, journal) -> ExecutionResult`.

An engine receives a job that is already durable as PENDING; before it broadcasts any transaction it calls
`journal.record_tx(step, wallet, nonce, tx_hash)`, which returns only once that is durable, so recovery can
always tell what may be on chain. The result says what happened; the worker writes it to the store.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Protocol

from polyhunter.errors import ExecutionError
from polyhunter.models import CopyJob, DebtRecord, TradeStatus

log = logging.getLogger(__name__)

PRICE_SCALE = 1_000_000
"""Prices are ppm of $1; amounts are base units (6 decimals)."""

UNCONFIRMED = "unconfirmed"
"""Reason prefix of a FAILED record whose transactions may still have effects: recovery re-reads it."""

RELINQUISHED = "relinquished"
"""Reason of a result with status PENDING: the job was no longer this worker's (cancelled, or claimed by
another instance) before anything was sent; its record is left to whoever holds it now."""


class JobRelinquished(ExecutionError):
    """Raised by a journal refusing a job's first transaction: the job is not this worker's any more."""


class JobJournal(Protocol):
    """Where an engine records what it does for one job, durably, before doing it."""

    async def record_tx(self, step: str, wallet: str, nonce: int, tx_hash: bytes | str) -> None: ...

    async def record_order(self, wallet: str, order_hash: bytes, body: bytes) -> None:
        """Journal a signed order (`Step.ORDER_POSTED`, its hash and the exact bytes to post); durable when
        this returns, so post after it. A job's first entry raises `JobRelinquished` as `record_tx` does."""
        ...

    async def add_debt(self, proxy: str, worker: str, amount: int) -> DebtRecord: ...


@dataclass(frozen=True, slots=True)
class ExecutionResult:
    """What an execution did: EXECUTED, FAILED or SKIPPED (with `reason`), and its outcome; PENDING with
    reason `RELINQUISHED` when it did nothing because the job was no longer its to run."""

    status: TradeStatus
    reason: str | None = None
    tx_hashes: tuple[bytes, ...] = ()
    fill_price_ppm: int | None = None
    fill_size: int | None = None
    """Outcome tokens bought or sold, base units."""
    worker: str | None = None
    gas_wei: int | None = None
    """This copy's share of the gas its transactions paid (wei; a batch splits it by
    `polyhunter.report.quality.split_gas`); None when the engine does not report it."""
    fee: int | None = None
    """Venue fees this copy paid, collateral base units; None when not reported."""

    def slippage_bps(self, job: CopyJob) -> int | None:
        """How much worse than the leader's price we filled, in bps (negative: better), rounded toward +∞
        (`polyhunter.report.quality.slippage_bps`: the stored record and its quality row agree)."""
        leader = job.leader_price_ppm
        if self.fill_price_ppm is None or not leader:
            return None
        worse = self.fill_price_ppm - leader if job.side == "BUY" else leader - self.fill_price_ppm
        return -((-worse * 10_000) // leader)


class ExecutionEngine(Protocol):
    """Executes copy jobs; implementations: dry run, simulated venue, local chain, Polymarket."""

    name: str

    async def execute(self, job: CopyJob, journal: JobJournal) -> ExecutionResult: ...

    async def close(self) -> None: ...


def tokens_for_usd(usd: int, price_ppm: int) -> int:
    """Outcome tokens (base units) that `usd` (base units) buys at `price_ppm`, rounded down."""
    if price_ppm <= 0:
        raise ValueError(f"price must be positive, got {price_ppm} ppm")
    return usd * PRICE_SCALE // price_ppm


def usd_for_tokens(tokens: int, price_ppm: int) -> int:
    """Collateral (base units) that `tokens` fetch at `price_ppm`, rounded down."""
    return tokens * price_ppm // PRICE_SCALE


async def execute_guarded(engine: ExecutionEngine, job: CopyJob, journal: JobJournal) -> ExecutionResult:
    """`engine.execute(job, journal)` with every failure turned into the job's result, as a worker records
    it: a relinquished job is PENDING `relinquished`; any other failure FAILED `engine_error`, prefixed
    `unconfirmed` when something was journaled (it may be on chain: recovery settles it)."""
    try:
        return await engine.execute(job, journal)
    except JobRelinquished as exc:
        return ExecutionResult(TradeStatus.PENDING, f"{RELINQUISHED}: {exc}")
    except Exception as exc:
        log.exception("engine %s failed job %s", engine.name, job.key.hex())
        reason = f"engine_error: {type(exc).__name__}: {exc}"
        if getattr(journal, "recorded", False):
            reason = f"{UNCONFIRMED}: {reason}"
        return ExecutionResult(TradeStatus.FAILED, reason)
