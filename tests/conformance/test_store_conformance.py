"""One conformance suite for the store of record: SQLite and PostgreSQL pass the same tests."""

from __future__ import annotations

import asyncio
import json
import sys
import textwrap
from asyncio.subprocess import PIPE
from dataclasses import replace

import pytest

from conftest import StoreCase
from polyhunter.models import (
    CopyConfig,
    CopyJob,
    DebtRecord,
    DebtStatus,
    SkipReason,
    Step,
    TradeStatus,
    copy_key,
    now_ms,
)
from polyhunter.store import Store, StoreJournal
from polyhunter.store.migrations import LATEST

FOLLOWER = "0x" + "1" * 40
PROXY = "0x" + "2" * 40
LEADER = "0x" + "3" * 40
WORKER = "0x" + "4" * 40
LEADER_TX = bytes.fromhex("ab" * 32)


def job(index: int, config_id: int = 1, follower: str = FOLLOWER, log_index: int | None = None) -> CopyJob:
    log = index if log_index is None else log_index
    key = copy_key(LEADER_TX[:28] + log.to_bytes(4, "big"), config_id)
    return CopyJob(
        key=key,
        config_id=config_id,
        follower=follower,
        proxy=PROXY,
        leader=LEADER,
        token_id=2**255 + index,  # a uint256 beyond any SQL integer
        side="BUY",
        amount=1_000_000 + index,
        limit_price_ppm=550_000,
        tx_hash=LEADER_TX,
        log_index=log,
        sub_index=0,
        leader_size=5_000_000,
        leader_price_ppm=540_000,
        block_number=100,
    )


FAR = 2**62


@pytest.mark.asyncio
async def test_same_key_twice_yields_one_record(store: Store) -> None:
    first = job(1)
    assert await store.insert_pending([first], FAR) == {first.key}
    assert await store.insert_pending([first], FAR) == set()
    assert await store.insert_pending([first, first], FAR) == set()
    record = await store.get_trade(first.key)
    assert record is not None
    assert record.status is TradeStatus.PENDING
    assert record.to_job() == first
    assert len(await store.list_trades(follower=FOLLOWER)) == 1


@pytest.mark.asyncio
async def test_same_key_from_concurrent_tasks_is_inserted_once(store: Store) -> None:
    jobs = [job(i) for i in range(50)]
    results = await asyncio.gather(*(store.insert_pending([j], FAR) for j in jobs * 8))
    winners = [key for result in results for key in result]
    assert sorted(winners) == sorted(j.key for j in jobs)  # each key credited to exactly one caller
    assert len(await store.list_trades(limit=1000)) == 50


_CHILD = textwrap.dedent(
    """
    import asyncio, json, sys
    from urllib.parse import urlsplit
    from polyhunter.models import CopyJob, copy_key
    from polyhunter.store import PostgresStore, SqliteStore

    async def main(url: str, count: int) -> None:
        store = SqliteStore(urlsplit(url).path) if url.startswith("sqlite") else PostgresStore(url)
        async with store:
            jobs = [CopyJob(key=copy_key(bytes(28) + i.to_bytes(4, "big"), 7), config_id=7,
                            follower="0x" + "1" * 40, proxy="0x" + "2" * 40, leader="0x" + "3" * 40,
                            token_id=i, side="SELL", amount=1, limit_price_ppm=1, tx_hash=bytes(32),
                            log_index=i) for i in range(count)]
            print("ready", flush=True)
            sys.stdin.readline()  # start together
            results = await asyncio.gather(*(store.insert_pending([j], 2**62) for j in jobs))
            print(json.dumps([k.hex() for r in results for k in r]), flush=True)

    asyncio.run(main(sys.argv[1], int(sys.argv[2])))
    """
)


