"""`polyhunter executor queued` and `polyhunter executor cancel ID` as the Executor's owner runs them, as
subprocesses, on a local world whose Executor makes widening changes wait an hour: any queued change (not
only one for a worker) is listed with its id, decoded call and ready time, and cancelled by its id; an id
that is not queued is refused with nothing sent."""

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

from polyhunter._core import keccak256
from polyhunter.chain.accounts import OWNER_INDEX, LocalAccounts, derive
from polyhunter.chain.anvil import Anvil
from polyhunter.chain.deploy import LocalWorldConfig, deploy_local
from polyhunter.chain.deployment import Deployment
from polyhunter.chain.tx import contract
from polyhunter.commands._executor_admin import ChangeNotQueued, ExecutorAdmin

pytestmark = pytest.mark.integration

DELAY_S = 3600
USD = 1_000_000
NEW_WORKER = derive(8).address.lower()

World = tuple[Path, Deployment, Web3]


def key_of(index: int) -> str:
    return "0x" + derive(index).key.hex().removeprefix("0x")


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    home = tmp_path_factory.mktemp("executor-cancel")
    with Anvil() as node:
        w3 = Web3(Web3.HTTPProvider(node.rpc_url))
        deployment = deploy_local(
            w3,
            rpc_url=node.rpc_url,
            ws_url=node.ws_url,
            accounts=LocalAccounts(fleet_size=1, leader_count=1, follower_count=1),
            config=LocalWorldConfig(
                change_delay_s=DELAY_S, worker_cap=1_000 * USD, markets=1, neg_risk_markets=0
            ),
        )
        deployment.save(home / "deployment.json")
        yield home, deployment, w3


def _env(home: Path, owner_key: str | None, **extra: str) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("COPY_TRADING_", "OWNER_", "EXECUTOR_", "TRADING_", "CHAIN_ID"))
    }
    env["POLYHUNTER_HOME"] = str(home)
    if owner_key is not None:
        env["OWNER_PRIVATE_KEY"] = owner_key
    env.update(extra)
    return env


def cli(
    home: Path, *args: str, owner_key: str | None = key_of(OWNER_INDEX), **extra: str
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "polyhunter.cli", "executor", *args],
        env=_env(home, owner_key, **extra),
        cwd=home,  # no developer .env
        capture_output=True,
        text=True,
        timeout=300,
    )


def as_json(result: subprocess.CompletedProcess[str]) -> Any:
    assert result.returncode == 0, result.stderr + result.stdout
    return json.loads(result.stdout)


def change_id(ex: Any, function: str, *args: Any) -> str:
    """The id the Executor gives the queued call: keccak256 of its calldata."""
    call = bytes.fromhex(ex.encode_abi(function, list(args))[2:])
    return "0x" + keccak256(call).hex()


