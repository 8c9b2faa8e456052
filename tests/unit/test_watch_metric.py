"""The Executor watch's findings reach Prometheus as `polyhunter_unjournaled_executor_events_total`."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

from prometheus_client import generate_latest

from polyhunter.execution.watch import WatchStats
from polyhunter.metrics import SupervisorMetrics

WORKER = "0x" + "ab" * 20


def exposition(supervisor: Any) -> str:
    return generate_latest(SupervisorMetrics(supervisor).registry).decode()


def test_unjournaled_events_are_counted_by_event_and_worker() -> None:
    stats = WatchStats()
    stats.unjournaled[("Pulled", WORKER)] += 2
    stats.unjournaled[("DebtRepaidTo", WORKER)] += 1
    text = exposition(
        SimpleNamespace(failed=asyncio.Event(), engine=None, executor_watch=SimpleNamespace(stats=stats))
    )
    assert f'polyhunter_unjournaled_executor_events_total{{event="Pulled",worker="{WORKER}"}} 2.0' in text
    assert (
        f'polyhunter_unjournaled_executor_events_total{{event="DebtRepaidTo",worker="{WORKER}"}} 1.0' in text
    )


def test_without_a_watch_the_series_is_declared_with_no_sample() -> None:
    text = exposition(SimpleNamespace(failed=asyncio.Event(), engine=None))
    assert "# TYPE polyhunter_unjournaled_executor_events_total counter" in text
    assert "polyhunter_unjournaled_executor_events_total{" not in text


def test_the_watch_health_is_exported_failed_passes_and_the_last_block_scanned() -> None:
    stats = WatchStats(last_block=1234, errors=3)
    text = exposition(
        SimpleNamespace(failed=asyncio.Event(), engine=None, executor_watch=SimpleNamespace(stats=stats))
    )
    assert "polyhunter_executor_watch_errors_total 3.0" in text
    assert "polyhunter_executor_watch_last_block 1234.0" in text
    bare = exposition(SimpleNamespace(failed=asyncio.Event(), engine=None))
    assert "# TYPE polyhunter_executor_watch_last_block gauge" in bare
    samples = [line for line in bare.splitlines() if line.startswith("polyhunter_executor_watch_")]
    assert samples == []  # without a watch: declared, no sample
