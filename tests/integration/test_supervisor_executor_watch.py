"""A running supervisor's Executor watch: its own copy's pull is journaled and raises nothing; a pull made
with a fleet worker's key outside polyhunter shows on /metrics as
`polyhunter_unjournaled_executor_events_total` by event and worker (what the alert
PolyhunterUnjournaledExecutorEvent pages on)."""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families
from supervisor_helpers import SHARE, SQLITE_MEMORY, USD, World, backend_env, running, settled, until

from polyhunter.chain.local import LocalChain

pytestmark = [pytest.mark.integration, pytest.mark.asyncio]

SERIES = "polyhunter_unjournaled_executor_events_total"


@pytest.fixture
def world(request: pytest.FixtureRequest, local_chain: LocalChain, tmp_path: Path) -> World:
    home = tmp_path / "home"
    local_chain.deployment.save(home / "deployment.json")
    env = backend_env(SQLITE_MEMORY, request, home)
    return World(local_chain, env, home, SQLITE_MEMORY, local_chain.w3.eth.block_number + 1)


async def scrape(port: int) -> list[Any]:
    async with (
        aiohttp.ClientSession() as session,
        session.get(f"http://127.0.0.1:{port}/metrics") as response,
    ):
        assert response.status == 200
        text = await response.text()
    return [s for family in text_string_to_metric_families(text) for s in family.samples]


async def unjournaled(port: int) -> dict[tuple[str, str], float]:
    return {(s.labels["event"], s.labels["worker"]): s.value for s in await scrape(port) if s.name == SERIES}


async def cap_series(port: int, name: str) -> dict[str, float]:
    return {s.labels["wallet"]: s.value for s in await scrape(port) if s.name == name}


async def test_a_foreign_pull_is_reported_and_our_copy_is_not(world: World) -> None:
    await world.follow(0, 0, mode="fixed", fixed_usd=25 * USD)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    async with running(
        world,
        supervisor_metrics_addr=f"127.0.0.1:{port}",
        copy_trading_executor_watch_ms=50,
        copy_trading_executor_watch_grace_ms=0,
    ) as sup:
        watch = sup.executor_watch
        assert watch is not None
        await until(lambda: watch.stats.last_block > 0, "the watch's first scan")
        await world.trade(0, "BUY", 0, 200 * SHARE, 100 * USD)
        await settled(sup, 1, "one copy executed")
        await until(lambda: watch.stats.journaled >= 1, "the copy's pull judged")
        assert watch.stats.unjournaled_total == 0
        assert await unjournaled(port) == {}
        # The worker caps the engine mirrors are exported too: the copy's $25 counts against one worker's.
        caps = await cap_series(port, "polyhunter_worker_cap_usd")
        used = await cap_series(port, "polyhunter_worker_cap_used_usd")
        fleet = [a.lower() for a in world.deployment.accounts.fleet]
        assert set(caps) == set(used) == set(fleet)
        assert all(cap > 1_000_000 for cap in caps.values())  # the local world's maximum cap
        assert sum(used.values()) == 25.0

        worker = world.deployment.accounts.fleet[0].lower()
        proxy = world.chain.proxy_of(world.deployment.accounts.followers[1])
        world.chain.pull_collateral(worker, proxy, 3 * USD)
        await until(lambda: watch.stats.unjournaled_total == 1, "the foreign pull reported")
        assert await unjournaled(port) == {("Pulled", worker): 1.0}
