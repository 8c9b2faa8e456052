"""`polyhunter supervisor`'s start-up line as an operator reads it: the fleet it really trades with (not
SUPERVISOR_WORKER_POOL_SIZE) and the event loop it really runs on (POLYHUNTER_EVENT_LOOP; default uvloop)."""

from __future__ import annotations

import re
import signal
from pathlib import Path

import pytest
from supervisor_helpers import SQLITE_MEMORY, SupervisorProcess, World, backend_env

from polyhunter.chain.local import LocalChain

pytestmark = [pytest.mark.integration, pytest.mark.asyncio]


def _world(request: pytest.FixtureRequest, chain: LocalChain, tmp_path: Path) -> World:
    home = tmp_path / "home"
    chain.deployment.save(home / "deployment.json")
    env = backend_env(SQLITE_MEMORY, request, home)
    return World(chain, env, home, SQLITE_MEMORY, chain.w3.eth.block_number + 1)


async def _startup_line(world: World, name: str, **env: str) -> str:
    proc = SupervisorProcess(world, name, **env).start()
    try:
        await proc.wait_connected()
        proc.signal(signal.SIGTERM)
        assert await proc.wait_exit() == 0, proc.output[-4000:]
    finally:
        proc.close()
    lines = [line for line in proc.output.splitlines() if "supervisor up:" in line]
    assert len(lines) == 1, proc.output[-4000:]
    return lines[0]


async def test_the_startup_line_names_the_real_fleet_and_the_event_loop(
    request: pytest.FixtureRequest, local_chain: LocalChain, tmp_path: Path
) -> None:
    world = _world(request, local_chain, tmp_path)
    fleet = len(local_chain.deployment.accounts.fleet)
    pool = fleet + 5  # a worker pool size that is not the fleet's: the line must not print it

    default = await _startup_line(world, "default", SUPERVISOR_WORKER_POOL_SIZE=str(pool))
    assert re.search(rf"\bfleet {fleet}\b", default), default
    assert default.endswith("loop uvloop"), default

    fallback = await _startup_line(world, "asyncio", POLYHUNTER_EVENT_LOOP="asyncio")
    assert fallback.endswith("loop asyncio"), fallback


async def test_two_shards_each_report_their_half_of_the_fleet(
    request: pytest.FixtureRequest, local_chain: LocalChain, tmp_path: Path
) -> None:
    world = _world(request, local_chain, tmp_path)
    fleet = local_chain.deployment.accounts.fleet
    line = await _startup_line(world, "shard1", SUPERVISOR_SHARD_COUNT="2", SUPERVISOR_SHARD_INDEX="1")
    # Shards split the fleet (every second wallet), so two instances never send from one wallet.
    assert re.search(rf"\bfleet {len(fleet[1::2])}\b", line), line
