"""A review's attacks on the Executor's worker limits, on anvil: a compromised but authorised worker against
the hourly cap (every pull, batch and `…To` variant, window arithmetic and overflow at the sub-window
boundaries), against the debt records (another creditor or payee) and against the owner's delayed changes
(a changed payload, a change queued during setup, calls that are never delayable), plus the Executor watch
reporting every item of a foreign batch."""

from __future__ import annotations

import random
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from chain_helpers import cs, events, reverts
from engine_world import USD, World, fresh_world, store_at
from web3.contract import Contract

from polyhunter._core import keccak256 as keccak
from polyhunter.chain.aiorpc import AsyncRpc
from polyhunter.chain.deploy import deploy_core
from polyhunter.chain.local import LocalChain
from polyhunter.chain.tx import contract, send
from polyhunter.execution.watch import ExecutorWatch

pytestmark = pytest.mark.integration

YES_0 = 85582852254055604730434497073296615212033849972277199800761754422625228641162
CAP = 100 * USD
SUBWINDOW = 20 * 60
HOUR = 3600
MAX_CAP = 2**48 - 1
U256_MAX = 2**256 - 1


def _now(chain: LocalChain) -> int:
    return int(chain.w3.eth.get_block("latest")["timestamp"])


def _travel_to(chain: LocalChain, timestamp: int) -> None:
    chain.w3.provider.make_request("evm_setNextBlockTimestamp", [timestamp])  # type: ignore[arg-type]
    chain.w3.provider.make_request("evm_mine", [])  # type: ignore[arg-type]


def _owner(chain: LocalChain, call: Any) -> Any:
    return send(chain.w3, chain.signer(chain.deployment.accounts.owner), call)


def _as(chain: LocalChain, who: str, call: Any) -> Any:
    return send(chain.w3, chain.signer(who), call)


def _data(call: Any) -> bytes:
    return bytes.fromhex(call._encode_transaction_data()[2:])


def _in_window(x: Any, worker: str) -> int:
    return int(x.workerPulledInWindow(cs(worker)).call())


def _key(executor: Contract, worker: str, debt_id: bytes) -> bytes:
    """The key a debt recorded by `worker` under `debt_id` is found by: the id itself, or, on an Executor
    that keys debts by their recorder (`debtKey`, proposed so that ids cannot be squatted), that key."""
    if any(f.get("name") == "debtKey" for f in executor.abi):
        return bytes(executor.functions.debtKey(cs(worker), debt_id).call())
    return debt_id


def _block_time(chain: LocalChain, receipt: Any) -> int:
    return int(chain.w3.eth.get_block(receipt["blockNumber"])["timestamp"])


