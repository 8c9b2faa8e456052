"""Workers' trading wallets on the Executor against anvil: registration rules, pulls to and pushes from a
worker's own wallet with exact balances, and the attacks on the new paths."""

from __future__ import annotations

from typing import Any

import pytest
from chain_helpers import cs, events, reverts
from eth_abi.abi import decode
from eth_utils import keccak
from wallet_helpers import calldata, register_wallet, wallet_approving

from polyhunter.chain import polymarket
from polyhunter.chain.local import LocalChain
from polyhunter.chain.tx import ContractReverted, send
from polyhunter.errors import DecodeError
from polyhunter.execution import calls

pytestmark = pytest.mark.integration

YES_0 = 85582852254055604730434497073296615212033849972277199800761754422625228641162
USD = 1_000_000
ZERO = "0x" + "00" * 20
DEPOSIT = 5_000 * USD  # each follower's Proxy starts with this much pUSD


def _x(chain: LocalChain, caller: str, data: bytes) -> Any:
    """Sends `data` to the Executor from `caller`; a revert surfaces as `ContractReverted` with its name."""
    return send(chain.w3, chain.signer(caller), {"to": cs(chain.deployment.contracts.executor), "data": data})


def _owner(chain: LocalChain, call: Any) -> Any:
    return send(chain.w3, chain.signer(chain.deployment.accounts.owner), call)


