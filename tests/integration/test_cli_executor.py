"""`polyhunter executor show|workers|authorise|pause|fee` as the Executor's owner runs them, as subprocesses,
on a local world whose Executor makes widening changes wait an hour (as `polyhunter deploy` does)."""

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

from polyhunter.chain.accounts import OWNER_INDEX, LocalAccounts, derive
from polyhunter.chain.anvil import Anvil
from polyhunter.chain.deploy import LocalWorldConfig, deploy_local
from polyhunter.chain.deployment import Deployment
from polyhunter.chain.tx import contract

pytestmark = pytest.mark.integration

DELAY_S = 3600
USD = 1_000_000
NEW_WORKER = derive(7).address.lower()


def key_of(index: int) -> str:
    return "0x" + derive(index).key.hex().removeprefix("0x")


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, Deployment, Web3]]:
    home = tmp_path_factory.mktemp("executor")
    with Anvil() as node:
        w3 = Web3(Web3.HTTPProvider(node.rpc_url))
        accounts = LocalAccounts(fleet_size=2, leader_count=1, follower_count=1)
        deployment = deploy_local(
            w3,
            rpc_url=node.rpc_url,
            ws_url=node.ws_url,
            accounts=accounts,
            config=LocalWorldConfig(
                change_delay_s=DELAY_S, worker_cap=1_000 * USD, markets=1, neg_risk_markets=0
            ),
        )
        deployment.save(home / "deployment.json")
        yield home, deployment, w3


def cli(
    home: Path, *args: str, owner_key: str | None = key_of(OWNER_INDEX), **extra: str
) -> subprocess.CompletedProcess[str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("COPY_TRADING_", "OWNER_", "EXECUTOR_", "TRADING_", "CHAIN_ID"))
    }
    env["POLYHUNTER_HOME"] = str(home)
    env["SUPERVISOR_WORKER_POOL_SIZE"] = "2"
    if owner_key is not None:
        env["OWNER_PRIVATE_KEY"] = owner_key
    env.update(extra)
    return subprocess.run(
        [sys.executable, "-m", "polyhunter.cli", "executor", *args],
        env=env,
        cwd=home,  # no developer .env
        capture_output=True,
        text=True,
        timeout=300,
    )


def as_json(result: subprocess.CompletedProcess[str]) -> Any:
    assert result.returncode == 0, result.stderr + result.stdout
    return json.loads(result.stdout)


def executor(deployment: Deployment, w3: Web3) -> Any:
    return contract(w3, "Executor", deployment.contracts.executor)


def advance(w3: Web3, seconds: int) -> None:
    w3.provider.make_request("evm_increaseTime", [seconds])  # type: ignore[arg-type]
    w3.provider.make_request("evm_mine", [])  # type: ignore[arg-type]


def test_show_and_workers_read_the_executor(world: tuple[Path, Deployment, Web3]) -> None:
    home, deployment, _w3 = world
    shown = as_json(cli(home, "show", "--json"))
    assert shown["executor"] == deployment.contracts.executor.lower()
    assert shown["owner"] == derive(OWNER_INDEX).address.lower()
    assert (shown["paused"], shown["change_delay_s"], shown["setup_finished"]) == (False, DELAY_S, True)
    assert shown["default_worker_cap"] == 1_000 * USD
    listed = as_json(cli(home, "workers", "--json"))
    fleet = [a.lower() for a in deployment.accounts.fleet]
    rows = {r["address"]: r for r in listed["workers"]}
    assert set(fleet) <= set(rows)
    for address in fleet:
        assert rows[address]["authorised"] is True
        assert rows[address]["in_fleet"] is True
        assert (rows[address]["cap"], rows[address]["pulled_in_window"]) == (1_000 * USD, 0)
    text = cli(home, "workers")
    assert text.returncode == 0, text.stderr
    assert "2 of 2 authorised" in text.stdout


def test_authorise_waits_the_delay_and_a_rerun_finishes_it(world: tuple[Path, Deployment, Web3]) -> None:
    home, deployment, w3 = world
    ex = executor(deployment, w3)
    new = Web3.to_checksum_address(NEW_WORKER)
    first = as_json(cli(home, "authorise", NEW_WORKER, "--cap", "25", "--json"))
    statuses = [c["status"] for c in first["changes"]]
    assert statuses == ["done", "queued"]  # lowering a cap is immediate; authorising waits
    assert first["pending"] is True
    now = w3.eth.get_block("latest")["timestamp"]
    assert now + DELAY_S - 5 <= first["effective_from"] <= now + DELAY_S
    assert ex.functions.workerCap(new).call() == 25 * USD
    assert ex.functions.isWorker(new).call() is False
    shown = as_json(cli(home, "show", "--json"))
    assert [q["call"] for q in shown["queued_changes"]] == [f"setWorker({NEW_WORKER}, True)"]

    again = cli(home, "authorise", NEW_WORKER, "--cap", "25")
    assert again.returncode == 0, again.stderr
    assert "still queued; effective from" in again.stdout
    assert "already so, nothing sent" in again.stdout  # the cap
    assert ex.functions.isWorker(new).call() is False

    advance(w3, DELAY_S + 1)
    done = as_json(cli(home, "authorise", NEW_WORKER, "--cap", "25", "--json"))
    assert [c["status"] for c in done["changes"]] == ["unchanged", "done"]
    assert done["pending"] is False
    assert ex.functions.isWorker(new).call() is True
    assert as_json(cli(home, "show", "--json"))["queued_changes"] == []

    revoked = as_json(cli(home, "authorise", NEW_WORKER, "--revoke", "--json"))
    assert [c["status"] for c in revoked["changes"]] == ["done"]  # deauthorising is immediate
    assert ex.functions.isWorker(new).call() is False