@pytest.fixture
def capped(local_chain: LocalChain) -> LocalChain:
    """fleet[0], the compromised worker, capped at CAP (lowering is immediate); the clock at the start of
    a sub-window."""
    x = local_chain.executor.functions
    _owner(local_chain, x.setWorkerCap(cs(local_chain.deployment.accounts.fleet[0]), CAP))
    _travel_to(local_chain, (_now(local_chain) // SUBWINDOW + 1) * SUBWINDOW)
    return local_chain


# ------------------------------------------------------------------------------------ the cap's rule


class _WindowModel:
    """The documented rule: a charge at time t passes iff the charges of t's sub-window and the 3 before
    it, plus its own, stay within the cap."""

    def __init__(self, cap: int) -> None:
        self.cap = cap
        self.charges: dict[int, int] = defaultdict(int)

    def in_window(self, t: int) -> int:
        index = t // SUBWINDOW
        return sum(self.charges[k] for k in range(index - 3, index + 1))

    def fits(self, t: int, value: int) -> bool:
        return self.in_window(t) + value <= self.cap


def test_every_pull_variant_follows_the_sub_window_rule_and_no_hour_exceeds_the_cap(
    capped: LocalChain,
) -> None:
    """A seeded random walk of a compromised worker's pulls (single, `…To` its wallet, batches naming one
    Proxy twice, batches to its wallet), some sized at its exact room, some one unit over: the Executor
    agrees with the model on every call, its view equals the model's, and no 60-minute period exceeds CAP."""
    chain = capped
    d = chain.deployment
    attacker = d.accounts.fleet[0]
    wallet = d.accounts.deposit_wallets[attacker]
    proxies = [cs(chain.proxy_of(f)) for f in d.accounts.followers]
    pusd = cs(d.contracts.collateral)
    x = chain.executor.functions
    rng = random.Random(20261127)
    model = _WindowModel(CAP)
    t = _now(chain)
    wealth = sum(chain.collateral_of(p) for p in proxies)
    passed: list[tuple[int, int]] = []
    refused = 0

    def variant(proxy: str, amount: int) -> Any:
        kind = rng.randrange(4)
        if kind == 0:
            return x.pullERC20(proxy, pusd, amount)
        if kind == 1:
            return x.pullERC20To(proxy, pusd, amount, cs(wallet))
        first = amount // 2
        if kind == 2:
            return x.pullERC20Batch([proxy, proxy], pusd, [first, amount - first])
        return x.pullERC20BatchTo([proxy, proxies[0]], pusd, [first, amount - first], cs(wallet))

    for step in range(36):
        t += rng.randrange(90, 1_000)
        if (
            t % SUBWINDOW > SUBWINDOW - 30
        ):  # the reverted calls are judged a few seconds later: same sub-window
            t += 30
        _travel_to(chain, t)
        assert _in_window(x, attacker) == model.in_window(t)
        room = CAP - model.in_window(t)
        pick = rng.random()
        amount = room + 1 if pick < 0.3 else room if pick < 0.5 and room > 0 else rng.randint(1, CAP)
        call = variant(proxies[step % len(proxies)], amount)
        if model.fits(t, amount):
            receipt = _as(chain, attacker, call)
            at = _block_time(chain, receipt)
            assert at // SUBWINDOW == t // SUBWINDOW
            model.charges[at // SUBWINDOW] += amount
            passed.append((at, amount))
            t = at
        else:
            with reverts("WorkerCapExceeded"):
                _as(chain, attacker, call)
            refused += 1
    assert len(passed) >= 8  # both sides of the rule were exercised
    assert refused >= 8
    for end, _ in passed:
        assert sum(a for s, a in passed if end - HOUR < s <= end) <= CAP
    hauled = sum(a for _, a in passed)
    assert hauled == sum(model.charges.values())
    assert wealth - sum(chain.collateral_of(p) for p in proxies) == hauled  # no fee: the charge is the haul


def test_huge_amounts_cannot_wrap_the_window_arithmetic(capped: LocalChain) -> None:
    """`_charge` sums in an unchecked block: a value near 2**256 would wrap the total to a small number,
    and one of 2**48 or more would spill into the next packed slot. Both are refused, single or in a batch,
    and the window is unchanged."""
    chain = capped
    d = chain.deployment
    attacker, uncapped, honest = d.accounts.fleet[0], d.accounts.fleet[1], d.accounts.fleet[2]
    proxies = [cs(chain.proxy_of(f)) for f in d.accounts.followers]
    pusd, ctf = cs(d.contracts.collateral), cs(d.contracts.ctf)
    x = chain.executor.functions
    chain.copy_buy(honest, proxies[3], YES_0, 10 * USD, 20 * USD)
    chain.pull_collateral(attacker, proxies[0], 7)
    assert _in_window(x, attacker) == 7
    wraps_to_zero = 2**256 - 7
    for call in (
        x.pullERC1155(proxies[3], ctf, YES_0, wraps_to_zero),
        x.pullERC1155(proxies[3], ctf, YES_0, U256_MAX),
        x.pullERC20(proxies[0], pusd, wraps_to_zero),
        x.pullERC1155Batch([proxies[3], proxies[3]], ctf, [YES_0, YES_0], [1, wraps_to_zero - 1]),
        x.pullERC20Batch([proxies[0], proxies[1]], pusd, [1, U256_MAX]),
    ):
        with reverts("WorkerCapExceeded"):
            _as(chain, attacker, call)
    assert _in_window(x, attacker) == 7

    # The local world's default cap is the packing's maximum: a charge of 2**48 would overflow its uint48.
    assert x.workerCap(cs(uncapped)).call() == MAX_CAP
    chain.pull_tokens(uncapped, proxies[3], YES_0, 1)
    for amount in (MAX_CAP, 2**48, 2**48 + 5, 2**112):
        with reverts("WorkerCapExceeded"):
            chain.pull_tokens(uncapped, proxies[3], YES_0, amount)
    assert _in_window(x, uncapped) == 1


def test_fees_batches_and_repayments_are_charged_to_the_account_that_receives(capped: LocalChain) -> None:
    """With a fee, a pull is charged amount + fee, to the caller, for every item of a batch (a Proxy named
    twice, twice); a repayment, batched or to a wallet, to the creditor, not to the worker that sent it."""
    chain = capped
    d = chain.deployment
    attacker, other = d.accounts.fleet[0], d.accounts.fleet[1]
    wallet = d.accounts.deposit_wallets[attacker]
    proxies = [cs(chain.proxy_of(f)) for f in d.accounts.followers]
    pusd = cs(d.contracts.collateral)
    x = chain.executor.functions
    treasury = d.contracts.treasury
    _owner(chain, x.setFee(cs(treasury), 250))  # 2.5 %; the local world has no delay
    fee_before = chain.collateral_of(treasury)

    _as(chain, attacker, x.pullERC20BatchTo([proxies[0], proxies[0]], pusd, [10 * USD, 10 * USD], cs(wallet)))
    assert _in_window(x, attacker) == 2 * (10 * USD + 250_000)
    # 39 base units: a fee of 0.975 rounds down to 0, so the charge is the 39 units moved, no less.
    _as(chain, attacker, x.pullERC20(proxies[1], pusd, 39))
    assert _in_window(x, attacker) == 2 * (10 * USD + 250_000) + 39
    assert chain.collateral_of(treasury) == fee_before + 2 * 250_000
    with reverts("WorkerCapExceeded"):  # room left: 100 - 20.5 USD - 39; 78 USD + fee is over it
        _as(chain, attacker, x.pullERC20(proxies[2], pusd, 78 * USD))

    # Debts: `other` records two, the attacker (any worker may send a repayment) pays them: charged to other.
    chain.trade(other, "BUY", YES_0, 40 * USD, 20 * USD)
    raw = [keccak(b"review debt a"), keccak(b"review debt b")]
    for debt_id in raw:
        chain.push_tokens_with_debt(other, proxies[2], YES_0, 10 * USD, 4 * USD, debt_id)
    ids = [_key(chain.executor, other, i) for i in raw]
    charged_before = _in_window(x, attacker)
    other_before = _in_window(x, other)
    _as(chain, attacker, x.repayDebtBatch([proxies[2], proxies[2]], pusd, [4 * USD, USD], cs(other), ids))
    assert _in_window(x, attacker) == charged_before
    assert _in_window(x, other) == other_before + 4 * USD + 100_000 + USD + 25_000
    with reverts("DebtMismatch"):  # the batch's creditor is the one recorded, never the sender
        _as(chain, attacker, x.repayDebtBatch([proxies[2]], pusd, [USD], cs(attacker), ids[1:]))
    other_wallet = d.accounts.deposit_wallets[other]
    with reverts("DebtMismatch"):  # recorded payee: other's EOA, not its wallet
        _as(
            chain,
            attacker,
            x.repayDebtBatchTo([proxies[2]], pusd, [USD], cs(other), cs(other_wallet), ids[1:]),
        )
    with reverts("NotOwnWallet"):
        _as(chain, attacker, x.repayDebtBatchTo([proxies[2]], pusd, [USD], cs(other), cs(wallet), ids[1:]))
    assert [x.debtOpen(i).call() for i in ids] == [0, 3 * USD]
    assert x.debtOpen(keccak(b"never")).call() == 0


def test_a_worker_records_debts_only_to_itself_or_its_wallet_and_only_for_a_proxy(capped: LocalChain) -> None:
    chain = capped
    d = chain.deployment
    attacker, other = d.accounts.fleet[0], d.accounts.fleet[1]
    proxy = cs(chain.proxy_of(d.accounts.followers[0]))
    pusd, ctf = cs(d.contracts.collateral), cs(d.contracts.ctf)
    x = chain.executor.functions
    chain.trade(attacker, "BUY", YES_0, 10 * USD, 5 * USD)
    for source in (other, d.accounts.deposit_wallets[other], d.accounts.leaders[0], proxy):
        with reverts("NotOwnWallet"):  # the payee (= the source) is never another account
            _as(
                chain,
                attacker,
                x.pushERC1155FromWithDebt(
                    proxy, ctf, YES_0, USD, cs(source), pusd, USD, keccak(b"f" + bytes(1))
                ),
            )
    with reverts("NotProxy"):  # a debt of something that is not a Proxy cannot be recorded
        chain.push_tokens_with_debt(attacker, d.accounts.leaders[0], YES_0, USD, USD, keccak(b"not a proxy"))
    assert x.debtOpen(_key(chain.executor, attacker, keccak(b"not a proxy"))).call() == 0
    # Recorded to the attacker, then the attacker is removed: nobody can be paid it, and only the owner
    # can move it, to an authorised worker and that worker's own account.
    raw = keccak(b"owed to the attacker")
    chain.push_tokens_with_debt(attacker, proxy, YES_0, 2 * USD, 2 * USD, raw)
    debt = _key(chain.executor, attacker, raw)
    _owner(chain, x.setWorker(cs(attacker), False))
    with reverts("NotWorker"):
        chain.repay_debt(other, proxy, USD, attacker, debt)
    args = (debt, proxy, pusd, cs(attacker), cs(attacker))
    with reverts("NotOwner"):
        _as(chain, other, x.reassignDebt(*args, cs(other), cs(other)))
    with reverts("NotWorker"):
        _owner(chain, x.reassignDebt(*args, cs(d.accounts.leaders[0]), cs(d.accounts.leaders[0])))
    with reverts("NotOwnWallet"):
        _owner(chain, x.reassignDebt(*args, cs(other), cs(d.accounts.leaders[0])))
    assert x.debtOpen(debt).call() == 2 * USD


# ------------------------------------------------------------------------------- delayed changes

DELAY = 6 * HOUR


def _delayed(chain: LocalChain, *, finish_setup: bool) -> Contract:
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
    return contract(chain.w3, "Executor", core.executor)


def test_no_widening_change_runs_before_its_delay_by_any_door(local_chain: LocalChain) -> None:
    chain = local_chain
    d = chain.deployment
    fleet = d.accounts.fleet
    executor = _delayed(chain, finish_setup=False)
    x = executor.functions
    wallet = d.accounts.deposit_wallets[fleet[0]]
    treasury = d.contracts.treasury
    # During setup: a wallet, a fee and a cap apply at once; a change queued now still waits its delay.
    _owner(chain, x.setWorkerWallet(cs(fleet[0]), cs(wallet)))
    _owner(chain, x.setFee(cs(treasury), 20))
    queued_in_setup = _data(x.setWorker(cs(fleet[1]), True))
    receipt = _owner(chain, x.queueChange(queued_in_setup))
    ready_at = _block_time(chain, receipt) + DELAY
    _owner(chain, x.finishSetup())
    with reverts("ChangeNotReady"):
        _owner(chain, x.executeChange(queued_in_setup))

    # Every widening call made directly after setup waits, including the ones that look like no-ops.
    _owner(chain, x.setWorkerWallet(cs(fleet[0]), cs(wallet)))  # same
    _owner(chain, x.setWorkerWallet(cs(fleet[0]), "0x" + "00" * 20))  # clearing is immediate
    _owner(chain, x.setFee(cs(treasury), 10))  # lowering the fee, same treasury: immediate
    _owner(chain, x.setWorker(cs(fleet[0]), True))  # already so: nothing widens
    widening = [
        x.setWorkerWallet(cs(fleet[0]), cs(wallet)),  # the cleared wallet again
        x.setWorkers([cs(fleet[0]), cs(fleet[2])], True),  # one new among the authorised
        x.setWorkerCap(cs(fleet[3]), CAP + 1),  # never capped: above the default
        x.setToken(cs(d.contracts.collateral), 2),  # a kind flipped
        x.setFee(cs(d.accounts.leaders[0]), 5),  # lower fee but a new treasury
        x.setFee(cs(treasury), 11),
    ]
    for call in widening:
        with reverts("ChangeNeedsDelay"):
            _owner(chain, call)
    for worker in (fleet[0], fleet[1]):  # a worker has no door of its own
        for call in (x.queueChange(queued_in_setup), x.executeChange(queued_in_setup), x.finishSetup()):
            with reverts("NotOwner"):
                _as(chain, worker, call)

    # Only the exact queued bytes run: a changed argument, a trailing byte or a different encoding is unknown.
    for variant in (
        _data(x.setWorker(cs(fleet[2]), True)),
        queued_in_setup + b"\x00",
        queued_in_setup[:-1] + b"\x02",
        _data(x.setWorkers([cs(fleet[1])], True)),
    ):
        with reverts("ChangeNotQueued"):
            _owner(chain, x.executeChange(variant))
    # Calls that are not widening setters can never be queued (nor run through the queue's door).
    never = [
        b"",
        b"\x01",
        _data(x.setPaused(False)),
        _data(x.finishSetup()),
        _data(x.setFactory(cs(d.accounts.leaders[0]))),
        _data(x.queueChange(queued_in_setup)),
        _data(x.executeChange(queued_in_setup)),
        _data(x.cancelChange(keccak(queued_in_setup))),
        _data(
            x.reassignDebt(
                keccak(b"d"),
                cs(fleet[0]),
                cs(fleet[0]),
                cs(fleet[0]),
                cs(fleet[0]),
                cs(fleet[0]),
                cs(fleet[0]),
            )
        ),
        _data(x.pullERC20(cs(fleet[0]), cs(d.contracts.collateral), 1)),
    ]
    for raw in never:
        with reverts("NotDelayable"):
            _owner(chain, x.queueChange(raw))

    _travel_to(chain, ready_at - 60)
    with reverts("ChangeNotReady"):
        _owner(chain, x.executeChange(queued_in_setup))
    assert not x.isWorker(cs(fleet[1])).call()
    _travel_to(chain, ready_at)
    receipt = _owner(chain, x.executeChange(queued_in_setup))
    assert [e["id"] for e in events(executor, "ChangeExecuted", receipt)] == [keccak(queued_in_setup)]
    assert x.isWorker(cs(fleet[1])).call()
    assert not x.isWorker(cs(fleet[2])).call()
    assert x.walletOf(cs(fleet[0])).call() == "0x" + "00" * 20
    assert (x.feeBps().call(), x.treasury().call().lower()) == (10, treasury)
    assert x.workerCap(cs(fleet[3])).call() == CAP
    assert x.tokenKind(cs(d.contracts.collateral)).call() == 1


# --------------------------------------------------------------------------------------- the watch


@pytest.fixture
def w() -> Iterator[World]:
    yield from fresh_world()


@pytest.mark.asyncio
async def test_the_watch_reports_every_item_of_a_foreign_batch_and_each_variant(
    w: World, tmp_path: Path
) -> None:
    """A leaked key pulls from three Proxies in one batch to its wallet, pulls tokens singly, and has a debt
    recorded to it repaid in a batch to itself: each event is reported once, with its worker and amount."""
    store = await store_at(tmp_path / "s.db", [])
    rpc = AsyncRpc([w.rpc_url])
    chain = w.chain
    d = w.deployment
    x = chain.executor.functions
    worker = d.accounts.fleet[0]
    wallet = d.accounts.deposit_wallets[worker]
    proxies = [cs(w.proxy(i)) for i in range(3)]
    pusd = cs(d.contracts.collateral)
    start = int(w.rpc("eth_blockNumber"), 16) + 1
    watch = ExecutorWatch(rpc, store, d.contracts.executor, chain_id=31337, grace_s=0, start_block=start)
    try:
        _as(chain, worker, x.pullERC20BatchTo(proxies, pusd, [USD, 2 * USD, 3 * USD], cs(wallet)))
        chain.trade(worker, "BUY", YES_0, 10 * USD, 5 * USD)
        chain.push_tokens_with_debt(worker, proxies[0], YES_0, 4 * USD, 4 * USD, keccak(b"watch a"))
        chain.push_tokens_with_debt(worker, proxies[1], YES_0, 4 * USD, 4 * USD, keccak(b"watch b"))
        chain.pull_tokens(worker, proxies[0], YES_0, USD)
        _as(
            chain,
            worker,
            x.repayDebtBatch(
                proxies[:2],
                pusd,
                [4 * USD, 3 * USD],
                cs(worker),
                [
                    _key(chain.executor, worker, keccak(b"watch a")),
                    _key(chain.executor, worker, keccak(b"watch b")),
                ],
            ),
        )
        reported = await watch.scan()
        assert sorted((e.name, e.worker, e.proxy, e.amount) for e in reported) == sorted(
            [
                ("PulledTo", worker, proxies[0].lower(), USD),
                ("PulledTo", worker, proxies[1].lower(), 2 * USD),
                ("PulledTo", worker, proxies[2].lower(), 3 * USD),
                ("Pulled", worker, proxies[0].lower(), USD),
                ("DebtRepaid", worker, proxies[0].lower(), 4 * USD),
                ("DebtRepaid", worker, proxies[1].lower(), 3 * USD),
            ]
        )
        assert watch.stats.unjournaled == {
            ("PulledTo", worker): 3,
            ("Pulled", worker): 1,
            ("DebtRepaid", worker): 2,
        }
        assert await watch.scan() == []
    finally:
        await rpc.close()
        await store.close()
