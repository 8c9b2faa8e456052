"""Bulk writes, on SQLite and PostgreSQL alike: PENDING rows inserted already claimed by the worker that will
run them, and many marks in one operation (a batch of executions, a queue's refusals)."""

from __future__ import annotations

import asyncio

import pytest

from polyhunter.models import CopyJob, TradeStatus, copy_key
from polyhunter.store import Store
from polyhunter.store.base import mark_op

TX = bytes.fromhex("ab" * 32)
FAR = 2**62


def job(index: int, tx: bytes = TX) -> CopyJob:
    return CopyJob(
        key=copy_key(tx[:28] + index.to_bytes(4, "big"), 1),
        config_id=1,
        follower="0x" + "1" * 40,
        proxy="0x" + "2" * 40,
        leader="0x" + "3" * 40,
        token_id=2**255 + index,
        side="BUY",
        amount=5_000_000,
        limit_price_ppm=500_000,
        tx_hash=tx,
        log_index=index,
        sub_index=0,
        leader_size=5_000_000,
        leader_price_ppm=500_000,
        block_number=100,
    )


@pytest.mark.asyncio
async def test_rows_inserted_with_a_claimer_are_that_workers_and_no_one_elses(store: Store) -> None:
    jobs = [job(i) for i in range(5)]
    inserted = await store.insert_pending(jobs, FAR, "intake-1", claimer="w1")
    assert inserted == {j.key for j in jobs}
    keys = [j.key for j in jobs]
    # Another worker cannot take them while the claim is fresh; the claimer itself may (a redelivery).
    assert (await store.claim_jobs(keys, "w2", stale_ms=60_000)).runnable == set()
    assert (await store.claim_jobs(keys, "w1", stale_ms=60_000)).runnable == set(keys)
    # A record claimed at insert still guards the first broadcast: only its claimer may journal.
    assert not await store.record_tx(keys[0], "PULLED", "0x" + "4" * 40, 0, "0x" + "55" * 32, claimer="w2")
    assert await store.record_tx(keys[0], "PULLED", "0x" + "4" * 40, 0, "0x" + "55" * 32, claimer="w1")
    # The insert counted one attempt and the claimer's claim a second: the dead-letter limit sees both.
    outcome = await store.claim_jobs(keys[1:], "w1", stale_ms=60_000, max_attempts=2)
    assert outcome.dead == set(keys[1:])


@pytest.mark.asyncio
async def test_a_stale_claim_from_insert_passes_to_another_worker(store: Store) -> None:
    jobs = [job(i) for i in range(3)]
    await store.insert_pending(jobs, FAR, "intake-1", claimer="crashed")
    await asyncio.sleep(0.01)
    # The instance that inserted them died: past the idle time another instance runs them.
    outcome = await store.claim_jobs([j.key for j in jobs], "w2", stale_ms=1)
    assert outcome.runnable == {j.key for j in jobs}


@pytest.mark.asyncio
async def test_rows_inserted_without_a_claimer_are_anyones(store: Store) -> None:
    jobs = [job(i) for i in range(3)]
    await store.insert_pending(jobs, FAR, "intake-1")
    assert (await store.claim_jobs([j.key for j in jobs], "w2", stale_ms=60_000)).runnable == {
        j.key for j in jobs
    }


@pytest.mark.asyncio
async def test_a_replayed_insert_neither_inserts_nor_claims(store: Store) -> None:
    jobs = [job(i) for i in range(3)]
    await store.insert_pending(jobs, FAR, "intake-1", claimer="w1")
    assert await store.insert_pending(jobs, FAR, "intake-2", claimer="w2") == set()
    assert (await store.claim_jobs([j.key for j in jobs], "w2", stale_ms=60_000)).runnable == set()


@pytest.mark.asyncio
async def test_a_revived_row_is_claimed_by_the_insert_that_revives_it(store: Store) -> None:
    jobs = [job(i) for i in range(2)]
    await store.insert_pending(jobs, FAR, "intake-1", claimer="w1")
    await store.flag_reorged(TX, 0)
    assert await store.mark(jobs[0].key, TradeStatus.CANCELLED, "reorged")
    # The log is mined again: the row comes back PENDING, claimed by the reviving worker.
    assert await store.insert_pending(jobs[:1], FAR, "intake-2", claimer="w2") == {jobs[0].key}
    record = await store.get_trade(jobs[0].key)
    assert record is not None
    assert record.status is TradeStatus.PENDING
    assert (await store.claim_jobs([jobs[0].key], "w1", stale_ms=60_000)).runnable == set()
    assert (await store.claim_jobs([jobs[0].key], "w2", stale_ms=60_000)).runnable == {jobs[0].key}


