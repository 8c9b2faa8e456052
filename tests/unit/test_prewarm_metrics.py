"""What early sightings pre-warmed reaches Prometheus (`polyhunter_prewarm_total{what}`), with the fate of
the orders signed ahead (`polyhunter_presigned_orders_total{outcome}`) when the venue signs ahead; nothing
when no pre-warmer runs."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from polyhunter.execution.presigned import PresignedOrders, PresignStats
from polyhunter.metrics import SupervisorMetrics
from polyhunter.supervisor.prewarm import PrewarmStats


def samples(supervisor: Any) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    text = generate_latest(SupervisorMetrics(supervisor).registry).decode()
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def supervisor(prewarm: Any) -> Any:
    return SimpleNamespace(failed=asyncio.Event(), engine=None, fills=SimpleNamespace(prewarm=prewarm))


def test_prewarm_and_presigned_orders_are_exported() -> None:
    stats = PrewarmStats(sightings=5, balance_refreshes=4, caps_warmed=3, presigned=6, bound=2, failed=1)
    cache = PresignedOrders(stats=PresignStats(made=6, used=2, missed=1, dropped=3))
    got = samples(supervisor(SimpleNamespace(stats=stats, venue=SimpleNamespace(presigned=cache))))
    assert got[("polyhunter_prewarm_total", (("what", "sightings"),))] == 5
    assert got[("polyhunter_prewarm_total", (("what", "balance_refreshes"),))] == 4
    assert got[("polyhunter_prewarm_total", (("what", "caps_warmed"),))] == 3
    assert got[("polyhunter_prewarm_total", (("what", "failed"),))] == 1
    assert got[("polyhunter_presigned_orders_total", (("outcome", "made"),))] == 6
    assert got[("polyhunter_presigned_orders_total", (("outcome", "used"),))] == 2
    assert got[("polyhunter_presigned_orders_total", (("outcome", "missed"),))] == 1
    assert got[("polyhunter_presigned_orders_total", (("outcome", "dropped"),))] == 3


def test_without_a_venue_that_signs_ahead_only_the_prewarm_counts() -> None:
    got = samples(supervisor(SimpleNamespace(stats=PrewarmStats(sightings=2), venue=None)))
    assert got[("polyhunter_prewarm_total", (("what", "sightings"),))] == 2
    assert not any(name.startswith("polyhunter_presigned") for name, _ in got)
    assert not any(name.startswith("polyhunter_prewarm") for name, _ in samples(supervisor(None)))
