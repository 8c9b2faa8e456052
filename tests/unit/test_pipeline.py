"""The pipeline without a chain: real decoder, fan-out, SQLite store and in-memory shared state, a venue
that records what it is asked to do. The on-chain end-to-end tests are in tests/integration."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from polyhunter._core import FanoutIndex, LogDecoder
from polyhunter.errors import StoreError
from polyhunter.execution.base import ExecutionResult, JobJournal
from polyhunter.loadsim import CTF, EXCHANGE, notification
from polyhunter.models import CopyConfig, CopyJob, TradeStatus
from polyhunter.shared.memory import MemorySharedState
from polyhunter.store.sqlite import SqliteStore
from polyhunter.supervisor.guardrails import Guardrails
from polyhunter.supervisor.pipeline import Pipeline, PipelineConfig

LEADER = "0x" + "1e" * 20
USD = 1_000_000


class RecordingVenue:
    name = "recording"

    def __init__(self, fail_first: bool = False) -> None:
        self.jobs: list[CopyJob] = []
        self.fail_first = fail_first
        self.gate = asyncio.Event()
        self.gate.set()

    async def execute(self, job: CopyJob, journal: JobJournal) -> ExecutionResult:
        await self.gate.wait()
        self.jobs.append(job)
        if self.fail_first and len(self.jobs) == 1:
            return ExecutionResult(TradeStatus.FAILED, "venue_down")
        return ExecutionResult(TradeStatus.EXECUTED, fill_price_ppm=job.limit_price_ppm, fill_size=1)

    async def close(self) -> None:
        return None


@pytest_asyncio.fixture
async def store(tmp_path: Path) -> AsyncIterator[SqliteStore]:
    s = SqliteStore(tmp_path / "p.db")
    await s.open()
    yield s
    await s.close()


async def _pipeline(
    store: SqliteStore,
    venue: RecordingVenue,
    *,
    followers: int = 3,
    guardrails: Guardrails | None = None,
    max_queue: int = 5000,
) -> tuple[Pipeline, MemorySharedState]:
    shared = MemorySharedState(max_queue=max_queue)
    index = FanoutIndex()
    for i in range(followers):
        config = await store.add_config(
            CopyConfig(
                follower=f"0x{i + 1:040x}",
                proxy=f"0x{i + 0xA0:040x}",
                leader=LEADER,
                mode="fixed",
                fixed_usd=10 * USD,
            )
        )
        index.upsert(config)
    pipeline = Pipeline(
        store=store,
        shared=shared,
        engine=venue,
        index=index,
        guardrails=guardrails or Guardrails(),
        config=PipelineConfig(consumer="t", drain_interval_ms=10),
        decoder=LogDecoder(ctf=CTF, v2_exchanges=[EXCHANGE], leaders=[LEADER]),
    )
    return pipeline, shared


async def _run_until(pipeline: Pipeline, done: int) -> None:
    stop = asyncio.Event()
    workers = asyncio.create_task(pipeline.run_workers(stop))
    try:

        async def settled() -> None:
            s = pipeline.stats
            while s.executed + s.failed + s.relinquished < done:
                await asyncio.sleep(0.005)

        await asyncio.wait_for(settled(), 10)
    finally:
        stop.set()
        await workers


TX = "0x" + "ab" * 32


def _log_with(raw: bytes, **fields: object) -> bytes:
    """The log notification `raw` with some of its log's fields changed (e.g. `removed` by a reorg)."""
    message = json.loads(raw)
    message["params"]["result"].update(fields)
    return json.dumps(message).encode()


@pytest.mark.asyncio
async def test_one_fill_one_copy_per_follower_even_when_delivered_twice(store: SqliteStore) -> None:
    venue = RecordingVenue()
    pipeline, _ = await _pipeline(store, venue)
    raw = notification(LEADER, 42, TX, 7, 50 * USD, 100 * USD)
    await pipeline.on_raw(raw, "ws")
    await pipeline.on_raw(raw, "ws")  # a duplicate notification: dropped by dedup
    await pipeline.on_raw(raw, "backfill")  # a reconnect overlap: passes dedup, stopped by the store's key
    await _run_until(pipeline, 3)
    assert sorted(j.proxy for j in venue.jobs) == [f"0x{i + 0xA0:040x}" for i in range(3)]
    assert {j.amount for j in venue.jobs} == {10 * USD}
    assert {j.limit_price_ppm for j in venue.jobs} == {500_000}
    assert pipeline.stats.duplicates == 1
    assert pipeline.stats.queued == 3
    assert await store.count_trades(TradeStatus.EXECUTED) == 3


