"""Conformance of the posted-order journal (`ORDER_POSTED`, schema v3): SQLite and PostgreSQL alike."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path
from urllib.parse import urlsplit

import asyncpg
import pytest

import polyhunter.store.postgres
import polyhunter.store.sqlite
from conftest import StoreCase
from polyhunter.errors import InvalidInputError, StoreError
from polyhunter.execution.base import JobRelinquished
from polyhunter.models import CopyJob, Step, TradeStatus, copy_key
from polyhunter.store import Store, StoreJournal
from polyhunter.store.migrations import LATEST, MIGRATIONS
from polyhunter.supervisor.pipeline import _LiveJournal

PROXY = "0x" + "2" * 40
WORKER = "0x" + "4" * 40
WALLET = "0x" + "5" * 40  # the worker's deposit wallet, which signs the orders
LEADER_TX = bytes.fromhex("cd" * 32)
FAR = 2**62
ORDER_HASH = bytes.fromhex("0a" * 32)
# 2 KB of every byte value, NULs and invalid UTF-8 included: the journal keeps bytes, not text.
BODY = bytes(range(256)) * 8


def job(index: int, config_id: int = 1) -> CopyJob:
    return CopyJob(
        key=copy_key(LEADER_TX[:28] + index.to_bytes(4, "big"), config_id),
        config_id=config_id,
        follower="0x" + "1" * 40,
        proxy=PROXY,
        leader="0x" + "3" * 40,
        token_id=2**255 + index,
        side="BUY",
        amount=1_000_000 + index,
        limit_price_ppm=550_000,
        tx_hash=LEADER_TX,
        log_index=index,
        sub_index=0,
        leader_size=5_000_000,
        leader_price_ppm=540_000,
        block_number=100,
    )


@pytest.mark.asyncio
async def test_a_posted_order_round_trips_with_its_exact_bytes(store: Store) -> None:
    copy, other = job(1), job(2)
    await store.insert_pending([copy], 0)  # already expired: the recovery scan returns it
    await store.insert_pending([other], FAR)
    journal = StoreJournal(store, copy.key)
    # The pull and the order land in one group commit (one `recorded_at`): read back in journaled order,
    # though the order's nonce (-1) is below the pull's.
    await asyncio.gather(
        journal.record_tx(Step.PULLED, WORKER, 7, b"\x01" * 32),
        journal.record_order(WALLET, ORDER_HASH, BODY),
    )
    await journal.record_order(WALLET, ORDER_HASH, BODY)  # journaled again (a retry): still one entry
    await journal.record_tx(Step.PUSHED, WORKER, 8, b"\x02" * 32)

    expected = [
        (Step.PULLED, WORKER, 7, b"\x01" * 32, b""),
        (Step.ORDER_POSTED, WALLET, -1, ORDER_HASH, BODY),
        (Step.PUSHED, WORKER, 8, b"\x02" * 32, b""),
    ]
    record = await store.get_trade(copy.key)
    assert record is not None
    assert [(e.step, e.wallet, e.nonce, e.tx_hash, e.payload) for e in record.journal] == expected
    assert record.journal[0].recorded_at == record.journal[1].recorded_at
    assert len(record.journal[1].payload) == 2048
    (stale,) = await store.stale_pending(FAR)
    assert [(e.step, e.wallet, e.nonce, e.tx_hash, e.payload) for e in stale.journal] == expected
    # A posted order counts as journaled: nobody may claim or requeue the job any more.
    assert await store.executable([copy.key, other.key]) == {other.key}
    assert [r.key for r in await store.unbroadcast_pending()] == [other.key]
    assert await store.claim([copy.key], "worker-z", stale_ms=0) == set()


@pytest.mark.asyncio
async def test_an_order_journaled_again_with_other_bytes_is_refused_and_the_first_bytes_stay(
    store: Store,
) -> None:
    copy, other = job(3), job(4)
    await store.insert_pending([copy, other], FAR)
    assert await store.record_order(copy.key, WALLET, ORDER_HASH, BODY)
    resigned = BODY[:-1] + b"\x00"
    # In one batch with another job's write: only the bad one fails.
    refused, fine = await asyncio.gather(
        store.record_order(copy.key, WALLET, ORDER_HASH, resigned),
        store.record_order(other.key, WALLET, ORDER_HASH, resigned),
        return_exceptions=True,
    )
    assert isinstance(refused, StoreError)
    assert "already journaled with other bytes" in str(refused)
    assert fine is True
    first = await store.get_trade(copy.key)
    second = await store.get_trade(other.key)
    assert first is not None
    assert second is not None
    assert [e.payload for e in first.journal] == [BODY]
    assert [e.payload for e in second.journal] == [resigned]


@pytest.mark.asyncio
async def test_two_connections_journaling_one_order_hash_with_other_bytes_keep_exactly_one(
    store: Store, store_case: StoreCase
) -> None:
    jobs = [job(40 + i, config_id=9) for i in range(50)]
    await store.insert_pending(jobs, FAR)
    mine = [bytes([1]) + BODY[1:] for _ in jobs]
    theirs = [bytes([2]) + BODY[1:] for _ in jobs]
    async with store_case.make() as other:
        outcomes = await asyncio.gather(
            asyncio.gather(
                *(store.record_order(j.key, WALLET, ORDER_HASH, b) for j, b in zip(jobs, mine, strict=True)),
                return_exceptions=True,
            ),
            asyncio.gather(
                *(
                    other.record_order(j.key, WALLET, ORDER_HASH, b)
                    for j, b in zip(reversed(jobs), reversed(theirs), strict=True)
                ),
                return_exceptions=True,
            ),
        )
    first, second = outcomes[0], list(reversed(outcomes[1]))
    for copy, a, b in zip(jobs, first, second, strict=True):
        record = await store.get_trade(copy.key)
        assert record is not None
        (entry,) = record.journal
        # Exactly one write journaled its bytes; the other was told so, and those bytes are the stored ones.
        assert {type(a), type(b)} == {bool, StoreError}
        assert entry.payload[:1] == (b"\x01" if a is True else b"\x02")


@pytest.mark.asyncio
async def test_bad_order_input_is_a_typed_error(store: Store) -> None:
    copy = job(5)
    await store.insert_pending([copy], FAR)
    with pytest.raises(InvalidInputError, match="non-empty"):
        await store.record_order(copy.key, WALLET, ORDER_HASH, b"")
    with pytest.raises(InvalidInputError, match="32 bytes"):
        await store.record_order(copy.key, WALLET, ORDER_HASH[:31], BODY)
    record = await store.get_trade(copy.key)
    assert record is not None
    assert record.journal == ()


@pytest.mark.asyncio
async def test_a_first_order_is_journaled_only_under_the_workers_own_claim(store: Store) -> None:
    jobs = [job(10 + i, config_id=7) for i in range(4)]
    keys = [j.key for j in jobs]
    await store.insert_pending(jobs, FAR)
    assert await store.claim(keys[:3], "worker-a", stale_ms=60_000) == set(keys[:3])
    assert await store.record_order(keys[0], WALLET, b"\x01" * 32, BODY, claimer="worker-a")
    # worker-a was slow: its claim on keys[1] went stale and worker-b took the job over.
    await asyncio.sleep(0.01)
    assert await store.claim(keys[1:2], "worker-b", stale_ms=1) == {keys[1]}
    assert not await store.record_order(keys[1], WALLET, b"\x02" * 32, BODY, claimer="worker-a")
    assert await store.record_order(keys[1], WALLET, b"\x03" * 32, BODY, claimer="worker-b")
    # A cancelled job journals nothing; an unclaimed one (a self-test run) may be journaled.
    await store.mark(keys[2], TradeStatus.CANCELLED, "reorged")
    assert not await store.record_order(keys[2], WALLET, b"\x04" * 32, BODY, claimer="worker-a")
    assert await store.record_order(keys[3], WALLET, b"\x05" * 32, BODY, claimer="worker-c")
    records = [await store.get_trade(k) for k in keys]
    assert [[e.tx_hash[0] for e in r.journal] for r in records if r is not None] == [[1], [3], [], [5]]
    assert await store.claim(keys, "worker-d", stale_ms=0) == set()


@pytest.mark.asyncio
async def test_the_pipeline_journal_posts_a_first_order_only_while_the_job_is_its_own(store: Store) -> None:
    mine, lost = job(20), job(21)
    await store.insert_pending([mine, lost], FAR)
    assert await store.claim([mine.key, lost.key], "worker-a", stale_ms=60_000) == {mine.key, lost.key}
    await asyncio.sleep(0.01)
    assert await store.claim([lost.key], "worker-b", stale_ms=1) == {lost.key}

    refused = _LiveJournal(store, lost.key, "worker-a")
    with pytest.raises(JobRelinquished, match="nothing posted"):
        await refused.record_order(WALLET, ORDER_HASH, BODY)
    assert refused.recorded is False

    journal = _LiveJournal(store, mine.key, "worker-a")
    await journal.record_order(WALLET, ORDER_HASH, BODY)
    assert journal.recorded is True
    # Later entries are the job's own: journaled whoever claims the row now.
    await asyncio.sleep(0.01)
    assert await store.claim([mine.key], "worker-b", stale_ms=1) == set()  # journaled: never claimed again
    await journal.record_tx(Step.PUSHED, WORKER, 3, b"\x07" * 32)
    record = await store.get_trade(mine.key)
    gone = await store.get_trade(lost.key)
    assert record is not None
    assert gone is not None
    assert [(e.step, e.payload) for e in record.journal] == [(Step.ORDER_POSTED, BODY), (Step.PUSHED, b"")]
    assert gone.journal == ()


async def _write_v2_journal(case: StoreCase, rows: list[tuple[bytes, str, str, int, bytes, int]]) -> None:
    """Journal rows as a v2 store wrote them (no payload column yet), with the database's own client."""
    columns = "key, step, wallet, nonce, tx_hash, recorded_at"
    if case.backend == "sqlite":
        with sqlite3.connect(Path(urlsplit(case.url).path)) as conn:
            conn.executemany(f"INSERT INTO trade_journal ({columns}) VALUES (?, ?, ?, ?, ?, ?)", rows)
        conn.close()
        return
    conn = await asyncpg.connect(case.url)  # the URL's search_path is the test's own schema
    try:
        await conn.executemany(f"INSERT INTO trade_journal ({columns}) VALUES ($1, $2, $3, $4, $5, $6)", rows)
    finally:
        await conn.close()


