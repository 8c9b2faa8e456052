"""The files under deploy/ parse and name only series the supervisor exports, and the systemd units keep
secrets out and give each shard its own index and metrics port."""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from prometheus_client.core import Metric

from polyhunter.detector.feed import FeedStats
from polyhunter.detector.mempool import MempoolStats
from polyhunter.execution.recovery import RecoveryStats
from polyhunter.execution.redeem import RedeemStats
from polyhunter.metrics import Snapshot, SupervisorMetrics, WalletReading
from polyhunter.supervisor.sources import SourceStats

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
DASHBOARD = DEPLOY / "grafana" / "polyhunter.json"
ALERTS = DEPLOY / "prometheus" / "alerts.yml"
UNIT = DEPLOY / "systemd" / "polyhunter-supervisor.service"
TEMPLATE = DEPLOY / "systemd" / "polyhunter-supervisor@.service"

SERIES = re.compile(r"\bpolyhunter_[a-z0-9_]*[a-z0-9]\b")
WALLET = "0x" + "ab" * 20
HEADERS = ("groups:", "rules:", "- name: polyhunter")
SUFFIXES = {
    "counter": ("_total", "_created"),
    "gauge": ("",),
    "histogram": ("_bucket", "_sum", "_count", "_created"),
}


def fake_supervisor() -> Any:
    """Every part `SupervisorMetrics.collect` reads, so each family it can export is exported."""
    wallet = SimpleNamespace(address=WALLET, nonces=SimpleNamespace(in_flight={1}, abandoned=set()))
    return SimpleNamespace(
        failed=asyncio.Event(),
        pipeline=SimpleNamespace(
            stats=SimpleNamespace(
                signals=3,
                duplicates=1,
                intents=2,
                queued=2,
                executed=1,
                failed=1,
                skipped={"below_min": 1},
                lag_ms=[12.0],
            )
        ),
        mempool=SimpleNamespace(stats=MempoolStats(fills=1)),
        feed=SimpleNamespace(stats=FeedStats(frames=2, trades=1, rejects={"price is outside": 1})),
        fills=SimpleNamespace(stats=SourceStats()),
        recovery=SimpleNamespace(stats=RecoveryStats()),
        redeemer=SimpleNamespace(stats=RedeemStats()),
        detector=SimpleNamespace(stats=SimpleNamespace(last_head=10, reorgs=0, connects=1, failovers=0)),
        rpc=SimpleNamespace(
            endpoints=[SimpleNamespace(url="http://127.0.0.1:8545", calls=5, failures=0, errors=0)]
        ),
        engine=SimpleNamespace(
            in_flight={}, monitor=SimpleNamespace(replacements=0, rebroadcasts=0), wallets=[wallet]
        ),
        settings=SimpleNamespace(copy_trading_daily_cap_usd=1_000_000_000),
        store=SimpleNamespace(
            checkpointer=SimpleNamespace(wal_frames=12, checkpoints=3, behind=0, failures=0)
        ),
    )


def exported_families() -> list[Metric]:
    metrics = SupervisorMetrics(fake_supervisor())
    metrics.snapshot = Snapshot(
        copies={"executed": 1},
        dead_letters=0,
        debts_open=0,
        queue_depth=1,
        queue_in_flight=0,
        queue_dropped=0,
        cap_used=5_000_000,
        wallets={WALLET: WalletReading(gas_wei=10**18, collateral=7_000_000)},
    )
    return list(metrics.registry.collect())


def exported_names() -> set[str]:
    """Every sample name a query can use: counters as `_total`, histograms as `_bucket`, `_sum`, `_count`."""
    return {f.name + suffix for f in exported_families() for suffix in SUFFIXES[f.type]}


def series_in(expr: str) -> set[str]:
    return set(SERIES.findall(expr))


def test_dashboard_panels_have_unique_ids() -> None:
    """Grafana keys panels by id: a repeated id makes one panel hide or replace another on import."""
    ids = [panel["id"] for panel in json.loads(DASHBOARD.read_text(encoding="utf-8"))["panels"]]
    assert len(ids) == len(set(ids)), sorted(i for i in set(ids) if ids.count(i) > 1)


def dashboard_exprs() -> list[str]:
    dashboard = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    exprs: list[str] = []
    for panel in dashboard["panels"]:
        assert panel["targets"], f"panel {panel['title']!r} queries nothing"
        exprs.extend(t["expr"] for t in panel["targets"])
    return exprs


def parse_rules(text: str) -> list[dict[str, Any]]:
    """alerts.yml's own subset of YAML (PyYAML is not a dependency): `- alert:` opens a rule, `key: value`
    lines belong to it, `labels:` and `annotations:` open a map. Any other line is refused, so a construct
    this parser does not know fails the test instead of being skipped."""
    rules: list[dict[str, Any]] = []
    nested: dict[str, str] | None = None
    for number, line in enumerate(text.splitlines(), 1):
        stripped = line.strip()
        if not stripped or stripped.startswith("#") or stripped in HEADERS:
            continue
        key, sep, value = stripped.removeprefix("- ").partition(":")
        assert sep, f"alerts.yml:{number}: not `key: value`: {line!r}"
        value = value.strip()
        if value.startswith('"') and value.endswith('"') and len(value) > 1:
            value = value[1:-1]
        if stripped.startswith("- alert:"):
            rules.append({"alert": value})
            nested = None
        elif key in ("labels", "annotations") and not value:
            assert rules, f"alerts.yml:{number}: {key} outside a rule"
            nested = rules[-1][key] = {}
        elif nested is not None and line.startswith(" " * 10):
            nested[key] = value
        else:
            assert rules, f"alerts.yml:{number}: {line!r} outside a rule"
            assert key in ("expr", "for"), f"alerts.yml:{number}: unexpected {line!r}"
            nested = None
            rules[-1][key] = value
    return rules


