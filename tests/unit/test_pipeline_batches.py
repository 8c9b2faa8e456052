"""The pipeline's batch paths: fan-out output handed over in one crossing, jobs claimed when inserted, a
batch executed as one unit, and a burst the queue cannot hold recorded SKIPPED in one operation."""

from __future__ import annotations

import asyncio
import dataclasses
import sys
from collections.abc import AsyncIterator, Sequence
from pathlib import Path

import pytest
import pytest_asyncio

from polyhunter._core import FanoutIndex, LogDecoder
from polyhunter.execution.base import ExecutionResult, JobJournal
from polyhunter.loadsim import CTF, EXCHANGE, notification
from polyhunter.models import CopyConfig, CopyJob, TradeStatus
from polyhunter.shared.memory import MemorySharedState
from polyhunter.store.base import INSERT_COLUMNS, ClaimOutcome, Mark, job_row
from polyhunter.store.sqlite import SqliteStore
from polyhunter.supervisor.guardrails import Guardrails
from polyhunter.supervisor.pipeline import Pipeline, PipelineConfig, job_of

LEADER = "0x" + "1e" * 20
USD = 1_000_000
TX = "0x" + "ab" * 32


class BatchVenue:
    """A venue with the batch entry point: records each batch it is handed."""

    name = "batch"

    def __init__(self) -> None:
        self.batches: list[list[CopyJob]] = []
        self.single: list[CopyJob] = []

    async def execute(self, job: CopyJob, journal: JobJournal) -> ExecutionResult:
        self.single.append(job)
        return ExecutionResult(TradeStatus.EXECUTED, fill_price_ppm=job.limit_price_ppm, fill_size=1)

    async def execute_many(
        self, jobs: Sequence[CopyJob], journals: Sequence[JobJournal]
    ) -> list[ExecutionResult]:
        self.batches.append(list(jobs))
        return [
            ExecutionResult(TradeStatus.EXECUTED, fill_price_ppm=j.limit_price_ppm, fill_size=1) for j in jobs
        ]

    async def close(self) -> None:
        return None


class CountingStore(SqliteStore):
    """Counts the claim and mark operations submitted (not rows)."""

    claims = 0
    mark_ops: list[int]

    async def claim_jobs(
        self, keys: Sequence[bytes], claimer: str, stale_ms: int, max_attempts: int | None = None
    ) -> ClaimOutcome:
        if keys:
            self.claims += 1
        return await super().claim_jobs(keys, claimer, stale_ms, max_attempts)

    async def mark_many(self, marks: Sequence[Mark]) -> list[bool]:
        self.mark_ops.append(len(marks))
        return await super().mark_many(marks)


@pytest_asyncio.fixture
async def store(tmp_path: Path) -> AsyncIterator[CountingStore]:
    s = CountingStore(tmp_path / "p.db")
    s.mark_ops = []
    await s.open()
    yield s
    await s.close()


async def _index(store: SqliteStore, followers: int) -> FanoutIndex:
    index = FanoutIndex()
    for i in range(followers):
        index.upsert(
            await store.add_config(
                CopyConfig(
                    follower=f"0x{i + 1:040x}",
                    proxy=f"0x{i + 0xA0:040x}",
                    leader=LEADER,
                    mode="fixed",
                    fixed_usd=10 * USD,
                )
            )
        )
    return index


def _pipeline(
    store: SqliteStore, index: FanoutIndex, venue: object, shared: MemorySharedState, consumer: str = "t"
) -> Pipeline:
    return Pipeline(
        store=store,
        shared=shared,
        engine=venue,  # type: ignore[arg-type]
        index=index,
        guardrails=Guardrails(),
        config=PipelineConfig(consumer=consumer, drain_interval_ms=10),
        decoder=LogDecoder(ctf=CTF, v2_exchanges=[EXCHANGE], leaders=[LEADER]),
    )


async def _run_until(pipeline: Pipeline, done: int) -> None:
    stop = asyncio.Event()
    workers = asyncio.create_task(pipeline.run_workers(stop))
    try:

        async def settled() -> None:
            while pipeline.stats.executed + pipeline.stats.failed < done:
                await asyncio.sleep(0.005)

        await asyncio.wait_for(settled(), 20)
    finally:
        stop.set()
        await workers


