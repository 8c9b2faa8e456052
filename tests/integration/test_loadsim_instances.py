"""`polyhunter loadsim --instances N`: N sharded supervisor processes on one PostgreSQL and one Redis, the
aggregate reported; every copy executed exactly once across the instances."""

from __future__ import annotations

import json
import subprocess
import sys

import psycopg
import pytest

pytestmark = pytest.mark.integration


def _loadsim(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "polyhunter.cli", "loadsim", *args],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_two_instances_share_the_store_and_the_queue(pg_url: str, redis_url: str) -> None:
    out = _loadsim(
        "--instances", "2", "--duration", "2", "--events-per-s", "6", "--followers", "5", "--leaders", "6",
        "--exec-latency-ms", "1", "--redis", redis_url, "--database-url", pg_url, "--json",
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["instances"] == 2
    assert [r["instances"] for r in result["per_instance"]] == [2, 2]
    assert result["store"] == "postgres"
    assert result["shared"] == "redis"
    # Each fill was made once, by the instance owning its leader, and copied once per follower.
    assert result["events"] == sum(r["events"] for r in result["per_instance"])
    assert result["events"] > 0
    assert result["executed"] == result["events"] * 5
    assert sum(r["executed"] for r in result["per_instance"]) == result["executed"]
    assert result["skipped"] == {}
    assert "2 instances" in out.stderr
    schema = pg_url.rsplit("search_path=", 1)[1]
    with psycopg.connect(pg_url.rsplit("?", 1)[0], autocommit=True) as conn:
        rows = conn.execute(
            f"SELECT status, COUNT(*), MAX(attempts) FROM {schema}.copy_trades GROUP BY status"
        ).fetchall()
    assert [(status, count) for status, count, _ in rows] == [("EXECUTED", result["executed"])]
    assert rows[0][2] == 1  # claimed once each: no job ran on both instances


def test_instances_need_the_shared_servers() -> None:
    out = _loadsim("--instances", "2", "--duration", "1")
    assert out.returncode == 2
    assert "--instances needs --database-url (PostgreSQL) and --redis" in out.stderr
