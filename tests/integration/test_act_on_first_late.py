"""SUPERVISOR_ACT_ON=first at the edges of the confirmation window, on PostgreSQL and Redis: a log that comes
after the window revives the copies cancelled as `unconfirmed_source` (exactly one copy per fill and
follower, the flag kept), and flagging an unconfirmed fill reaches its own copies only, never another
leader's copies at the same transaction and position."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest
from test_act_on_first import (
    FOLLOWERS,
    LEADER,
    OTHER,
    USD,
    Sighting,
    engine_of,
    feed,
    instance,
    run_until_settled,
    seed,
    sighting,
)

from polyhunter._core import FanoutIndex, Signal
from polyhunter.models import TradeStatus
from polyhunter.shared.redis import RedisSharedState
from polyhunter.store.postgres import PostgresStore
from polyhunter.supervisor.sources import SOURCE_CONFIRMED, UNCONFIRMED_SOURCE, FillIntake

pytestmark = [pytest.mark.integration, pytest.mark.asyncio]


def _row(s: Sighting, order_hash: bytes | None) -> Sighting:
    r = s.signal
    signal = Signal(
        leader=r.leader,
        token_id=r.token_id,
        side=r.side,
        size=r.size,
        price_num=r.price_num,
        price_den=r.price_den,
        usd=r.usd,
        tx_hash=r.tx_hash,
        log_index=r.log_index,
        block_number=r.block_number,
        source="v2",
        seen_at_ns=time.time_ns(),
        order_hash=order_hash,
    )
    return Sighting("log", signal)


@asynccontextmanager
async def replica(
    pg_url: str, redis_url: str, redis_prefix: str, *, restarted: bool = False
) -> AsyncIterator[tuple[FillIntake, PostgresStore]]:
    """An instance on the test's database and Redis; `restarted`: one that finds the configs stored."""
    store, shared = PostgresStore(pg_url), RedisSharedState(redis_url, redis_prefix)
    for part in (store, shared):
        await part.open()
    try:
        if restarted:
            index = FanoutIndex()
            for config in await store.list_configs():
                index.upsert(config)
        else:
            index = await seed(store)
        yield instance(store, index, shared, "first"), store
    finally:
        for part in (store, shared):
            await part.close()


async def _statuses(store: PostgresStore, keys: list[bytes]) -> Counter[TradeStatus]:
    out: Counter[TradeStatus] = Counter()
    for key in keys:
        record = await store.get_trade(key)
        assert record is not None
        out[record.status] += 1
    return out


async def test_a_log_after_the_window_revives_the_copies_cancelled_as_unconfirmed(
    pg_url: str, redis_url: str, redis_prefix: str
) -> None:
    order = bytes([40]) * 32
    early = sighting("mempool", LEADER, 12, 10 * USD, 4 * USD, 40, 0, order_hash=order)
    late_row = _row(sighting("log", LEADER, 12, 10 * USD, 4 * USD, 40, 3), order)
    async with replica(pg_url, redis_url, redis_prefix) as (intake, store):
        await feed(intake, [early])
        intake.at_block(2_000)  # the window passes before the workers ran any copy
        (gone,) = await intake.expire()
        copies = [
            copy
            for copy in await store.trades_between(0, 2**62)
            if bytes(copy.tx_hash) == early.signal.tx_hash
        ]
        assert len(copies) == FOLLOWERS
        assert await _statuses(store, [c.key for c in copies]) == Counter({TradeStatus.CANCELLED: FOLLOWERS})
        # The log comes after all (a slow block): under `log` it would have copied the fill, so must `first`.
        await feed(intake, [late_row])
        await run_until_settled(intake, store)
        assert await _statuses(store, [c.key for c in copies]) == Counter({TradeStatus.EXECUTED: FOLLOWERS})
        assert sorted(j.key for j in engine_of(intake).jobs) == sorted(c.key for c in copies)
        for copy in copies:
            # The flag's history is kept, and the log's confirmation added.
            assert await store.flags_of(copy.key) == {UNCONFIRMED_SOURCE, SOURCE_CONFIRMED}
        assert not gone.unconfirmed
        # The row again (a backfill): nothing more.
        await intake.on_logs([late_row.signal], replay=True)
        await run_until_settled(intake, store)
        assert len(engine_of(intake).jobs) == FOLLOWERS