@pytest.mark.asyncio
async def test_the_batch_handover_equals_the_field_by_field_one(store: CountingStore) -> None:
    index = await _index(store, 7)
    decoder = LogDecoder(ctf=CTF, v2_exchanges=[EXCHANGE], leaders=[LEADER])
    signals = decoder.decode(notification(LEADER, 2**255 + 3, TX, 7, 50 * USD, 100 * USD)).signals
    signals += decoder.decode(notification(LEADER, 9, "0x" + "cd" * 32, 8, 30 * USD, 90 * USD)).signals
    intents = index.match(signals)
    jobs, payloads, owners = intents.jobs()
    rows = intents.rows(5, 6, "intake", "me")
    assert len(jobs) == len(payloads) == len(owners) == len(rows) == 14
    assert len(rows[0]) == len(INSERT_COLUMNS.split(","))
    for n, intent in enumerate(intents):
        want = job_of(intent, signals[intent.signal_index])
        assert owners[n] == intent.signal_index
        assert CopyJob(*jobs[n]) == want
        assert payloads[n] == want.to_bytes()
        assert CopyJob.from_bytes(payloads[n]) == want
        assert rows[n] == (*job_row(want, 5, 6), "intake", "me", 5, 1)
    assert intents.rows(5, 6)[0][-4:] == (None, None, None, 0)

    # The same jobs as objects, built in Rust: equal, hashed, printed, frozen and copied as CopyJob(*fields).
    built = intents.jobs_as(CopyJob)
    assert built == [CopyJob(*fields) for fields in jobs]
    for made, fields in zip(built, jobs, strict=True):
        want = CopyJob(*fields)
        assert type(made) is CopyJob
        assert hash(made) == hash(want)
        assert repr(made) == repr(want)
        assert made.to_bytes() == want.to_bytes()
        assert dataclasses.replace(made, amount=1) == dataclasses.replace(want, amount=1)
        with pytest.raises(dataclasses.FrozenInstanceError):
            made.amount = 1  # type: ignore[misc]
    # Every reference taken is given back: building and dropping the jobs again leaves the fields' counts.
    key = jobs[0][0]
    before = sys.getrefcount(key)
    for _ in range(10):
        intents.jobs_as(CopyJob)
    assert sys.getrefcount(key) == before

    @dataclasses.dataclass(frozen=True, slots=True)
    class Other:
        key: bytes
        amount: int

    with pytest.raises(TypeError, match="slotted class with the fields"):
        intents.jobs_as(Other)

    class Raised(BaseException):  # the same slots on a base with C fields of its own: never built raw
        __slots__ = tuple(f.name for f in dataclasses.fields(CopyJob))

    with pytest.raises(TypeError, match="deriving from object alone"):
        intents.jobs_as(Raised)


@pytest.mark.asyncio
async def test_jobs_claimed_at_insert_run_once_without_a_second_claim(store: CountingStore) -> None:
    index = await _index(store, 50)
    venue = BatchVenue()
    pipeline = _pipeline(store, index, venue, MemorySharedState())
    await pipeline.on_raw(notification(LEADER, 42, TX, 7, 50 * USD, 100 * USD), "ws")
    await _run_until(pipeline, 50)
    # The whole fill went to the venue in batches through its batch entry point, each job once.
    ran = [j.key for batch in venue.batches for j in batch]
    assert len(ran) == len(set(ran)) == 50
    assert venue.single == []
    assert store.claims == 0  # claimed by the insert itself
    assert sum(store.mark_ops) == 50
    assert len(store.mark_ops) == len(venue.batches)  # one mark operation per batch
    assert await store.count_trades(TradeStatus.EXECUTED) == 50
    assert (await store.claim_jobs(ran, "someone-else", 60_000)).runnable == set()


@pytest.mark.asyncio
async def test_a_queue_shared_by_two_consumers_claims_at_delivery(store: CountingStore) -> None:
    index = await _index(store, 5)
    shared = MemorySharedState()
    first = _pipeline(store, index, BatchVenue(), shared, "a")
    _pipeline(store, index, BatchVenue(), shared, "b")  # another instance on the same queue
    await first.on_raw(notification(LEADER, 42, TX, 7, 50 * USD, 100 * USD), "ws")
    # Either instance may take them from the queue: none was claimed at insert, the worker claims.
    unclaimed = await store._read("SELECT COUNT(*) FROM copy_trades WHERE claimed_by IS NULL")
    assert unclaimed[0][0] == 5
    await _run_until(first, 5)
    assert store.claims >= 1
    assert await store.count_trades(TradeStatus.EXECUTED) == 5


@pytest.mark.asyncio
async def test_a_burst_the_queue_cannot_hold_is_recorded_skipped_in_one_operation(
    store: CountingStore,
) -> None:
    index = await _index(store, 30)
    venue = BatchVenue()
    pipeline = _pipeline(store, index, venue, MemorySharedState(max_queue=12))
    await pipeline.on_raw(notification(LEADER, 42, TX, 7, 50 * USD, 100 * USD), "ws")
    assert pipeline.stats.queued == 12
    assert pipeline.stats.skipped["queue_full"] == 18
    assert store.mark_ops == [18]  # the refused ones, in one operation
    assert await store.count_trades(TradeStatus.SKIPPED) == 18
    assert await store.count_trades(TradeStatus.PENDING) == 12
    await _run_until(pipeline, 12)
    assert await store.count_trades(TradeStatus.EXECUTED) == 12
