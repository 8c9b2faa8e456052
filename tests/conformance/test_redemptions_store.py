"""The redemption tables (store v8) behave alike on SQLite and PostgreSQL: one run per key, retries only from
FAILED, losing redemptions CLOSED, every journaled hash kept, and the holders of a condition's tokens."""

from __future__ import annotations

import pytest

from polyhunter.errors import InvalidInputError
from polyhunter.models import CopyJob, TradeStatus
from polyhunter.store import Store
from polyhunter.store.redemptions import (
    CLOSED,
    DONE,
    FAILED,
    PENDING,
    Redemption,
    RedemptionKind,
    Redemptions,
    redemption_key,
)

PROXY_A = "0x" + "aa" * 20
PROXY_B = "0x" + "bb" * 20
PUSD = "0x" + "11" * 20
CONDITION = "0x" + "cd" * 32


async def _add(
    r: Redemptions, proxy: str, amount: int, kind: RedemptionKind = "REDEEM", ref: str = "resolution"
) -> Redemption | None:
    return await r.add(kind, ref, proxy, CONDITION, PUSD, PUSD, amount)


@pytest.mark.asyncio
async def test_a_key_runs_once_until_it_fails(store: Store) -> None:
    r = Redemptions(store)
    first = await _add(r, PROXY_A.upper().replace("0X", "0x"), 7)
    assert first is not None
    assert first.status == PENDING
    assert first.proxy == PROXY_A
    assert first.key == redemption_key("REDEEM", "resolution", PROXY_A, CONDITION, PUSD)
    assert await _add(r, PROXY_A, 7) is None  # PENDING: someone runs it
    assert await r.fail([first.key], "reverted") == 1
    assert await r.fail([first.key], "again") == 0  # only from PENDING
    failed = await r.get(first.key)
    assert failed is not None
    assert (failed.status, failed.reason) == (FAILED, "reverted")
    retried = await _add(r, PROXY_A, 9)
    assert retried is not None
    assert (retried.status, retried.amount, retried.reason) == (PENDING, 9, None)
    assert await r.finish([(first.key, 9)], b"\x01" * 32) == 1
    assert await _add(r, PROXY_A, 9) is None  # DONE: never again
    done = await r.get(first.key)
    assert done is not None
    assert (done.status, done.payout, done.tx_hash) == (DONE, 9, b"\x01" * 32)


@pytest.mark.asyncio
async def test_a_redemption_paying_nothing_is_closed_and_a_merge_is_done(store: Store) -> None:
    r = Redemptions(store)
    loser = await _add(r, PROXY_A, 5)
    merge = await _add(r, PROXY_B, 0, kind="MERGE", ref="0xabc")
    other_merge = await _add(r, PROXY_B, 3, kind="MERGE", ref="0xdef")
    assert loser is not None
    assert merge is not None
    assert other_merge is not None
    assert merge.key != other_merge.key  # another ref is another merge
    assert await r.finish([(loser.key, 0), (merge.key, 0)], b"\x02" * 32) == 2
    assert [(x.proxy, x.kind, x.status) for x in await r.find(proxy=PROXY_A)] == [(PROXY_A, "REDEEM", CLOSED)]
    assert {x.key for x in await r.find(status=DONE)} == {merge.key}
    assert {x.key for x in await r.find(status=PENDING)} == {other_merge.key}
    with pytest.raises(InvalidInputError):
        await r.find(status="LOST")
    with pytest.raises(InvalidInputError):
        await _add(r, PROXY_A, -1)


@pytest.mark.asyncio
async def test_every_hash_journaled_is_kept(store: Store) -> None:
    r = Redemptions(store)
    a, b = await _add(r, PROXY_A, 1), await _add(r, PROXY_B, 2)
    assert a is not None
    assert b is not None
    await r.record_tx([a.key, b.key], "0xWORKER", 4, b"\x03" * 32)
    await r.record_tx([a.key, b.key], "0xWORKER", 4, b"\x04" * 32)  # a fee bump of the same nonce
    await r.record_tx([a.key], "0xWORKER", 4, b"\x04" * 32)  # again: no duplicate
    assert await r.journal(a.key) == [(b"\x03" * 32, "0xworker", 4), (b"\x04" * 32, "0xworker", 4)]
    assert len(await r.journal(b.key)) == 2


def _job(proxy: str, token_id: int, side: str, n: int) -> CopyJob:
    return CopyJob(
        key=bytes([n]) * 32,
        config_id=1,
        follower="0x" + "f0" * 20,
        proxy=proxy,
        leader="0x" + "1e" * 20,
        token_id=token_id,
        side=side,  # type: ignore[arg-type]
        amount=1_000_000,
        limit_price_ppm=500_000,
        tx_hash=bytes([n]) * 32,
        log_index=n,
        sub_index=0,
        leader_size=1_000_000,
        leader_price_ppm=500_000,
        block_number=1,
    )


@pytest.mark.asyncio
async def test_holders_are_the_proxies_whose_buys_executed(store: Store) -> None:
    r = Redemptions(store)
    yes, no, other = 2**255 + 1, 2**255 + 2, 7
    jobs = [
        _job(PROXY_A, yes, "BUY", 1),
        _job(PROXY_A, no, "BUY", 2),
        _job(PROXY_B, no, "BUY", 3),
        _job(PROXY_B, yes, "SELL", 4),  # a sell says nothing of holding
        _job("0x" + "cc" * 20, yes, "BUY", 5),  # never executed
        _job("0x" + "dd" * 20, other, "BUY", 6),
    ]
    await store.insert_pending(jobs, expires_at=2**40)
    for job in jobs:
        if job.log_index != 5:
            assert await store.mark(job.key, TradeStatus.EXECUTED)
    assert await r.holders([yes, no]) == {PROXY_A: {yes, no}, PROXY_B: {no}}
    assert await r.holders([]) == {}