@pytest.mark.asyncio
async def test_many_marks_apply_in_order_in_one_operation(store: Store) -> None:
    jobs = [job(i) for i in range(4)]
    await store.insert_pending(jobs, FAR, "intake-1")
    assert await store.mark(jobs[3].key, TradeStatus.FAILED, "boom")
    commits = store.commit_count
    moved = await store.mark_many(
        [
            mark_op(jobs[0].key, TradeStatus.EXECUTED, copy_size=7, copy_price_ppm=500_000, worker="0xAB"),
            mark_op(jobs[1].key, TradeStatus.SKIPPED, "queue_full"),
            # The same key twice: the second sees the first's status.
            mark_op(jobs[1].key, TradeStatus.FAILED, "late"),
            mark_op(jobs[2].key, TradeStatus.FAILED, "x", ["0x" + "66" * 32]),
            mark_op(jobs[3].key, TradeStatus.EXECUTED),  # FAILED already: not moved
            mark_op(copy_key(b"\x00" * 32, 9), TradeStatus.EXECUTED),  # no such record
        ]
    )
    assert moved == [True, True, False, True, False, False]
    assert store.commit_count == commits + 1
    first = await store.get_trade(jobs[0].key)
    assert first is not None
    assert (first.status, first.copy_size, first.copy_price_ppm, first.worker) == (
        TradeStatus.EXECUTED,
        7,
        500_000,
        "0xab",
    )
    second = await store.get_trade(jobs[1].key)
    assert second is not None
    assert (second.status, second.reason) == (TradeStatus.SKIPPED, "queue_full")
    third = await store.get_trade(jobs[2].key)
    assert third is not None
    assert third.tx_hashes == (bytes.fromhex("66" * 32),)
    assert await store.mark_many([]) == []


@pytest.mark.asyncio
async def test_marks_and_single_marks_share_one_commit(store: Store) -> None:
    jobs = [job(i) for i in range(3)]
    await store.insert_pending(jobs, FAR, "intake-1")
    many, one = await asyncio.gather(
        store.mark_many(
            [mark_op(jobs[0].key, TradeStatus.EXECUTED), mark_op(jobs[1].key, TradeStatus.FAILED)]
        ),
        store.mark(jobs[2].key, TradeStatus.SKIPPED, "dry_run"),
    )
    assert many == [True, True]
    assert one is True
    statuses = [(await store.get_trade(j.key)) for j in jobs]
    assert [r.status for r in statuses if r is not None] == [
        TradeStatus.EXECUTED,
        TradeStatus.FAILED,
        TradeStatus.SKIPPED,
    ]


@pytest.mark.asyncio
async def test_an_insert_part_new_part_stored_inserts_only_the_new(store: Store) -> None:
    a, b, c = job(1), job(2), job(3)
    assert await store.insert_pending([a, b], FAR, "intake-1", claimer="w1") == {a.key, b.key}
    # b is stored already (and twice in this batch): only a fresh c is inserted, b keeps its claim.
    assert await store.insert_pending([b, c, b], FAR, "intake-2", claimer="w2") == {c.key}
    assert (await store.claim_jobs([b.key, c.key], "w2", stale_ms=60_000)).runnable == {c.key}
    assert await store.count_trades(TradeStatus.PENDING) == 3


@pytest.mark.asyncio
async def test_a_claim_with_no_idle_time_takes_a_claim_of_the_same_instant(store: Store) -> None:
    a = job(1)
    await store.insert_pending([a], FAR, "intake-1")
    assert (await store.claim_jobs([a.key], "w1", stale_ms=0)).runnable == {a.key}
    # However fast the next claim comes, a claim `stale_ms` (0) old is stale: never refused by the clock.
    assert (await store.claim_jobs([a.key], "w2", stale_ms=0)).runnable == {a.key}
