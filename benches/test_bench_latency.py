"""Hand-off latency: from a log's raw bytes to the engine's `execute` call, 100 followers, idle and loaded.

Each case is a `polyhunter loadsim --json` process (the events made on their own thread; the clock starts
when a notification's bytes exist and stops when the pipeline calls the simulated venue's `execute` for a
copy of it; every copy counts):
- `idle`: one leader fill a second for 10 s, each one's 100 copies alone in the pipeline;
- `at_1000_tasks_per_s`: 10 leader fills a second (1,000 tasks/s offered) for 10 s.
Targets p50 <= 3 ms and p99 <= 10 ms at 1,000 tasks/s, recorded with a `met` boolean in
`benches/results/latency.json`, never asserted (the run asserts only that every copy was executed and timed).
The idle case is recorded beside it with no target (`met` is null; a fill after a second of idling finds the
CPU's caches cold). Beside them, the part of it spent waiting for the store's commit that made each batch
durable (`commit_p50_ms`, `commit_p99_ms`, per batch).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

RESULTS = Path(__file__).resolve().parent / "results"
FOLLOWERS = 100
P50_MS, P99_MS = 3.0, 10.0
CASES = {"idle": 1, "at_1000_tasks_per_s": 10}
TARGETED = {"at_1000_tasks_per_s"}


def _loadsim(events_per_s: int) -> dict[str, Any]:
    args = ["--duration", "10", "--events-per-s", str(events_per_s), "--followers", str(FOLLOWERS)]
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


def _record(case: str, result: dict[str, Any]) -> None:
    path = RESULTS / "latency.json"
    cases = json.loads(path.read_text()).get("cases", {}) if path.exists() else {}
    cases[case] = {
        "p50_ms": result["handoff_p50_ms"],
        "p99_ms": result["handoff_p99_ms"],
        "max_ms": result["handoff_max_ms"],
        "commit_p50_ms": result["intake_commit_p50_ms"],
        "commit_p99_ms": result["intake_commit_p99_ms"],
        "copies": result["executed"],
        "offered_tasks_per_s": result["offered_tasks_per_s"],
        "met": (result["handoff_p50_ms"] <= P50_MS and result["handoff_p99_ms"] <= P99_MS)
        if case in TARGETED
        else None,
    }
    summary = {
        "what": "log raw bytes to the engine's execute call, every copy",
        "followers": FOLLOWERS,
        "targets": {"p50_ms": P50_MS, "p99_ms": P99_MS},
        "cases": cases,
    }
    RESULTS.mkdir(exist_ok=True)
    path.write_text(json.dumps(summary, indent=2) + "\n")


@pytest.mark.parametrize("case", list(CASES))
def test_handoff_latency(benchmark: Any, case: str) -> None:
    result = benchmark.pedantic(_loadsim, args=(CASES[case],), rounds=1, iterations=1)
    assert result["executed"] == result["events"] * FOLLOWERS, result
    assert result["dropped"] == 0, result
    benchmark.extra_info.update(result)
    _record(case, result)
