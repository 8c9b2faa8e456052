"""The SQLite store's WAL is checkpointed by a thread of its own: commits never copy pages back themselves
(their automatic threshold is only a safety valve), and closing the store ends the thread."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

import pytest
from store_jobs import FAR, store_job

from polyhunter.models import CopyJob
from polyhunter.store import SqliteStore
from polyhunter.store.wal import SAFETY_PAGES


def _jobs(batch: int, count: int) -> list[CopyJob]:
    return [store_job(i, batch.to_bytes(32, "big"), "0x" + f"{i % 50:040x}") for i in range(count)]


def _checkpoint_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "sqlite-checkpoint"]


@pytest.mark.asyncio
async def test_the_wal_is_copied_back_by_the_checkpoint_thread_and_close_ends_it(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    async with SqliteStore(path) as store:
        checkpointer = store.checkpointer
        assert checkpointer is not None
        assert len(_checkpoint_threads()) == 1
        conn = store._committer_conn
        assert conn is not None
        assert conn.execute("PRAGMA wal_autocheckpoint").fetchone()[0] == SAFETY_PAGES
        before = path.stat().st_size
        for batch in range(20):
            await store.insert_pending(_jobs(batch, 200), FAR, f"intake-{batch}")
        # Far below the commits' own threshold: only the thread can have copied these pages back.
        for _ in range(500):
            if path.stat().st_size > before and checkpointer.checkpointed == checkpointer.wal_frames > 0:
                break
            await asyncio.sleep(0.02)
        assert path.stat().st_size > before
        assert checkpointer.checkpointed == checkpointer.wal_frames > 0
        assert checkpointer.error is None
        assert await store.count_trades() == 4000
    assert _checkpoint_threads() == []


@pytest.mark.asyncio
async def test_the_checkpointers_counters_are_exported(tmp_path: Path) -> None:
    import types

    from prometheus_client import generate_latest
    from prometheus_client.parser import text_string_to_metric_families

    from polyhunter.metrics import SupervisorMetrics

    async with SqliteStore(tmp_path / "s.db") as store:
        checkpointer = store.checkpointer
        assert checkpointer is not None
        await store.insert_pending(_jobs(1, 300), FAR, "intake-1")
        for _ in range(500):
            if checkpointer.checkpoints and checkpointer.wal_frames:
                break
            await asyncio.sleep(0.02)
        sup = types.SimpleNamespace(failed=asyncio.Event(), engine=None, store=store)
        text = generate_latest(SupervisorMetrics(sup).registry).decode()
        got = {s.name: s.value for f in text_string_to_metric_families(text) for s in f.samples}
        assert got["polyhunter_store_wal_frames"] > 0  # the rows' frames, still in the WAL until its reset
        assert got["polyhunter_store_wal_checkpoints_total"] >= 1
        assert got["polyhunter_store_wal_checkpoints_behind_total"] == 0  # no reader held frames back
