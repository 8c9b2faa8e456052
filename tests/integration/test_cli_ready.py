"""`polyhunter ready` and the checks `polyhunter supervisor` runs first, on a world from `chain up --detach`:
green when fresh (both venues), fatal on a paused Executor or an unauthorised fleet, a warning for one
wallet low on gas, and the `--json` shape."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from web3 import Web3

from polyhunter.chain.accounts import OWNER_INDEX, derive
from polyhunter.chain.anvil import TEST_MNEMONIC, stop_pid
from polyhunter.chain.deployment import Deployment
from polyhunter.chain.tx import contract, send
from polyhunter.settings import Settings

pytestmark = pytest.mark.integration

FLEET = 2


def _stop(home: Path) -> None:
    state = home / "anvil.json"
    if state.exists():
        pids = json.loads(state.read_text())
        if "clob_pid" in pids:
            stop_pid(int(pids["clob_pid"]), marker=b"polyhunter.localpoly")
        stop_pid(int(pids["pid"]))


def _cli(home: Path, *args: str, **extra: str) -> subprocess.CompletedProcess[str]:
    names = {name.upper() for name in Settings.model_fields}
    env = {k: v for k, v in os.environ.items() if k.upper() not in names}
    env.update(POLYHUNTER_HOME=str(home), TRADING_MNEMONIC=TEST_MNEMONIC)
    env.update(SUPERVISOR_METRICS_ADDR="127.0.0.1:0", **extra)  # never the default port a supervisor may hold
    return subprocess.run(
        [sys.executable, "-m", "polyhunter.cli", *args],
        env=env,
        cwd=home,  # no developer .env
        capture_output=True,
        text=True,
        timeout=600,
    )


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, Deployment]]:
    home = tmp_path_factory.mktemp("ready")
    try:
        up = _cli(home, "chain", "up", "--detach", "--port", "0", "--fleet-size", str(FLEET))
        assert up.returncode == 0, up.stderr
        yield home, Deployment.load(home / "deployment.json")
    finally:
        _stop(home)


def _checks(result: subprocess.CompletedProcess[str]) -> dict[str, dict[str, Any]]:
    report = json.loads(result.stdout)
    return {c["name"]: c for c in report["checks"]}


def _owner() -> Any:
    return derive(OWNER_INDEX)


def test_a_fresh_world_is_ready(world: tuple[Path, Deployment]) -> None:
    home, deployment = world
    done = _cli(home, "ready")
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    assert lines[-1] == "ready (0 warnings)"
    assert all(line.startswith("✓ ") for line in lines[:-1]), done.stdout
    names = [line.split(": ")[0] for line in lines[:-1]]
    for expected in (
        "✓ settings",
        "✓ store",
        "✓ executor paused",
        "✓ executor allowlist",
        "✓ fleet authorised",
    ):
        assert expected in names
    assert f"✓ code {deployment.contracts.executor}" in names
    assert sum(name.startswith("✓ gas 0x") for name in names) == FLEET
    assert any(name.startswith("✓ rpc http://127.0.0.1:") for name in names)


def test_a_fresh_world_is_ready_on_the_clob(world: tuple[Path, Deployment]) -> None:
    home, deployment = world
    done = _cli(home, "ready", "--json", COPY_TRADING_VENUE="clob")
    assert done.returncode == 0, done.stdout + done.stderr
    checks = _checks(done)
    assert checks["geoblock"]["status"] == "ok"
    assert "/api/geoblock" in checks["geoblock"]["detail"]
    assert checks["clob fleet"]["detail"] == f"{FLEET} of {FLEET} fleet wallets can trade on the CLOB"
    for eoa in deployment.accounts.fleet[:FLEET]:
        assert checks[f"clob {eoa.lower()}"]["status"] == "ok"
    assert checks["code " + str(deployment.contracts.ctf_exchange_v2)]["status"] == "ok"


def test_a_geoblocked_host_is_fatal(world: tuple[Path, Deployment]) -> None:
    """CLOB_GEOBLOCK_URL pointing at a route that does not answer the geoblock question fails the check."""
    home, deployment = world
    assert deployment.clob_url is not None
    done = _cli(
        home, "ready", "--json", COPY_TRADING_VENUE="clob", CLOB_GEOBLOCK_URL=deployment.clob_url + "/ok"
    )
    assert done.returncode == 1, done.stdout + done.stderr
    assert _checks(done)["geoblock"]["status"] == "fatal"


def test_json_shape(world: tuple[Path, Deployment]) -> None:
    home, _ = world
    done = _cli(home, "ready", "--json")
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert set(report) == {"ready", "fatal", "warnings", "checks"}
    assert report["ready"] is True
    assert (report["fatal"], report["warnings"]) == (0, 0)
    for check in report["checks"]:
        assert set(check) == {"name", "status", "ok", "severity", "detail", "fix"}
        assert check["status"] == "ok"
        assert check["severity"] in ("fatal", "warning")


def test_a_paused_executor_is_fatal_and_stops_the_supervisor(world: tuple[Path, Deployment]) -> None:
    home, deployment = world
    w3 = Web3(Web3.HTTPProvider(deployment.rpc_url))
    executor = contract(w3, "Executor", deployment.contracts.executor)
    send(w3, _owner(), executor.functions.setPaused(True))
    try:
        done = _cli(home, "ready", "--json")
        supervisor = _cli(home, "supervisor", "--log-level", "warning")
    finally:
        send(w3, _owner(), executor.functions.setPaused(False))
    assert done.returncode == 1, done.stdout + done.stderr
    report = json.loads(done.stdout)
    assert report["ready"] is False
    paused = _checks(done)["executor paused"]
    assert paused["status"] == "fatal"
    assert "is paused" in paused["detail"]
    assert "setPaused(false)" in paused["fix"]
    assert supervisor.returncode == 1, supervisor.stderr
    assert any(line.startswith("✗ executor paused:") for line in supervisor.stderr.splitlines())
    errors = [line for line in supervisor.stderr.splitlines() if line.startswith("Error")]
    assert errors == [f"Error: {paused['detail']}"]
    assert "Traceback" not in supervisor.stderr


def test_an_unauthorised_fleet_is_fatal_and_a_partly_authorised_one_warns(
    world: tuple[Path, Deployment],
) -> None:
    home, deployment = world
    w3 = Web3(Web3.HTTPProvider(deployment.rpc_url))
    executor = contract(w3, "Executor", deployment.contracts.executor)
    fleet = [Web3.to_checksum_address(a) for a in deployment.accounts.fleet[:FLEET]]
    send(w3, _owner(), executor.functions.setWorkers(fleet, False))
    try:
        none = _cli(home, "ready")
        send(w3, _owner(), executor.functions.setWorkers(fleet[:1], True))
        some = _cli(home, "ready", "--json")
    finally:
        send(w3, _owner(), executor.functions.setWorkers(fleet, True))
    assert none.returncode == 1, none.stdout + none.stderr
    assert f"✗ fleet authorised: none of the {FLEET} fleet wallets is a worker (fatal)" in none.stdout
    assert none.stdout.splitlines()[-1].startswith("NOT READY: 1 fatal")
    assert some.returncode == 0, some.stdout + some.stderr
    check = _checks(some)["fleet authorised"]
    assert check["status"] == "warning"
    assert fleet[1].lower() in check["detail"]


def test_one_wallet_low_on_gas_warns(world: tuple[Path, Deployment]) -> None:
    home, deployment = world
    w3 = Web3(Web3.HTTPProvider(deployment.rpc_url))
    low = deployment.accounts.fleet[1].lower()
    before = w3.eth.get_balance(Web3.to_checksum_address(low))
    w3.provider.make_request("anvil_setBalance", [low, hex(10**6)])  # type: ignore[arg-type]
    try:
        done = _cli(home, "ready")
        json_done = _cli(home, "ready", "--json")
    finally:
        w3.provider.make_request("anvil_setBalance", [low, hex(before)])  # type: ignore[arg-type]
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.splitlines()[-1] == "ready (1 warning)"
    warned = [line for line in done.stdout.splitlines() if line.startswith("✗ ")]
    assert len(warned) == 1
    assert warned[0].startswith(f"✗ gas {low}: 1000000 wei, under COPY_TRADING_REFUEL_BELOW_WEI")
    assert "(warning)" in warned[0]
    checks = _checks(json_done)
    assert checks[f"gas {low}"]["status"] == "warning"
    assert json.loads(json_done.stdout)["warnings"] == 1


def test_a_bad_setting_is_the_one_fatal_line(world: tuple[Path, Deployment]) -> None:
    home, _ = world
    done = _cli(home, "ready", SUPERVISOR_QUEUE_MAX_SIZE="0")
    assert done.returncode == 1
    lines = done.stdout.splitlines()
    assert lines[0].startswith("✗ settings: SUPERVISOR_QUEUE_MAX_SIZE")
    assert lines[-1].startswith("NOT READY: 1 fatal")
