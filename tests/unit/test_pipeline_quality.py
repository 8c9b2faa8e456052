"""Every EXECUTED copy gets its quality row from the pipeline: leader's and our price and size, signed
slippage, the delay from the first sighting, the first source, gas share and fee; a failed copy gets none."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio

from polyhunter._core import FanoutIndex, LogDecoder
from polyhunter.execution.base import ExecutionResult, JobJournal
from polyhunter.loadsim import CTF, EXCHANGE, notification
from polyhunter.models import CopyConfig, CopyJob, TradeStatus, now_ms
from polyhunter.shared.memory import MemorySharedState
from polyhunter.store.sqlite import SqliteStore
from polyhunter.supervisor.guardrails import Guardrails
from polyhunter.supervisor.pipeline import Pipeline, PipelineConfig

LEADER = "0x" + "1e" * 20
USD = 1_000_000
FOLLOWERS = [f"0x{i + 1:040x}" for i in range(3)]


class FillingVenue:
    """Fills every copy 1 % above the leader's price (a BUY: worse), with a fee and a gas share; the last
    follower's copy fails."""

    name = "filling"

    async def execute(self, job: CopyJob, journal: JobJournal) -> ExecutionResult:
        if job.follower == FOLLOWERS[-1]:
            return ExecutionResult(TradeStatus.FAILED, "venue_down")
        assert job.leader_price_ppm is not None
        return ExecutionResult(
            TradeStatus.EXECUTED,
            fill_price_ppm=job.leader_price_ppm * 101 // 100,
            fill_size=19_801_980,
            gas_wei=7 * 10**14,
            fee=12_345,
        )

    async def close(self) -> None:
        return None


@pytest_asyncio.fixture
async def store(tmp_path: Path) -> AsyncIterator[SqliteStore]:
    async with SqliteStore(tmp_path / "q.db") as opened:
        assert isinstance(opened, SqliteStore)
        yield opened


@pytest.mark.asyncio
async def test_executed_copies_store_their_quality(store: SqliteStore) -> None:
    index = FanoutIndex()
    for n, follower in enumerate(FOLLOWERS):
        config = CopyConfig(
            follower=follower, proxy=f"0x{n + 0xA0:040x}", leader=LEADER, mode="fixed", fixed_usd=10 * USD
        )
        index.upsert(await store.add_config(config))
    pipeline = Pipeline(
        store=store,
        shared=MemorySharedState(),
        engine=FillingVenue(),
        index=index,
        guardrails=Guardrails(),
        config=PipelineConfig(consumer="t", drain_interval_ms=10),
        decoder=LogDecoder(ctf=CTF, v2_exchanges=[EXCHANGE], leaders=[LEADER]),
    )
    before = now_ms()
    # The leader buys 100 shares for 50 USD: price 0.50.
    await pipeline.on_raw(notification(LEADER, 42, "0x" + "ab" * 32, 7, 50 * USD, 100 * USD), "ws")
    stop = asyncio.Event()
    workers = asyncio.create_task(pipeline.run_workers(stop))
    try:

        async def settled() -> None:
            while pipeline.stats.executed + pipeline.stats.failed < 3:
                await asyncio.sleep(0.005)

        await asyncio.wait_for(settled(), 30)
    finally:
        stop.set()
        await workers
    after = now_ms()

    rows = await store.quality_between(0, 2**62)
    assert sorted(r.follower for r in rows) == FOLLOWERS[:2]  # the failed copy has none
    for row in rows:
        assert (row.leader, row.side, row.leader_price_ppm, row.leader_size) == (
            LEADER,
            "BUY",
            500_000,
            100 * USD,
        )
        assert (row.fill_price_ppm, row.fill_size) == (505_000, 19_801_980)
        assert row.slippage_bps == 100  # paid 0.505 for the leader's 0.50
        assert (row.gas_wei, row.fee) == (7 * 10**14, 12_345)
        assert row.source == "v2"
        assert row.delay_from == "first_seen"
        assert row.delay_ms is not None
        assert 0 <= row.delay_ms <= after - before
        assert before <= row.filled_at <= after
        record = await store.get_trade(row.key)
        assert record is not None
        assert (record.status, record.slippage_bps) == (TradeStatus.EXECUTED, 100)
