"""Benchmarks run ours beside the reference in one session and record reference ÷ ours in ratios.json.

At the end of a session every results file written during it is stamped with the machine and the date in
`machine.json` (file name → CPU model, cores, date), and every ratio with a target gets its `met` flag in
`ratio_targets.json`: `scripts/bench_tables.py` builds README's tables from these files alone.
"""

from __future__ import annotations

import datetime
import json
import os
import platform
import time
from pathlib import Path
from typing import Any

import pytest

RESULTS = Path(__file__).resolve().parent / "results"
# Reference time ÷ ours that each pair should reach (issue targets); a miss is recorded, never a failure.
TARGETS: dict[str, float] = {
    "decode_log_vs_web3_process_log": 100,
    "decode_log_vs_eth_abi": 5,
    "sign_eip1559_vs_eth_account": 15,
    "sign_order_v2_vs_eth_account": 10,
    "dedup_batch_vs_python": 3,
    "fanout_10k_vs_python": 5,
    "per_log_path_vs_python": 5,
}
_STARTED = time.time()


class Ratios:
    """Collects per-benchmark mean times by name, then writes reference ÷ ours per named pair."""

    def __init__(self) -> None:
        self.means: dict[str, float] = {}
        self.pairs: dict[str, tuple[str, str]] = {}

    def record(self, name: str, benchmark: Any) -> None:
        # Under --benchmark-disable (a quick run of the sanity checks) nothing was timed: nothing to record.
        if benchmark.stats is not None:
            self.means[name] = float(benchmark.stats.stats.mean)

    def pair(self, key: str, reference: str, ours: str) -> None:
        self.pairs[key] = (reference, ours)

    def computed(self) -> dict[str, float]:
        return {
            key: round(self.means[ref] / self.means[ours], 2)
            for key, (ref, ours) in self.pairs.items()
            if ref in self.means and ours in self.means
        }


_RATIOS = Ratios()


@pytest.fixture(scope="session")
def ratios() -> Ratios:
    return _RATIOS


def machine() -> dict[str, Any]:
    """This machine's CPU model and core count, and today's date (UTC)."""
    model = platform.processor() or platform.machine()
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    today = datetime.datetime.now(datetime.UTC).date().isoformat()
    return {"cpu": model, "cores": os.cpu_count() or 0, "date": today}


def _write_json(path: Path, data: dict[str, Any]) -> None:
    path.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    computed = _RATIOS.computed()
    RESULTS.mkdir(exist_ok=True)
    if computed:
        path = RESULTS / "ratios.json"
        merged = json.loads(path.read_text()) if path.exists() else {}
        merged.update(computed)
        _write_json(path, merged)
        _write_json(
            RESULTS / "ratio_targets.json",
            {
                key: {"target": target, "measured": merged[key], "met": merged[key] >= target}
                for key, target in TARGETS.items()
                if key in merged
            },
        )
    stamps_path = RESULTS / "machine.json"
    stamps = json.loads(stamps_path.read_text()) if stamps_path.exists() else {}
    fresh = [
        p.name
        for p in RESULTS.glob("*.json")
        if p.name not in ("machine.json", "benchmarks.json") and p.stat().st_mtime >= _STARTED
    ]
    if fresh:
        here = machine()
        stamps.update({name: here for name in fresh})
        _write_json(stamps_path, stamps)
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None and computed:
        reporter.write_sep("=", "reference time ÷ ours")
        for key, value in sorted(computed.items()):
            reporter.write_line(f"{key:<40} {value:>10.2f}x")
