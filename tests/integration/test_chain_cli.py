"""`polyhunter chain up --detach` / `status` / `down` and `polyhunter deploy`, as a user runs them."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from web3 import Web3

from polyhunter.chain.accounts import derive
from polyhunter.chain.anvil import Anvil, stop_pid
from polyhunter.chain.deployment import Deployment
from polyhunter.chain.tx import contract, deploy
from polyhunter.cli import main

pytestmark = pytest.mark.integration


def _cli(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "POLYHUNTER_HOME": str(home)}
    return subprocess.run(
        [sys.executable, "-m", "polyhunter.cli", *args], env=env, capture_output=True, text=True, timeout=120
    )


@pytest.fixture
def home(tmp_path: Path) -> Iterator[Path]:
    yield tmp_path
    state = tmp_path / "anvil.json"
    if state.exists():  # a failed test must not leave anvil or the local CLOB running
        pids = json.loads(state.read_text())
        if "clob_pid" in pids:
            stop_pid(int(pids["clob_pid"]), marker=b"polyhunter.localpoly")
        stop_pid(int(pids["pid"]))


def test_chain_up_detach_status_down(home: Path) -> None:
    up = _cli(home, "chain", "up", "--detach", "--port", "0", "--fleet-size", "3", "--followers", "2")
    assert up.returncode == 0, up.stderr
    assert "executor" in up.stdout

    deployment = Deployment.load(home / "deployment.json")
    assert len(deployment.accounts.fleet) == 3
    assert len(deployment.accounts.followers) == 2
    w3 = Web3(Web3.HTTPProvider(deployment.rpc_url))
    executor = contract(w3, "Executor", deployment.contracts.executor)
    assert all(
        executor.functions.isWorker(Web3.to_checksum_address(a)).call() for a in deployment.accounts.fleet
    )
    raw = json.loads((home / "deployment.json").read_text())
    assert set(raw) == {
        "chain_id",
        "rpc_url",
        "ws_url",
        "contracts",
        "proxy_init_code_hash",
        "markets",
        "accounts",
        "deposit_wallet_init_code_hash",
        "clob_url",
        "rtds_url",
        "executor_from_block",
    }
    assert isinstance(raw["markets"][0]["yes_token_id"], str)
    assert [m.neg_risk for m in deployment.markets] == [False, False, True]
    # The local Polymarket answers beside anvil, on loopback, at the URLs written into deployment.json.
    assert (deployment.clob_url or "").startswith("http://127.0.0.1:")
    assert (deployment.rtds_url or "").startswith("ws://127.0.0.1:")
    with urllib.request.urlopen(f"{deployment.clob_url}/version", timeout=5) as reply:
        assert json.loads(reply.read()) == {"version": 2}
    leader = deployment.accounts.leaders[0]
    assert deployment.accounts.deposit_wallet(leader) != leader

    status = _cli(home, "chain", "status")
    assert status.returncode == 0, status.stderr
    assert f"executor {deployment.contracts.executor}: deployed" in status.stdout
    assert f"local CLOB {deployment.clob_url}: answers" in status.stdout

    assert (home / "anvil-cache").is_dir()  # the detached node's history cache, in the home
    down = _cli(home, "chain", "down")
    assert down.returncode == 0, down.stderr
    assert not (home / "anvil-cache").exists()
    assert "anvil stopped" in down.stdout
    assert "local CLOB stopped" in down.stdout
    with pytest.raises(urllib.error.URLError, match="Connection refused"):
        urllib.request.urlopen(f"{deployment.clob_url}/version", timeout=2)
    assert not (home / "anvil.json").exists()
    assert not (home / "deployment.json").exists()
    assert _cli(home, "chain", "status").returncode == 1


def test_deploy_to_a_chain_with_an_owner_key_from_env(tmp_path: Path) -> None:
    owner = derive(150)
    with Anvil() as node:
        w3 = Web3(Web3.HTTPProvider(node.rpc_url))
        w3.provider.make_request("anvil_setBalance", [owner.address, hex(10**20)])  # type: ignore[arg-type]
        collateral = deploy(w3, owner, "MockCollateral")
        ctf = deploy(w3, owner, "ConditionalTokens")
        key = owner.key.hex()
        env = {"POLYHUNTER_HOME": str(tmp_path), "OWNER_PRIVATE_KEY": key, "TRADING_MNEMONIC": ""}
        args = ["deploy", "--rpc-url", node.rpc_url, "--collateral", collateral, "--ctf", ctf]
        fleet = [derive(i).address for i in range(2)]

        result = CliRunner(env=env).invoke(main, [*args, "--fleet", fleet[0], "--fleet", fleet[1]])

        assert result.exit_code == 0, result.output
        assert key.removeprefix("0x") not in result.output
        deployment = Deployment.load(tmp_path / "deployment.json")
        assert deployment.contracts.local_exchange is None
        assert "local_exchange" not in json.loads((tmp_path / "deployment.json").read_text())["contracts"]
        assert deployment.accounts.owner == owner.address.lower()
        executor = contract(w3, "Executor", deployment.contracts.executor)
        assert executor.functions.owner().call() == owner.address
        assert all(executor.functions.isWorker(a).call() for a in fleet)
        assert executor.functions.tokenKind(Web3.to_checksum_address(collateral)).call() == 1
        assert executor.functions.tokenKind(Web3.to_checksum_address(ctf)).call() == 2
        assert executor.functions.factory().call().lower() == deployment.contracts.proxy_factory


def test_deploy_refuses_mainnet_without_the_flag(tmp_path: Path) -> None:
    owner = derive(150)
    with Anvil(chain_id=137) as node:
        env = {"POLYHUNTER_HOME": str(tmp_path), "OWNER_PRIVATE_KEY": owner.key.hex()}
        address = "0x" + "11" * 20
        args = ["deploy", "--rpc-url", node.rpc_url, "--collateral", address, "--ctf", address]
        result = CliRunner(env=env).invoke(main, args)
        assert result.exit_code == 1
        assert "--i-understand-mainnet" in result.output
        assert Web3(Web3.HTTPProvider(node.rpc_url)).eth.get_transaction_count(owner.address) == 0
        assert not (tmp_path / "deployment.json").exists()


def test_deploy_without_an_owner_key_is_a_clear_error(tmp_path: Path) -> None:
    env = {"POLYHUNTER_HOME": str(tmp_path), "OWNER_PRIVATE_KEY": ""}
    address = "0x" + "11" * 20
    result = CliRunner(env=env).invoke(
        main, ["deploy", "--rpc-url", "http://127.0.0.1:1", "--collateral", address, "--ctf", address]
    )
    assert result.exit_code == 1
    assert "OWNER_PRIVATE_KEY is not set" in result.output


def test_chain_up_in_the_foreground_stops_cleanly_on_sigterm(home: Path) -> None:
    env = {**os.environ, "POLYHUNTER_HOME": str(home)}
    command = [sys.executable, "-m", "polyhunter.cli", "chain", "up", "--port", "0", "--followers", "1"]
    with subprocess.Popen(command, env=env, stdout=subprocess.PIPE, text=True) as process:
        try:
            assert process.stdout is not None
            for line in process.stdout:  # the summary ends with this line once the world is deployed
                if line.startswith("Ctrl-C stops it."):
                    break
            deployment = Deployment.load(home / "deployment.json")
            assert Web3(Web3.HTTPProvider(deployment.rpc_url)).eth.chain_id == 31337
            process.send_signal(signal.SIGTERM)
            assert process.wait(timeout=30) == 0
        finally:
            if process.poll() is None:
                process.kill()
    assert not (home / "anvil.json").exists()
    assert not (home / "deployment.json").exists()