def test_pause_is_immediate_and_idempotent(world: tuple[Path, Deployment, Web3]) -> None:
    home, deployment, w3 = world
    ex = executor(deployment, w3)
    paused = as_json(cli(home, "pause", "--json"))
    assert [c["status"] for c in paused["changes"]] == ["done"]
    assert ex.functions.paused().call() is True
    assert [c["status"] for c in as_json(cli(home, "pause", "--json"))["changes"]] == ["unchanged"]
    resumed = cli(home, "pause", "--resume")
    assert resumed.returncode == 0, resumed.stderr
    assert "all changes in effect" in resumed.stdout
    assert ex.functions.paused().call() is False


def test_a_fee_rise_waits_the_delay(world: tuple[Path, Deployment, Web3]) -> None:
    home, deployment, w3 = world
    ex = executor(deployment, w3)
    treasury = deployment.contracts.treasury.lower()
    queued = as_json(cli(home, "fee", "--bps", "50", "--treasury", treasury, "--json"))
    assert [c["status"] for c in queued["changes"]] == ["queued"]
    assert ex.functions.feeBps().call() == 0
    advance(w3, DELAY_S + 1)
    done = as_json(cli(home, "fee", "--bps", "50", "--treasury", treasury, "--json"))
    assert [c["status"] for c in done["changes"]] == ["done"]
    assert (ex.functions.feeBps().call(), ex.functions.treasury().call().lower()) == (50, treasury)
    cut = as_json(cli(home, "fee", "--bps", "0", "--json"))  # a cut to the same treasury is immediate
    assert [c["status"] for c in cut["changes"]] == ["done"]
    assert ex.functions.feeBps().call() == 0


def test_writes_need_the_owners_key_and_nothing_is_sent_without_it(
    world: tuple[Path, Deployment, Web3],
) -> None:
    home, deployment, w3 = world
    owner = derive(OWNER_INDEX).address
    nonce = w3.eth.get_transaction_count(owner)
    missing = cli(home, "pause", owner_key=None)
    assert missing.returncode == 1
    assert "OWNER_PRIVATE_KEY" in missing.stderr
    assert "Traceback" not in missing.stderr
    stranger = cli(home, "pause", owner_key=key_of(9))
    assert stranger.returncode == 1
    assert "the Executor's owner is" in stranger.stderr
    assert key_of(9)[2:] not in stranger.stderr + stranger.stdout
    assert w3.eth.get_transaction_count(owner) == nonce
    assert executor(deployment, w3).functions.paused().call() is False
    # The key is never an option of the command line.
    refused = cli(home, "pause", "--private-key", key_of(OWNER_INDEX))
    assert refused.returncode == 2


def test_writes_on_polygon_need_consent(tmp_path: Path) -> None:
    with Anvil(chain_id=137) as node:
        env_home = tmp_path
        result = subprocess.run(
            [sys.executable, "-m", "polyhunter.cli", "executor", "pause"],
            env={
                **{
                    k: v
                    for k, v in os.environ.items()
                    if not k.startswith(("COPY_TRADING_", "OWNER_", "EXECUTOR_"))
                },
                "POLYHUNTER_HOME": str(env_home),
                "COPY_TRADING_RPC_URLS": node.rpc_url,
                "OWNER_PRIVATE_KEY": key_of(OWNER_INDEX),
            },
            cwd=env_home,
            capture_output=True,
            text=True,
            timeout=300,
        )
    assert result.returncode == 1
    assert "--i-understand-mainnet" in result.stderr


def test_the_owner_key_may_come_from_a_keystore(world: tuple[Path, Deployment, Web3], tmp_path: Path) -> None:
    from eth_account import Account

    home, deployment, w3 = world
    keystore = tmp_path / "owner.json"
    keystore.write_text(json.dumps(Account.encrypt(key_of(OWNER_INDEX), "correct horse")))
    wrong = cli(home, "pause", "--keystore", str(keystore), owner_key=None, OWNER_KEYSTORE_PASSWORD="nope")
    assert wrong.returncode == 1
    assert "does not open with this password" in wrong.stderr
    paused = cli(
        home, "pause", "--keystore", str(keystore), owner_key=None, OWNER_KEYSTORE_PASSWORD="correct horse"
    )
    assert paused.returncode == 0, paused.stderr
    assert executor(deployment, w3).functions.paused().call() is True
    resumed = cli(
        home,
        "pause",
        "--resume",
        "--keystore",
        str(keystore),
        owner_key=None,
        OWNER_KEYSTORE_PASSWORD="correct horse",
    )
    assert resumed.returncode == 0, resumed.stderr
    assert executor(deployment, w3).functions.paused().call() is False
