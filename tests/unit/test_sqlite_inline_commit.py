"""A fill's new rows reaching an idle SQLite store are committed on the event loop's thread (no hand-off to
the committer's thread and back); everything that could block goes to the committer's thread: a flushed
commit, a batch right after another, a large batch, and any batch while another process holds the write lock
(the loop never waits for that lock). Rows are inserted without a savepoint, and a replay still inserts only
the rows not stored yet."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from collections.abc import Awaitable
from pathlib import Path
from typing import Any

import pytest
from store_jobs import FAR, store_job

from polyhunter.models import TradeStatus
from polyhunter.store import SqliteStore
from polyhunter.store import sqlite as sqlite_store
from polyhunter.store.base import mark_op


class _Threads:
    """Records, per transaction, whether it ran on the event loop's thread."""

    def __init__(self, store: SqliteStore) -> None:
        self.on_loop: list[bool] = []
        loop_thread = threading.current_thread()
        original = store._apply_sync

        def apply(conn, ops):  # type: ignore[no-untyped-def]
            self.on_loop.append(threading.current_thread() is loop_thread)
            return original(conn, ops)

        store._apply_sync = apply  # type: ignore[method-assign]


def _jobs(first: int, count: int) -> list:  # type: ignore[type-arg]
    return [store_job(i) for i in range(first, first + count)]


@pytest.mark.asyncio
async def test_idle_new_rows_commit_on_the_loop_and_the_rest_on_the_committer(tmp_path: Path) -> None:
    async with SqliteStore(tmp_path / "s.db") as store:
        spy = _Threads(store)
        jobs = _jobs(0, 100)
        assert await store.insert_pending(jobs, FAR, "intake-1") == {j.key for j in jobs}
        # A mark is flushed (it may follow something sent): never on the loop's thread.
        await asyncio.sleep(0.01)
        assert await store.mark_many([mark_op(jobs[0].key, TradeStatus.EXECUTED)]) == [True]
        # Too many rows to write while the loop waits.
        await asyncio.sleep(0.01)
        big = _jobs(1000, sqlite_store.INLINE_MAX_ROWS + 1)
        assert len(await store.insert_pending(big, FAR, "intake-2")) == len(big)
        # Back to back (the store is busy): the loop goes on while the committer's thread writes.
        await asyncio.sleep(0.02)
        assert await store.insert_pending(_jobs(200, 10), FAR, "intake-3")
        assert await store.insert_pending(_jobs(300, 10), FAR, "intake-4")
        assert spy.on_loop == [True, False, False, True, False]
        assert await store.count_trades(TradeStatus.PENDING) == 100 - 1 + len(big) + 20


@pytest.mark.asyncio
async def test_full_intake_sync_never_commits_on_the_loop(tmp_path: Path) -> None:
    async with SqliteStore(tmp_path / "s.db", intake_sync="full") as store:
        spy = _Threads(store)
        assert await store.insert_pending(_jobs(0, 5), FAR, "intake-1")
        assert spy.on_loop == [False]


@pytest.mark.asyncio
async def test_another_writers_lock_never_blocks_the_loop(tmp_path: Path) -> None:
    async with SqliteStore(tmp_path / "s.db") as store:
        spy = _Threads(store)
        tried: list[bool] = []
        here = store._here

        def tell(ops):  # type: ignore[no-untyped-def]
            tried.append(here(ops))
            return tried[-1]

        store._here = tell  # type: ignore[method-assign]
        other = sqlite3.connect(tmp_path / "s.db", isolation_level=None, check_same_thread=False)
        other.execute("BEGIN IMMEDIATE")  # a CLI command's write, say
        ticks = 0

        async def ticker() -> None:
            nonlocal ticks
            while True:
                await asyncio.sleep(0.01)
                ticks += 1

        ticking = asyncio.create_task(ticker())
        insert = asyncio.create_task(store.insert_pending(_jobs(0, 5), FAR, "intake-1"))
        await asyncio.sleep(0.3)
        assert not insert.done()  # waiting for the lock, on the committer's thread
        assert ticks >= 10  # while the loop went on
        other.execute("COMMIT")
        other.close()
        assert await asyncio.wait_for(insert, 10) == {j.key for j in _jobs(0, 5)}
        ticking.cancel()
        # It was tried on the loop first, refused at once, then written by the committer's thread.
        assert tried == [True]
        assert spy.on_loop == [False]
        # The committer's connection waits for locks again afterwards.
        conn = store._committer_conn
        assert conn is not None
        assert int(conn.execute("PRAGMA busy_timeout").fetchone()[0]) == sqlite_store.BUSY_TIMEOUT_MS


@pytest.mark.asyncio
async def test_a_replay_part_stored_part_new_inserts_only_the_new(tmp_path: Path) -> None:
    async with SqliteStore(tmp_path / "s.db") as store:
        a, b, c, d = _jobs(0, 4)
        assert await store.insert_pending([a, b], FAR, "intake-1") == {a.key, b.key}
        assert await store.insert_pending([b, c, a], FAR, "intake-2") == {c.key}
        # Past the largest rowid SQLite gives new rows random rowids: the stored keys are looked up first.
        conn = store._committer_conn
        assert conn is not None
        conn.execute("UPDATE copy_trades SET rowid = ? WHERE key = ?", (2**63 - 1, c.key))
        assert await store.insert_pending([c, d, b], FAR, "intake-3") == {d.key}
        assert await store.count_trades(TradeStatus.PENDING) == 4
        records = {r.key: r for r in await store.list_trades(limit=10)}
        assert set(records) == {a.key, b.key, c.key, d.key}
        # The columns a new row leaves out hold their defaults.
        assert all(not r.reorged and r.tx_hashes == () and r.copy_size is None for r in records.values())


@pytest.mark.asyncio
async def test_the_connection_stays_the_threads_while_its_transactions_run_though_their_callers_left(
    tmp_path: Path,
) -> None:
    async with SqliteStore(tmp_path / "s.db") as store:
        jobs = _jobs(0, 4)
        assert await store.insert_pending(jobs[:2], FAR, "intake-1")
        spy = _Threads(store)
        other = sqlite3.connect(tmp_path / "s.db", isolation_level=None, check_same_thread=False)
        other.execute("BEGIN IMMEDIATE")

        async def left(write: Awaitable[Any]) -> None:
            # The caller gives up while its transaction waits on the committer's thread.
            task = asyncio.ensure_future(write)
            await asyncio.sleep(0.05)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            await asyncio.sleep(0.02)  # idle again: the next write is committed in its caller's task

        await asyncio.sleep(0.02)
        # The first waits for the lock on the thread; the second waits behind it, in the thread's queue.
        await left(store.mark_many([mark_op(jobs[0].key, TradeStatus.EXECUTED)]))
        await left(store.mark_many([mark_op(jobs[1].key, TradeStatus.EXECUTED)]))
        # The thread still holds the connection: an idle-looking insert must not use it from the loop.
        insert = asyncio.create_task(store.insert_pending(jobs[2:], FAR, "intake-2"))
        await asyncio.sleep(0.05)
        other.execute("COMMIT")
        other.close()
        assert await asyncio.wait_for(insert, 10) == {j.key for j in jobs[2:]}
        assert spy.on_loop == [False, False, False]
        # Both marks were made although their callers left (as when the committer's task waited for them).
        for job in jobs[:2]:
            assert (await store.get_trade(job.key)).status is TradeStatus.EXECUTED  # type: ignore[union-attr]
