"""`execute_many` for an engine that runs one job per `execute`: a dequeued batch as one unit of scheduling.

The pipeline gives an engine with `execute_many` a whole dequeued batch (one task, one store mark, one ack
for all of it). `execute_many(engine, ...)` gives that to an engine that only has `execute` (the on-chain
engine with the CLOB venue: `BatchedChainEngine`): the batch's jobs run concurrently through `execute`,
results in the order of the jobs, each job's exception turned into its own result exactly as the pipeline
does for a single job (a relinquished job is PENDING `relinquished`, any other failure FAILED
`engine_error`, `unconfirmed` when something was journaled). When the engine's venue batches its posts
(`ClobVenue.expect`), it is told which jobs are coming, so that their orders, each journaled first as in
the single path, leave together: a worker's N orders in ceil(N / 15) `POST /orders` instead of N posts.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence

from polyhunter.execution.base import ExecutionEngine, ExecutionResult, JobJournal, execute_guarded
from polyhunter.execution.localchain import LocalChainEngine
from polyhunter.models import CopyJob

log = logging.getLogger(__name__)


async def execute_many(
    engine: ExecutionEngine, jobs: Sequence[CopyJob], journals: Sequence[JobJournal]
) -> list[ExecutionResult]:
    """Runs `jobs` through `engine.execute` concurrently (each with its journal); one result per job, in
    the order of `jobs`. A venue that batches its posts (`expect`/`arrived`) is told which jobs come."""
    if len(jobs) != len(journals):
        raise ValueError(f"{len(jobs)} jobs with {len(journals)} journals")
    venue = getattr(engine, "venue", None)
    expect: Callable[[Sequence[bytes]], None] | None = getattr(venue, "expect", None)
    arrived: Callable[[Sequence[bytes]], None] | None = getattr(venue, "arrived", None)
    if expect is not None:
        expect([job.key for job in jobs])

    async def one(job: CopyJob, journal: JobJournal) -> ExecutionResult:
        try:
            return await execute_guarded(engine, job, journal)
        finally:
            if arrived is not None:  # its order left, or never will: the others need not wait for it
                arrived([job.key])

    return list(await asyncio.gather(*(one(j, jr) for j, jr in zip(jobs, journals, strict=True))))


class BatchedChainEngine(LocalChainEngine):
    """The on-chain engine with `execute_many` (`COPY_TRADING_VENUE=clob`: its orders leave in batches)."""

    async def execute_many(
        self, jobs: Sequence[CopyJob], journals: Sequence[JobJournal]
    ) -> list[ExecutionResult]:
        """A dequeued batch as one unit: see `execute_many` (the module's function)."""
        return await execute_many(self, jobs, journals)
