"""A supervisor on the local chain makes one copy; its /metrics then shows every series with a plausible
value, /status the same numbers as JSON, /healthz and /readyz 200."""

from __future__ import annotations

import json
import os
import socket
import time
from pathlib import Path

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families
from supervisor_helpers import SHARE, SQLITE_MEMORY, USD, World, backend_env, running, settled, until

from polyhunter.chain.local import LocalChain
from polyhunter.metrics import SupervisorMetrics
from polyhunter.models import CopyConfig, CopyJob, copy_key

pytestmark = [pytest.mark.integration, pytest.mark.asyncio]


@pytest.fixture
def world(request: pytest.FixtureRequest, local_chain: LocalChain, tmp_path: Path) -> World:
    home = tmp_path / "home"
    local_chain.deployment.save(home / "deployment.json")
    env = backend_env(SQLITE_MEMORY, request, home)
    return World(local_chain, env, home, SQLITE_MEMORY, local_chain.w3.eth.block_number + 1)


async def fetch(url: str) -> tuple[int, str]:
    async with aiohttp.ClientSession() as session, session.get(url) as response:
        return response.status, await response.text()


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    out = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def stale_job(config: CopyConfig, token_id: int) -> CopyJob:
    """A copy prewritten PENDING and never broadcast (its worker died before sending): recovery expires it."""
    tx_hash = os.urandom(32)
    return CopyJob(
        key=copy_key(tx_hash + bytes(16), config.config_id),
        config_id=config.config_id,
        follower=config.follower,
        proxy=config.proxy,
        leader=config.leader,
        token_id=token_id,
        side="BUY",
        amount=USD,
        limit_price_ppm=500_000,
        tx_hash=tx_hash,
        log_index=0,
    )


async def test_metrics_after_one_copy(world: World) -> None:
    config = await world.follow(0, 0, mode="fixed", fixed_usd=25 * USD)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    addr = f"127.0.0.1:{port}"
    async with running(
        world, copy_trading_daily_cap_usd="1000", supervisor_metrics_addr=addr, copy_trading_stale_scan_ms=100
    ) as sup:
        await world.trade(0, "BUY", 0, 200 * SHARE, 100 * USD)
        await settled(sup, 1, "one copy executed")
        # One recovery action: a PENDING copy past its expiry, never broadcast, becomes FAILED.
        stale = stale_job(config, world.yes[0])
        assert await sup.store.insert_pending([stale], expires_at=1) == {stale.key}
        recovery = sup.recovery
        assert recovery is not None
        await until(lambda: recovery.stats.expired == 1, "the stale copy expired")
        server = f"http://127.0.0.1:{port}"
        status, text = await fetch(server + "/metrics")
        assert status == 200
        got = samples(text)

        def value(name: str, **labels: str) -> float:
            key = (name, tuple(sorted(labels.items())))
            assert key in got, f"{name}{labels} not exported"
            return got[key]

        assert value("polyhunter_up") == 1
        assert value("polyhunter_signals_total", source="logs") >= 1
        assert value("polyhunter_duplicates_total") >= 0
        assert value("polyhunter_intents_total") == 1
        assert value("polyhunter_queued_total") == 1
        assert value("polyhunter_executed_total") == 1
        assert value("polyhunter_failed_total") == 0
        assert value("polyhunter_copies", status="EXECUTED") == 1
        assert value("polyhunter_copies", status="PENDING") == 0
        assert value("polyhunter_copies", status="FAILED") == 1  # the expired one
        assert value("polyhunter_recovery_actions_total", action="expired") == 1
        for action in ("reconciled", "completed", "returned", "debts_repaid"):
            assert value("polyhunter_recovery_actions_total", action=action) == 0
        assert value("polyhunter_queue_depth_jobs") == 0
        assert value("polyhunter_queue_in_flight_jobs") == 0
        assert value("polyhunter_dead_letters") == 0
        assert value("polyhunter_debts_open") == 0
        assert value("polyhunter_queue_dropped_total") == 0
        assert value("polyhunter_queue_oldest_job_age_seconds") == 0  # empty: every job acknowledged
        assert 0 <= value("polyhunter_queue_lag_max_seconds") < 60
        assert value("polyhunter_copy_latency_seconds_count") == 1
        assert 0 < value("polyhunter_copy_latency_seconds_sum") < 60
        # The copy's first transaction went out once, before its execution ended.
        assert value("polyhunter_first_tx_latency_seconds_count") == 1
        first_tx = value("polyhunter_first_tx_latency_seconds_sum")
        assert 0 < first_tx <= value("polyhunter_copy_latency_seconds_sum")
        # Handed to the engine once, before its first transaction; its intake waited for one durable commit.
        assert value("polyhunter_handoff_latency_seconds_count") == 1
        assert 0 < value("polyhunter_handoff_latency_seconds_sum") <= first_tx
        assert value("polyhunter_intake_commit_seconds_count") >= 1
        assert 0 < value("polyhunter_intake_commit_seconds_sum") < 60
        assert value("polyhunter_executions_in_flight") == 0
        assert value("polyhunter_fee_bumps_total") >= 0
        assert value("polyhunter_rebroadcasts_total") >= 0
        # $25.00 reserved against the $1,000 cap.
        assert value("polyhunter_cap_used_usd", scope="global") == 25.0
        assert value("polyhunter_cap_limit_usd", scope="global") == 1000.0
        assert value("polyhunter_detector_head_block") >= world.start_block
        assert value("polyhunter_detector_failovers_total") == 0
        assert value("polyhunter_scrape_errors") == 0
        endpoints = [labels for name, labels in got if name == "polyhunter_rpc_calls_total"]
        assert endpoints
        assert all(dict(labels)["endpoint"].startswith("http://127.0.0.1") for labels in endpoints)
        assert sum(got[("polyhunter_rpc_calls_total", labels)] for labels in endpoints) > 0
        for labels in endpoints:  # every endpoint answered every call
            assert got[("polyhunter_rpc_errors_total", labels)] == 0
        fleet = [w.address for w in sup.engine.wallets]  # type: ignore[union-attr]
        for address in fleet:
            assert value("polyhunter_fleet_gas_balance_wei", wallet=address) > 0
            assert value("polyhunter_fleet_collateral_usd", wallet=address) >= 0
            assert value("polyhunter_fleet_nonces_in_flight", wallet=address) == 0
            assert value("polyhunter_fleet_nonce_gaps", wallet=address) == 0
        # Labels carry no follower, Proxy or transaction: only the fleet's wallets are addresses.
        follower_like = {a.lower() for a in [*world.followers, *world.proxies]}
        assert not any(v.lower() in follower_like for _, labels in got for _, v in labels)

        status, body = await fetch(server + "/status")
        assert status == 200
        snapshot = json.loads(body)
        assert snapshot["copies"]["EXECUTED"] == 1
        assert snapshot["queue"]["depth"] == 0
        assert [w["address"] for w in snapshot["fleet"]] == fleet
        assert (await fetch(server + "/healthz"))[0] == 200
        assert (await fetch(server + "/readyz")) == (200, "ready\n")

        # A job waiting since 5 s ago (as the shared state would report it) shows as 5 s of age.
        metrics = SupervisorMetrics(sup)
        metrics.snapshot.queue_depth = 1
        metrics.snapshot.queue_oldest_ms = int(time.time() * 1000) - 5_000
        ages = [
            s.value
            for family in metrics.collect()
            for s in family.samples
            if s.name == "polyhunter_queue_oldest_job_age_seconds"
        ]
        assert len(ages) == 1
        assert 5 <= ages[0] < 60