def unit_entries(path: Path) -> dict[str, list[tuple[str, str]]]:
    """A systemd unit as section -> [(key, value)]: keys repeat (Environment=), so no dict per section."""
    sections: dict[str, list[tuple[str, str]]] = {}
    current: list[tuple[str, str]] | None = None
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        if line.startswith("[") and line.endswith("]"):
            current = sections.setdefault(line[1:-1], [])
            continue
        key, sep, value = line.partition("=")
        assert sep, f"{path.name}: not `Key=value`: {line!r}"
        assert current is not None, f"{path.name}: {line!r} outside a section"
        current.append((key, value))
    return sections


def values(entries: list[tuple[str, str]], key: str) -> list[str]:
    return [v for k, v in entries if k == key]


def test_every_series_the_dashboard_and_alerts_use_is_exported() -> None:
    exported = exported_names()
    used: dict[str, set[str]] = {}
    for expr in dashboard_exprs():
        for name in series_in(expr):
            used.setdefault(name, set()).add("grafana/polyhunter.json")
    rules = parse_rules(ALERTS.read_text(encoding="utf-8"))
    for rule in rules:
        for name in series_in(rule["expr"]):
            used.setdefault(name, set()).add(f"alerts.yml {rule['alert']}")
    unknown = {name: sorted(where) for name, where in used.items() if name not in exported}
    assert not unknown, f"series not exported by polyhunter.metrics: {unknown}"
    # Every family the supervisor exports has a panel: a new series shows up here until it gets one.
    on_dashboard = {n for e in dashboard_exprs() for n in series_in(e)}
    missing = sorted(
        f.name for f in exported_families() if not any(f.name + s in on_dashboard for s in SUFFIXES[f.type])
    )
    assert not missing, f"exported but on no dashboard panel: {missing}"


def test_the_check_catches_a_series_that_is_not_exported() -> None:
    exported = exported_names()
    assert "polyhunter_queue_depth_jobs" in exported
    assert "polyhunter_failed_total" in exported
    assert "polyhunter_copy_latency_seconds_bucket" in exported
    # The family name of a counter is not a sample name: a query for it would find nothing.
    assert "polyhunter_failed" not in exported
    assert series_in('rate(polyhunter_nope_total{job="polyhunter"}[5m]) > 0') == {"polyhunter_nope_total"}
    assert "polyhunter_nope_total" not in exported


def test_alert_rules_are_complete() -> None:
    rules = parse_rules(ALERTS.read_text(encoding="utf-8"))
    names = [r["alert"] for r in rules]
    assert len(names) == len(set(names))
    for rule in rules:
        assert rule["expr"], rule["alert"]
        assert rule["labels"]["severity"] in ("critical", "warning", "info"), rule["alert"]
        assert rule["annotations"]["summary"], rule["alert"]
        assert rule["annotations"]["description"], rule["alert"]
    by_series = " ".join(r["expr"] for r in rules)
    for wanted in (
        "up{job=",
        "polyhunter_up",
        "polyhunter_scrape_errors",
        "polyhunter_queue_depth_jobs",
        "polyhunter_queue_lag_max_seconds",
        "polyhunter_fleet_gas_balance_wei",
        "polyhunter_detector_head_block",
        "polyhunter_fleet_nonce_gaps",
        "polyhunter_failed_total",
        "polyhunter_dead_letters",
    ):
        assert wanted in by_series, f"no alert on {wanted}"


@pytest.mark.parametrize("text", ["  - alert: X\n    expr: up\n    bogus line\n", "foo: [1, 2]\n"])
def test_the_rule_parser_refuses_what_it_does_not_know(text: str) -> None:
    with pytest.raises(AssertionError):
        parse_rules(text)


def test_units_restart_read_an_environment_file_and_hold_no_secret() -> None:
    secret = re.compile(r"KEY|MNEMONIC|SECRET|PASSPHRASE|PASSWORD|TOKEN|DATABASE_URL|REDIS_URL|RPC_URL", re.I)
    for path in (UNIT, TEMPLATE):
        unit = unit_entries(path)
        service = unit["Service"]
        assert values(service, "Restart") == ["on-failure"], path.name
        assert values(service, "EnvironmentFile") == ["/etc/polyhunter/polyhunter.env"], path.name
        assert values(service, "ExecStart"), path.name
        for env in values(service, "Environment"):
            assert not secret.search(env.partition("=")[0]), f"{path.name}: {env} belongs in the file"
        assert "polyhunter supervisor" in values(service, "ExecStart")[0]
        assert values(unit["Install"], "WantedBy") == ["multi-user.target"]


def test_the_template_runs_shard_i_on_its_own_metrics_port() -> None:
    service = unit_entries(TEMPLATE)["Service"]
    assert "SUPERVISOR_SHARD_INDEX=%i" in values(service, "Environment")
    (exec_start,) = values(service, "ExecStart")
    match = re.search(r"SUPERVISOR_METRICS_ADDR=127\.0\.0\.1:\$\$\(\((\d+) \+ %i\)\)", exec_start)
    assert match is not None, exec_start
    # Shard 0 (the plain unit) keeps the default port; instance N gets base + N, never the same as another.
    assert int(match.group(1)) == 9464
    plain = unit_entries(UNIT)["Service"]
    assert not any(v.startswith("SUPERVISOR_METRICS_ADDR") for v in values(plain, "Environment"))
    assert "SUPERVISOR_METRICS_ADDR" not in values(plain, "ExecStart")[0]