@pytest.mark.asyncio
async def test_same_keys_from_two_processes_are_inserted_once(store: Store, store_case: StoreCase) -> None:
    count = 200
    children = [
        await asyncio.create_subprocess_exec(
            sys.executable, "-c", _CHILD, store_case.url, str(count), stdin=PIPE, stdout=PIPE
        )
        for _ in range(2)
    ]
    try:
        for child in children:
            assert child.stdout is not None
            assert (await child.stdout.readline()).strip() == b"ready"
        outputs = await asyncio.wait_for(
            asyncio.gather(*(child.communicate(b"go\n") for child in children)), timeout=120
        )
    finally:
        for child in children:
            if child.returncode is None:
                child.kill()
                await child.wait()
    assert [child.returncode for child in children] == [0, 0]
    inserted = [json.loads(out.strip().splitlines()[-1]) for out, _ in outputs]
    assert len(inserted[0]) + len(inserted[1]) == count
    assert not set(inserted[0]) & set(inserted[1])
    assert len(await store.list_trades(limit=1000)) == count


@pytest.mark.asyncio
async def test_group_commit_batches_and_each_await_returns_after_commit(
    store: Store, store_case: StoreCase
) -> None:
    rows = 10_000
    before = store.commit_count
    async with store_case.make() as observer:  # another connection: sees only what is committed

        async def insert_then_observe(j: CopyJob) -> bool:
            assert await store.insert_pending([j], FAR) == {j.key}
            return await observer.get_trade(j.key) is not None

        seen = await asyncio.gather(*(insert_then_observe(job(i)) for i in range(rows)))
    assert all(seen)
    transactions = store.commit_count - before
    assert 1 <= transactions <= rows // 20, transactions


@pytest.mark.asyncio
async def test_mark_moves_only_from_the_expected_status(store: Store) -> None:
    a, b, c = job(1), job(2), job(3)
    await store.insert_pending([a, b, c], FAR)
    fill = bytes.fromhex("cd" * 32)
    assert await store.mark(
        a.key,
        TradeStatus.EXECUTED,
        txs=[fill],
        copy_size=1_800_000,
        copy_price_ppm=555_000,
        slippage_bps=27,
        worker=WORKER.upper().replace("X", "x"),
    )
    assert not await store.mark(a.key, TradeStatus.FAILED, "late")  # a final status stays
    assert await store.mark(b.key, TradeStatus.SKIPPED, SkipReason.QUEUE_FULL)
    assert await store.mark(c.key, TradeStatus.FAILED, "expired")
    assert await store.mark(c.key, TradeStatus.EXECUTED, expect=[TradeStatus.FAILED])  # reconciliation
    assert not await store.mark(job(99).key, TradeStatus.EXECUTED)  # unknown key
    ra, rb, rc = [await store.get_trade(k) for k in (a.key, b.key, c.key)]
    assert ra is not None
    assert rb is not None
    assert rc is not None
    assert (ra.status, ra.tx_hashes, ra.copy_size, ra.copy_price_ppm, ra.slippage_bps, ra.worker) == (
        TradeStatus.EXECUTED,
        (fill,),
        1_800_000,
        555_000,
        27,
        WORKER,
    )
    assert (rb.status, rb.reason) == (TradeStatus.SKIPPED, "queue_full")
    assert rc.status is TradeStatus.EXECUTED
    assert [r.key for r in await store.list_trades(status=TradeStatus.SKIPPED)] == [b.key]


@pytest.mark.asyncio
async def test_concurrent_marks_of_one_key_let_exactly_one_win(store: Store) -> None:
    target = job(5)
    await store.insert_pending([target], FAR)
    outcomes = await asyncio.gather(
        *(store.mark(target.key, status) for status in [TradeStatus.EXECUTED, TradeStatus.FAILED] * 20)
    )
    assert sum(outcomes) == 1


@pytest.mark.asyncio
async def test_journal_is_durable_and_pending_records_are_recoverable(store: Store) -> None:
    sent, unsent, old = job(1), job(2), job(3)
    now = now_ms()
    await store.insert_pending([sent, unsent], now + 300_000)
    await store.insert_pending([old], now - 1)
    journal = StoreJournal(store, sent.key)
    await journal.record_tx(Step.PULLED, WORKER, 7, "0x" + "01" * 32)
    await journal.record_tx(Step.FILLED, WORKER, 8, bytes.fromhex("02" * 32))
    await journal.record_tx(Step.FILLED, WORKER, 8, bytes.fromhex("02" * 32))  # a retry is one row
    record = await store.get_trade(sent.key)
    assert record is not None
    assert [(j.step, j.wallet, j.nonce, j.tx_hash) for j in record.journal] == [
        ("PULLED", WORKER, 7, bytes.fromhex("01" * 32)),
        ("FILLED", WORKER, 8, bytes.fromhex("02" * 32)),
    ]
    assert {r.key for r in await store.unbroadcast_pending()} == {unsent.key, old.key}
    assert [r.key for r in await store.stale_pending(now)] == [old.key]
    assert await store.mark(old.key, TradeStatus.FAILED, "expired")
    assert await store.stale_pending(now) == []