async def test_flagging_an_unconfirmed_fill_spares_another_leader_s_copies_at_its_position(
    pg_url: str, redis_url: str, redis_prefix: str
) -> None:
    """Tx 50 failed: the leader's feed frame and the other leader's pending order both sit at position 0
    with no log index. The other leader's match is re-settled and logged in tx 51; the leader's is not."""
    order = bytes([50]) * 32
    frame = sighting("activity", LEADER, 13, 10 * USD, 4 * USD, 50, 0)
    other = sighting("mempool", OTHER, 13, 6 * USD, 3 * USD, 50, 0, order_hash=order)
    other_row = _row(sighting("log", OTHER, 13, 6 * USD, 3 * USD, 51, 2), order)
    async with replica(pg_url, redis_url, redis_prefix) as (intake, store):
        await feed(intake, [frame, other, other_row])
        copies = await store.trades_between(0, 2**62)
        mine = [c.key for c in copies if c.leader == LEADER]
        theirs = [c.key for c in copies if c.leader == OTHER]
        assert (len(mine), len(theirs)) == (FOLLOWERS, FOLLOWERS)
        intake.at_block(2_000)
        gone = await intake.expire()
        assert [f.group[0] for f in gone] == [LEADER]
        assert await _statuses(store, mine) == Counter({TradeStatus.CANCELLED: FOLLOWERS})
        assert await _statuses(store, theirs) == Counter({TradeStatus.PENDING: FOLLOWERS})
        for key in theirs:
            assert await store.flags_of(key) == {SOURCE_CONFIRMED}
        for key in mine:
            assert await store.flags_of(key) == {UNCONFIRMED_SOURCE}
        await run_until_settled(intake, store)
        assert sorted(j.key for j in engine_of(intake).jobs) == sorted(theirs)


async def test_after_a_restart_copies_of_pending_fills_that_never_landed_are_flagged_once_a_window_passed(
    pg_url: str, redis_url: str, redis_prefix: str
) -> None:
    """The instance that copied two pending fills stops before either window passed; tx 61's log came
    before it stopped, tx 60 never lands. The instance started after it knows neither fill: a window after
    its start, it finds tx 60's copies in the store and flags them; tx 61's stay as they are."""
    never = sighting("mempool", LEADER, 14, 10 * USD, 4 * USD, 60, 0, order_hash=bytes([60]) * 32)
    landed = sighting("mempool", LEADER, 14, 6 * USD, 3 * USD, 61, 0, order_hash=bytes([61]) * 32)
    landed_row = _row(sighting("log", LEADER, 14, 6 * USD, 3 * USD, 61, 1), bytes([61]) * 32)
    async with replica(pg_url, redis_url, redis_prefix) as (before, store):
        await feed(before, [never, landed, landed_row])
        copies = await store.trades_between(0, 2**62)
        lost = [c.key for c in copies if bytes(c.tx_hash) == never.signal.tx_hash]
        kept = [c.key for c in copies if bytes(c.tx_hash) == landed.signal.tx_hash]
        assert (len(lost), len(kept)) == (FOLLOWERS, FOLLOWERS)
    await asyncio.sleep(0.002)  # the copies are older than the next instance's start (ms clock)
    async with replica(pg_url, redis_url, redis_prefix, restarted=True) as (after, store):
        after.at_block(1_010)  # `instance` saw 1,000: its start
        assert await after.expire() == []
        assert after.stats.orphans == 0  # not a window after its start yet
        assert await _statuses(store, lost) == Counter({TradeStatus.PENDING: FOLLOWERS})
        after.at_block(1_020)
        await after.expire()
        assert after.stats.orphans == FOLLOWERS
        assert await _statuses(store, lost) == Counter({TradeStatus.CANCELLED: FOLLOWERS})
        assert await _statuses(store, kept) == Counter({TradeStatus.PENDING: FOLLOWERS})
        for key in lost:
            assert await store.flags_of(key) == {UNCONFIRMED_SOURCE}
        for key in kept:
            assert UNCONFIRMED_SOURCE not in await store.flags_of(key)
        await after.expire()
        assert after.stats.orphans == FOLLOWERS  # once
        await run_until_settled(after, store)
        assert sorted(j.key for j in engine_of(after).jobs) == sorted(kept)
