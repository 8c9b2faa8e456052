"""`polyhunter fleet status|setup` as an operator runs them, on a local world from `chain up --detach` whose
fleet has two wallets set up by the deployment and two more (SUPERVISOR_WORKER_POOL_SIZE=4) with nothing."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from web3 import Web3

from polyhunter._core import Signer
from polyhunter.chain.accounts import OWNER_INDEX, LocalAccounts, derive
from polyhunter.chain.anvil import TEST_MNEMONIC, Anvil, stop_pid
from polyhunter.chain.deploy import deploy_local
from polyhunter.chain.deployment import Deployment
from polyhunter.chain.polymarket import MAX_UINT256, deposit_wallet_address
from polyhunter.chain.tx import contract, send
from polyhunter.clobauth import ApiCreds
from polyhunter.venue.client import ClobClient

pytestmark = pytest.mark.integration

FLEET = 4
DEPLOYED = 2
WRAP_USD = 25
SPENDERS = {
    "exchange",
    "neg_risk_exchange",
    "executor",
    "neg_risk_adapter",
    "collateral_adapter",
    "neg_risk_collateral_adapter",
}


def _stop(home: Path) -> None:
    state = home / "anvil.json"
    if state.exists():
        pids = json.loads(state.read_text())
        if "clob_pid" in pids:
            stop_pid(int(pids["clob_pid"]), marker=b"polyhunter.localpoly")
        stop_pid(int(pids["pid"]))


def _env(home: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("COPY_TRADING_", "CLOB_", "OWNER_"))}
    env.update(
        POLYHUNTER_HOME=str(home),
        TRADING_MNEMONIC=TEST_MNEMONIC,
        SUPERVISOR_WORKER_POOL_SIZE=str(FLEET),
        **extra,
    )
    for name in ("TRADING_PRIVATE_KEY", "CHAIN_ID", "EXECUTOR_ADDRESS", "CTF_ADDRESS"):
        env.pop(name, None)
    return env


def _cli(home: Path, *args: str, **extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "polyhunter.cli", *args],
        env=_env(home, **extra),
        cwd=home,  # no developer .env
        capture_output=True,
        text=True,
        timeout=300,
    )


def _json(result: subprocess.CompletedProcess[str]) -> Any:
    assert result.returncode == 0, result.stderr + result.stdout
    return json.loads(result.stdout)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, Deployment]]:
    home = tmp_path_factory.mktemp("fleet")
    try:
        up = _cli(home, "chain", "up", "--detach", "--port", "0", "--fleet-size", str(DEPLOYED))
        assert up.returncode == 0, up.stderr
        yield home, Deployment.load(home / "deployment.json")
    finally:
        _stop(home)


def _owner_key() -> str:
    return "0x" + derive(OWNER_INDEX).key.hex().removeprefix("0x")


def _derived_creds(deployment: Deployment, index: int) -> ApiCreds:
    async def derive_key() -> ApiCreds:
        signer = Signer("0x" + derive(index).key.hex().removeprefix("0x"))
        assert deployment.clob_url is not None
        async with ClobClient(deployment.clob_url, deployment.chain_id, signer) as client:
            return await client.derive_api_key()

    return asyncio.run(derive_key())


def test_status_then_setup_then_setup_again(world: tuple[Path, Deployment]) -> None:
    home, deployment = world
    w3 = Web3(Web3.HTTPProvider(deployment.rpc_url))
    c = deployment.contracts
    assert c.deposit_wallet_factory is not None
    assert deployment.deposit_wallet_init_code_hash is not None
    assert c.usdce is not None
    eoas = [derive(i).address.lower() for i in range(FLEET)]
    predicted = [
        deposit_wallet_address(c.deposit_wallet_factory, eoa, deployment.deposit_wallet_init_code_hash)
        for eoa in eoas
    ]
    outputs: list[str] = []

    # --- before: the deployed fleet has wallets, registered; the extra wallets have nothing.
    before = _cli(home, "fleet", "status", "--json")
    outputs.append(before.stdout + before.stderr)
    status = _json(before)
    assert set(status) == {"world", "wallets"}
    assert status["world"]["chain_id"] == deployment.chain_id
    assert status["world"]["executor"] == c.executor
    assert set(status["world"]["spenders"]) == SPENDERS
    wallets = status["wallets"]
    assert [w["eoa"] for w in wallets] == eoas
    for i, w in enumerate(wallets):
        assert set(w) >= {
            "index",
            "eoa",
            "gas_wei",
            "deposit_wallet",
            "deposit_wallet_source",
            "deployed",
            "pusd_eoa",
            "pusd_wallet",
            "usdce_eoa",
            "approvals",
            "authorised",
            "registered",
            "api_key",
            "ready",
        }
        assert w["index"] == i
        assert w["api_key"] == "none"
        assert w["ready"] is False
        assert w["deposit_wallet"] == predicted[i]
        assert w["pusd_wallet"] == 0
        assert w["gas_wei"] == w3.eth.get_balance(Web3.to_checksum_address(eoas[i]))
    for w in wallets[:DEPLOYED]:
        assert (w["deposit_wallet_source"], w["deployed"], w["authorised"], w["registered"]) == (
            "executor",
            True,
            True,
            True,
        )
        # The deployment approves the exchanges and the Executor, not the adapters.
        assert {n for n, a in w["approvals"].items() if a["pusd"] and a["ctf"]} == {
            "exchange",
            "neg_risk_exchange",
            "executor",
        }
    for w in wallets[DEPLOYED:]:
        assert (w["deposit_wallet_source"], w["deployed"], w["authorised"], w["registered"]) == (
            "factory",
            False,
            False,
            False,
        )
        assert not any(a["pusd"] or a["ctf"] for a in w["approvals"].values())
        assert not w3.eth.get_code(Web3.to_checksum_address(w["deposit_wallet"]))

    # USDC.e on every EOA, exactly what --wrap will need: the EOA's pUSD is not touched by setup.
    owner = derive(OWNER_INDEX)
    usdce = contract(w3, "MockCollateral", c.usdce)
    for eoa in eoas:
        send(w3, owner, usdce.functions.mint(Web3.to_checksum_address(eoa), WRAP_USD * 10**6))

    # --- --register without the owner key: refused before anything is done, in one line.
    refused = _cli(home, "fleet", "setup", "--register")
    outputs.append(refused.stdout + refused.stderr)
    assert refused.returncode == 1
    assert refused.stderr.strip().splitlines() == [
        "Error: --register needs OWNER_PRIVATE_KEY (the Executor's owner registers wallets)"
    ]

    # --- setup: every wallet ends ready.
    args = ("fleet", "setup", "--register", "--wrap", str(WRAP_USD), "--json")
    first = _cli(home, *args, OWNER_PRIVATE_KEY=_owner_key())
    outputs.append(first.stdout + first.stderr)
    done = _json(first)
    assert done["changed"] is True
    assert done["ready"] == FLEET
    for i, w in enumerate(done["wallets"]):
        actions = " | ".join(w["actions"])
        assert actions.startswith("created CLOB API key")
        assert f"wrapped {WRAP_USD * 10**6} USDC.e base units into pUSD for {predicted[i]}" in actions
        assert w["errors"] == []
        assert w["status"]["ready"] is True
        assert w["status"]["pusd_wallet"] == WRAP_USD * 10**6
        assert w["status"]["usdce_eoa"] == 0
        if i >= DEPLOYED:
            assert f"deployed deposit wallet {predicted[i]}" in actions
            assert "authorised as a worker on the Executor" in actions
            assert f"registered {predicted[i]} as its trading wallet on the Executor" in actions
        else:
            assert "deployed" not in actions
            assert "registered" not in actions

    # The chain agrees, read independently of the command.
    executor = contract(w3, "Executor", c.executor)
    pusd = contract(w3, "PolyUSD", c.collateral)
    ctf = contract(w3, "ConditionalTokens", c.ctf)
    spenders = done["world"]["spenders"]
    for eoa, wallet in zip(eoas, predicted, strict=True):
        eoa_cs, wallet_cs = Web3.to_checksum_address(eoa), Web3.to_checksum_address(wallet)
        assert executor.functions.isWorker(eoa_cs).call() is True
        assert executor.functions.walletOf(eoa_cs).call() == wallet_cs
        assert pusd.functions.balanceOf(wallet_cs).call() == WRAP_USD * 10**6
        for spender in spenders.values():
            spender_cs = Web3.to_checksum_address(spender)
            assert pusd.functions.allowance(wallet_cs, spender_cs).call() == MAX_UINT256
            assert ctf.functions.isApprovedForAll(wallet_cs, spender_cs).call() is True

    # --- the same command again changes nothing and says so.
    block = w3.eth.block_number
    again = _cli(home, *args, OWNER_PRIVATE_KEY=_owner_key())
    outputs.append(again.stdout + again.stderr)
    repeat = _json(again)
    assert repeat["changed"] is False
    assert repeat["ready"] == FLEET
    assert all(w["actions"] == [] and w["errors"] == [] for w in repeat["wallets"])
    assert w3.eth.block_number == block  # not one transaction
    text = _cli(home, "fleet", "setup", "--register", "--wrap", str(WRAP_USD), OWNER_PRIVATE_KEY=_owner_key())
    outputs.append(text.stdout + text.stderr)
    assert text.returncode == 0, text.stderr
    assert text.stdout.count("nothing to change (already set up)") == FLEET
    assert text.stdout.rstrip().endswith(
        f"Fleet: {FLEET}/{FLEET} ready for the CLOB; nothing changed: the fleet was already set up"
    )

    # --- status after: every wallet ready, as a table too.
    after = _json(_cli(home, "fleet", "status", "--json"))
    assert [w["ready"] for w in after["wallets"]] == [True] * FLEET
    assert [w["api_key"] for w in after["wallets"]] == ["exists"] * FLEET
    table = _cli(home, "fleet", "status")
    outputs.append(table.stdout + table.stderr)
    assert table.returncode == 0, table.stderr
    assert f"Fleet: {FLEET}/{FLEET} ready for the CLOB" in table.stdout
    assert all(
        eoa in table.stdout and wallet in table.stdout for eoa, wallet in zip(eoas, predicted, strict=True)
    )

    # --- no secret anywhere: not the mnemonic, a key, nor an API credential.
    secrets = [TEST_MNEMONIC, *TEST_MNEMONIC.split()[-2:], _owner_key().removeprefix("0x")]
    secrets += [derive(i).key.hex().removeprefix("0x") for i in range(FLEET)]
    for i in range(FLEET):
        creds = _derived_creds(deployment, i)
        secrets += [creds.api_key, creds.secret, creds.passphrase]
    for output in outputs:
        for secret in secrets:
            assert secret.lower() not in output.lower()


def test_setup_refuses_a_bad_wrap_amount_and_a_bad_deposit_wallet(world: tuple[Path, Deployment]) -> None:
    home, _deployment = world
    bad_wrap = _cli(home, "fleet", "setup", "--wrap", "-3")
    assert bad_wrap.returncode == 2
    assert "--wrap" in bad_wrap.stderr
    bad_wallet = _cli(home, "fleet", "status", "--deposit-wallet", "0x1234")
    assert bad_wallet.returncode == 2
    assert "EOA=WALLET" in bad_wallet.stderr


@pytest.fixture(scope="module")
def polygon_world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, Deployment]]:
    """The local world on an anvil with chain id 137, which setup treats as Polygon: wallets come from
    Polymarket's relayer, never our CREATE2. The local CLOB refuses chain 137, so CLOB_HOST points at a
    loopback port where nothing listens (the API key step fails apart from the chain steps)."""
    home = tmp_path_factory.mktemp("fleet137")
    with Anvil(chain_id=137) as node:
        w3 = Web3(Web3.HTTPProvider(node.rpc_url))
        deployment = deploy_local(
            w3,
            rpc_url=node.rpc_url,
            ws_url=node.ws_url,
            accounts=LocalAccounts(fleet_size=DEPLOYED, leader_count=1, follower_count=1),
        )
        deployment.save(home / "deployment.json")
        yield home, deployment


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_on_polygon_writes_need_consent_and_wallets_come_from_the_operator(
    polygon_world: tuple[Path, Deployment],
) -> None:
    home, deployment = polygon_world
    nowhere = {"CLOB_HOST": f"http://127.0.0.1:{_closed_port()}"}
    w3 = Web3(Web3.HTTPProvider(deployment.rpc_url))
    assert w3.eth.chain_id == 137
    eoas = [derive(i).address.lower() for i in range(FLEET)]

    # Without --i-understand-mainnet: refused before any transaction (the deployed wallets lack the
    # adapters' approvals, so setup has writes to make).
    block = w3.eth.block_number
    refused = _cli(home, "fleet", "setup", **nowhere)
    assert refused.returncode == 1
    lines = refused.stderr.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("Error: fleet setup would send ")
    assert lines[0].endswith("rerun with --i-understand-mainnet")
    assert w3.eth.block_number == block

    # No wallet for the extra EOAs: never our CREATE2 prediction on Polygon.
    status = _json(_cli(home, "fleet", "status", "--json", **nowhere))
    assert status["world"]["deposit_wallet_factory"] is None
    assert {w["api_key"] for w in status["wallets"]} == {"unreachable"}
    assert [w["deposit_wallet"] is None for w in status["wallets"]] == [False] * DEPLOYED + [True] * 2

    # With consent: the registered wallets are completed on chain, the others get the relayer step to do;
    # the unreachable CLOB is reported per wallet and makes the command fail, after the chain work.
    consent = _cli(home, "fleet", "setup", "--i-understand-mainnet", "--json", **nowhere)
    assert consent.returncode == 1
    done = json.loads(consent.stdout)
    assert done["changed"] is True
    for w in done["wallets"]:
        assert len(w["errors"]) == 1
        assert w["errors"][0].startswith("CLOB API key: ")
        assert w["status"]["api_key"] == "unreachable"
    for w in done["wallets"][:DEPLOYED]:
        assert w["actions"] == [
            "approved pUSD and CTF to neg_risk_adapter; pUSD and CTF to collateral_adapter; "
            "pUSD and CTF to neg_risk_collateral_adapter"
        ]
        assert all(a["pusd"] and a["ctf"] for a in w["status"]["approvals"].values())
        assert w["operator_steps"] == []
    for w in done["wallets"][DEPLOYED:]:
        assert w["actions"] == []
        assert w["status"]["deposit_wallet"] is None
        assert len(w["operator_steps"]) == 1
        assert "only Polymarket's relayer deploys it on chain 137" in w["operator_steps"][0]
        assert f"--deposit-wallet {w['eoa']}=<wallet>" in w["operator_steps"][0]

    # The operator had the relayer make the wallet (here: the local factory) and passes it in.
    from polyhunter.chain.polymarket import create_deposit_wallet
    from polyhunter.fleetsetup.world import POLYMARKET_CHAINS

    assert 137 in POLYMARKET_CHAINS
    c = deployment.contracts
    assert c.deposit_wallet_factory is not None
    assert deployment.deposit_wallet_init_code_hash is not None
    wallet = _relayer_made_wallet(w3, deployment, DEPLOYED, create_deposit_wallet)
    given = f"{eoas[DEPLOYED]}={wallet}"
    # The setting names it as the option does.
    from_setting = _json(
        _cli(home, "fleet", "status", "--json", CLOB_DEPOSIT_WALLETS=given.replace("=", ":"), **nowhere)
    )
    assert from_setting["wallets"][DEPLOYED]["deposit_wallet"] == wallet
    assert from_setting["wallets"][DEPLOYED]["deposit_wallet_source"] == "given"
    args = ("fleet", "setup", "--i-understand-mainnet", "--register", "--deposit-wallet", given, "--json")
    made = _cli(home, *args, OWNER_PRIVATE_KEY=_owner_key(), **nowhere)
    assert made.returncode == 1  # the CLOB is still unreachable
    target = json.loads(made.stdout)["wallets"][DEPLOYED]
    assert target["status"]["deposit_wallet"] == wallet
    # Read back after registration: the Executor now names the wallet.
    assert target["status"]["deposit_wallet_source"] == "executor"
    assert "deployed deposit wallet" not in " ".join(target["actions"])
    assert target["status"]["deployed"] is True
    assert all(a["pusd"] and a["ctf"] for a in target["status"]["approvals"].values())
    assert target["status"]["authorised"] is True
    assert target["status"]["registered"] is True
    assert f"registered {wallet} as its trading wallet on the Executor" in target["actions"]
    # Without the option from here on: the Executor is the source.
    after = _json(_cli(home, "fleet", "status", "--json", **nowhere))["wallets"][DEPLOYED]
    assert (after["deposit_wallet"], after["deposit_wallet_source"], after["registered"]) == (
        wallet,
        "executor",
        True,
    )


def _relayer_made_wallet(w3: Web3, deployment: Deployment, index: int, create: Any) -> str:
    from polyhunter.chain.polymarket import PolymarketContracts

    c = deployment.contracts
    assert c.usdce is not None
    assert c.pusd is not None
    assert c.onramp is not None
    assert c.offramp is not None
    assert c.ctf_exchange_v2 is not None
    assert c.neg_risk_exchange_v2 is not None
    assert c.deposit_wallet_factory is not None
    assert deployment.deposit_wallet_init_code_hash is not None
    pm = PolymarketContracts(
        usdce=c.usdce,
        pusd=c.pusd,
        onramp=c.onramp,
        offramp=c.offramp,
        ctf=c.ctf,
        exchange=c.ctf_exchange_v2,
        neg_risk_exchange=c.neg_risk_exchange_v2,
        wallet_factory=c.deposit_wallet_factory,
        wallet_init_code_hash=deployment.deposit_wallet_init_code_hash,
    )
    return str(create(w3, pm, derive(index))).lower()
