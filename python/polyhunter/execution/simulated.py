"""Engines that touch no chain: DRY_RUN (records what it would do) and a simulated venue (load tests)."""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Sequence

from polyhunter.execution.base import ExecutionResult, JobJournal, tokens_for_usd
from polyhunter.models import CopyJob, SkipReason, TradeStatus
from polyhunter.units import format_usd

log = logging.getLogger(__name__)


class DryRunEngine:
    """Executes nothing: logs the copy it would make and records it SKIPPED(`dry_run`)."""

    name = "dry-run"

    def __init__(self) -> None:
        self.count = 0
        self.seen: deque[CopyJob] = deque(maxlen=1000)  # the latest, for inspection; memory stays bounded

    async def execute(self, job: CopyJob, journal: JobJournal) -> ExecutionResult:
        self.count += 1
        self.seen.append(job)
        what = f"${format_usd(job.amount)}" if job.side == "BUY" else f"{format_usd(job.amount)} shares"
        log.info(
            "dry run: would %s %s of token %s for proxy %s at <= %s ppm (config %d)",
            job.side,
            what,
            job.token_id,
            job.proxy,
            job.limit_price_ppm,
            job.config_id,
        )
        return ExecutionResult(TradeStatus.SKIPPED, SkipReason.DRY_RUN.value)

    async def close(self) -> None:
        return None


class SimulatedVenueEngine:
    """A venue that fills every order at its limit price after `latency_ms` (the load simulation's)."""

    name = "simulated"

    def __init__(self, latency_ms: float = 30.0) -> None:
        self.latency_s = latency_ms / 1000
        self.executed = 0

    async def execute(self, job: CopyJob, journal: JobJournal) -> ExecutionResult:
        await asyncio.sleep(self.latency_s)
        return self._fill(job)

    async def execute_many(
        self, jobs: Sequence[CopyJob], journals: Sequence[JobJournal]
    ) -> list[ExecutionResult]:
        """The batch entry point: the orders of a batch go out together and take one latency."""
        await asyncio.sleep(self.latency_s)
        return [self._fill(job) for job in jobs]

    def _fill(self, job: CopyJob) -> ExecutionResult:
        self.executed += 1
        price = job.limit_price_ppm
        size = tokens_for_usd(job.amount, price) if job.side == "BUY" else job.amount
        return ExecutionResult(TradeStatus.EXECUTED, fill_price_ppm=price, fill_size=size, worker="simulated")

    async def close(self) -> None:
        return None
