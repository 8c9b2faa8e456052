"""Review of store v10: a v9 database holding copies and quality rows upgrades in place on both back ends."""

from __future__ import annotations

import pytest

import polyhunter.store.postgres
import polyhunter.store.sqlite
from conftest import StoreCase
from polyhunter.models import CopyJob, CopyQuality, TradeStatus, copy_key
from polyhunter.store.migrations import LATEST, MIGRATIONS

FOLLOWER_A = "0x" + "a1" * 20
FOLLOWER_B = "0x" + "b2" * 20
LEADER_A = "0x" + "c3" * 20
LEADER_B = "0x" + "d4" * 20
PROXY = "0x" + "e5" * 20
FAR = 2**62


def _job(n: int, follower: str, leader: str) -> CopyJob:
    return CopyJob(
        key=copy_key(bytes([n]) * 32, 1),
        config_id=1,
        follower=follower,
        proxy=PROXY,
        leader=leader,
        token_id=2**255 + n,
        side="BUY",
        amount=1_000_000 + n,
        limit_price_ppm=400_000,
        tx_hash=bytes([n]) * 32,
        log_index=n,
        leader_size=3_000_000,
        leader_price_ppm=410_000,
        block_number=5,
    )


def _quality(n: int, follower: str, leader: str, filled_at: int) -> CopyQuality:
    return CopyQuality(
        key=bytes([n]) * 32,
        follower=follower,
        leader=leader,
        token_id=2**255 + n,
        side="BUY",
        leader_price_ppm=500_000,
        leader_size=10_000_000,
        fill_price_ppm=505_000,
        fill_size=2_000_000,
        slippage_bps=100,
        delay_ms=1_250,
        delay_from="first_seen",
        source="log",
        gas_wei=3 * 10**15,
        fee=1_234,
        filled_at=filled_at,
    )


@pytest.mark.asyncio
async def test_a_v9_database_with_copies_and_quality_rows_upgrades_to_v10(
    store_case: StoreCase, monkeypatch: pytest.MonkeyPatch
) -> None:
    jobs = [
        _job(n, FOLLOWER_A if n % 2 else FOLLOWER_B, LEADER_A if n % 3 else LEADER_B) for n in range(1, 13)
    ]
    rows = [_quality(n, j.follower, j.leader, 1_000 * n) for n, j in enumerate(jobs, start=1)]
    for module in (polyhunter.store.sqlite, polyhunter.store.postgres):
        monkeypatch.setattr(module, "MIGRATIONS", tuple(m for m in MIGRATIONS if m.version <= 9))
    async with store_case.make() as v9:
        assert await v9.schema_version() == 9
        assert await v9.insert_pending(jobs, FAR) == {j.key for j in jobs}
        await v9.mark(jobs[0].key, TradeStatus.EXECUTED)
        assert await v9.record_quality(rows) == len(rows)
        before_a = [t.key for t in await v9.list_trades(follower=FOLLOWER_A, limit=100)]
        before_q = await v9.quality_between(0, 10**15, leader=LEADER_B)
    monkeypatch.undo()

    async with store_case.make() as v10:
        assert await v10.schema_version() == LATEST >= 10
        assert await v10.migrate() == []
        assert [t.key for t in await v10.list_trades(follower=FOLLOWER_A, limit=100)] == before_a
        assert len(before_a) == 6
        assert await v10.quality_between(0, 10**15, leader=LEADER_B) == before_q
        assert [q.key for q in await v10.quality_between(2_000, 5_000, follower=FOLLOWER_B)] == [
            bytes([2]) * 32,
            bytes([4]) * 32,
        ]
        executed = await v10.get_trade(jobs[0].key)
        assert executed is not None
        assert executed.status == TradeStatus.EXECUTED
