"""`POLYHUNTER_INTAKE_SYNC`: a SQLite transaction holding only new rows is written through without a flush of
its own; every commit that journals, marks or claims is flushed, and so makes the earlier rows durable too."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from store_jobs import FAR
from store_jobs import store_job as _job

from polyhunter.errors import ConfigError
from polyhunter.models import TradeStatus
from polyhunter.settings import load_settings
from polyhunter.store import PostgresStore, SqliteStore, create_store
from polyhunter.store.base import mark_op


class _Spy:
    """Records the committer connection's `synchronous` at each COMMIT (0 OFF, 1 NORMAL, 2 FULL)."""

    def __init__(self, store: SqliteStore) -> None:
        self.seen: list[int] = []
        original = store._apply_in_thread

        def apply(ops, wait=True):  # type: ignore[no-untyped-def]
            result = original(ops, wait)
            conn = store._committer_conn
            assert conn is not None
            self.seen.append(int(conn.execute("PRAGMA synchronous").fetchone()[0]))
            return result

        store._apply_in_thread = apply  # type: ignore[method-assign]


@pytest.mark.asyncio
async def test_new_rows_alone_commit_unflushed_and_every_other_commit_is_flushed(tmp_path: Path) -> None:
    async with SqliteStore(tmp_path / "s.db") as store:
        spy = _Spy(store)
        jobs = [_job(i) for i in range(3)]
        assert await store.insert_pending(jobs, FAR, "intake-1") == {j.key for j in jobs}
        assert await store.insert_skipped([(_job(9), "max_trade")]) == {_job(9).key}
        assert await store.claim([jobs[0].key], "worker-1", 30_000) == {jobs[0].key}
        assert await store.record_tx(jobs[0].key, "trade", "0x" + "4" * 40, 7, b"\x01" * 32)
        assert await store.mark_many([mark_op(jobs[1].key, TradeStatus.EXECUTED)]) == [True]
        assert await store.insert_pending([_job(5)], FAR, "intake-2") == {_job(5).key}
    assert spy.seen == [1, 1, 2, 2, 2, 1]
    # What was committed unflushed is in the file for the next process (a crash of this one loses nothing).
    conn = sqlite3.connect(tmp_path / "s.db")
    statuses = dict(conn.execute("SELECT hex(key), status FROM copy_trades").fetchall())
    conn.close()
    assert statuses[_job(5).key.hex().upper()] == "PENDING"
    assert statuses[_job(9).key.hex().upper()] == "SKIPPED"
    assert statuses[jobs[1].key.hex().upper()] == "EXECUTED"


@pytest.mark.asyncio
async def test_full_flushes_every_commit(tmp_path: Path) -> None:
    async with SqliteStore(tmp_path / "s.db", intake_sync="full") as store:
        spy = _Spy(store)
        await store.insert_pending([_job(1)], FAR, "intake-1")
        await store.insert_skipped([(_job(2), "max_trade")])
    assert spy.seen == [2, 2]


def test_the_setting_reaches_the_store_and_a_bad_value_is_refused(tmp_path: Path) -> None:
    store = create_store(load_settings(polyhunter_home=tmp_path, polyhunter_intake_sync="full"))
    assert store.intake_sync == "full"
    assert create_store(load_settings(polyhunter_home=tmp_path)).intake_sync == "deferred"
    with pytest.raises(ConfigError, match="intake sync must be one of deferred, full"):
        SqliteStore(tmp_path / "x.db", intake_sync="sometimes")


def test_act_on_first_and_postgresql_flush_every_commit(tmp_path: Path) -> None:
    # A sighting before its log marks the fill seen in the shared state: a row of it a power loss dropped
    # would not be made again from the log.
    first = load_settings(polyhunter_home=tmp_path, supervisor_act_on="first")
    assert create_store(first).intake_sync == "full"
    # An asynchronous PostgreSQL commit is lost when the server crashes while this process goes on.
    assert PostgresStore("postgresql://127.0.0.1:1/x", intake_sync="deferred").intake_sync == "full"
