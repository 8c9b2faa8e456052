"""The supervisor's sources on the local world: its log decoder is built with the deployment's adapters and
ramps as non-trading (a CTF transfer one of them operates is no fill), and with a websocket URL the
mempool source runs beside the log detector by default, and not when SUPERVISOR_SOURCES=logs."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from supervisor_helpers import SQLITE_MEMORY, World, backend_env, running

from polyhunter.chain.local import LocalChain

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "unit"))
from eventlogs import TRANSFER_SINGLE, encode_log

pytestmark = [pytest.mark.integration, pytest.mark.asyncio]

NON_TRADING = ("neg_risk_adapter", "collateral_adapter", "neg_risk_collateral_adapter", "onramp", "offramp")


@pytest.fixture
def world(request: pytest.FixtureRequest, local_chain: LocalChain, tmp_path: Path) -> World:
    home = tmp_path / "home"
    local_chain.deployment.save(home / "deployment.json")
    env = backend_env(SQLITE_MEMORY, request, home)
    return World(local_chain, env, home, SQLITE_MEMORY, local_chain.w3.eth.block_number + 1)


def transfer(ctf: str, operator: str, src: str, dst: str) -> bytes:
    args = {"operator": operator, "from": src, "to": dst, "id": 7, "value": 5_000_000}
    log = encode_log(TRANSFER_SINGLE, ctf, args, tx_hash=b"\x42" * 32, log_index=3)
    return json.dumps({"jsonrpc": "2.0", "id": 1, "result": [log]}).encode()


async def test_the_supervisors_decoder_ignores_the_local_worlds_plumbing(world: World) -> None:
    d = world.deployment
    plumbing = [getattr(d.contracts, name) for name in NON_TRADING]
    assert all(plumbing), "the local world deploys every adapter and ramp"
    await world.follow(0, 0, mode="fixed", fixed_usd=1_000_000)
    leader, stranger = world.leaders[0], "0x" + "5e" * 20
    async with running(world) as supervisor:
        assert supervisor.mempool is not None  # a websocket URL exists: logs and mempool by default
        for address in plumbing:
            for operator, src, dst in [(address, address, leader), (leader, leader, address)]:
                raw = transfer(d.contracts.ctf, operator, src, dst)
                assert supervisor.decoder.decode(raw).signals == [], (address, operator, src, dst)
        # The same transfer between two users is the leader's fill: the decoder does see CTF transfers.
        assert (
            len(supervisor.decoder.decode(transfer(d.contracts.ctf, stranger, stranger, leader)).signals) == 1
        )


async def test_logs_only_runs_no_mempool_source(world: World) -> None:
    async with running(world, supervisor_sources="logs") as supervisor:
        assert supervisor.mempool is None
        assert "mempool" not in {t.get_name() for t in supervisor._tasks}