@pytest.mark.asyncio
async def test_a_v2_database_with_journaled_rows_upgrades_in_place(
    store_case: StoreCase, monkeypatch: pytest.MonkeyPatch
) -> None:
    old, fresh = job(30), job(31)
    for module in (polyhunter.store.sqlite, polyhunter.store.postgres):
        monkeypatch.setattr(module, "MIGRATIONS", MIGRATIONS[:2])
    async with store_case.make() as v2:
        assert await v2.schema_version() == 2
        await v2.insert_pending([old, fresh], FAR)
        await v2.mark(fresh.key, TradeStatus.EXECUTED)
    await _write_v2_journal(
        store_case,
        [
            (old.key, "PULLED", WORKER, 7, b"\x01" * 32, 1_000),
            (old.key, "FILLED", WORKER, 8, b"\x02" * 32, 1_000),
        ],
    )
    monkeypatch.undo()

    async with store_case.make() as upgraded:
        assert await upgraded.schema_version() == LATEST
        assert await upgraded.migrate() == []
        record = await upgraded.get_trade(old.key)
        assert record is not None
        assert [(e.step, e.nonce, e.tx_hash, e.payload, e.recorded_at) for e in record.journal] == [
            ("PULLED", 7, b"\x01" * 32, b"", 1_000),
            ("FILLED", 8, b"\x02" * 32, b"", 1_000),
        ]
        assert await upgraded.executable([old.key]) == set()
        # The upgraded journal takes orders after its old rows.
        await StoreJournal(upgraded, old.key).record_order(WALLET, ORDER_HASH, BODY)
        again = await upgraded.get_trade(old.key)
        assert again is not None
        assert [(e.step, e.payload) for e in again.journal] == [
            ("PULLED", b""),
            ("FILLED", b""),
            (Step.ORDER_POSTED, BODY),
        ]
        done = await upgraded.get_trade(fresh.key)
        assert done is not None
        assert done.status == TradeStatus.EXECUTED
        assert done.journal == ()