@pytest.mark.asyncio
async def test_a_retracted_signal_flags_its_copies(store: Store) -> None:
    ours = [job(1, config_id=1, log_index=9), job(1, config_id=2, log_index=9)]
    other = job(2)
    await store.insert_pending([*ours, other], FAR)
    flagged = await store.flag_reorged("0x" + LEADER_TX.hex(), 9, 0)
    assert sorted(flagged) == sorted(j.key for j in ours)
    records = [await store.get_trade(j.key) for j in [*ours, other]]
    assert [r.reorged for r in records if r is not None] == [True, True, False]


def _config(**fields: object) -> CopyConfig:
    base: dict[str, object] = {"follower": FOLLOWER, "proxy": PROXY, "leader": LEADER, "mode": "fixed"}
    return CopyConfig(**{**base, **fields})  # type: ignore[arg-type]


@pytest.mark.asyncio
async def test_configs_round_trip_and_report_changes(store: Store) -> None:
    start = now_ms()
    tiered = await store.add_config(
        _config(
            mode="tiered",
            tiers=((0, 10_000_000, 1_000_000), (10_000_000, None, 250_000)),
            token_allow=frozenset({2**256 - 1, 5}),
            token_deny=frozenset({7}),
            side_filter="BUY",
            min_leader_usd=1,
            max_leader_usd=2**62,
            min_price_ppm=100,
            max_price_ppm=999_900,
            max_per_trade_usd=50_000_000,
            min_size_policy="bump",
        )
    )
    fixed = await store.add_config(_config(fixed_usd=5_000_000, leader="0x" + "5" * 40))
    assert 0 < tiered.config_id < fixed.config_id
    assert await store.get_config(tiered.config_id) == tiered
    assert tiered.token_allow == frozenset({2**256 - 1, 5})
    assert await store.list_configs(leader=LEADER) == [tiered]
    changes = await store.configs_changed_since(start)
    assert changes.changed == [tiered, fixed]
    assert changes.removed == []
    paused = await store.set_enabled(fixed.config_id, False)
    assert paused is not None
    assert not paused.enabled
    assert await store.list_configs(enabled_only=True) == [tiered]
    assert await store.remove_config(tiered.config_id)
    assert not await store.remove_config(tiered.config_id)
    assert await store.get_config(tiered.config_id) is None
    assert await store.set_enabled(tiered.config_id, True) is None
    later = await store.configs_changed_since(changes.as_of)
    assert tiered.config_id in later.removed
    assert [c.config_id for c in later.changed] == [fixed.config_id]
    assert later.as_of >= changes.as_of


@pytest.mark.asyncio
async def test_checkpoints_debts_and_daily_usage(store: Store) -> None:
    assert await store.get_checkpoint("v2") is None
    await store.set_checkpoint("v2", 100)
    await store.set_checkpoint("v2", 120)
    assert await store.get_checkpoint("v2") == 120

    debt = await StoreJournal(store, job(1).key).add_debt(PROXY, WORKER, 25_000_000)
    assert (debt.status, debt.trade_key, debt.amount) == (DebtStatus.OPEN, job(1).key, 25_000_000)
    other = await store.add_debt(DebtRecord(proxy="0x" + "6" * 40, worker=WORKER, amount=1))
    assert [d.debt_id for d in await store.list_debts(DebtStatus.OPEN)] == [debt.debt_id, other.debt_id]
    assert await store.mark_debt_repaid(debt.debt_id, "0x" + "0e" * 32)
    assert not await store.mark_debt_repaid(debt.debt_id, "0x" + "0e" * 32)
    assert [d.debt_id for d in await store.list_debts(DebtStatus.OPEN)] == [other.debt_id]
    (repaid,) = await store.list_debts(DebtStatus.REPAID, proxy=PROXY)
    assert repaid.repay_tx == bytes.fromhex("0e" * 32)
    assert repaid.repaid_at is not None

    assert await store.get_usage("2025-01-01", "global") == 0
    assert await store.add_usage("2025-01-01", "global", 7_000_000) == 7_000_000
    assert await store.add_usage("2025-01-01", "global", -2_000_000) == 5_000_000
    assert await store.get_usage("2025-01-01", "global") == 5_000_000
    assert await store.get_usage("2025-01-02", "global") == 0


