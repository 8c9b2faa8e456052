"""Draws a report (`polyhunter report --plot FILE.png`): each follower's equity curve next to its leaders'
scaled to its size, and a histogram of slippage. Needs matplotlib (the `plot` extra), imported here only.

Floats appear only on the way to the picture: the figures plotted are the report's integers.
"""

from __future__ import annotations

from pathlib import Path

from polyhunter.errors import ToolchainError
from polyhunter.report.summary import Report

MAX_CURVES = 8
"""Followers drawn at most (the first by address); the histogram takes every follower's slippage."""


def draw(report: Report, path: Path) -> None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as exc:
        raise ToolchainError("--plot needs matplotlib: pip install 'polyhunter[plot]'") from exc
    figure, (curves, histogram) = plt.subplots(2, 1, figsize=(9, 7))
    start = report.since_ms
    for n, follower in enumerate(report.followers[:MAX_CURVES]):
        color = f"C{n}"
        label = follower.address[:10] + "…"
        if follower.curve:
            t0 = start or follower.curve[0][0]
            curves.step(
                [(at - t0) / 3_600_000 for at, _ in follower.curve],
                [units / 1_000_000 for _, units in follower.curve],
                where="post",
                color=color,
                label=f"{label} realised",
            )
        if follower.leader_curve:
            t0 = start or follower.leader_curve[0][0]
            curves.step(
                [(at - t0) / 3_600_000 for at, _ in follower.leader_curve],
                [units / 1_000_000 for _, units in follower.leader_curve],
                where="post",
                color=color,
                linestyle="--",
                label=f"{label} leaders, scaled",
            )
    curves.set_title("realised PnL: followers (solid) and their leaders scaled to their size (dashed)")
    curves.set_xlabel("hours")
    curves.set_ylabel("USD")
    if report.followers:
        curves.legend(fontsize="small")
    slippage = [bps for f in report.followers for bps in f.slippage_bps]
    histogram.hist(slippage or [0], bins=min(40, max(5, len(set(slippage)))), color="tab:gray")
    histogram.set_title(
        f"slippage of {len(slippage)} executed copies (bps, positive = worse than the leader)"
    )
    histogram.set_xlabel("bps")
    histogram.set_ylabel("copies")
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)
