"""SUPERVISOR_ACT_ON=first when a part fails midway (review of the fill intake): an early sighting whose
intake failed is still copied, once, when a later sighting of its fill comes; a confirmation window whose
store calls fail settles every fill that went unconfirmed on a later tick, none lost."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path

import pytest

from polyhunter._core import NO_LOG_INDEX, FanoutIndex, Signal
from polyhunter.errors import StoreError
from polyhunter.execution.base import ExecutionResult, JobJournal
from polyhunter.models import CopyConfig, CopyJob, TradeStatus
from polyhunter.shared.memory import MemorySharedState
from polyhunter.store.base import Store
from polyhunter.store.sqlite import SqliteStore
from polyhunter.supervisor.guardrails import Guardrails
from polyhunter.supervisor.pipeline import UNLOGGED, Pipeline, PipelineConfig
from polyhunter.supervisor.sources import UNCONFIRMED_SOURCE, Early, FillIntake

pytestmark = [pytest.mark.integration, pytest.mark.asyncio]

LEADER = "0x" + "3c" * 20
USD = 1_000_000
FOLLOWERS = 2


class RecordingEngine:
    name = "recording"

    def __init__(self) -> None:
        self.jobs: list[CopyJob] = []

    async def execute(self, job: CopyJob, journal: JobJournal) -> ExecutionResult:
        self.jobs.append(job)
        return ExecutionResult(TradeStatus.EXECUTED, fill_price_ppm=job.limit_price_ppm, fill_size=job.amount)

    async def close(self) -> None:
        return None


class BlinkingShared(MemorySharedState):
    """The in-memory shared state, whose dedup call fails `failures` times (Redis away for a moment)."""

    def __init__(self) -> None:
        super().__init__()
        self.failures = 0
        self.meanwhile: Callable[[], Awaitable[None]] | None = None
        """Runs while the failing call is in flight (another source's sighting comes in)."""

    async def first_sightings(self, keys: Sequence[bytes], ttl_ms: int) -> list[bool]:
        if self.failures:
            self.failures -= 1
            if self.meanwhile is not None:
                await self.meanwhile()
            raise ConnectionError("shared state unreachable")
        return await super().first_sightings(keys, ttl_ms)


class BlinkingStore(SqliteStore):
    """SQLite, whose `flag_keys` fails `failures` times (the store blinked)."""

    failures = 0
    poisoned: frozenset[bytes] = frozenset()
    """Transactions whose copies' flagging always fails."""

    async def flag_keys(self, keys: Sequence[bytes], flag: str) -> list[bytes]:
        if self.failures:
            self.failures -= 1
            raise StoreError("store unreachable")
        for key in keys:
            record = await self.get_trade(key)
            if record is not None and bytes(record.tx_hash) in self.poisoned:
                raise StoreError("this row cannot be written")
        return await super().flag_keys(keys, flag)


def _tx(n: int) -> bytes:
    return n.to_bytes(32, "big")


def pending(tx: int, tokens: int, usd: int, order: int) -> Early:
    signal = Signal(
        leader=LEADER,
        token_id=5,
        side="BUY",
        size=tokens,
        price_num=usd,
        price_den=tokens,
        usd=usd,
        tx_hash=_tx(tx),
        log_index=NO_LOG_INDEX,
        sub_index=0,
        source="mempool",
        seen_at_ns=time.time_ns(),
    )
    return Early(signal, bytes([order]) * 32, False)


def row(tx: int, tokens: int, usd: int, order: int, log_index: int = 2) -> Signal:
    return Signal(
        leader=LEADER,
        token_id=5,
        side="BUY",
        size=tokens,
        price_num=usd,
        price_den=tokens,
        usd=usd,
        tx_hash=_tx(tx),
        log_index=log_index,
        block_number=1_001,
        source="v2",
        seen_at_ns=time.time_ns(),
        order_hash=bytes([order]) * 32,
    )


async def seed(store: Store) -> FanoutIndex:
    index = FanoutIndex()
    for i in range(FOLLOWERS):
        config = CopyConfig(
            follower=f"0x{i + 1:040x}",
            proxy=f"0x{i + 0xA0:040x}",
            leader=LEADER,
            mode="ratio",
            ratio_ppm=500_000,
        )
        index.upsert(await store.add_config(config))
    return index


async def intake_of(store: Store, shared: MemorySharedState) -> FillIntake:
    pipeline = Pipeline(
        store=store,
        shared=shared,
        engine=RecordingEngine(),
        index=await seed(store),
        guardrails=Guardrails(),
        config=PipelineConfig(consumer="review", drain_interval_ms=10),
    )
    intake = FillIntake(pipeline, act_on="first", confirm_blocks=20)
    intake.at_block(1_000)
    return intake


async def settle(intake: FillIntake, store: Store) -> list[CopyJob]:
    stop = asyncio.Event()
    workers = asyncio.create_task(intake.pipeline.run_workers(stop))
    try:
        deadline = time.monotonic() + 60
        while await store.count_trades(TradeStatus.PENDING) and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
    finally:
        stop.set()
        await workers
    engine = intake.pipeline.engine
    assert isinstance(engine, RecordingEngine)
    return engine.jobs


async def test_a_pending_sighting_whose_intake_failed_is_copied_once_when_its_log_comes(
    tmp_path: Path,
) -> None:
    store = SqliteStore(tmp_path / "t.db")
    await store.open()
    try:
        shared = BlinkingShared()
        intake = await intake_of(store, shared)
        shared.failures = 1
        with pytest.raises(ConnectionError):
            # The mempool source logs a failing sink and goes on: the fill is not copied yet.
            await intake.on_early([pending(1, 10 * USD, 4 * USD, 7)])
        assert await store.count_trades() == 0
        await intake.on_logs([row(1, 10 * USD, 4 * USD, 7)])
        jobs = await settle(intake, store)
        assert sorted(j.follower for j in jobs) == [f"0x{i + 1:040x}" for i in range(FOLLOWERS)]
        assert all(j.amount == 2 * USD for j in jobs)
        # A repeat of either sighting adds nothing.
        await intake.on_early([pending(1, 10 * USD, 4 * USD, 7)])
        await intake.on_logs([row(1, 10 * USD, 4 * USD, 7)])
        assert len(await settle(intake, store)) == FOLLOWERS
    finally:
        await store.close()


async def test_a_top_up_whose_intake_failed_is_made_by_the_next_sighting_that_carries_as_much(
    tmp_path: Path,
) -> None:
    """A MINT taker seen pending (10 shares for $4), its feed frame (12 for $5) failing at intake: the log
    row (12 for $5) makes the top-up, once."""
    store = SqliteStore(tmp_path / "t.db")
    await store.open()
    try:
        shared = BlinkingShared()
        intake = await intake_of(store, shared)
        taker = pending(2, 10 * USD, 4 * USD, 9)
        await intake.on_early([Early(taker.signal, taker.order_hash, True)])
        frame = Signal(
            leader=LEADER,
            token_id=5,
            side="BUY",
            size=12 * USD,
            price_num=5 * USD,
            price_den=12 * USD,
            usd=5 * USD,
            tx_hash=_tx(2),
            log_index=NO_LOG_INDEX,
            source="activity",
            seen_at_ns=time.time_ns(),
        )
        shared.failures = 1
        with pytest.raises(ConnectionError):
            await intake.on_feed([frame])
        await intake.on_logs([row(2, 12 * USD, 5 * USD, 9)])
        jobs = await settle(intake, store)
        # $2 each from the pending order, then $0.50 each from the row: $2.50 in all, as the log alone gives.
        assert sorted(j.amount for j in jobs) == [USD // 2] * FOLLOWERS + [2 * USD] * FOLLOWERS
    finally:
        await store.close()


async def test_unconfirmed_fills_whose_flagging_failed_are_flagged_on_the_next_tick(tmp_path: Path) -> None:
    store = BlinkingStore(tmp_path / "t.db")
    await store.open()
    try:
        intake = await intake_of(store, MemorySharedState())
        # Two pending fills whose transactions never land; nothing runs them yet (workers not started).
        await intake.on_early([pending(3, 10 * USD, 4 * USD, 1)])
        await intake.on_early([pending(4, 6 * USD, 3 * USD, 2)])
        assert await store.count_trades(TradeStatus.PENDING) == 2 * FOLLOWERS
        intake.at_block(2_000)
        store.failures = 1
        with pytest.raises(StoreError):
            await intake.expire()  # the supervisor's window task logs it and tries again next tick
        await intake.expire()
        assert await store.count_trades(TradeStatus.PENDING) == 0
        assert await store.count_trades(TradeStatus.CANCELLED) == 2 * FOLLOWERS
        for tx in (3, 4):
            keys = await store.flag_copies(_tx(tx), UNLOGGED, 0, UNCONFIRMED_SOURCE)
            assert len(keys) == FOLLOWERS
            assert await store.flags_of(keys[0]) == {UNCONFIRMED_SOURCE}
        assert sum(intake.stats.unconfirmed.values()) == 2
        assert intake.stats.expired == 2
        await intake.expire()
        assert sum(intake.stats.unconfirmed.values()) == 2  # settled once each
    finally:
        await store.close()


async def test_a_log_only_fill_removed_by_a_reorg_and_never_mined_again_does_not_stop_the_window(
    tmp_path: Path,
) -> None:
    """Under `first` a fill seen only in its log, copied, then removed by a reorg and never mined again:
    the reorg flagged its copies; the window must not fail on it (no early source saw it), and a pending
    fill expiring beside it is still flagged."""
    store = SqliteStore(tmp_path / "t.db")
    await store.open()
    try:
        intake = await intake_of(store, MemorySharedState())
        logged = row(5, 10 * USD, 4 * USD, 3)
        await intake.on_logs([logged])
        copies = await settle(intake, store)
        assert len(copies) == FOLLOWERS
        removed = Signal(
            leader=logged.leader,
            token_id=logged.token_id,
            side=logged.side,
            size=logged.size,
            price_num=logged.price_num,
            price_den=logged.price_den,
            usd=logged.usd,
            tx_hash=logged.tx_hash,
            log_index=logged.log_index,
            block_number=logged.block_number,
            source="v2",
            removed=True,
            order_hash=logged.order_hash,
        )
        await intake.on_logs([removed])
        assert all(r is not None and r.reorged for r in [await store.get_trade(j.key) for j in copies])
        await intake.on_early([pending(6, 6 * USD, 3 * USD, 4)])
        intake.at_block(2_000)
        gone = await intake.expire()
        assert len(gone) == 2
        phantom = await store.flag_copies(_tx(6), UNLOGGED, 0, UNCONFIRMED_SOURCE)
        assert len(phantom) == FOLLOWERS
        assert dict(intake.stats.unconfirmed) == {"mempool": 1}
        # The reorged copies carry no unconfirmed_source flag: the log, not an early source, made them.
        for job in copies:
            assert UNCONFIRMED_SOURCE not in await store.flags_of(job.key)
    finally:
        await store.close()


async def test_an_unconfirmed_fill_whose_flagging_always_fails_blocks_no_other(tmp_path: Path) -> None:
    store = BlinkingStore(tmp_path / "t.db")
    await store.open()
    try:
        intake = await intake_of(store, MemorySharedState())
        store.poisoned = frozenset({_tx(7)})
        await intake.on_early([pending(7, 10 * USD, 4 * USD, 1)])
        intake.at_block(1_010)
        await intake.on_early([pending(8, 6 * USD, 3 * USD, 2)])
        intake.at_block(1_020)
        with pytest.raises(StoreError):
            await intake.expire()  # tx 7's fill is due first and fails
        intake.at_block(1_030)
        for _ in range(2):
            with pytest.raises(StoreError):
                await intake.expire()  # tx 7's fill still fails, after tx 8's is settled
        keys = await store.flag_copies(_tx(8), UNLOGGED, 0, UNCONFIRMED_SOURCE)
        assert len(keys) == FOLLOWERS
        for key in keys:
            record = await store.get_trade(key)
            assert record is not None
            assert record.status == TradeStatus.CANCELLED
        assert sum(intake.stats.unconfirmed.values()) == 1
    finally:
        await store.close()


async def test_a_pending_copy_failing_while_its_log_comes_in_is_made_at_the_next_tick(tmp_path: Path) -> None:
    """The log is taken in while the pending sighting's intake is in flight (it finds the fill copied), then
    that intake fails: the confirmation window's next tick makes the copies, once."""
    store = SqliteStore(tmp_path / "t.db")
    await store.open()
    try:
        shared = BlinkingShared()
        intake = await intake_of(store, shared)

        async def log_comes() -> None:
            await intake.on_logs([row(9, 10 * USD, 4 * USD, 5)])

        shared.failures = 1
        shared.meanwhile = log_comes
        with pytest.raises(ConnectionError):
            await intake.on_early([pending(9, 10 * USD, 4 * USD, 5)])
        assert await store.count_trades() == 0
        await intake.expire()
        jobs = await settle(intake, store)
        assert sorted(j.follower for j in jobs) == [f"0x{i + 1:040x}" for i in range(FOLLOWERS)]
        await intake.expire()
        await intake.on_logs([row(9, 10 * USD, 4 * USD, 5)])
        assert len(await settle(intake, store)) == FOLLOWERS
    finally:
        await store.close()


async def test_a_failed_pending_copy_of_a_fill_that_never_lands_is_not_made_after_its_window(
    tmp_path: Path,
) -> None:
    store = SqliteStore(tmp_path / "t.db")
    await store.open()
    try:
        shared = BlinkingShared()
        intake = await intake_of(store, shared)
        shared.failures = 1
        with pytest.raises(ConnectionError):
            await intake.on_early([pending(10, 10 * USD, 4 * USD, 6)])
        intake.at_block(2_000)
        gone = await intake.expire()
        assert len(gone) == 1
        await intake.expire()
        assert await store.count_trades() == 0
    finally:
        await store.close()
