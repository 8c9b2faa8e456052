"""The detection sources' own counters reach Prometheus: the activity feed's `FeedStats` (frames, trades,
duplicates, rejects by kind, resubscribes, reconnects) and the mempool's `MempoolStats`, and only when the
source runs."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from polyhunter.detector.feed import FeedStats, reason_kind
from polyhunter.detector.mempool import MempoolStats
from polyhunter.metrics import SupervisorMetrics


def samples(supervisor: Any) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    text = generate_latest(SupervisorMetrics(supervisor).registry).decode()
    out = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def supervisor(**parts: Any) -> Any:
    return SimpleNamespace(failed=asyncio.Event(), engine=None, **parts)


def test_feed_stats_are_exported_with_rejects_by_kind() -> None:
    stats = FeedStats(frames=40, trades=9, skipped=20, duplicates=7, resubscribes=2, reconnects=1)
    bad_price = reason_kind('price "1.5" is outside (0, 1)')
    stats.rejects = {bad_price: 3, "other": 1}
    got = samples(supervisor(feed=SimpleNamespace(stats=stats)))
    assert got[("polyhunter_feed_frames_total", ())] == 40
    assert got[("polyhunter_feed_trades_total", ())] == 9
    assert got[("polyhunter_feed_duplicates_total", ())] == 7
    assert got[("polyhunter_feed_resubscribes_total", ())] == 2
    assert got[("polyhunter_feed_reconnects_total", ())] == 1
    assert got[("polyhunter_feed_rejects_total", (("kind", bad_price),))] == 3
    assert got[("polyhunter_feed_rejects_total", (("kind", "other"),))] == 1
    assert "1.5" not in bad_price  # the label names the fault, never the value


def test_mempool_stats_are_exported_with_refusals_by_reason() -> None:
    stats = MempoolStats(
        transactions=100,
        matches=12,
        rejected_calldata=3,
        not_operator=2,
        bad_signatures=1,
        hashes_fetched=4,
        fills=6,
        connects=1,
        errors=5,
        failovers=2,
    )
    got = samples(supervisor(mempool=SimpleNamespace(stats=stats)))
    assert got[("polyhunter_mempool_transactions_total", ())] == 100
    assert got[("polyhunter_mempool_matches_total", ())] == 12
    assert got[("polyhunter_mempool_refused_total", (("reason", "calldata"),))] == 3
    assert got[("polyhunter_mempool_refused_total", (("reason", "not_operator"),))] == 2
    assert got[("polyhunter_mempool_refused_total", (("reason", "signature"),))] == 1
    assert got[("polyhunter_mempool_hashes_fetched_total", ())] == 4
    assert got[("polyhunter_mempool_connects_total", ())] == 1
    assert got[("polyhunter_mempool_errors_total", ())] == 5
    assert got[("polyhunter_mempool_failovers_total", ())] == 2


def test_a_source_that_does_not_run_exports_nothing() -> None:
    got = samples(supervisor(mempool=None, feed=None))
    assert not [name for name, _ in got if name.startswith(("polyhunter_feed_", "polyhunter_mempool_"))]