def test_queued_lists_every_change_and_cancel_drops_one_by_its_id(world: World) -> None:
    home, deployment, w3 = world
    ex = contract(w3, "Executor", deployment.contracts.executor)
    assert as_json(cli(home, "queued", "--json"))["queued_changes"] == []
    treasury = deployment.contracts.treasury.lower()
    # Two widening changes: a fee rise (which no worker's revocation would cancel) and a new worker.
    fee = as_json(cli(home, "fee", "--bps", "40", "--treasury", treasury, "--json"))
    assert [c["status"] for c in fee["changes"]] == ["queued"]
    worker = as_json(cli(home, "authorise", NEW_WORKER, "--json"))
    assert [c["status"] for c in worker["changes"]] == ["queued"]
    fee_id = change_id(ex, "setFee", Web3.to_checksum_address(treasury), 40)
    worker_id = change_id(ex, "setWorker", Web3.to_checksum_address(NEW_WORKER), True)

    listed = as_json(cli(home, "queued", "--json"))
    rows = {r["id"]: r for r in listed["queued_changes"]}
    assert set(rows) == {fee_id, worker_id}
    assert rows[fee_id]["call"] == f"setFee(treasury_={treasury}, bps=40)"
    assert rows[worker_id]["call"] == f"setWorker(worker={NEW_WORKER}, authorised=True)"
    for row in rows.values():
        assert row["ready_at"] == ex.functions.changeReadyAt(bytes.fromhex(row["id"][2:])).call()
        assert row["ready"] is False
        assert listed["now"] < row["ready_at"] <= listed["now"] + DELAY_S
    text = cli(home, "queued")
    assert text.returncode == 0, text.stderr
    assert f"{fee_id}  setFee(treasury_={treasury}, bps=40)  (ready from " in text.stdout
    assert "2 change(s) queued" in text.stdout

    cancelled = cli(home, "cancel", fee_id)
    assert cancelled.returncode == 0, cancelled.stderr
    assert f"cancelled setFee(treasury_={treasury}, bps=40) (id {fee_id}, tx 0x" in cancelled.stdout
    assert ex.functions.changeReadyAt(bytes.fromhex(fee_id[2:])).call() == 0
    assert [r["id"] for r in as_json(cli(home, "queued", "--json"))["queued_changes"]] == [worker_id]

    dropped = as_json(cli(home, "cancel", worker_id, "--json"))
    assert (dropped["action"], dropped["id"]) == ("cancel", worker_id)
    assert dropped["call"] == f"setWorker(worker={NEW_WORKER}, authorised=True)"
    assert w3.eth.get_transaction_receipt(dropped["tx_hash"])["status"] == 1
    assert ex.functions.changeReadyAt(bytes.fromhex(worker_id[2:])).call() == 0
    assert as_json(cli(home, "queued", "--json"))["queued_changes"] == []
    empty = cli(home, "queued")
    assert empty.stdout.strip().endswith(f"0 change(s) queued on {deployment.contracts.executor.lower()}")

    # A cancelled change is gone for good: advancing past its time, nothing executes it.
    w3.provider.make_request("evm_increaseTime", [DELAY_S + 1])  # type: ignore[arg-type]
    w3.provider.make_request("evm_mine", [])  # type: ignore[arg-type]
    assert ex.functions.feeBps().call() == 0
    assert ex.functions.isWorker(Web3.to_checksum_address(NEW_WORKER)).call() is False


def test_an_id_not_queued_is_refused_and_nothing_is_sent(world: World) -> None:
    home, deployment, w3 = world
    owner = derive(OWNER_INDEX).address
    nonce = w3.eth.get_transaction_count(owner)
    unknown = "0x" + "ab" * 32
    refused = cli(home, "cancel", unknown)
    assert refused.returncode == 1
    assert f"change {unknown} is not queued" in refused.stderr
    assert "Traceback" not in refused.stderr
    malformed = cli(home, "cancel", "0x1234")
    assert malformed.returncode == 2
    assert "64 hex digits" in malformed.stderr
    # The typed error, from the admin API the command is built on.
    admin = ExecutorAdmin(
        w3,
        deployment.contracts.executor,
        derive(OWNER_INDEX),
        first_block=deployment.executor_from_block,
    )
    with pytest.raises(ChangeNotQueued, match=unknown):
        admin.cancel(bytes.fromhex(unknown[2:]))
    assert w3.eth.get_transaction_count(owner) == nonce


def test_cancel_needs_the_owners_key(world: World) -> None:
    home, deployment, w3 = world
    ex = contract(w3, "Executor", deployment.contracts.executor)
    treasury = deployment.contracts.treasury.lower()
    as_json(cli(home, "fee", "--bps", "30", "--treasury", treasury, "--json"))
    fee_id = change_id(ex, "setFee", Web3.to_checksum_address(treasury), 30)
    stranger = cli(home, "cancel", fee_id, owner_key=key_of(9))
    assert stranger.returncode == 1
    assert "the Executor's owner is" in stranger.stderr
    missing = cli(home, "cancel", fee_id, owner_key=None)
    assert missing.returncode == 1
    assert "OWNER_PRIVATE_KEY" in missing.stderr
    assert ex.functions.changeReadyAt(bytes.fromhex(fee_id[2:])).call() > 0
    assert as_json(cli(home, "cancel", fee_id, "--json"))["id"] == fee_id
    assert ex.functions.changeReadyAt(bytes.fromhex(fee_id[2:])).call() == 0


def test_cancel_on_polygon_needs_consent(tmp_path: Path) -> None:
    with Anvil(chain_id=137) as node:
        result = subprocess.run(
            [sys.executable, "-m", "polyhunter.cli", "executor", "cancel", "0x" + "cd" * 32],
            env=_env(tmp_path, key_of(OWNER_INDEX), COPY_TRADING_RPC_URLS=node.rpc_url),
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=300,
        )
    assert result.returncode == 1
    assert "--i-understand-mainnet to cancel" in result.stderr
