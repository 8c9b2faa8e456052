"""`polyhunter fleet rotate` as a subprocess on anvil, on an Executor whose widening changes wait an hour:
the first run queues the new workers and says when they take effect; after the delay a second run
deauthorises the old, moves their open Smart Buffer debt (on chain and in the store), sweeps their floats,
deposit wallet and gas; a third run changes nothing; and the new fleet is then repaid the debt."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from engine_world import FAST, USD, World, engine, job, stop, with_
from web3 import Web3

from polyhunter._core import derive_signers
from polyhunter.chain.accounts import OWNER_INDEX, LocalAccounts, derive
from polyhunter.chain.aiorpc import AsyncRpc
from polyhunter.chain.anvil import TEST_MNEMONIC, Anvil
from polyhunter.chain.deploy import LocalWorldConfig, deploy_local
from polyhunter.chain.local import LocalChain
from polyhunter.chain.tx import send
from polyhunter.execution.localchain import LocalChainEngine
from polyhunter.execution.recovery import Recovery
from polyhunter.models import DebtStatus, TradeStatus
from polyhunter.store.base import StoreJournal
from polyhunter.store.sqlite import SqliteStore

pytestmark = pytest.mark.integration

DELAY_S = 3600
START = 10  # the new fleet: indices 10 and 11 of the same (local) words
WALLET_USD = 3 * USD


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, World]]:
    home = tmp_path_factory.mktemp("rotate")
    with Anvil() as node:
        w3 = Web3(Web3.HTTPProvider(node.rpc_url))
        accounts = LocalAccounts(fleet_size=2, leader_count=1, follower_count=2)
        deployment = deploy_local(
            w3,
            rpc_url=node.rpc_url,
            ws_url=node.ws_url,
            accounts=accounts,
            config=LocalWorldConfig(change_delay_s=DELAY_S, markets=1, neg_risk_markets=0),
        )
        deployment.save(home / "deployment.json")
        yield home, World(node, deployment, LocalChain(w3, deployment, accounts))


def rotate(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("COPY_TRADING_", "OWNER_", "EXECUTOR_", "TRADING_", "NEW_TRADING_", "CHAIN_ID"))
    }
    env.update(
        POLYHUNTER_HOME=str(home),
        SUPERVISOR_WORKER_POOL_SIZE="2",
        OWNER_PRIVATE_KEY="0x" + derive(OWNER_INDEX).key.hex().removeprefix("0x"),
    )
    return subprocess.run(
        [sys.executable, "-m", "polyhunter.cli", "fleet", "rotate", "--start", str(START), *args],
        env=env,
        cwd=home,
        capture_output=True,
        text=True,
        timeout=600,
    )


def as_json(result: subprocess.CompletedProcess[str]) -> Any:
    assert result.returncode == 0, result.stderr + result.stdout
    return json.loads(result.stdout)


async def buffered_debt(w: World, store_path: Path) -> tuple[int, int]:
    """A Smart Buffer copy fronted by old worker 0: (store debt id, amount) of the debt it leaves."""
    copy = job(w, 0, amount=4 * USD)
    store = SqliteStore(store_path)
    await store.open()
    await store.insert_pending([copy], 2**62)
    eng = engine(w, wallets=1, config=with_(FAST, smart_buffer=True, buffer_usd=50 * USD))
    await eng.start()
    try:
        result = await eng.execute(copy, StoreJournal(store, copy.key))
    finally:
        await stop(eng)
    assert result.status is TradeStatus.EXECUTED, result.reason
    debts = await store.list_debts(DebtStatus.OPEN)
    await store.close()
    assert len(debts) == 1
    return debts[0].debt_id, debts[0].amount


async def repay_with(w: World, store_path: Path, start: int) -> int:
    store = SqliteStore(store_path)
    await store.open()
    eng = LocalChainEngine(
        AsyncRpc([w.rpc_url]), w.deployment, derive_signers(TEST_MNEMONIC, 2, start=start), config=FAST
    )
    await eng.start()
    try:
        return await Recovery(eng, store).repay_debts()
    finally:
        await stop(eng)
        await store.close()


def test_rotate_waits_the_delay_then_moves_everything_and_is_idempotent(world: tuple[Path, World]) -> None:
    home, w = world
    chain, ex = w.chain, w.chain.executor
    old = [a.lower() for a in w.deployment.accounts.fleet]
    new = [s.address for s in derive_signers(TEST_MNEMONIC, 2, start=START)]
    store_path = home / "polyhunter.db"
    debt_id, owed = asyncio.run(buffered_debt(w, store_path))
    old_wallet = ex.functions.walletOf(Web3.to_checksum_address(old[0])).call().lower()
    assert old_wallet != "0x" + "00" * 20
    send(
        chain.w3,
        derive(0),
        chain.collateral.functions.transfer(Web3.to_checksum_address(old_wallet), WALLET_USD),
    )
    floats = [chain.collateral_of(a) for a in old]
    assert min(floats) > 0

    first = as_json(rotate(home, "--json"))
    assert (first["old"], first["new"]) == (old, new)
    assert first["pending"] is True
    assert [s["status"] for s in first["steps"]] == ["queued", "queued"]
    assert all(ex.functions.isWorker(Web3.to_checksum_address(a)).call() for a in old)
    assert not any(ex.functions.isWorker(Web3.to_checksum_address(a)).call() for a in new)
    text = rotate(home)  # a re-run before the time: still waiting, says when
    assert text.returncode == 0, text.stderr
    assert "the new workers are effective from" in text.stdout

    chain.w3.provider.make_request("evm_increaseTime", [DELAY_S + 1])  # type: ignore[arg-type]
    chain.w3.provider.make_request("evm_mine", [])  # type: ignore[arg-type]
    second = as_json(rotate(home, "--json"))
    assert second["complete"] is True, second
    assert all(ex.functions.isWorker(Web3.to_checksum_address(a)).call() for a in new)
    assert not any(ex.functions.isWorker(Web3.to_checksum_address(a)).call() for a in old)
    assert [chain.collateral_of(a) for a in old] == [0, 0]
    assert chain.collateral_of(old_wallet) == 0
    assert chain.collateral_of(new[0]) == floats[0] + WALLET_USD
    assert chain.collateral_of(new[1]) == floats[1]
    assert all(chain.w3.eth.get_balance(Web3.to_checksum_address(a)) < 10**16 for a in old)  # gas swept
    moved = [s for s in second["steps"] if s["what"].startswith(f"debt {debt_id} ")]
    assert [s["status"] for s in moved] == ["done"]

    third = as_json(rotate(home, "--json"))
    assert third["complete"] is True
    assert third["changed"] is False
    assert {s["status"] for s in third["steps"]} <= {"unchanged"}

    # The debt is the new worker's now: the new fleet's recovery is repaid it.
    before = chain.collateral_of(new[0])
    assert asyncio.run(repay_with(w, store_path, START)) == 1
    assert chain.collateral_of(new[0]) == before + owed