@pytest.mark.asyncio
async def test_migrations_run_on_an_empty_database_and_are_idempotent(store_case: StoreCase) -> None:
    fresh = store_case.make()
    async with fresh:  # open() migrated the empty database
        assert await fresh.schema_version() == LATEST
        assert await fresh.migrate() == []
        await fresh.insert_pending([job(1)], FAR)
    async with store_case.make() as again:
        assert await again.migrate() == []
        assert await again.schema_version() == LATEST
        assert await again.get_trade(job(1).key) is not None


@pytest.mark.asyncio
async def test_executable_is_pending_and_never_journaled_and_counts_follow(store: Store) -> None:
    jobs = [job(i) for i in range(4)]
    await store.insert_pending(jobs, FAR)
    keys = [j.key for j in jobs]
    assert await store.executable(keys) == set(keys)
    await store.record_tx(keys[0], Step.PULLED, WORKER, 7, b"\x01" * 32)  # broadcast by a worker
    await store.mark(keys[1], TradeStatus.EXECUTED)
    await store.mark(keys[2], TradeStatus.CANCELLED, "reorged")
    unknown = copy_key(b"\x00" * 32, 99)
    assert await store.executable([*keys, unknown]) == {keys[3]}
    assert await store.executable([]) == set()
    assert await store.count_trades() == 4
    assert await store.count_trades(TradeStatus.PENDING) == 2
    assert await store.count_trades(TradeStatus.EXECUTED) == 1
    # More keys than one SQL statement takes at once.
    many = [job(i, config_id=2) for i in range(1200)]
    await store.insert_pending(many, FAR)
    assert len(await store.executable([j.key for j in many])) == 1200


@pytest.mark.asyncio
async def test_claims_let_one_worker_run_a_job_and_expire_only_when_stale(store: Store) -> None:
    jobs = [job(i, config_id=3) for i in range(3)]
    keys = [j.key for j in jobs]
    await store.insert_pending(jobs, FAR)
    assert await store.claim(keys, "worker-a", stale_ms=60_000) == set(keys)
    assert await store.claim(keys, "worker-b", stale_ms=60_000) == set()
    assert await store.claim(keys[:1], "worker-a", stale_ms=60_000) == {keys[0]}  # its own, again
    # A claim older than `stale_ms` belongs to a worker that died before sending anything.
    await asyncio.sleep(0.01)
    assert await store.claim(keys[1:2], "worker-b", stale_ms=1) == {keys[1]}
    # Something journaled, or a final status: nobody may claim it any more.
    await store.record_tx(keys[0], Step.PULLED, WORKER, 1, b"\x03" * 32)
    await store.mark(keys[2], TradeStatus.CANCELLED, "reorged")
    assert await store.claim(keys, "worker-c", stale_ms=0) == {keys[1]}
    assert await store.claim([], "worker-c", stale_ms=0) == set()


