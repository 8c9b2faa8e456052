"""Schema v10: copy rows are found by time (the reports' period, the newest first), with no index per follower
whose random page write each copy paid on the intake's path; quality rows (written once, at the mark) keep
theirs and gain one by time."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from polyhunter.store import SqliteStore


@pytest.mark.asyncio
async def test_copies_and_quality_rows_are_indexed_by_time_and_queries_use_it(tmp_path: Path) -> None:
    async with SqliteStore(tmp_path / "s.db") as store:
        assert await store.schema_version() >= 10
    conn = sqlite3.connect(tmp_path / "s.db")
    try:
        indexes = {
            row[0]
            for row in conn.execute(
                "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'copy_quality' "
                "AND sql IS NOT NULL"
            )
        }
        assert indexes == {"copy_quality_filled", "copy_quality_follower", "copy_quality_leader"}
        plan = " ".join(
            str(row[-1])
            for row in conn.execute(
                "EXPLAIN QUERY PLAN SELECT key FROM copy_quality WHERE filled_at >= ? AND filled_at < ? "
                "AND follower = ? ORDER BY filled_at, key",
                (0, 10, "0x" + "1" * 40),
            )
        )
        assert "copy_quality_follower" in plan
        period = " ".join(
            str(row[-1])
            for row in conn.execute(
                "EXPLAIN QUERY PLAN SELECT key FROM copy_quality WHERE filled_at >= ? AND filled_at < ? "
                "ORDER BY filled_at, key",
                (0, 10),
            )
        )
        assert "copy_quality_filled" in period
        trade_indexes = {
            row[0]
            for row in conn.execute(
                "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'copy_trades' "
                "AND sql IS NOT NULL"
            )
        }
        assert trade_indexes == {"copy_trades_signal", "copy_trades_status", "copy_trades_created"}
        newest = " ".join(
            str(row[-1])
            for row in conn.execute(
                "EXPLAIN QUERY PLAN SELECT key FROM copy_trades WHERE follower = ? "
                "ORDER BY created_at DESC, key LIMIT 100",
                ("0x" + "1" * 40,),
            )
        )
        assert "copy_trades_created" in newest  # walked from the newest end, not a scan and a sort
    finally:
        conn.close()
