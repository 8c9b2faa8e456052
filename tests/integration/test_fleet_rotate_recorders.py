"""`polyhunter fleet rotate` (a subprocess) hands the rotation the trade journal's recorder of each debt: a
Smart Buffer debt recorded by a worker that an earlier rotation left behind (in neither the old nor the new
fleet) moves to its heir without a search of the Executor's DebtRecorded history, through an RPC that
refuses long `eth_getLogs` ranges (a loopback endpoint in front of the real anvil)."""

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
from limited_rpc import limited_rpc
from web3 import Web3

from polyhunter._core import Signer, derive_signers
from polyhunter.chain.accounts import OWNER_INDEX, LocalAccounts, derive
from polyhunter.chain.anvil import TEST_MNEMONIC, Anvil
from polyhunter.chain.deploy import deploy_local
from polyhunter.chain.local import LocalChain
from polyhunter.commands._executor_admin import ExecutorAdmin
from polyhunter.commands._rotate import FleetRotation, journal_recorders
from polyhunter.execution import calls
from polyhunter.models import DebtStatus, TradeStatus
from polyhunter.store.base import StoreJournal
from polyhunter.store.sqlite import SqliteStore

pytestmark = pytest.mark.integration

LIMIT = 100
OLD_START, NEW_START = 2, 10  # the CLI's current fleet: indices 2, 3; the new one: 10, 11


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, World]]:
    home = tmp_path_factory.mktemp("rotate-recorders")
    with Anvil() as node:
        w3 = Web3(Web3.HTTPProvider(node.rpc_url))
        accounts = LocalAccounts(fleet_size=4, leader_count=1, follower_count=2)
        deployment = deploy_local(w3, rpc_url=node.rpc_url, ws_url=node.ws_url, accounts=accounts)
        deployment.save(home / "deployment.json")
        yield home, World(node, deployment, LocalChain(w3, deployment, accounts))


async def recorded_debt(w: World, store_path: Path) -> tuple[int, bytes]:
    """A Smart Buffer copy fronted (its debt recorded on chain) by worker 0: (store debt id, trade key)."""
    copy = job(w, 0, amount=4 * USD)
    store = SqliteStore(store_path)
    await store.open()
    try:
        await store.insert_pending([copy], 2**62)
        eng = engine(w, wallets=1, config=with_(FAST, smart_buffer=True, buffer_usd=50 * USD))
        await eng.start()
        try:
            result = await eng.execute(copy, StoreJournal(store, copy.key))
        finally:
            await stop(eng)
        assert result.status is TradeStatus.EXECUTED, result.reason
        debts = await store.list_debts(DebtStatus.OPEN)
        assert len(debts) == 1
        assert await journal_recorders(store, debts) == {copy.key: w.deployment.accounts.fleet[0].lower()}
        return debts[0].debt_id, copy.key
    finally:
        await store.close()


async def earlier_rotation(w: World, store_path: Path, to: str) -> None:
    """A rotation from worker 0 to `to` that the store took in: the debt is `to`'s, its key worker 0's."""
    store = SqliteStore(store_path)
    await store.open()
    try:
        debts = await store.list_debts(DebtStatus.OPEN)
        admin = ExecutorAdmin(w.chain.w3, w.deployment.contracts.executor, w.chain.accounts.owner)
        keys = [Signer(bytes(w.chain.signer(a).key)) for a in (w.deployment.accounts.fleet[0], to)]
        c = w.deployment.contracts
        rotation = FleetRotation(admin, 31337, keys[:1], keys[1:], collateral=c.collateral, ctf=c.ctf)
        rotation.move_debts(debts)
        assert [heir for _, heir in rotation.result.moved_debts] == [to.lower()]
        for debt_id, heir in rotation.result.moved_debts:
            assert await store.reassign_debt(debt_id, heir)
    finally:
        await store.close()


async def open_debts(store_path: Path) -> list[Any]:
    store = SqliteStore(store_path)
    await store.open()
    try:
        return await store.list_debts(DebtStatus.OPEN)
    finally:
        await store.close()


def rotate(home: Path, rpc_url: str) -> subprocess.CompletedProcess[str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("COPY_TRADING_", "OWNER_", "EXECUTOR_", "TRADING_", "NEW_TRADING_", "CHAIN_ID"))
    }
    env.update(
        POLYHUNTER_HOME=str(home),
        COPY_TRADING_RPC_URLS=rpc_url,
        TRADING_MNEMONIC=TEST_MNEMONIC,
        TRADING_ACCOUNT_START=str(OLD_START),
        SUPERVISOR_WORKER_POOL_SIZE="2",
        OWNER_PRIVATE_KEY="0x" + derive(OWNER_INDEX).key.hex().removeprefix("0x"),
    )
    return subprocess.run(
        [sys.executable, "-m", "polyhunter.cli", "fleet", "rotate", "--start", str(NEW_START), "--json"],
        env=env,
        cwd=home,
        capture_output=True,
        text=True,
        timeout=600,
    )


def test_rotate_moves_a_debt_whose_recorder_is_in_neither_fleet_by_the_journal(
    world: tuple[Path, World],
) -> None:
    home, w = world
    fleet = [a.lower() for a in w.deployment.accounts.fleet]
    recorder, holder = fleet[0], fleet[OLD_START]
    new = [s.address for s in derive_signers(TEST_MNEMONIC, 2, start=NEW_START)]
    store_path = home / "polyhunter.db"
    debt_id, trade_key = asyncio.run(recorded_debt(w, store_path))
    asyncio.run(earlier_rotation(w, store_path, holder))
    w.chain.w3.provider.make_request("anvil_mine", [hex(4 * LIMIT)])  # type: ignore[arg-type]
    key = calls.chain_debt_key(trade_key, recorder)
    owed = int(w.chain.executor.functions.debtOpen(key).call())
    assert owed > 0

    with limited_rpc(w.rpc_url, LIMIT) as rpc:
        result = rotate(home, rpc.url)
        assert result.returncode == 0, result.stderr + result.stdout
        report = json.loads(result.stdout)
        debt_recorded = rpc.logs_requests("0x" + calls.DEBT_RECORDED_TOPIC.hex())
        assert all(r.to_block - r.from_block + 1 <= LIMIT for r in rpc.seen if not r.refused)
    assert recorder not in report["old"] + report["new"]
    assert report["complete"] is True, report
    moved = [s for s in report["steps"] if s["what"].startswith(f"debt {debt_id} ")]
    assert [s["status"] for s in moved] == ["done"], report["steps"]
    assert debt_recorded == [], "the recorder was searched for on chain instead of taken from the journal"
    assert [(d.debt_id, d.worker) for d in asyncio.run(open_debts(store_path))] == [(debt_id, new[0])]
    assert int(w.chain.executor.functions.debtOpen(key).call()) == owed  # same key, now the heir's
