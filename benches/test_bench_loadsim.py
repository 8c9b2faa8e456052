"""The load simulation through the real pipeline (issue 6): tasks/s per instance, drops, lag and memory.

Each run is its own `polyhunter loadsim --json` process (so peak RSS is that run's alone):
- `embedded_20s`: 20 s at the default offered load (100 leader fills/s x 100 followers = 10,000 tasks/s),
  30 ms venue latency, SQLite + in-process shared state. Target: >= 5,000 tasks/s (drops allowed, counted
  and recorded SKIPPED(queue_full)).
- `embedded_5k_20s`: the same offering 5,000 tasks/s (`--events-per-s 50`). Target: no drops.
- `embedded_60s`: 60 s at the default load. Target: peak RSS within 20 % of the 20 s run's.
- `postgres_redis_20s`: the 20 s default run on PostgreSQL + Redis, reported beside the embedded figure.
Results go to `benches/results/loadsim.json`; the targets are recorded as booleans, not asserted.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import psycopg
import redis

RESULTS = Path(__file__).resolve().parent / "results"
REDIS_URL = os.environ.get("POLYHUNTER_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
DATABASE_URL = os.environ.get(
    "POLYHUNTER_TEST_DATABASE_URL", "postgresql://polyhunter:polyhunter@127.0.0.1:5432/polyhunter_test"
)
_RUNS: dict[str, dict[str, Any]] = {}


def _loadsim(*args: str) -> dict[str, Any]:
    out = subprocess.run(
        [sys.executable, "-m", "polyhunter.cli", "loadsim", "--json", *args],
        capture_output=True,
        text=True,
        check=True,
        timeout=600,
    )
    print(out.stderr.strip().splitlines()[-1])
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def _record(name: str, result: dict[str, Any]) -> None:
    _RUNS[name] = result
    a, b, c = (_RUNS.get(k) for k in ("embedded_20s", "embedded_5k_20s", "embedded_60s"))
    summary: dict[str, Any] = {"runs": _RUNS}
    if a:
        summary["tasks_per_s"] = a["tasks_per_s"]
        summary["meets_5000_tasks_per_s"] = a["tasks_per_s"] >= 5000
    if b:
        summary["no_drops_at_5000_offered"] = b["dropped"] == 0
    if a and c:
        summary["rss_60s_over_20s"] = round(c["peak_rss_mb"] / a["peak_rss_mb"], 3)
        summary["memory_bounded"] = c["peak_rss_mb"] <= 1.2 * a["peak_rss_mb"]
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "loadsim.json").write_text(json.dumps(summary, indent=2) + "\n")


def test_loadsim_embedded_20s(benchmark: Any) -> None:
    result = benchmark.pedantic(_loadsim, args=("--duration", "20"), rounds=1, iterations=1)
    benchmark.extra_info.update(result)
    _record("embedded_20s", result)


def test_loadsim_embedded_5k_offered_20s(benchmark: Any) -> None:
    result = benchmark.pedantic(
        _loadsim, args=("--duration", "20", "--events-per-s", "50"), rounds=1, iterations=1
    )
    benchmark.extra_info.update(result)
    _record("embedded_5k_20s", result)


def test_loadsim_embedded_60s(benchmark: Any) -> None:
    result = benchmark.pedantic(_loadsim, args=("--duration", "60"), rounds=1, iterations=1)
    benchmark.extra_info.update(result)
    _record("embedded_60s", result)


def test_loadsim_postgres_redis_20s(benchmark: Any) -> None:
    schema = f"loadsim_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(DATABASE_URL, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
    separator = "&" if "?" in DATABASE_URL else "?"
    try:
        result = benchmark.pedantic(
            _loadsim,
            args=(
                "--duration",
                "20",
                "--redis",
                REDIS_URL,
                "--database-url",
                f"{DATABASE_URL}{separator}search_path={schema}",
            ),
            rounds=1,
            iterations=1,
        )
    finally:
        with psycopg.connect(DATABASE_URL, autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
        client = redis.Redis.from_url(REDIS_URL)
        keys = list(client.scan_iter(match="*loadsim:*", count=1000))
        if keys:
            client.delete(*keys)
        client.close()
    benchmark.extra_info.update(result)
    _record("postgres_redis_20s", result)