@pytest.mark.asyncio
async def test_a_replay_after_restart_is_not_queued_again(store: SqliteStore) -> None:
    venue = RecordingVenue()
    first, _ = await _pipeline(store, venue)
    raw = notification(LEADER, 42, TX, 7, 50 * USD, 100 * USD)
    await first.on_raw(raw, "ws")
    await _run_until(first, 3)
    # A new process (fresh local and shared dedup) sees the same log in its backfill.
    second = Pipeline(
        store=store,
        shared=MemorySharedState(),
        engine=venue,
        index=first.index,
        guardrails=Guardrails(),
        config=PipelineConfig(consumer="t2"),
        decoder=first.decoder,
    )
    await second.on_raw(raw, "backfill")
    assert second.stats.queued == 0
    assert len(venue.jobs) == 3


@pytest.mark.asyncio
async def test_daily_cap_admits_exactly_what_fits_and_failures_release(store: SqliteStore) -> None:
    venue = RecordingVenue(fail_first=True)
    pipeline, shared = await _pipeline(
        store, venue, followers=5, guardrails=Guardrails(daily_cap_usd=30 * USD)
    )
    await pipeline.on_raw(notification(LEADER, 42, TX, 7, 50 * USD, 100 * USD), "ws")
    assert pipeline.stats.skipped["daily_cap"] == 2  # 3 x $10 fit under $30
    assert await store.count_trades(TradeStatus.SKIPPED) == 2
    await _run_until(pipeline, 3)
    # The failed copy gave its $10 back: exactly one more copy fits.
    from polyhunter.supervisor.guardrails import utc_day

    assert await shared.counter(f"daily:{utc_day()}") == 20 * USD
    await pipeline.on_raw(notification(LEADER, 42, "0x" + "cd" * 32, 8, 50 * USD, 100 * USD), "ws")
    assert pipeline.stats.skipped["daily_cap"] == 6
    assert pipeline.stats.queued == 4


@pytest.mark.asyncio
async def test_queue_full_is_recorded_skipped_and_never_evicts(store: SqliteStore) -> None:
    venue = RecordingVenue()
    pipeline, shared = await _pipeline(store, venue, followers=5, max_queue=3)
    await pipeline.on_raw(notification(LEADER, 42, TX, 7, 50 * USD, 100 * USD), "ws")
    assert pipeline.stats.queued == 3
    assert pipeline.stats.skipped["queue_full"] == 2
    assert (await shared.queue_stats()).dropped == 2
    skipped = await store.list_trades(TradeStatus.SKIPPED)
    assert {t.reason for t in skipped} == {"queue_full"}
    await _run_until(pipeline, 3)
    assert len(venue.jobs) == 3


@pytest.mark.asyncio
async def test_a_removed_log_cancels_copies_not_yet_executed(store: SqliteStore) -> None:
    venue = RecordingVenue()
    pipeline, _ = await _pipeline(store, venue)
    raw = notification(LEADER, 42, TX, 7, 50 * USD, 100 * USD)
    await pipeline.on_raw(raw, "ws")
    await pipeline.on_raw(_log_with(raw, removed=True), "ws")
    assert pipeline.stats.cancelled == 3
    assert await store.count_trades(TradeStatus.CANCELLED) == 3
    # The queued deliveries are dropped, never executed.
    stop = asyncio.Event()
    workers = asyncio.create_task(pipeline.run_workers(stop))
    while pipeline.stats.redelivered_dropped < 3:
        await asyncio.sleep(0.005)
    stop.set()
    await workers
    assert venue.jobs == []


@pytest.mark.asyncio
async def test_a_removed_log_after_execution_flags_reorged(store: SqliteStore) -> None:
    venue = RecordingVenue()
    pipeline, _ = await _pipeline(store, venue)
    raw = notification(LEADER, 42, TX, 7, 50 * USD, 100 * USD)
    await pipeline.on_raw(raw, "ws")
    await _run_until(pipeline, 3)
    await pipeline.on_raw(_log_with(raw, removed=True), "ws")
    trades = await store.list_trades(TradeStatus.EXECUTED)
    assert len(trades) == 3
    assert all(t.reorged for t in trades)
    assert pipeline.stats.reorged == 3