@pytest.mark.asyncio
async def test_a_first_transaction_is_journaled_only_under_the_workers_own_claim(store: Store) -> None:
    jobs = [job(i, config_id=7) for i in range(4)]
    keys = [j.key for j in jobs]
    await store.insert_pending(jobs, FAR)
    assert await store.claim(keys[:3], "worker-a", stale_ms=60_000) == set(keys[:3])
    assert await store.record_tx(keys[0], Step.PULLED, WORKER, 1, b"\x01" * 32, claimer="worker-a")
    # worker-a was slow: its claim on keys[1] went stale and worker-b took the job over.
    await asyncio.sleep(0.01)
    assert await store.claim(keys[1:2], "worker-b", stale_ms=1) == {keys[1]}
    assert not await store.record_tx(keys[1], Step.PULLED, WORKER, 2, b"\x02" * 32, claimer="worker-a")
    assert await store.record_tx(keys[1], Step.PULLED, WORKER, 3, b"\x03" * 32, claimer="worker-b")
    # A cancelled job journals nothing; an unclaimed one (a self-test run) may be journaled.
    await store.mark(keys[2], TradeStatus.CANCELLED, "reorged")
    assert not await store.record_tx(keys[2], Step.PULLED, WORKER, 4, b"\x04" * 32, claimer="worker-a")
    assert await store.record_tx(keys[3], Step.PULLED, WORKER, 5, b"\x05" * 32, claimer="worker-c")
    journals = [await store.get_trade(k) for k in keys]
    assert [[e.nonce for e in r.journal] for r in journals if r is not None] == [[1], [3], [], [5]]
    # Journaled: nobody may claim it any more, not even as stale.
    assert await store.claim(keys, "worker-d", stale_ms=0) == set()


@pytest.mark.asyncio
async def test_a_stale_claim_taken_over_while_its_worker_sends_lets_exactly_one_of_them_run(
    store: Store, store_case: StoreCase
) -> None:
    jobs = [job(i, config_id=8) for i in range(200)]
    keys = [j.key for j in jobs]
    await store.insert_pending(jobs, FAR)
    assert await store.claim(keys, "slow", stale_ms=60_000) == set(keys)
    await asyncio.sleep(0.01)
    async with store_case.make() as other:
        sent, taken = await asyncio.gather(
            asyncio.gather(
                *(store.record_tx(k, Step.PULLED, WORKER, i, k, claimer="slow") for i, k in enumerate(keys))
            ),
            asyncio.gather(*(other.claim([k], "fast", stale_ms=1) for k in reversed(keys))),
        )
    taken_keys = set().union(*taken)
    for key, journaled in zip(keys, sent, strict=True):
        assert journaled != (key in taken_keys)  # one or the other, never both, never neither


@pytest.mark.asyncio
async def test_two_connections_racing_claims_split_the_jobs(store: Store, store_case: StoreCase) -> None:
    jobs = [job(i, config_id=4) for i in range(300)]
    keys = [j.key for j in jobs]
    await store.insert_pending(jobs, FAR)
    async with store_case.make() as other:
        chunks = [keys[i : i + 25] for i in range(0, len(keys), 25)]
        won_a, won_b = await asyncio.gather(
            asyncio.gather(*(store.claim(c, "a", 60_000) for c in chunks)),
            asyncio.gather(*(other.claim(c[::-1], "b", 60_000) for c in chunks)),
        )
    a = set().union(*won_a)
    b = set().union(*won_b)
    assert not a & b
    assert a | b == set(keys)


@pytest.mark.asyncio
async def test_refused_copies_are_stored_skipped_from_their_first_row(store: Store) -> None:
    refused = [(job(i, config_id=5), "daily_cap") for i in range(2)]
    assert await store.insert_skipped(refused) == {j.key for j, _ in refused}
    assert await store.insert_skipped(refused) == set()  # idempotent like any insert
    record = await store.get_trade(refused[0][0].key)
    assert record is not None
    assert (record.status, record.reason) == (TradeStatus.SKIPPED, "daily_cap")
    assert await store.unbroadcast_pending() == []
    assert await store.claim([j.key for j, _ in refused], "w", 0) == set()


