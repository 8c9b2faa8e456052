"""The worker-limit defects a security review found (D1-D6), each fixed: debt ids keyed by their recorder,
partial repayments, cap-sized batches, reorgs under the watch, revokes that cancel, delayed ownership."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from chain_helpers import cs, reverts
from engine_world import FAST, USD, World, engine, fresh_world, job, stop, store_at, with_

from polyhunter._core import Signer
from polyhunter._core import keccak256 as keccak
from polyhunter.chain.aiorpc import AsyncRpc
from polyhunter.chain.deploy import deploy_core
from polyhunter.chain.local import LocalChain
from polyhunter.chain.tx import contract, send
from polyhunter.commands._executor_admin import ExecutorAdmin
from polyhunter.commands._rotate import FleetRotation
from polyhunter.execution import calls
from polyhunter.execution.recovery import Recovery
from polyhunter.execution.watch import ExecutorWatch
from polyhunter.models import DebtRecord, DebtStatus, TradeStatus
from polyhunter.store.base import StoreJournal

pytestmark = pytest.mark.integration

YES_0 = 85582852254055604730434497073296615212033849972277199800761754422625228641162


def test_another_worker_cannot_take_a_debt_id_first(local_chain: LocalChain) -> None:
    """D1. Debt ids are chosen by the caller from public inputs (calls.chain_debt_id(trade key); the push is
    also in the mempool): a leaked key recording a 1-unit debt under an honest copy's id first must not make
    the honest push revert DebtExists for ever. Each debt is kept under its recorder's key."""
    chain = local_chain
    d = chain.deployment
    attacker, honest = d.accounts.fleet[0], d.accounts.fleet[1]
    proxy = chain.proxy_of(d.accounts.followers[0])
    chain.trade(attacker, "BUY", YES_0, 2 * USD, USD)
    chain.trade(honest, "BUY", YES_0, 20 * USD, 10 * USD)
    debt_id = calls.chain_debt_id(b"\x42" * 32)  # the honest copy's id, computed from its trade key
    chain.push_tokens_with_debt(attacker, proxy, YES_0, 1, 1, debt_id)  # squatted
    chain.push_tokens_with_debt(honest, proxy, YES_0, 20 * USD, 10 * USD, debt_id)  # not DebtExists
    x = chain.executor.functions
    honest_key, squat_key = (x.debtKey(cs(w), debt_id).call() for w in (honest, attacker))
    assert (x.debtOpen(honest_key).call(), x.debtOpen(squat_key).call()) == (10 * USD, 1)
    assert honest_key == calls.debt_key(honest, debt_id) == calls.chain_debt_key(b"\x42" * 32, honest)
    with reverts("DebtMismatch"):  # the squat pays only its recorder, and the honest debt only the honest
        chain.repay_debt(attacker, proxy, 1, attacker, honest_key)
    chain.repay_debt(attacker, proxy, 10 * USD, honest, honest_key)
    assert x.debtOpen(honest_key).call() == 0


@pytest.fixture
def w() -> Iterator[World]:
    yield from fresh_world()


@pytest.mark.asyncio
async def test_a_debt_partly_repaid_by_another_worker_is_not_marked_repaid(w: World, tmp_path: Path) -> None:
    """D2. Any worker may repay (by design); a leaked key repays 1 unit of an open debt of ours. A DebtRepaid
    for the id must not make recovery mark the whole debt REPAID (the rest would stay open on chain, never
    collected, and fleet rotate does not move REPAID rows): it pays what is still open."""
    j = job(w, 2, amount=4 * USD)
    store = await store_at(tmp_path / "s.db", [j])
    eng = engine(w, wallets=1, config=with_(FAST, smart_buffer=True, buffer_usd=50 * USD))
    x = contract(w.chain.w3, "Executor", w.deployment.contracts.executor).functions
    await eng.start()
    try:
        result = await eng.execute(j, StoreJournal(store, j.key))
        assert result.status is TradeStatus.EXECUTED
        (debt,) = await store.list_debts(DebtStatus.OPEN)
        chain_id = calls.chain_debt_key(j.key, debt.worker)
        assert x.debtOpen(chain_id).call() == debt.amount
        attacker = next(a for a in w.deployment.accounts.fleet if a.lower() != debt.worker.lower())
        w.chain.repay_debt(attacker, debt.proxy, 1, debt.worker, chain_id)
        await Recovery(eng, store).repay_debts()
        repaid = await store.list_debts(DebtStatus.REPAID)
    finally:
        await stop(eng)
        await store.close()
    for row in repaid:
        assert row.trade_key is not None
        assert x.debtOpen(calls.chain_debt_key(row.trade_key, row.worker)).call() == 0, (
            "marked REPAID, still open on chain"
        )
    assert x.debtOpen(chain_id).call() == 0  # the creditor collected the rest


