"""Benchmarks run ours beside the reference in one session and record reference ÷ ours in ratios.json."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

RESULTS = Path(__file__).resolve().parent / "results"


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


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    computed = _RATIOS.computed()
    if not computed:
        return
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / "ratios.json"
    merged = json.loads(path.read_text()) if path.exists() else {}
    merged.update(computed)
    path.write_text(json.dumps(merged, indent=2, sort_keys=True) + "\n")
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None:
        reporter.write_sep("=", "reference time ÷ ours")
        for key, value in sorted(computed.items()):
            reporter.write_line(f"{key:<40} {value:>10.2f}x")
