"""Draws a load simulation's throughput and queue lag over time (`polyhunter loadsim --plot FILE.png`)."""

from __future__ import annotations

from pathlib import Path

from polyhunter.errors import ToolchainError
from polyhunter.loadsim import LoadSimResult


def draw(result: LoadSimResult, path: Path) -> None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as exc:
        raise ToolchainError("--plot needs matplotlib: pip install 'polyhunter[plot]'") from exc
    times = [s["t"] for s in result.timeline]
    figure, (top, bottom) = plt.subplots(2, 1, figsize=(9, 6), sharex=True)
    top.plot(times, [s["tasks_per_s"] for s in result.timeline], color="tab:blue")
    top.set_ylabel("executed tasks/s")
    top.set_title(
        f"loadsim: {result.tasks_per_s:,.0f} tasks/s, concurrency {result.concurrency}, "
        f"{result.exec_latency_ms:.0f} ms venue, {result.store} + {result.shared}"
    )
    bottom.plot(times, [s["lag_p50_ms"] for s in result.timeline], label="p50")
    bottom.plot(times, [s["lag_p99_ms"] for s in result.timeline], label="p99")
    bottom.set_ylabel("queue lag (ms)")
    bottom.set_xlabel("seconds")
    bottom.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)
