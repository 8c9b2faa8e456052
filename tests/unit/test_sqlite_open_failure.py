"""A SQLite store that cannot open (a corrupt file) raises a typed error and leaves no thread running."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import pytest

from polyhunter.errors import PolyhunterError, StoreError
from polyhunter.store.sqlite import SqliteStore


def _live_foreground_threads() -> set[threading.Thread]:
    # A non-daemon thread left alive keeps the interpreter from exiting after the error is printed.
    return {t for t in threading.enumerate() if t.is_alive() and not t.daemon}


def _corrupt(path: Path) -> Path:
    path.write_bytes(b"this is not a SQLite database, only bytes that look nothing like one\n" * 200)
    return path


@pytest.mark.asyncio
async def test_corrupt_file_raises_store_error_and_leaves_no_thread(tmp_path: Path) -> None:
    before = _live_foreground_threads()
    store = SqliteStore(_corrupt(tmp_path / "polyhunter.db"))
    with pytest.raises(StoreError, match=r"polyhunter\.db") as caught:
        await store.open()
    assert isinstance(caught.value, PolyhunterError)
    assert _live_foreground_threads() - before == set()


@pytest.mark.asyncio
async def test_corrupt_file_via_context_manager_leaves_no_thread(tmp_path: Path) -> None:
    before = _live_foreground_threads()
    with pytest.raises(StoreError):
        async with SqliteStore(_corrupt(tmp_path / "polyhunter.db")):
            pass
    assert _live_foreground_threads() - before == set()


@pytest.mark.asyncio
async def test_failed_migration_via_context_manager_leaves_no_thread(tmp_path: Path) -> None:
    # A readable SQLite file whose version table has another shape: the connections open, the migration fails.
    path = tmp_path / "polyhunter.db"
    with sqlite3.connect(path) as foreign:
        foreign.execute("CREATE TABLE schema_migrations (something_else TEXT)")
    before = _live_foreground_threads()
    with pytest.raises(StoreError, match="migration"):
        async with SqliteStore(path):
            pass
    assert _live_foreground_threads() - before == set()