@pytest.mark.asyncio
async def test_daily_notional_counts_copies_that_hold_their_reservation(store: Store) -> None:
    other = "0x" + "9" * 40
    buy, sell, failed, old = (
        job(1, config_id=6),
        job(2, config_id=6, follower=other),
        job(3, config_id=6),
        job(4),
    )
    sell = CopyJob(**{**{f: getattr(sell, f) for f in sell.__slots__}, "side": "SELL", "amount": 3_000_001})
    since = now_ms()
    await store.insert_pending([buy, sell, failed], FAR)
    await store.mark(failed.key, TradeStatus.FAILED, "venue_down")
    await store.mark(buy.key, TradeStatus.EXECUTED)
    usage = await store.daily_notional(since)
    # BUY: its amount; SELL: 3.000001 tokens x $0.55, rounded down; FAILED: released, not counted.
    assert usage == {FOLLOWER: 1_000_001, other: 1_650_000}
    assert await store.daily_notional(now_ms() + 60_000) == {}
    del old


@pytest.mark.asyncio
async def test_a_copy_cancelled_by_a_reorg_comes_back_when_its_log_is_mined_again(store: Store) -> None:
    reorged, done = job(1, config_id=7), job(2, config_id=7)
    await store.insert_pending([reorged, done], FAR)
    await store.mark(reorged.key, TradeStatus.CANCELLED, "reorged")
    await store.mark(done.key, TradeStatus.CANCELLED, "operator")  # cancelled for another reason: stays
    assert await store.insert_pending([reorged, done], FAR) == {reorged.key}
    record = await store.get_trade(reorged.key)
    assert record is not None
    assert (record.status, record.reason) == (TradeStatus.PENDING, None)
    assert await store.claim([reorged.key], "w", 60_000) == {reorged.key}
    assert await store.insert_pending([reorged], FAR) == set()  # PENDING already: nothing to revive


@pytest.mark.asyncio
async def test_a_copy_cancelled_as_unconfirmed_comes_back_when_its_late_log_replays_it(store: Store) -> None:
    late, done = job(1, config_id=8), job(2, config_id=8)
    await store.insert_pending([late, done], FAR)
    assert await store.flag_copies(LEADER_TX, 1, 0, "unconfirmed_source") == [late.key]
    await store.mark(late.key, TradeStatus.CANCELLED, "unconfirmed_source")
    await store.mark(done.key, TradeStatus.EXECUTED)  # executed: stays as it is
    assert await store.insert_pending([late, done], FAR) == {late.key}
    record = await store.get_trade(late.key)
    assert record is not None
    assert (record.status, record.reason) == (TradeStatus.PENDING, None)
    assert await store.flags_of(late.key) == {"unconfirmed_source"}  # its history is kept


@pytest.mark.asyncio
async def test_copies_are_flagged_by_their_keys_and_only_those(store: Store) -> None:
    # Same transaction, log index and sub index: only a flag by key tells these two copies apart.
    mine, theirs = job(3, config_id=9), job(3, config_id=10)
    await store.insert_pending([mine, theirs], FAR)
    unknown = b"\x77" * 32
    assert await store.flag_keys([unknown, mine.key, mine.key], "unconfirmed_source") == [mine.key]
    assert await store.flags_of(mine.key) == {"unconfirmed_source"}
    assert await store.flags_of(theirs.key) == set()
    assert await store.flag_keys([mine.key], "unconfirmed_source") == [mine.key]  # twice is one flag
    assert await store.flags_of(mine.key) == {"unconfirmed_source"}
    assert await store.flag_keys([], "unconfirmed_source") == []


@pytest.mark.asyncio
async def test_unlogged_copies_not_yet_settled_are_found_in_their_period(store: Store) -> None:
    unlogged = [job(n, config_id=11) for n in (4, 5, 6)]
    unlogged = [replace(j, log_index=-1) for j in unlogged]
    logged = job(7, config_id=11)
    await store.insert_pending([*unlogged, logged], FAR)
    now = now_ms()
    found = await store.unsettled_unlogged(0, now + 1)
    assert sorted(found) == sorted(j.key for j in unlogged)
    assert await store.unsettled_unlogged(now + 1, now + 2) == []  # outside the period
    await store.flag_keys([unlogged[0].key], "unconfirmed_source")
    await store.flag_keys([unlogged[1].key], "source_confirmed")
    await store.flag_keys([unlogged[2].key], "some_other_flag")  # not a settlement
    assert await store.unsettled_unlogged(0, now + 1) == [unlogged[2].key]
    assert len(await store.unsettled_unlogged(0, now + 1, limit=0)) == 0
