"""Review of the SQLite WAL checkpointer: its thread ends with the store, on a failed open too, and two stores
on one file each checkpoint it without losing the other's rows."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import pytest
from store_jobs import FAR
from store_jobs import store_job as _job

from polyhunter.errors import StoreError
from polyhunter.store import SqliteStore

_OURS = ("sqlite-checkpoint", "sqlite-group-commit")


def _store_threads() -> list[str]:
    return [t.name for t in threading.enumerate() if t.name.startswith(_OURS)]


@pytest.mark.asyncio
async def test_closing_the_store_ends_its_checkpointer_after_a_last_checkpoint(tmp_path: Path) -> None:
    before = _store_threads()
    store = SqliteStore(tmp_path / "s.db")
    async with store:
        checkpointer = store.checkpointer
        assert checkpointer is not None
        assert len(_store_threads()) == len(before) + 2
        await store.insert_pending([_job(1), _job(2)], FAR, "intake-1")
    assert _store_threads() == before
    assert store.checkpointer is None
    assert checkpointer.error is None
    assert checkpointer.checkpoints >= 1  # the last one, at stop
    # Everything committed was copied back into the database file by that last checkpoint.
    assert checkpointer.wal_frames == checkpointer.checkpointed


@pytest.mark.asyncio
async def test_a_failed_open_leaves_no_thread_behind(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE copy_trades (unexpected INTEGER)")  # the migration's CREATE fails on it
    conn.commit()
    conn.close()
    before = _store_threads()
    with pytest.raises((StoreError, sqlite3.Error)):
        async with SqliteStore(path):
            pass
    assert _store_threads() == before


@pytest.mark.asyncio
async def test_two_stores_on_one_file_checkpoint_it_side_by_side(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    async with SqliteStore(path) as first, SqliteStore(path) as second:
        await first.insert_pending([_job(1)], FAR, "intake-1")
        await second.insert_pending([_job(2)], FAR, "intake-2")
        await first.insert_pending([_job(3)], FAR, "intake-3")
    conn = sqlite3.connect(path)
    try:
        keys = {bytes(row[0]) for row in conn.execute("SELECT key FROM copy_trades")}
    finally:
        conn.close()
    assert keys == {_job(1).key, _job(2).key, _job(3).key}