@pytest.mark.asyncio
async def test_the_watch_sees_a_foreign_pull_that_a_reorg_puts_in_a_block_it_already_read(
    w: World, tmp_path: Path
) -> None:
    """D3. A pull mined in a replacement block at a height the watch already scanned is still reported: the
    watch re-reads its last blocks and judges only events it has not judged."""
    store = await store_at(tmp_path / "s.db", [])
    rpc = AsyncRpc([w.rpc_url])
    d = w.deployment
    start = int(w.rpc("eth_blockNumber"), 16) + 1
    watch = ExecutorWatch(rpc, store, d.contracts.executor, chain_id=31337, grace_s=0, start_block=start)
    try:
        fork = w.chain.snapshot()
        w.mine(3)  # the chain the watch sees first: nothing happens
        assert await watch.scan() == []
        w.chain.revert(fork)  # a reorg to the fork point: the new branch holds a foreign pull
        worker = d.accounts.fleet[0]
        w.chain.pull_collateral(worker, w.proxy(1), 3 * USD)
        w.mine(3)
        reported = await watch.scan()
        assert [(e.name, e.worker) for e in reported] == [("Pulled", worker.lower())]
    finally:
        await rpc.close()
        await store.close()


@pytest.mark.asyncio
async def test_debts_whose_sum_exceeds_the_creditors_cap_are_still_repaid_as_far_as_it_goes(
    w: World, tmp_path: Path
) -> None:
    """D4. A creditor's repayments go in one all-or-nothing batch charged to its hourly cap: when the debts'
    sum is over the cap's room the batch must hold only what fits, not revert WorkerCapExceeded on every
    pass with none ever repaid, though each alone fits."""
    jobs = [job(w, 2, amount=4 * USD), job(w, 3, amount=4 * USD)]
    store = await store_at(tmp_path / "s.db", jobs)
    eng = engine(w, wallets=1, config=with_(FAST, smart_buffer=True, buffer_usd=50 * USD))
    x = contract(w.chain.w3, "Executor", w.deployment.contracts.executor).functions
    owner = w.chain.signer(w.deployment.accounts.owner)
    await eng.start()
    try:
        for j in jobs:
            assert (await eng.execute(j, StoreJournal(store, j.key))).status is TradeStatus.EXECUTED
        debts = await store.list_debts(DebtStatus.OPEN)
        assert len(debts) == 2
        creditor = debts[0].worker
        largest = max(d.amount for d in debts)
        send(w.chain.w3, owner, x.setWorkerCap(cs(creditor), largest + 10))  # lowering: immediate
        recovery = Recovery(eng, store)
        await recovery.repay_debts()
        await recovery.repay_debts()
        repaid = await store.list_debts(DebtStatus.REPAID)
    finally:
        await stop(eng)
        await store.close()
    assert len(repaid) >= 1


def _delayed_admin(chain: LocalChain) -> ExecutorAdmin:
    c, fleet = chain.deployment.contracts, chain.deployment.accounts.fleet
    core = deploy_core(
        chain.w3,
        chain.accounts.owner,
        collateral=c.collateral,
        ctf=c.ctf,
        fleet=fleet[:1],
        change_delay_s=3600,
        worker_cap=100 * USD,
        finish_setup=True,
    )
    return ExecutorAdmin(chain.w3, core.executor, chain.accounts.owner)


