"""A leaked worker key against the Executor on anvil: its haul is bounded by its hourly cap across every
Proxy until the owner pauses it, it cannot repay itself a debt that was never recorded, more than was
recorded or to another address, and the owner's widening changes wait for the delay set at deployment."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from chain_helpers import cs, events, reverts
from engine_world import FAST, World, engine, fresh_world, job, stop, store_at, with_
from eth_utils import keccak
from web3.contract import Contract

from polyhunter._core import Signer
from polyhunter.chain.deploy import CoreAddresses, deploy_core
from polyhunter.chain.local import LocalChain
from polyhunter.chain.tx import contract, send
from polyhunter.execution import calls
from polyhunter.execution.flows import leg_amounts
from polyhunter.execution.recovery import Recovery
from polyhunter.fleetsetup.setup import ChainWriter, SetupOptions, SetupResult, owner_change
from polyhunter.models import DebtRecord, DebtStatus, Step, TradeStatus
from polyhunter.store.base import StoreJournal

pytestmark = pytest.mark.integration

YES_0 = 85582852254055604730434497073296615212033849972277199800761754422625228641162
USD = 1_000_000
CAP = 100 * USD
SUBWINDOW = 20 * 60
HOUR = 3600
DEPOSIT = 5_000 * USD


def _now(chain: LocalChain) -> int:
    return int(chain.w3.eth.get_block("latest")["timestamp"])


def _travel_to(chain: LocalChain, timestamp: int) -> None:
    """The next block (the next transaction's) has this timestamp; one empty block is mined at it."""
    chain.w3.provider.make_request("evm_setNextBlockTimestamp", [timestamp])  # type: ignore[arg-type]
    chain.w3.provider.make_request("evm_mine", [])  # type: ignore[arg-type]


def _owner(chain: LocalChain, call: Any) -> Any:
    return send(chain.w3, chain.signer(chain.deployment.accounts.owner), call)


def _in_window(x: Any, worker: str) -> int:
    return int(x.workerPulledInWindow(cs(worker)).call())


@pytest.fixture
def capped(local_chain: LocalChain) -> LocalChain:
    """The local world with fleet[0] (the compromised worker) capped at CAP: lowering a cap is immediate,
    and the world starts at the beginning of a sub-window so that the arithmetic below is exact."""
    x = local_chain.executor.functions
    attacker = local_chain.deployment.accounts.fleet[0]
    assert x.workerCap(cs(attacker)).call() == 2**48 - 1  # the local world's default: no practical cap
    _owner(local_chain, x.setWorkerCap(cs(attacker), CAP))
    assert x.workerCap(cs(attacker)).call() == CAP
    _travel_to(local_chain, (_now(local_chain) // SUBWINDOW + 1) * SUBWINDOW)
    return local_chain


# ------------------------------------------------------------------------------------------ the cap


def test_a_compromised_worker_cannot_pull_more_than_its_cap_across_many_proxies(capped: LocalChain) -> None:
    chain = capped
    d = chain.deployment
    attacker, honest = d.accounts.fleet[0], d.accounts.fleet[1]
    proxies = [chain.proxy_of(f) for f in d.accounts.followers]
    x = chain.executor.functions
    chain.copy_buy(honest, proxies[3], YES_0, 10 * USD, 20 * USD)  # Proxy 3 holds outcome tokens
    start = _now(chain)

    chain.pull_collateral(attacker, proxies[0], 40 * USD)
    chain.pull_collateral(attacker, proxies[1], 40 * USD)
    assert _in_window(x, attacker) == 80 * USD
    with reverts("WorkerCapExceeded"):
        chain.pull_collateral(attacker, proxies[2], 30 * USD)
    chain.pull_collateral(attacker, proxies[2], 20 * USD)
    assert _in_window(x, attacker) == CAP
    with reverts("WorkerCapExceeded"):  # an outcome token counts as $1, like the Proxy's limits
        chain.pull_tokens(attacker, proxies[3], YES_0, 1)
    batch = calls.pull_erc20([cs(p) for p in proxies], d.contracts.collateral, [1] * len(proxies))
    with reverts("WorkerCapExceeded"):  # a batch is charged its sum, and reverts whole
        send(chain.w3, chain.signer(attacker), {"to": cs(d.contracts.executor), "data": batch})
    wallet = d.accounts.deposit_wallets[attacker]
    with reverts("WorkerCapExceeded"):  # the worker's wallet is the same worker
        send(
            chain.w3,
            chain.signer(attacker),
            x.pullERC20To(cs(proxies[3]), cs(d.contracts.collateral), 1, cs(wallet)),
        )
    # Other workers have caps of their own.
    chain.pull_collateral(honest, proxies[3], 200 * USD)
    assert [chain.collateral_of(p) for p in proxies[:3]] == [DEPOSIT - 40 * USD] * 2 + [DEPOSIT - 20 * USD]

    # Still the same 60-minute period one second before it ends: nothing more.
    _travel_to(chain, start + HOUR - 1)
    assert _in_window(x, attacker) == CAP
    with reverts("WorkerCapExceeded"):
        chain.pull_collateral(attacker, proxies[3], 1)
    # Four sub-windows after the first pull's, the whole cap is back.
    _travel_to(chain, (start // SUBWINDOW + 4) * SUBWINDOW)
    assert _in_window(x, attacker) == 0
    chain.pull_collateral(attacker, proxies[3], CAP)


def test_the_haul_of_a_compromised_worker_until_the_owner_pauses_is_bounded_by_its_cap(
    capped: LocalChain, capsys: pytest.CaptureFixture[str]
) -> None:
    """The attacker reads the views and takes all it may from every Proxy every 5 minutes for 2 hours;
    then the owner pauses the Executor. Every 60-minute period holds at most CAP; the haul is at most
    CAP * ceil(2 h / 1 h) = 2 * CAP."""
    chain = capped
    d = chain.deployment
    attacker = d.accounts.fleet[0]
    proxies = [chain.proxy_of(f) for f in d.accounts.followers]
    x = chain.executor.functions
    start = _now(chain)
    wealth = sum(chain.collateral_of(p) for p in proxies)
    hauled: list[tuple[int, int]] = []  # (timestamp, amount) of each pull that went through
    for step in range(24):
        _travel_to(chain, start + step * 300)
        for proxy in proxies:
            room = int(x.workerCap(cs(attacker)).call()) - _in_window(x, attacker)
            if room > 0:
                receipt = chain.pull_collateral(attacker, proxy, room)
                hauled.append((int(chain.w3.eth.get_block(receipt["blockNumber"])["timestamp"]), room))
            with reverts("WorkerCapExceeded"):  # one unit more is always refused
                chain.pull_collateral(attacker, proxy, 1)
    _owner(chain, x.setPaused(True))  # pausing is immediate: the very next pull fails
    _travel_to(chain, start + 3 * HOUR)
    for proxy in proxies:
        with reverts("ExecutorPaused"):
            chain.pull_collateral(attacker, proxy, 1)

    total = sum(amount for _, amount in hauled)
    for t, _ in hauled:
        assert sum(a for s, a in hauled if t - HOUR < s <= t) <= CAP
    assert total == 2 * CAP  # the bound is reached: at the start and once the first charge left the window
    assert wealth - sum(chain.collateral_of(p) for p in proxies) == total
    with capsys.disabled():
        print(
            f"\nhaul of a compromised worker capped at {CAP // USD} USD/h, paused after 2 h, "
            f"Proxies holding {wealth // USD} USD: {total // USD} USD"
        )


def test_raising_a_cap_waits_lowering_does_not_and_caps_are_bounded(capped: LocalChain) -> None:
    chain = capped
    x = chain.executor.functions
    attacker = chain.deployment.accounts.fleet[0]
    with reverts("CapTooHigh"):
        _owner(chain, x.setWorkerCap(cs(attacker), 2**48))
    # The local world has no delay: a raise applies at once there (the delayed world is tested below).
    assert x.changeDelay().call() == 0
    assert x.setupFinished().call()
    _owner(chain, x.setWorkerCap(cs(attacker), 2 * CAP))
    assert x.workerCap(cs(attacker)).call() == 2 * CAP
    with reverts("NotOwner"):
        send(chain.w3, chain.signer(attacker), x.setWorkerCap(cs(attacker), 3 * CAP))


# ------------------------------------------------------------------------------------------ debts


def _buy_tokens(chain: LocalChain, worker: str, tokens: int) -> None:
    chain.trade(worker, "BUY", YES_0, tokens, tokens // 2)


def test_a_worker_cannot_repay_itself_a_debt_never_recorded_more_than_recorded_or_elsewhere(
    capped: LocalChain,
) -> None:
    chain = capped
    d = chain.deployment
    attacker, other = d.accounts.fleet[0], d.accounts.fleet[1]
    wallet = d.accounts.deposit_wallets[attacker]
    proxy = chain.proxy_of(d.accounts.followers[0])
    x = chain.executor.functions
    pusd = cs(d.contracts.collateral)

    def repay(amount: int, debt_id: bytes, creditor: str = attacker, caller: str = attacker) -> Any:
        return chain.repay_debt(caller, proxy, amount, creditor, debt_id)

    with reverts("UnknownDebt"):  # today's attack: repayDebt with no debt behind it
        repay(10 * USD, keccak(b"never recorded"))

    _buy_tokens(chain, attacker, 40 * USD)
    raw = keccak(b"a real debt")
    receipt = chain.push_tokens_with_debt(attacker, proxy, YES_0, 20 * USD, 10 * USD, raw)
    # Held under the recorder's key: a worker's ids are its own (no other worker can take one first).
    debt = x.debtKey(cs(attacker), raw).call()
    assert debt == calls.debt_key(attacker, raw) != raw
    (recorded,) = events(chain.executor, "DebtRecorded", receipt)
    assert (recorded["debtId"], recorded["proxy"].lower(), recorded["creditor"].lower()) == (
        debt,
        proxy,
        attacker,
    )
    assert (recorded["token"].lower(), recorded["amount"], recorded["payee"].lower()) == (
        d.contracts.collateral,
        10 * USD,
        attacker,
    )
    with reverts("DebtExists"):  # an id is never reused, even by the same worker
        chain.push_tokens_with_debt(attacker, proxy, YES_0, USD, USD, raw)
    with reverts("InvalidDebt"):  # more than the tokens pushed are worth
        chain.push_tokens_with_debt(attacker, proxy, YES_0, USD, USD + 1, keccak(b"too much"))
    with reverts("InvalidDebt"):
        chain.push_tokens_with_debt(attacker, proxy, YES_0, USD, 0, keccak(b"nothing"))
    with reverts("TokenNotAllowed"):  # a debt is owed in an allowlisted ERC-20
        send(
            chain.w3,
            chain.signer(attacker),
            x.pushERC1155WithDebt(
                cs(proxy), cs(d.contracts.ctf), YES_0, USD, cs(d.contracts.ctf), 1, keccak(b"x")
            ),
        )

    with reverts("DebtExceedsOpen"):
        repay(10 * USD + 1, debt)
    with reverts("DebtMismatch"):  # owed to the attacker, not to `other`
        repay(USD, debt, creditor=other)
    with reverts("DebtMismatch"):  # paid to the worker it was recorded for, not its wallet
        send(
            chain.w3,
            chain.signer(attacker),
            x.repayDebtTo(cs(proxy), pusd, USD, cs(attacker), cs(wallet), debt),
        )
    for to in (d.accounts.leaders[0], other):  # never to another address
        with reverts("NotOwnWallet"):
            send(
                chain.w3,
                chain.signer(attacker),
                x.repayDebtTo(cs(proxy), pusd, USD, cs(attacker), cs(to), debt),
            )
    other_proxy = chain.proxy_of(d.accounts.followers[1])
    with reverts("DebtMismatch"):  # nor from another Proxy
        chain.repay_debt(attacker, other_proxy, USD, attacker, debt)

    before = chain.collateral_of(attacker)
    repay(6 * USD, debt, caller=other)  # any worker may repay; the money goes to the creditor
    repay(4 * USD, debt)
    assert x.debtOpen(debt).call() == 0
    with reverts("DebtExceedsOpen"):
        repay(1, debt)
    assert chain.collateral_of(attacker) == before + 10 * USD
    assert chain.collateral_of(proxy) == DEPOSIT - 10 * USD
    # Repayments count against the creditor's cap: worthless tokens pushed for a debt do not beat it.
    assert _in_window(x, attacker) == 10 * USD
    big_raw = keccak(b"a large debt")
    _buy_tokens(chain, attacker, 200 * USD)
    chain.push_tokens_with_debt(attacker, proxy, YES_0, 100 * USD, 100 * USD, big_raw)
    big = calls.debt_key(attacker, big_raw)
    with reverts("WorkerCapExceeded"):
        repay(100 * USD, big)
    repay(90 * USD, big)
    assert x.debtOpen(big).call() == 10 * USD


def test_a_debt_fronted_from_the_wallet_is_owed_to_the_wallet_and_the_owner_can_move_a_debt(
    capped: LocalChain,
) -> None:
    chain = capped
    d = chain.deployment
    worker, heir = d.accounts.fleet[1], d.accounts.fleet[2]
    wallet, heir_wallet = d.accounts.deposit_wallets[worker], d.accounts.deposit_wallets[heir]
    proxy = chain.proxy_of(d.accounts.followers[0])
    x = chain.executor.functions
    pusd, ctf = cs(d.contracts.collateral), cs(d.contracts.ctf)
    _buy_tokens(chain, worker, 20 * USD)
    send(
        chain.w3,
        chain.signer(worker),
        chain.ctf.functions.safeTransferFrom(cs(worker), cs(wallet), YES_0, 20 * USD, b""),
    )
    raw = keccak(b"fronted from the wallet")
    send(
        chain.w3,
        chain.signer(worker),
        x.pushERC1155FromWithDebt(cs(proxy), ctf, YES_0, 20 * USD, cs(wallet), pusd, 8 * USD, raw),
    )
    debt = calls.debt_key(worker, raw)  # the key stays the recorder's when the debt moves
    with reverts("DebtMismatch"):  # owed to the wallet, not to the worker's EOA
        chain.repay_debt(worker, proxy, USD, worker, debt)
    send(
        chain.w3, chain.signer(worker), x.repayDebtTo(cs(proxy), pusd, 3 * USD, cs(worker), cs(wallet), debt)
    )
    assert chain.collateral_of(wallet) == 3 * USD

    # A rotation: the owner moves what is left to another worker's wallet, at once.
    args = (debt, cs(proxy), pusd, cs(worker), cs(wallet))
    with reverts("NotOwner"):
        send(chain.w3, chain.signer(worker), x.reassignDebt(*args, cs(worker), cs(worker)))
    with reverts("NotOwnWallet"):  # the new payee must be the new creditor's own
        _owner(chain, x.reassignDebt(*args, cs(heir), cs(wallet)))
    receipt = _owner(chain, x.reassignDebt(*args, cs(heir), cs(heir_wallet)))
    (moved,) = events(chain.executor, "DebtReassigned", receipt)
    assert (moved["creditor"].lower(), moved["newCreditor"].lower(), moved["newPayee"].lower()) == (
        worker,
        heir,
        heir_wallet,
    )
    with reverts("DebtMismatch"):
        send(
            chain.w3, chain.signer(worker), x.repayDebtTo(cs(proxy), pusd, USD, cs(worker), cs(wallet), debt)
        )
    send(
        chain.w3,
        chain.signer(worker),
        x.repayDebtTo(cs(proxy), pusd, 5 * USD, cs(heir), cs(heir_wallet), debt),
    )
    assert (chain.collateral_of(heir_wallet), x.debtOpen(debt).call()) == (5 * USD, 0)

    # A deauthorised creditor is paid nothing, even of a recorded debt.
    other_raw = keccak(b"owed to a removed worker")
    _buy_tokens(chain, worker, 4 * USD)
    chain.push_tokens_with_debt(worker, proxy, YES_0, 2 * USD, USD, other_raw)
    other_debt = calls.debt_key(worker, other_raw)
    _owner(chain, x.setWorker(cs(worker), False))
    with reverts("NotWorker"):
        chain.repay_debt(heir, proxy, USD, worker, other_debt)


# ------------------------------------------------------------------------------ delayed changes


DELAY = 6 * HOUR


def _delayed_core(chain: LocalChain, *, finish_setup: bool = True) -> tuple[CoreAddresses, Contract]:
    c, fleet = chain.deployment.contracts, chain.deployment.accounts.fleet
    core = deploy_core(
        chain.w3,
        chain.accounts.owner,
        collateral=c.collateral,
        ctf=c.ctf,
        fleet=fleet[:1],
        change_delay_s=DELAY,
        worker_cap=CAP,
        finish_setup=finish_setup,
    )
    return core, contract(chain.w3, "Executor", core.executor)


def test_widening_changes_wait_for_the_delay_and_narrowing_ones_do_not(local_chain: LocalChain) -> None:
    chain = local_chain
    fleet, stranger = chain.deployment.accounts.fleet, chain.deployment.accounts.leaders[0]
    core, executor = _delayed_core(chain)
    x = executor.functions
    assert (x.changeDelay().call(), x.defaultWorkerCap().call(), x.setupFinished().call()) == (
        DELAY,
        CAP,
        True,
    )
    wallet = chain.deployment.accounts.deposit_wallets[fleet[0]]
    widening = [
        x.setWorkers([cs(fleet[1])], True),
        x.setWorker(cs(fleet[1]), True),
        x.setWorkerCap(cs(fleet[0]), CAP + 1),
        x.setToken(cs(chain.deployment.contracts.usdce or stranger), 1),
        x.setFee(cs(core.treasury), 10),
        x.setWorkerWallet(cs(fleet[0]), cs(wallet)),
    ]
    for call in widening:
        with reverts("ChangeNeedsDelay"):
            _owner(chain, call)
    # Narrowing ones apply at once.
    _owner(chain, x.setWorkerCap(cs(fleet[0]), CAP - 1))
    _owner(chain, x.setPaused(True))
    assert x.paused().call()
    _owner(chain, x.setPaused(False))
    _owner(chain, x.setToken(cs(chain.deployment.contracts.ctf), 0))
    _owner(chain, x.setWorker(cs(fleet[0]), False))
    assert (x.workerCap(cs(fleet[0])).call(), x.isWorker(cs(fleet[0])).call()) == (CAP - 1, False)

    authorise = bytes.fromhex(x.setWorkers([cs(fleet[1])], True)._encode_transaction_data()[2:])
    change_id = keccak(authorise)
    with reverts("NotOwner"):
        send(chain.w3, chain.signer(fleet[0]), x.queueChange(authorise))
    receipt = _owner(chain, x.queueChange(authorise))
    queued_at = int(chain.w3.eth.get_block(receipt["blockNumber"])["timestamp"])
    (queued,) = events(executor, "ChangeQueued", receipt)
    assert (queued["id"], queued["call"], queued["readyAt"]) == (change_id, authorise, queued_at + DELAY)
    assert x.changeReadyAt(change_id).call() == queued_at + DELAY
    with reverts("ChangeAlreadyQueued"):
        _owner(chain, x.queueChange(authorise))
    with reverts("ChangeNotReady"):
        _owner(chain, x.executeChange(authorise))
    receipt = _owner(chain, x.cancelChange(change_id))
    assert [e["id"] for e in events(executor, "ChangeCancelled", receipt)] == [change_id]
    with reverts("ChangeNotQueued"):
        _owner(chain, x.executeChange(authorise))
    pause = bytes.fromhex(x.setPaused(True)._encode_transaction_data()[2:])
    with reverts("NotDelayable"):
        _owner(chain, x.queueChange(pause))

    receipt = _owner(chain, x.queueChange(authorise))
    ready_at = int(chain.w3.eth.get_block(receipt["blockNumber"])["timestamp"]) + DELAY
    _travel_to(chain, ready_at - 2)
    with reverts("ChangeNotReady"):
        _owner(chain, x.executeChange(authorise))
    assert not x.isWorker(cs(fleet[1])).call()
    _travel_to(chain, ready_at)
    with reverts("NotOwner"):
        send(chain.w3, chain.signer(fleet[1]), x.executeChange(authorise))
    receipt = _owner(chain, x.executeChange(authorise))
    assert [e["id"] for e in events(executor, "ChangeExecuted", receipt)] == [change_id]
    assert x.isWorker(cs(fleet[1])).call()
    assert x.changeReadyAt(change_id).call() == 0
    with reverts("ChangeNotQueued"):  # once only
        _owner(chain, x.executeChange(authorise))
    # A queued call is checked as it runs: a fee beyond the maximum still reverts, and stays queued.
    too_high = bytes.fromhex(x.setFee(cs(core.treasury), 1_001)._encode_transaction_data()[2:])
    _owner(chain, x.queueChange(too_high))
    _travel_to(chain, _now(chain) + DELAY)
    with reverts("FeeTooHigh"):
        _owner(chain, x.executeChange(too_high))


def test_setup_applies_everything_at_once_until_finish_setup(local_chain: LocalChain) -> None:
    chain = local_chain
    fleet = chain.deployment.accounts.fleet
    _core, executor = _delayed_core(chain, finish_setup=False)
    x = executor.functions
    _owner(chain, x.setWorkers([cs(f) for f in fleet], True))
    _owner(chain, x.setWorkerCap(cs(fleet[0]), 2 * CAP))
    assert x.isWorker(cs(fleet[3])).call()
    assert x.workerCap(cs(fleet[0])).call() == 2 * CAP
    receipt = _owner(chain, x.finishSetup())
    assert len(events(executor, "SetupFinished", receipt)) == 1
    with reverts("ChangeNeedsDelay"):
        _owner(chain, x.setWorkerCap(cs(fleet[0]), 3 * CAP))


def test_fleet_setup_queues_an_authorisation_then_runs_it_once_the_delay_passed(
    local_chain: LocalChain,
) -> None:
    chain = local_chain
    fleet = chain.deployment.accounts.fleet
    core, executor = _delayed_core(chain)
    x = executor.functions
    owner = Signer(chain.accounts.owner.key)
    writer = ChainWriter(chain.w3, chain.w3.eth.chain_id, SetupOptions(priority_fee_wei=10**9))
    data = bytes.fromhex(x.setWorkers([cs(fleet[2])], True)._encode_transaction_data()[2:])

    first = SetupResult(fleet[2])
    assert owner_change(writer, owner, core.executor, data, "setWorkers", first) is False
    assert first.actions == [f"queued setWorkers on the Executor (it waits {DELAY} s)"]
    assert "queued on the Executor until" in first.operator_steps[0]
    again = SetupResult(fleet[2])
    assert owner_change(writer, owner, core.executor, data, "setWorkers", again) is False
    assert again.actions == []
    assert not x.isWorker(cs(fleet[2])).call()
    _travel_to(chain, _now(chain) + DELAY)
    done = SetupResult(fleet[2])
    assert owner_change(writer, owner, core.executor, data, "setWorkers", done) is True
    assert x.isWorker(cs(fleet[2])).call()


# -------------------------------------------------------------------------- the engine's debts


@pytest.fixture
def w() -> Iterator[World]:
    yield from fresh_world()


@pytest.mark.asyncio
async def test_the_smart_buffer_records_each_debt_on_chain_and_recovery_repays_only_recorded_ones(
    w: World, tmp_path: Path
) -> None:
    jobs = [job(w, 2, amount=4 * USD), job(w, 3, amount=7 * USD)]
    store = await store_at(tmp_path / "s.db", jobs)
    eng = engine(w, wallets=1, config=with_(FAST, smart_buffer=True, buffer_usd=50 * USD))
    executor = contract(w.chain.w3, "Executor", w.deployment.contracts.executor).functions
    worker = eng.wallets[0].address
    await eng.start()
    try:
        results = [await eng.execute(j, StoreJournal(store, j.key)) for j in jobs]
        assert [r.status for r in results] == [TradeStatus.EXECUTED] * 2
        debts = await store.list_debts(DebtStatus.OPEN)
        for debt in debts:
            assert debt.trade_key is not None
            assert executor.debtOpen(calls.chain_debt_key(debt.trade_key, worker)).call() == debt.amount
        # A row the chain never recorded (a leaked key's claim, or a pre-upgrade row) is not paid, and
        # does not make the batch of the recorded ones revert.
        forged = await store.add_debt(
            DebtRecord(proxy=w.proxy(2), worker=worker, amount=USD, trade_key=b"\x01" * 32)
        )
        recovery = Recovery(eng, store)
        assert await recovery.repay_debts() == 2
        assert await recovery.repay_debts() == 0
    finally:
        await stop(eng)
    assert [d.debt_id for d in await store.list_debts(DebtStatus.OPEN)] == [forged.debt_id]
    for debt in await store.list_debts(DebtStatus.REPAID):
        assert debt.trade_key is not None
        assert executor.debtOpen(calls.chain_debt_key(debt.trade_key, worker)).call() == 0
    await store.close()


@pytest.mark.asyncio
async def test_recovery_finishes_a_buffered_buy_with_the_push_that_records_its_debt(
    w: World, tmp_path: Path
) -> None:
    """A worker fronted a buy and stopped before its push (the state a crash there leaves): recovery pushes
    the tokens with the debt, so that the chain and the store hold the same debt, then repays it."""
    j = job(w, 4, amount=6 * USD)
    store = await store_at(tmp_path / "s.db", [j])
    eng = engine(w, wallets=1, config=with_(FAST, smart_buffer=True, buffer_usd=50 * USD))
    worker = eng.wallets[0].address
    usd, tokens = leg_amounts("BUY", j.amount, j.limit_price_ppm)
    receipt = w.chain.trade(worker, "BUY", j.token_id, tokens, usd)
    fill = w.chain.w3.eth.get_transaction(receipt["transactionHash"])
    await store.record_tx(j.key, Step.FILLED, worker, int(fill["nonce"]), bytes(receipt["transactionHash"]))
    proxy_tokens = w.chain.tokens_of(w.proxy(4), j.token_id)
    executor = contract(w.chain.w3, "Executor", w.deployment.contracts.executor).functions
    chain_id = calls.chain_debt_key(j.key, worker)
    await eng.start()
    try:
        recovery = Recovery(eng, store)
        assert await recovery.reconcile_pending(min_age_ms=0) == 1
        (debt,) = await store.list_debts(DebtStatus.OPEN)
        assert (debt.trade_key, debt.worker, debt.amount) == (j.key, worker, usd)
        assert executor.debtOpen(chain_id).call() == usd
        assert w.chain.tokens_of(w.proxy(4), j.token_id) == proxy_tokens + tokens
        assert await recovery.repay_debts() == 1
    finally:
        await stop(eng)
    record = await store.get_trade(j.key)
    assert record is not None
    assert record.status is TradeStatus.EXECUTED
    assert [e.step for e in record.journal][:2] == [Step.FILLED, Step.PUSHED]
    assert executor.debtOpen(chain_id).call() == 0
    await store.close()
