"""SUPERVISOR_ACT_ON=first at the edges of the confirmation window, on PostgreSQL and Redis: a log that comes
after the window revives the copies cancelled as `unconfirmed_source` (exactly one copy per fill and
follower, the flag kept), and flagging an unconfirmed fill reaches its own copies only, never another
leader's copies at the same transaction and position."""

from __future__ import annotations

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

from polyhunter._core import Signal
from polyhunter.models import TradeStatus
from polyhunter.shared.redis import RedisSharedState
from polyhunter.store.postgres import PostgresStore
from polyhunter.supervisor.sources import UNCONFIRMED_SOURCE, FillIntake

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
    pg_url: str, redis_url: str, redis_prefix: str
) -> AsyncIterator[tuple[FillIntake, PostgresStore]]:
    store, shared = PostgresStore(pg_url), RedisSharedState(redis_url, redis_prefix)
    for part in (store, shared):
        await part.open()
    try:
        yield instance(store, await seed(store), shared, "first"), store
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
            assert await store.flags_of(copy.key) == {UNCONFIRMED_SOURCE}  # the flag's history is kept
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
            assert await store.flags_of(key) == set()
        for key in mine:
            assert await store.flags_of(key) == {UNCONFIRMED_SOURCE}
        await run_until_settled(intake, store)
        assert sorted(j.key for j in engine_of(intake).jobs) == sorted(theirs)