@pytest.mark.asyncio
async def test_a_malformed_notification_is_rejected_not_fatal(store: SqliteStore) -> None:
    pipeline, _ = await _pipeline(store, RecordingVenue())
    await pipeline.on_raw(
        b'{"jsonrpc":"2.0","method":"eth_subscription","params":{"result":{"address":1}}}', "ws"
    )
    await pipeline.on_raw(b"\xff\xfe not json", "ws")
    assert pipeline.stats.rejects == 2
    assert pipeline.stats.queued == 0


@pytest.mark.asyncio
async def test_an_idle_worker_queues_pending_jobs_no_queue_holds(
    store: SqliteStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    import polyhunter.supervisor.pipeline as pipeline_module

    monkeypatch.setattr(pipeline_module, "ORPHAN_SCAN_S", 0.0)
    venue = RecordingVenue()
    pipeline, _ = await _pipeline(store, venue)
    pipeline.config.claim_idle_ms = 0
    # A prewritten job whose enqueue never happened (the process failed in between).
    orphan = CopyJob(
        key=b"\x07" * 32, config_id=1, follower=f"0x{1:040x}", proxy=f"0x{0xA0:040x}", leader=LEADER,
        token_id=42, side="BUY", amount=10 * USD, limit_price_ppm=500_000, tx_hash=b"\x08" * 32, log_index=3,
    )  # fmt: skip
    assert await store.insert_pending([orphan], 2**62) == {orphan.key}
    await asyncio.sleep(0.002)
    await _run_until(pipeline, 1)
    assert [j.key for j in venue.jobs] == [orphan.key]
    record = await store.get_trade(orphan.key)
    assert record is not None
    assert record.status is TradeStatus.EXECUTED


class FailingOnce:
    """Wraps a store so that its first `insert_pending` fails, as a database hiccup would."""

    def __init__(self, store: SqliteStore) -> None:
        self.store = store
        self.failed = False

    def __getattr__(self, name: str) -> object:
        return getattr(self.store, name)

    async def insert_pending(
        self, jobs: list[CopyJob], expires_at: int, intake: str = "", **options: Any
    ) -> set[bytes]:
        if not self.failed:
            self.failed = True
            raise StoreError("database is locked")
        return await self.store.insert_pending(jobs, expires_at, intake, **options)


@pytest.mark.asyncio
async def test_a_failed_intake_is_copied_on_the_replay_and_releases_its_caps(store: SqliteStore) -> None:
    from polyhunter.supervisor.guardrails import utc_day

    venue = RecordingVenue()
    pipeline, shared = await _pipeline(store, venue, guardrails=Guardrails(daily_cap_usd=1_000 * USD))
    pipeline.store = FailingOnce(store)  # type: ignore[assignment]
    raw = notification(LEADER, 42, TX, 7, 50 * USD, 100 * USD)
    with pytest.raises(StoreError):
        await pipeline.on_raw(raw, "ws")
    assert await shared.counter(f"daily:{utc_day()}") == 0  # nothing held for copies that do not exist
    # The detector reconnects and backfills from its checkpoint: the same log comes again.
    await pipeline.on_raw(raw, "backfill")
    await _run_until(pipeline, 3)
    assert len(venue.jobs) == 3
    assert await shared.counter(f"daily:{utc_day()}") == 30 * USD


@pytest.mark.asyncio
async def test_a_restart_does_not_reset_the_in_memory_daily_cap(store: SqliteStore) -> None:
    venue = RecordingVenue()
    caps = Guardrails(daily_cap_usd=30 * USD)
    first, _ = await _pipeline(store, venue, guardrails=caps)
    await first.on_raw(notification(LEADER, 42, TX, 7, 50 * USD, 100 * USD), "ws")
    await _run_until(first, 3)
    # A new process: fresh in-memory counters, seeded from the store's copies of today.
    second = Pipeline(
        store=store,
        shared=MemorySharedState(),
        engine=venue,
        index=first.index,
        guardrails=caps,
        config=PipelineConfig(consumer="t2"),
        decoder=first.decoder,
    )
    await second.seed_guardrails()
    await second.on_raw(notification(LEADER, 42, "0x" + "ef" * 32, 9, 50 * USD, 100 * USD), "ws")
    assert second.stats.skipped["daily_cap"] == 3
    assert second.stats.queued == 0


@pytest.mark.asyncio
async def test_a_log_removed_by_a_reorg_and_mined_again_is_copied(store: SqliteStore) -> None:
    venue = RecordingVenue()
    pipeline, _ = await _pipeline(store, venue)
    raw = notification(LEADER, 42, TX, 7, 50 * USD, 100 * USD)
    await pipeline.on_raw(raw, "ws")
    await pipeline.on_raw(_log_with(raw, removed=True), "ws")
    assert pipeline.stats.cancelled == 3
    # The same transaction lands in the new canonical block with the same log index.
    await pipeline.on_raw(_log_with(raw, removed=False, blockNumber=hex(8)), "ws")
    await _run_until(pipeline, 3)
    assert len(venue.jobs) == 3
    assert await store.count_trades(TradeStatus.EXECUTED) == 3


class RaisingVenue(RecordingVenue):
    """Raises out of `execute`, after journaling a transaction for the first job only."""

    async def execute(self, job: CopyJob, journal: JobJournal) -> ExecutionResult:
        self.jobs.append(job)
        if len(self.jobs) == 1:
            await journal.record_tx("pulled", "0x" + "77" * 20, 0, b"\x01" * 32)
        raise RuntimeError("engine bug")


@pytest.mark.asyncio
async def test_an_engine_that_raises_after_journaling_leaves_the_copy_to_recovery(store: SqliteStore) -> None:
    from polyhunter.supervisor.guardrails import utc_day

    venue = RaisingVenue()
    pipeline, shared = await _pipeline(
        store, venue, followers=2, guardrails=Guardrails(daily_cap_usd=100 * USD)
    )
    await pipeline.on_raw(notification(LEADER, 42, TX, 7, 50 * USD, 100 * USD), "ws")
    await _run_until(pipeline, 2)
    first, second = [await store.get_trade(j.key) for j in venue.jobs]
    assert first is not None
    assert second is not None
    # A transaction may be on chain: FAILED as unconfirmed, which the recovery loop re-reads from the chain.
    assert first.status is TradeStatus.FAILED
    assert (first.reason or "").startswith("unconfirmed: engine_error: RuntimeError: engine bug")
    assert [e.step for e in first.journal] == ["pulled"]
    # Nothing was sent for the other: a plain failure.
    assert second.status is TradeStatus.FAILED
    assert second.reason == "engine_error: RuntimeError: engine bug"
    # Only the copy that surely did not happen gave its $10 back to the daily cap.
    assert await shared.counter(f"daily:{utc_day()}") == 10 * USD


class InterruptedVenue(RecordingVenue):
    """Something happens to each job while it waits (`interrupt`), then it tries to send."""

    def __init__(self, store: SqliteStore, interrupt: str) -> None:
        super().__init__()
        self.store = store
        self.interrupt = interrupt

    async def execute(self, job: CopyJob, journal: JobJournal) -> ExecutionResult:
        self.jobs.append(job)
        if self.interrupt == "claimed":  # its claim went stale and another instance took it over
            assert await self.store.claim([job.key], "other-instance", stale_ms=-60_000) == {job.key}
        else:  # its leader's log was reorged away
            assert await self.store.mark(job.key, TradeStatus.CANCELLED, "reorged")
        await journal.record_tx("pulled", "0x" + "77" * 20, 0, b"\x01" * 32)
        return ExecutionResult(TradeStatus.EXECUTED, fill_price_ppm=job.limit_price_ppm, fill_size=1)


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("interrupt", "status", "reserved"),
    [
        # Claimed elsewhere: the record is left to the new holder, the reservations stay with the copies.
        ("claimed", TradeStatus.PENDING, 20 * USD),
        # Cancelled by a reorg: the copies will not happen, the cap is given back.
        ("cancelled", TradeStatus.CANCELLED, 0),
    ],
)
async def test_a_job_no_longer_the_workers_before_its_first_transaction_sends_nothing(
    store: SqliteStore, interrupt: str, status: TradeStatus, reserved: int
) -> None:
    from polyhunter.supervisor.guardrails import utc_day

    venue = InterruptedVenue(store, interrupt)
    pipeline, shared = await _pipeline(
        store, venue, followers=2, guardrails=Guardrails(daily_cap_usd=100 * USD)
    )
    await pipeline.on_raw(notification(LEADER, 42, TX, 7, 50 * USD, 100 * USD), "ws")
    await _run_until(pipeline, 2)
    assert pipeline.stats.relinquished == 2
    assert pipeline.stats.failed == pipeline.stats.executed == 0
    for j in venue.jobs:
        record = await store.get_trade(j.key)
        assert record is not None
        assert record.status is status  # not marked by the worker that lost it
        assert not record.journal  # its transaction was refused before it could be sent
    assert await shared.counter(f"daily:{utc_day()}") == reserved