def test_revoking_a_worker_whose_authorisation_is_queued_cancels_it(local_chain: LocalChain) -> None:
    """D5. `executor authorise X` queued an authorisation; X's key leaks; `executor authorise X --revoke`
    must cancel the queued authorisation, or the next re-run of the command that queued it (fleet rotate is
    documented as finished by a re-run) would authorise the leaked key."""
    chain = local_chain
    admin = _delayed_admin(chain)
    leaked, other = chain.deployment.accounts.fleet[2], chain.deployment.accounts.fleet[3]
    assert admin.authorise(leaked, True).status == "queued"
    assert admin.set_cap(leaked, 500 * USD).status == "queued"
    assert admin.authorise(other, True).status == "queued"
    revoked = admin.authorise(leaked, False)
    assert (revoked.status, revoked.tx_hash is not None) == ("done", True)
    ready = admin.handle.functions.changeReadyAt
    for data in (
        admin.encode("setWorker", cs(leaked), True),
        admin.encode("setWorkerCap", cs(leaked), 500 * USD),
    ):
        assert ready(keccak(data)).call() == 0, "still queued after the revoke"
    assert ready(keccak(admin.encode("setWorker", cs(other), True))).call() > 0  # another worker's stays
    assert admin.authorise(leaked, False).status == "unchanged"  # nothing left to cancel


def test_ownership_cannot_move_at_once_after_setup(local_chain: LocalChain) -> None:
    """D6. With the owner's key stolen, the delay is there so the real owner can cancel or pause in time; an
    immediate `transferOwnership` + `acceptOwnership` would let the thief take the Executor first. After
    setup, handing it over goes through the queue like any widening change."""
    chain = local_chain
    admin = _delayed_admin(chain)
    x = admin.handle.functions
    thief = chain.deployment.accounts.leaders[0]
    with reverts("ChangeNeedsDelay"):
        send(chain.w3, chain.accounts.owner, x.transferOwnership(cs(thief)))
    data = admin.encode("transferOwnership", cs(thief))
    assert admin.apply(data, widening=True).status == "queued"  # through the queue, like any widening change
    assert x.pendingOwner().call() == "0x" + "00" * 20


def test_a_rotation_moves_a_debt_under_its_recorders_key_even_after_an_earlier_move(
    local_chain: LocalChain,
) -> None:
    """D1, the owner's side: a debt moved once already (rotation 1) is owed to a worker that did not record
    it; the next rotation still finds it under its recorder's key (from the Proxy's DebtRecorded events, the
    recorder being in neither fleet) and moves it to the heir."""
    chain = local_chain
    d = chain.deployment
    recorder, first_heir, second_heir = d.accounts.fleet[1], d.accounts.fleet[2], d.accounts.fleet[3]
    proxy = chain.proxy_of(d.accounts.followers[1])
    trade_key = b"\x77" * 32
    chain.trade(recorder, "BUY", YES_0, 4 * USD, 2 * USD)
    chain.push_tokens_with_debt(recorder, proxy, YES_0, 4 * USD, 2 * USD, calls.chain_debt_id(trade_key))
    key = calls.chain_debt_key(trade_key, recorder)
    x = chain.executor.functions
    pusd = cs(d.contracts.collateral)
    owner = chain.accounts.owner
    args = (key, cs(proxy), pusd, cs(recorder), cs(recorder), cs(first_heir), cs(first_heir))
    send(chain.w3, owner, x.reassignDebt(*args))  # rotation 1, done by hand

    admin = ExecutorAdmin(chain.w3, d.contracts.executor, owner)
    signers = [Signer(bytes(chain.signer(a).key)) for a in (first_heir, second_heir)]
    rotation = FleetRotation(
        admin, 31337, signers[:1], signers[1:], collateral=d.contracts.collateral, ctf=d.contracts.ctf
    )
    debt = DebtRecord(proxy=proxy, worker=first_heir, amount=2 * USD, trade_key=trade_key, debt_id=7)
    rotation.move_debts([debt])
    assert rotation.result.moved_debts == [(7, second_heir)]
    assert x.debtOpen(key).call() == 2 * USD  # the key did not change
    with reverts("DebtMismatch"):  # no longer owed to the first heir
        chain.repay_debt(recorder, proxy, USD, first_heir, key)
    chain.repay_debt(recorder, proxy, 2 * USD, second_heir, key)
    assert x.debtOpen(key).call() == 0
