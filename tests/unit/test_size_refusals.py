"""Sizes that cannot be right are refused before anything is reserved: a zero-size or zero-price leader fill
gives no copy (counted); the max-trade and allowlist guardrails refuse a copy as SKIPPED with nothing held.
Real decoder, fan-out, SQLite store and in-memory shared state."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio

from polyhunter._core import FanoutIndex, LogDecoder
from polyhunter.execution.base import ExecutionResult, JobJournal
from polyhunter.loadsim import CTF, EXCHANGE, notification
from polyhunter.models import CopyConfig, CopyJob, SkipReason, TradeStatus
from polyhunter.shared.memory import MemorySharedState
from polyhunter.store.sqlite import SqliteStore
from polyhunter.supervisor.guardrails import Guardrails, utc_day
from polyhunter.supervisor.pipeline import ZERO_PRICE, ZERO_SIZE, Pipeline, PipelineConfig

LEADER = "0x" + "1e" * 20
FOLLOWERS = [f"0x{i + 1:040x}" for i in range(2)]
USD = 1_000_000


class NeverVenue:
    name = "never"

    async def execute(self, job: CopyJob, journal: JobJournal) -> ExecutionResult:
        raise AssertionError("nothing here may reach the venue")

    async def close(self) -> None:
        return None


@pytest_asyncio.fixture
async def store(tmp_path: Path) -> AsyncIterator[SqliteStore]:
    s = SqliteStore(tmp_path / "sizes.db")
    await s.open()
    yield s
    await s.close()


async def _pipeline(store: SqliteStore, guardrails: Guardrails) -> tuple[Pipeline, MemorySharedState]:
    shared = MemorySharedState()
    index = FanoutIndex()
    for i, follower in enumerate(FOLLOWERS):
        rule = CopyConfig(
            follower=follower, proxy=f"0x{i + 0xA0:040x}", leader=LEADER, mode="fixed", fixed_usd=10 * USD
        )
        index.upsert(await store.add_config(rule))
    pipeline = Pipeline(
        store=store,
        shared=shared,
        engine=NeverVenue(),
        index=index,
        guardrails=guardrails,
        config=PipelineConfig(consumer="t"),
        decoder=LogDecoder(ctf=CTF, v2_exchanges=[EXCHANGE], leaders=[LEADER]),
    )
    return pipeline, shared


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("usd", "tokens", "reason"),
    [(50 * USD, 0, ZERO_SIZE), (0, 100 * USD, ZERO_PRICE), (0, 0, ZERO_SIZE)],
)
async def test_a_zero_fill_gives_no_copy_and_is_counted(
    store: SqliteStore, usd: int, tokens: int, reason: str
) -> None:
    guardrails = Guardrails(daily_cap_usd=1_000 * USD)
    pipeline, shared = await _pipeline(store, guardrails)
    await pipeline.on_raw(notification(LEADER, 42, "0x" + "ab" * 32, 7, usd, tokens), "ws")
    assert pipeline.stats.skipped[reason] == 1
    assert pipeline.stats.intents == 0
    assert await store.count_trades() == 0
    assert (await shared.queue_stats()).length == 0
    # Nothing was reserved: the whole daily cap is still there.
    assert await shared.counter(f"daily:{utc_day()}") == 0


@pytest.mark.asyncio
async def test_max_trade_refuses_before_reserving(store: SqliteStore) -> None:
    guardrails = Guardrails(max_trade_usd=5 * USD, daily_cap_usd=1_000 * USD)
    pipeline, shared = await _pipeline(store, guardrails)
    await pipeline.on_raw(notification(LEADER, 42, "0x" + "ac" * 32, 7, 50 * USD, 100 * USD), "ws")
    records = await store.list_trades()
    assert {(r.status, r.reason) for r in records} == {(TradeStatus.SKIPPED, SkipReason.MAX_TRADE.value)}
    assert len(records) == 2
    assert pipeline.stats.skipped[SkipReason.MAX_TRADE.value] == 2
    assert (await shared.queue_stats()).length == 0
    assert await shared.counter(f"daily:{utc_day()}") == 0


@pytest.mark.asyncio
async def test_the_allowlist_refuses_the_others(store: SqliteStore) -> None:
    guardrails = Guardrails(allowlist=frozenset({FOLLOWERS[0]}))
    pipeline, shared = await _pipeline(store, guardrails)
    await pipeline.on_raw(notification(LEADER, 42, "0x" + "ad" * 32, 7, 50 * USD, 100 * USD), "ws")
    by_follower = {r.follower: r for r in await store.list_trades()}
    assert by_follower[FOLLOWERS[0]].status is TradeStatus.PENDING
    refused = by_follower[FOLLOWERS[1]]
    assert (refused.status, refused.reason) == (TradeStatus.SKIPPED, SkipReason.NOT_ALLOWLISTED.value)
    assert (await shared.queue_stats()).length == 1