class World:
    """fleet[0] (`worker`) with its deposit wallet `wallet`, fleet[1] (`other`) with `other_wallet`, both
    registered; fleet[2] (`spare`) with none registered; the first two followers' Proxies."""

    def __init__(self, chain: LocalChain) -> None:
        d = chain.deployment
        self.chain = chain
        self.worker, self.other, self.spare = d.accounts.fleet[0], d.accounts.fleet[1], d.accounts.fleet[2]
        self.stranger = d.accounts.leaders[0]
        self.proxy, self.proxy2 = (chain.proxy_of(f) for f in d.accounts.followers[:2])
        self.pusd, self.ctf = d.contracts.collateral, d.contracts.ctf
        exchange = d.contracts.local_exchange or ""
        self.wallet = wallet_approving(chain, self.worker, exchange)
        self.other_wallet = wallet_approving(chain, self.other)
        register_wallet(chain, self.worker, self.wallet)
        register_wallet(chain, self.other, self.other_wallet)
        # The local world registers every fleet wallet's deposit wallet; `spare` is the unregistered case.
        register_wallet(chain, self.spare, "0x" + "00" * 20)

    def pull_to(self, caller: str, to: str, amount: int, proxy: str | None = None) -> Any:
        return _x(self.chain, caller, calls.pull_erc20_to([proxy or self.proxy], self.pusd, [amount], to))

    def push_from(self, caller: str, source: str, amount: int, proxy: str | None = None) -> Any:
        return _x(
            self.chain, caller, calls.push_erc20_from([proxy or self.proxy], self.pusd, [amount], source)
        )

    def wallet_fill(self, side: int, tokens: int, collateral: int) -> None:
        """The worker's wallet trades on LocalExchange against the owner (its market maker)."""
        d = self.chain.deployment
        data = calls.fill(d.accounts.owner, side, YES_0, tokens, collateral)
        polymarket.wallet_execute(
            self.chain.w3,
            self.chain.signer(self.worker),
            self.wallet,
            [(self.chain.exchange.address, 0, data)],
        )

    def fund_proxy_tokens(self, proxy: str, tokens: int) -> None:
        self.chain.copy_buy(self.chain.deployment.accounts.fleet[3], proxy, YES_0, tokens // 2, tokens)


@pytest.fixture
def world(local_chain: LocalChain) -> World:
    return World(local_chain)


# ------------------------------------------------------------------------------------ happy paths


def test_a_buy_through_the_workers_wallet_moves_exact_balances(world: World) -> None:
    chain, worker, wallet, proxy = world.chain, world.worker, world.wallet, world.proxy
    worker_usd = chain.collateral_of(worker)
    assert chain.executor.functions.walletOf(cs(worker)).call().lower() == wallet
    assert chain.executor.functions.workerOfWallet(cs(wallet)).call().lower() == worker

    pulled = world.pull_to(worker, wallet, 10 * USD)
    assert chain.collateral_of(proxy) == DEPOSIT - 10 * USD
    assert chain.collateral_of(wallet) == 10 * USD
    (event,) = events(chain.executor, "PulledTo", pulled)
    assert (event["proxy"].lower(), event["worker"].lower(), event["to"].lower()) == (proxy, worker, wallet)
    assert (event["token"].lower(), event["id"], event["amount"], event["fee"]) == (
        world.pusd,
        0,
        10 * USD,
        0,
    )
    assert events(chain.executor, "Pulled", pulled) == []

    world.wallet_fill(calls.SIDE_BUY, 20 * USD, 10 * USD)
    assert chain.tokens_of(wallet, YES_0) == 20 * USD
    pushed = _x(chain, worker, calls.push_erc1155_from([proxy], world.ctf, YES_0, [20 * USD], wallet))

    assert chain.tokens_of(proxy, YES_0) == 20 * USD
    assert chain.tokens_of(wallet, YES_0) == 0
    assert chain.collateral_of(wallet) == 0
    assert chain.collateral_of(worker) == worker_usd  # the worker's own float never moved
    (event,) = events(chain.executor, "PushedFrom", pushed)
    assert (event["proxy"].lower(), event["worker"].lower(), event["from"].lower()) == (proxy, worker, wallet)
    assert (event["id"], event["amount"]) == (YES_0, 20 * USD)


def test_a_sell_and_the_batched_forms_through_the_workers_wallet(world: World) -> None:
    chain, worker, wallet, p0, p1 = world.chain, world.worker, world.wallet, world.proxy, world.proxy2
    world.fund_proxy_tokens(p0, 8 * USD)
    world.fund_proxy_tokens(p1, 10 * USD)
    usd = {p: chain.collateral_of(p) for p in (p0, p1)}

    data = calls.pull_erc1155_to([p0, p1], world.ctf, YES_0, [4 * USD, 6 * USD], wallet)
    receipt = _x(chain, worker, data)
    assert (chain.tokens_of(p0, YES_0), chain.tokens_of(p1, YES_0)) == (4 * USD, 4 * USD)
    assert chain.tokens_of(wallet, YES_0) == 10 * USD
    assert [
        (e["proxy"].lower(), e["amount"], e["to"].lower())
        for e in events(chain.executor, "PulledTo", receipt)
    ] == [
        (p0, 4 * USD, wallet),
        (p1, 6 * USD, wallet),
    ]
    # Recovery reads back what a journaled pull moved, and where to.
    tx_input = bytes(chain.w3.eth.get_transaction(receipt["transactionHash"])["input"])
    assert calls.decode_pull_to(tx_input, p1) == (6 * USD, wallet)
    assert calls.decode_pull(tx_input, p0) == 4 * USD

    world.wallet_fill(calls.SIDE_SELL, 10 * USD, 5 * USD)
    assert chain.collateral_of(wallet) == 5 * USD
    _x(chain, worker, calls.push_erc20_from([p0, p1], world.pusd, [2 * USD, 3 * USD], wallet))
    assert chain.collateral_of(p0) == usd[p0] + 2 * USD
    assert chain.collateral_of(p1) == usd[p1] + 3 * USD
    assert chain.collateral_of(wallet) == 0

    # The batched ERC-20 pull and ERC-1155 push, to and from the wallet.
    _x(chain, worker, calls.pull_erc20_to([p0, p1], world.pusd, [USD, 2 * USD], wallet))
    assert chain.collateral_of(wallet) == 3 * USD
    assert chain.collateral_of(p0) == usd[p0] + USD
    world.wallet_fill(calls.SIDE_BUY, 6 * USD, 3 * USD)
    _x(chain, worker, calls.push_erc1155_from([p0, p1], world.ctf, YES_0, [USD, 5 * USD], wallet))
    assert (chain.tokens_of(p0, YES_0), chain.tokens_of(p1, YES_0)) == (5 * USD, 9 * USD)
    assert (chain.tokens_of(wallet, YES_0), chain.collateral_of(wallet)) == (0, 0)


def test_a_worker_may_name_itself_and_the_original_functions_keep_their_meaning(world: World) -> None:
    chain, worker, wallet, proxy = world.chain, world.worker, world.wallet, world.proxy
    spare = world.spare  # authorised, no wallet registered: trades as itself (signature type 0)
    spare_usd = chain.collateral_of(spare)
    world.pull_to(spare, spare, 3 * USD)
    assert chain.collateral_of(spare) == spare_usd + 3 * USD
    world.push_from(spare, spare, 3 * USD)
    assert chain.collateral_of(spare) == spare_usd
    # With a wallet registered, the original pull still pays the calling worker, never the wallet.
    worker_usd = chain.collateral_of(worker)
    chain.pull_collateral(worker, proxy, 2 * USD)
    assert chain.collateral_of(worker) == worker_usd + 2 * USD
    assert chain.collateral_of(wallet) == 0
    assert chain.collateral_of(proxy) == DEPOSIT - 2 * USD


# --------------------------------------------------------------------------------------- attacks


def test_a_pull_cannot_go_to_another_workers_wallet_or_any_other_address(world: World) -> None:
    chain, worker, proxy = world.chain, world.worker, world.proxy
    world.fund_proxy_tokens(proxy, 4 * USD)
    usd, tokens = chain.collateral_of(proxy), chain.tokens_of(proxy, YES_0)
    targets = [
        world.other_wallet,  # another worker's registered wallet
        world.other,  # another worker itself
        world.stranger,
        world.proxy2,
        chain.deployment.contracts.executor,
        chain.deployment.accounts.deposit_wallets[world.stranger],  # a leader's deposit wallet
        ZERO,
    ]
    for to in targets:
        for data in (
            calls.pull_erc20_to([proxy], world.pusd, [USD], to),
            calls.pull_erc20_to([proxy, proxy], world.pusd, [USD, USD], to),
            calls.pull_erc1155_to([proxy], world.ctf, YES_0, [USD], to),
            calls.pull_erc1155_to([proxy, proxy], world.ctf, YES_0, [USD, USD], to),
        ):
            with reverts("NotOwnWallet"):
                _x(chain, worker, data)
    # No wallet registered: the zero address must not pass for "its wallet".
    with reverts("NotOwnWallet"):
        world.pull_to(world.spare, ZERO, USD)
    assert (chain.collateral_of(proxy), chain.tokens_of(proxy, YES_0)) == (usd, tokens)
    assert chain.collateral_of(world.other_wallet) == 0


def test_a_push_cannot_spend_from_an_unregistered_wallet_or_another_workers(world: World) -> None:
    chain, worker, proxy, other_wallet = world.chain, world.worker, world.proxy, world.other_wallet
    # An unregistered deposit wallet of an authorised worker, approved for the Executor and funded.
    unregistered = wallet_approving(chain, world.spare)
    for account in (unregistered, other_wallet):
        world.pull_to(world.spare, world.spare, 10 * USD)
        send(chain.w3, chain.signer(world.spare), chain.collateral.functions.transfer(cs(account), 10 * USD))
    balances = {a: chain.collateral_of(a) for a in (unregistered, other_wallet, world.other, proxy)}
    attempts = [
        (world.spare, unregistered),  # its owner's worker, but never registered
        (worker, unregistered),
        (worker, other_wallet),  # another worker's registered wallet
        (worker, world.other),  # another worker, which approved the Executor for its own pushes
        (worker, ZERO),
    ]
    for caller, source in attempts:
        for data in (
            calls.push_erc20_from([proxy], world.pusd, [USD], source),
            calls.push_erc20_from([proxy, proxy], world.pusd, [USD, USD], source),
            calls.push_erc1155_from([proxy], world.ctf, YES_0, [0], source),
            calls.push_erc1155_from([proxy, proxy], world.ctf, YES_0, [0, 0], source),
        ):
            with reverts("NotOwnWallet"):
                _x(chain, caller, data)
    assert {a: chain.collateral_of(a) for a in balances} == balances


def test_registration_belongs_to_the_owner_and_is_checked(world: World) -> None:
    chain, worker, wallet = world.chain, world.worker, world.wallet
    x = chain.executor.functions
    spare_wallet = wallet_approving(chain, world.spare)
    for caller in (worker, world.spare, world.stranger):
        with reverts("NotOwner"):
            send(chain.w3, chain.signer(caller), x.setWorkerWallet(cs(world.spare), cs(spare_wallet)))
    with reverts("NotWorker"):  # a wallet for an address that is not an authorised worker
        _owner(chain, x.setWorkerWallet(cs(world.stranger), cs(spare_wallet)))
    for bad in (
        world.stranger,  # an EOA: a second key outside the fleet
        world.spare,  # the worker itself
        world.proxy,
        chain.deployment.contracts.executor,
    ):
        with reverts("InvalidWallet"):
            _owner(chain, x.setWorkerWallet(cs(world.spare), cs(bad)))
    assert x.walletOf(cs(world.spare)).call() == ZERO

    receipt = _owner(chain, x.setWorkerWallet(cs(world.spare), cs(spare_wallet)))
    (event,) = events(chain.executor, "WorkerWalletSet", receipt)
    assert (event["worker"].lower(), event["wallet"].lower()) == (world.spare, spare_wallet)
    # Clearing: the wallet is no longer a destination.
    _owner(chain, x.setWorkerWallet(cs(worker), ZERO))
    assert x.walletOf(cs(worker)).call() == ZERO
    with reverts("NotOwnWallet"):
        world.pull_to(worker, wallet, USD)
    assert chain.collateral_of(wallet) == 0


def test_a_wallet_holding_funds_can_never_be_registered_to_another_worker(world: World) -> None:
    chain, worker, other, wallet, proxy = world.chain, world.worker, world.other, world.wallet, world.proxy
    x = chain.executor.functions
    world.pull_to(worker, wallet, 10 * USD)  # in flight: the wallet holds a Proxy's collateral

    with reverts("WalletTaken"):
        _owner(chain, x.setWorkerWallet(cs(other), cs(wallet)))
    with reverts("WalletTaken"):
        _owner(chain, x.setWorkerWallet(cs(world.spare), cs(wallet)))
    # The worker's key leaked: the owner clears its wallet and removes it. The wallet (its owner is the
    # leaked key) still cannot be given to another worker, so no later pull can be routed to the thief.
    _owner(chain, x.setWorkerWallet(cs(worker), ZERO))
    _owner(chain, x.setWorker(cs(worker), False))
    with reverts("WalletTaken"):
        _owner(chain, x.setWorkerWallet(cs(world.spare), cs(wallet)))
    for caller in (other, world.spare):
        with reverts("NotOwnWallet"):
            world.push_from(caller, wallet, 10 * USD)
        with reverts("NotOwnWallet"):
            world.pull_to(caller, wallet, USD)
    assert chain.collateral_of(wallet) == 10 * USD
    assert chain.executor.functions.workerOfWallet(cs(wallet)).call().lower() == worker

    # Back in service, the worker (and only it) may take the wallet again and return the funds.
    _owner(chain, x.setWorker(cs(worker), True))
    _owner(chain, x.setWorkerWallet(cs(worker), cs(wallet)))
    world.push_from(worker, wallet, 10 * USD)
    assert chain.collateral_of(proxy) == DEPOSIT
    assert chain.collateral_of(wallet) == 0


def test_moving_a_worker_to_another_wallet_leaves_the_old_one_bound_to_it(world: World) -> None:
    chain, worker, wallet, proxy = world.chain, world.worker, world.wallet, world.proxy
    x = chain.executor.functions
    world.pull_to(worker, wallet, 7 * USD)
    # A contract wallet never registered before (here a leader's deposit wallet, by mistake).
    new_wallet = chain.deployment.accounts.deposit_wallet(chain.deployment.accounts.leaders[1])
    _owner(chain, x.setWorkerWallet(cs(worker), cs(new_wallet)))
    with reverts("NotOwnWallet"):
        world.push_from(worker, wallet, 7 * USD)
    with reverts("WalletTaken"):  # the mistaken wallet is now the worker's, never another worker's
        _owner(chain, x.setWorkerWallet(cs(world.spare), cs(new_wallet)))
    _owner(chain, x.setWorkerWallet(cs(worker), cs(wallet)))
    world.push_from(worker, wallet, 7 * USD)
    assert (chain.collateral_of(proxy), chain.collateral_of(wallet)) == (DEPOSIT, 0)


def test_a_deauthorised_workers_wallet_is_inert(world: World) -> None:
    chain, worker, other, wallet, proxy = world.chain, world.worker, world.other, world.wallet, world.proxy
    x = chain.executor.functions
    world.pull_to(worker, wallet, 5 * USD)
    _owner(chain, x.setWorker(cs(worker), False))
    with reverts("NotWorker"):
        world.pull_to(worker, wallet, USD)
    with reverts("NotWorker"):
        world.push_from(worker, wallet, 5 * USD)
    with reverts("NotOwnWallet"):
        world.pull_to(other, wallet, USD)
    with reverts("NotOwnWallet"):
        world.push_from(other, wallet, 5 * USD)
    with reverts("NotWorker"):  # a debt can no longer be paid to the removed worker or its wallet
        _x(chain, other, calls.repay_debt_batch_to([proxy], world.pusd, [USD], worker, wallet, [1]))
    with reverts("NotWorker"):
        _owner(chain, x.setWorkerWallet(cs(worker), cs(wallet)))
    assert chain.collateral_of(wallet) == 5 * USD
    assert chain.collateral_of(proxy) == DEPOSIT - 5 * USD

    _owner(chain, x.setWorker(cs(worker), True))
    world.push_from(worker, wallet, 5 * USD)
    assert chain.collateral_of(proxy) == DEPOSIT


def test_a_wallet_cannot_act_as_its_worker_and_strangers_cannot_use_the_new_paths(world: World) -> None:
    chain, worker, wallet, proxy = world.chain, world.worker, world.wallet, world.proxy
    for data in (
        calls.pull_erc20_to([proxy], world.pusd, [USD], world.stranger),
        calls.pull_erc1155_to([proxy, proxy], world.ctf, YES_0, [1, 1], world.stranger),
        calls.push_erc20_from([proxy], world.pusd, [USD], world.stranger),
        calls.push_erc1155_from([proxy, proxy], world.ctf, YES_0, [0, 0], world.stranger),
        calls.repay_debt_batch_to([proxy], world.pusd, [USD], world.stranger, world.stranger, [1]),
    ):
        with reverts("NotWorker"):
            _x(chain, world.stranger, data)
    # The worker's key makes its wallet call the Executor: the wallet is not a worker.
    executor = chain.deployment.contracts.executor
    with pytest.raises(ContractReverted) as info:
        polymarket.wallet_execute(
            chain.w3,
            chain.signer(worker),
            wallet,
            [(executor, 0, calls.pull_erc20_to([proxy], world.pusd, [USD], wallet))],
        )
    assert info.value.error_name == "CallFailed"
    _index, reason = decode(["uint256", "bytes"], info.value.data[4:])
    assert reason[:4] == keccak(text="NotWorker(address)")[:4]
    assert chain.collateral_of(proxy) == DEPOSIT


def test_limits_fee_pause_allowlist_and_registry_hold_through_the_new_paths(world: World) -> None:
    chain, worker, wallet, proxy = world.chain, world.worker, world.wallet, world.proxy
    follower = chain.deployment.accounts.followers[0]
    treasury = chain.deployment.contracts.treasury
    x = chain.executor.functions
    send(chain.w3, chain.signer(follower), chain.proxy(follower).functions.setLimits(3 * USD, 6 * USD))
    _owner(chain, x.setFee(cs(treasury), 100))  # 1 %, paid by the Proxy, counted against its limits
    treasury_usd = chain.collateral_of(treasury)

    with reverts("ExceedsMaxPerTrade"):  # 3 USD + 0.03 fee
        world.pull_to(worker, wallet, 3 * USD)
    receipt = world.pull_to(worker, wallet, 2 * USD)
    (event,) = events(chain.executor, "PulledTo", receipt)
    assert event["fee"] == 20_000
    assert chain.collateral_of(wallet) == 2 * USD
    assert chain.collateral_of(treasury) == treasury_usd + 20_000
    assert chain.collateral_of(proxy) == DEPOSIT - 2_020_000
    with reverts("ExceedsMaxPerDay"):  # 2.02 spent + 2 × 2.02 > 6: the whole batch reverts
        _x(chain, worker, calls.pull_erc20_to([proxy, proxy], world.pusd, [2 * USD, 2 * USD], wallet))
    with reverts("ExceedsMaxPerTrade"):  # an outcome token counts as 1 collateral unit
        _x(chain, worker, calls.pull_erc1155_to([proxy], world.ctf, YES_0, [3 * USD + 1], wallet))
    assert chain.collateral_of(proxy) == DEPOSIT - 2_020_000

    _owner(chain, x.setPaused(True))
    for data in (
        calls.pull_erc20_to([proxy], world.pusd, [USD], wallet),
        calls.pull_erc1155_to([proxy, proxy], world.ctf, YES_0, [1, 1], wallet),
        calls.push_erc20_from([proxy], world.pusd, [USD], wallet),
        calls.push_erc1155_from([proxy], world.ctf, YES_0, [0], wallet),
        calls.repay_debt_batch_to([proxy], world.pusd, [USD], worker, wallet, [1]),
    ):
        with reverts("ExecutorPaused"):
            _x(chain, worker, data)
    _owner(chain, x.setPaused(False))

    send(chain.w3, chain.signer(follower), chain.proxy(follower).functions.setPaused(True))
    with reverts("ProxyPaused"):
        world.pull_to(worker, wallet, USD)
    with reverts("TokenNotAllowed"):  # the CTF is allowlisted as ERC-1155 only
        _x(chain, worker, calls.pull_erc20_to([proxy], world.ctf, [USD], wallet))
    with reverts("TokenNotAllowed"):
        _x(chain, worker, calls.push_erc1155_from([proxy], world.pusd, YES_0, [0], wallet))
    with reverts("NotProxy"):  # the destination of a push must be a registered Proxy
        world.push_from(worker, wallet, USD, proxy=world.stranger)
    with reverts("NotProxy"):
        world.pull_to(worker, wallet, USD, proxy=world.other_wallet)
    assert chain.collateral_of(wallet) == 2 * USD


def _front(world: World, creditor: str, source: str, proxy: str, debt: int, debt_id: bytes) -> None:
    """`creditor` buys `debt` worth of YES on its own float, then pushes the tokens from `source` (itself or
    its wallet) into `proxy`, recording the debt owed to `source`."""
    chain = world.chain
    tokens = 2 * debt
    chain.trade(creditor, "BUY", YES_0, tokens, debt)
    if source != creditor:
        send(
            chain.w3,
            chain.signer(creditor),
            chain.ctf.functions.safeTransferFrom(cs(creditor), cs(source), YES_0, tokens, b""),
        )
    args = (cs(proxy), cs(world.ctf), YES_0, tokens)
    debt_args = (cs(world.pusd), debt, debt_id)
    x = chain.executor.functions
    call = (
        x.pushERC1155WithDebt(*args, *debt_args)
        if source == creditor
        else x.pushERC1155FromWithDebt(*args, cs(source), *debt_args)
    )
    send(chain.w3, chain.signer(creditor), call)


def test_debts_are_repaid_to_the_creditor_or_its_wallet_only(world: World) -> None:
    chain, worker, other, proxy = world.chain, world.worker, world.other, world.proxy
    debt = keccak(b"debt 1")
    x = chain.executor.functions
    _front(world, other, world.other_wallet, proxy, 5 * USD, debt)
    _front(world, other, other, proxy, USD, calls.debt_id_bytes(3))
    _front(world, other, other, world.proxy2, 2 * USD, calls.debt_id_bytes(4))
    # Repayments name a debt by its recorder's key (id 2 was never recorded).
    debt, k2, k3, k4 = (calls.debt_key(other, i) for i in (debt, *map(calls.debt_id_bytes, (2, 3, 4))))
    # `worker` (the recovery loop) repays the debt `other` fronted, into `other`'s wallet.
    receipt = send(
        chain.w3,
        chain.signer(worker),
        x.repayDebtTo(cs(proxy), cs(world.pusd), 5 * USD, cs(other), cs(world.other_wallet), debt),
    )
    assert chain.collateral_of(world.other_wallet) == 5 * USD
    assert chain.collateral_of(proxy) == DEPOSIT - 5 * USD
    (event,) = events(chain.executor, "DebtRepaidTo", receipt)
    assert (event["creditor"].lower(), event["worker"].lower(), event["to"].lower()) == (
        other,
        worker,
        world.other_wallet,
    )
    assert (event["amount"], event["fee"], event["debtId"]) == (5 * USD, 0, debt)
    topics = [
        log["topics"][0]
        for log in receipt["logs"]
        if log["address"].lower() == chain.executor.address.lower()
    ]
    assert topics == [calls.DEBT_REPAID_TO_TOPIC]

    for to in (world.wallet, worker, world.stranger, ZERO):  # never to anyone but the creditor's own
        with reverts("NotOwnWallet"):
            _x(chain, worker, calls.repay_debt_batch_to([proxy], world.pusd, [USD], other, to, [k2]))
    with reverts("NotWorker"):
        _x(
            chain,
            worker,
            calls.repay_debt_batch_to([proxy], world.pusd, [USD], world.stranger, world.stranger, [k2]),
        )
    other_usd = chain.collateral_of(other)
    _x(
        chain,
        worker,
        calls.repay_debt_batch_to([proxy, world.proxy2], world.pusd, [USD, 2 * USD], other, other, [k3, k4]),
    )
    assert chain.collateral_of(other) == other_usd + 3 * USD
    assert chain.collateral_of(world.other_wallet) == 5 * USD
    assert chain.collateral_of(proxy) == DEPOSIT - 6 * USD
    assert chain.collateral_of(world.proxy2) == DEPOSIT - 2 * USD
    with reverts("DebtExceedsOpen"):  # paid already: nothing is open
        _x(chain, worker, calls.repay_debt_batch_to([proxy], world.pusd, [1], other, other, [k3]))


def test_the_encoders_name_the_contracts_functions(world: World) -> None:
    abi = {item["name"]: item for item in world.chain.executor.abi if item.get("type") == "function"}
    pairs = {
        calls.PULL_ERC20_TO: "pullERC20To",
        calls.PULL_ERC1155_TO: "pullERC1155To",
        calls.PULL_ERC20_BATCH_TO: "pullERC20BatchTo",
        calls.PULL_ERC1155_BATCH_TO: "pullERC1155BatchTo",
        calls.PUSH_ERC20_FROM: "pushERC20From",
        calls.PUSH_ERC1155_FROM: "pushERC1155From",
        calls.PUSH_ERC20_BATCH_FROM: "pushERC20BatchFrom",
        calls.PUSH_ERC1155_BATCH_FROM: "pushERC1155BatchFrom",
        calls.REPAY_DEBT_TO: "repayDebtTo",
        calls.REPAY_DEBT_BATCH_TO: "repayDebtBatchTo",
        calls.SET_WORKER_WALLET: "setWorkerWallet",
        calls.WALLET_OF: "walletOf",
    }
    for sel, name in pairs.items():
        signature = f"{name}({','.join(i['type'] for i in abi[name]['inputs'])})"
        assert keccak(text=signature)[:4] == sel, name
    reply = world.chain.w3.eth.call(
        {"to": cs(world.chain.executor.address), "data": calls.wallet_of(world.worker)}
    )
    assert decode(["address"], reply)[0].lower() == world.wallet
    _owner(
        world.chain,
        {"to": cs(world.chain.executor.address), "data": calls.set_worker_wallet(world.worker, ZERO)},
    )
    assert world.chain.executor.functions.walletOf(cs(world.worker)).call() == ZERO
    assert calldata(world.chain.executor.functions.walletOf(cs(world.worker))) == calls.wallet_of(
        world.worker
    )


def test_decode_pull_to_refuses_what_is_not_a_pull_from_that_proxy() -> None:
    proxy, other, wallet = "0x" + "aa" * 20, "0x" + "bb" * 20, "0x" + "cc" * 20
    single = calls.pull_erc1155_to([proxy], "0x" + "dd" * 20, YES_0, [7], wallet)
    assert calls.decode_pull_to(single, proxy) == (7, wallet)
    assert calls.decode_pull(single, proxy.upper().replace("0X", "0x")) == 7
    with pytest.raises(DecodeError, match="not 0x" + "bb" * 20):
        calls.decode_pull_to(single, other)
    batch = calls.pull_erc20_to([proxy, other, proxy], "0x" + "dd" * 20, [1, 2, 3], wallet)
    assert calls.decode_pull_to(batch, proxy) == (4, wallet)
    with pytest.raises(DecodeError, match="did not move anything"):
        calls.decode_pull_to(batch, wallet)
    with pytest.raises(DecodeError, match="not a pull to a wallet"):
        calls.decode_pull_to(calls.pull_erc20([proxy], "0x" + "dd" * 20, [1]), proxy)
    with pytest.raises(DecodeError, match="not a pull"):
        calls.decode_pull(calls.push_erc20_from([proxy], "0x" + "dd" * 20, [1], wallet), proxy)
