"""The copy-quality rows and the report's period queries: SQLite and PostgreSQL answer alike."""

from __future__ import annotations

from dataclasses import replace

import pytest

from polyhunter.models import CopyJob, CopyQuality, TradeStatus, copy_key, now_ms
from polyhunter.store import Store
from polyhunter.store.base import mark_op

FOLLOWER_A = "0x" + "a1" * 20
FOLLOWER_B = "0x" + "b2" * 20
LEADER_A = "0x" + "c3" * 20
LEADER_B = "0x" + "d4" * 20
PROXY = "0x" + "e5" * 20
TOKEN = 2**255 + 7  # beyond any SQL integer


def quality(n: int, follower: str, leader: str, filled_at: int, **over: object) -> CopyQuality:
    base: dict[str, object] = {
        "key": bytes([n]) * 32,
        "follower": follower,
        "leader": leader,
        "token_id": TOKEN,
        "side": "BUY",
        "leader_price_ppm": 500_000,
        "leader_size": 10_000_000,
        "fill_price_ppm": 505_000,
        "fill_size": 2_000_000,
        "slippage_bps": 100,
        "delay_ms": 1_250,
        "delay_from": "first_seen",
        "source": "mempool",
        "gas_wei": 3 * 10**15,
        "fee": 1_234,
        "filled_at": filled_at,
    }
    base.update(over)
    return CopyQuality(**base)  # type: ignore[arg-type]


def job(n: int, follower: str, leader: str) -> CopyJob:
    return CopyJob(
        key=copy_key(bytes([n]) * 32, 1),
        config_id=1,
        follower=follower,
        proxy=PROXY,
        leader=leader,
        token_id=TOKEN,
        side="SELL",
        amount=1_000_000,
        limit_price_ppm=400_000,
        tx_hash=bytes([n]) * 32,
        log_index=n,
        leader_size=3_000_000,
        leader_price_ppm=410_000,
        block_number=5,
    )


@pytest.mark.asyncio
async def test_quality_rows_round_trip_once_per_copy(store: Store) -> None:
    first = quality(1, FOLLOWER_A.upper().replace("0X", "0x"), LEADER_A, 1_000, slippage_bps=-37)
    second = quality(2, FOLLOWER_B, LEADER_A, 2_000, leader_price_ppm=None, slippage_bps=None, delay_ms=None)
    assert await store.record_quality([first, second]) == 2
    # A key already stored keeps its first row.
    assert await store.record_quality([quality(1, FOLLOWER_A, LEADER_A, 9_999, fee=1)]) == 0
    assert await store.record_quality([]) == 0

    rows = await store.quality_between(0, 10_000)
    assert [r.key for r in rows] == [first.key, second.key]
    assert rows[0].follower == FOLLOWER_A  # stored lower-case
    assert rows[0].slippage_bps == -37
    assert rows[0].fee == 1_234
    assert rows[0].filled_at == 1_000
    assert rows[0].token_id == TOKEN
    assert rows[0].gas_wei == 3 * 10**15
    assert rows[1].leader_price_ppm is None
    assert rows[1].slippage_bps is None
    assert rows[1].delay_ms is None
    assert rows[1].source == "mempool"
    assert rows[1].delay_from == "first_seen"


@pytest.mark.asyncio
async def test_quality_between_filters_period_follower_and_leader(store: Store) -> None:
    await store.record_quality(
        [
            quality(1, FOLLOWER_A, LEADER_A, 1_000),
            quality(2, FOLLOWER_A, LEADER_B, 2_000),
            quality(3, FOLLOWER_B, LEADER_A, 3_000),
        ]
    )
    keys = lambda rows: [r.key[0] for r in rows]  # noqa: E731
    assert keys(await store.quality_between(1_000, 3_000)) == [1, 2]  # since inclusive, until exclusive
    assert keys(await store.quality_between(0, 10_000, follower=FOLLOWER_A.upper().replace("0X", "0x"))) == [
        1,
        2,
    ]
    assert keys(await store.quality_between(0, 10_000, leader=LEADER_A)) == [1, 3]
    assert keys(await store.quality_between(0, 10_000, follower=FOLLOWER_A, leader=LEADER_B)) == [2]
    assert await store.quality_between(3_001, 10_000) == []


@pytest.mark.asyncio
async def test_trades_between_oldest_first_with_filters(store: Store) -> None:
    start = now_ms()
    jobs = [job(1, FOLLOWER_A, LEADER_A), job(2, FOLLOWER_B, LEADER_A), job(3, FOLLOWER_A, LEADER_B)]
    for j in jobs:  # one insert each: created_at never decreases from one to the next
        await store.insert_pending([j], expires_at=start + 60_000)
    await store.mark(jobs[0].key, TradeStatus.EXECUTED, copy_size=1_000_000, copy_price_ppm=400_000)
    end = now_ms() + 1
    every = await store.trades_between(start, end)
    assert {r.key for r in every} == {j.key for j in jobs}
    assert [r.created_at for r in every] == sorted(r.created_at for r in every)
    mine = await store.trades_between(start, end, follower=FOLLOWER_A)
    assert {r.key for r in mine} == {jobs[0].key, jobs[2].key}
    only = await store.trades_between(start, end, follower=FOLLOWER_A, leader=LEADER_A)
    assert [(r.key, r.status, r.copy_size) for r in only] == [(jobs[0].key, TradeStatus.EXECUTED, 1_000_000)]
    assert await store.trades_between(end, end + 1_000) == []


@pytest.mark.asyncio
async def test_quality_is_stored_with_its_mark_only_when_the_mark_moves(store: Store) -> None:
    start = now_ms()
    moving, stuck = job(7, FOLLOWER_A, LEADER_A), job(8, FOLLOWER_A, LEADER_A)
    await store.insert_pending([moving, stuck], expires_at=start + 60_000)
    assert await store.mark(stuck.key, TradeStatus.FAILED, "venue_down")
    rows = [
        mark_op(m.key, TradeStatus.EXECUTED, copy_size=1, copy_price_ppm=410_000, quality=q)
        for m, q in (
            (moving, quality(0, FOLLOWER_A, LEADER_A, 5_000, key=moving.key)),
            (stuck, quality(0, FOLLOWER_A, LEADER_A, 5_000, key=stuck.key)),
        )
    ]
    assert await store.mark_many(rows) == [True, False]  # the FAILED one does not move: no quality row
    assert [q.key for q in await store.quality_between(0, 10_000)] == [moving.key]
    # The single mark too, and a mark repeated does not move and stores nothing new.
    third = job(9, FOLLOWER_B, LEADER_B)
    await store.insert_pending([third], expires_at=start + 60_000)
    q3 = quality(0, FOLLOWER_B, LEADER_B, 6_000, key=third.key, fee=77)
    assert await store.mark(third.key, TradeStatus.EXECUTED, quality=q3)
    assert not await store.mark(third.key, TradeStatus.EXECUTED, quality=replace(q3, fee=1))
    assert [(q.key, q.fee) for q in await store.quality_between(0, 10_000, follower=FOLLOWER_B)] == [
        (third.key, 77)
    ]
