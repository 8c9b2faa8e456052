"""Schema v10: copy-quality rows are found by time (the reports' period), with no index per follower or leader
whose random page writes each executed copy paid."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from polyhunter.store import SqliteStore


@pytest.mark.asyncio
async def test_quality_rows_are_indexed_by_time_only_and_reports_use_it(tmp_path: Path) -> None:
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
        assert indexes == {"copy_quality_filled"}
        plan = " ".join(
            str(row[-1])
            for row in conn.execute(
                "EXPLAIN QUERY PLAN SELECT key FROM copy_quality WHERE filled_at >= ? AND filled_at < ? "
                "AND follower = ? ORDER BY filled_at, key",
                (0, 10, "0x" + "1" * 40),
            )
        )
        assert "copy_quality_filled" in plan
    finally:
        conn.close()
