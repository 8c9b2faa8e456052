"""The Executor watch the supervisor builds starts its read-back (the rebuild of the queued changes) at the
deployment's `executor_from_block`, not `lookback` blocks back: every Executor log read by the running
supervisor lies at or after it."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest
from supervisor_helpers import SQLITE_MEMORY, World, backend_env, until

from polyhunter.chain.aiorpc import AsyncRpc
from polyhunter.chain.local import LocalChain
from polyhunter.chain.logscan import deployment_block
from polyhunter.supervisor.app import Supervisor

pytestmark = [pytest.mark.integration, pytest.mark.asyncio]


@pytest.fixture
def world(request: pytest.FixtureRequest, local_chain: LocalChain, tmp_path: Path) -> World:
    home = tmp_path / "home"
    local_chain.deployment.save(home / "deployment.json")
    env = backend_env(SQLITE_MEMORY, request, home)
    return World(local_chain, env, home, SQLITE_MEMORY, local_chain.w3.eth.block_number + 1)


async def test_the_supervisors_watch_reads_back_from_the_executors_deployment_block(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    executor = world.deployment.contracts.executor.lower()
    created = deployment_block(world.chain.w3, executor)
    assert created is not None
    assert created > 0  # else the bound below could not be told from block 0
    deployment = dataclasses.replace(world.deployment, executor_from_block=created)
    executor_reads: list[int] = []
    call = AsyncRpc.call

    async def recording(self: AsyncRpc, method: str, params: list[Any] | None = None) -> Any:
        if method == "eth_getLogs" and params and str(params[0].get("address", "")).lower() == executor:
            executor_reads.append(int(params[0]["fromBlock"], 16))
        return await call(self, method, params)

    monkeypatch.setattr(AsyncRpc, "call", recording)
    supervisor = Supervisor(world.settings(copy_trading_executor_watch_ms=50), deployment, consumer="test")
    await supervisor.start()
    try:
        await supervisor.wait_connected()
        watch = supervisor.executor_watch
        assert watch is not None
        assert watch.first_block == created
        await until(lambda: watch.stats.last_block > 0, "the watch's first pass")
    finally:
        await supervisor.stop()
    # The default lookback (500,000 blocks) reaches block 0 on this chain: the rebuild began at `created`.
    assert executor_reads
    assert min(executor_reads) == created
