"""Proxy.redeem/merge and the Executor's redeemBatch/mergeBatch on anvil: exact payouts into each Proxy for
positions over pUSD, USDC.e and the neg-risk WrappedCollateral, and the attacks that must move nothing."""

from __future__ import annotations

import pytest
from chain_helpers import events, reverts
from redeem_world import USD, Market, cs, erc20_balance, give_positions, markets, resolve, token_ids_match
from web3.contract import Contract

from polyhunter.chain import ctf as ctf_ids
from polyhunter.chain.deploy import KIND_COLLATERAL, KIND_ERC20, KIND_ERC1155, KIND_WRAPPED, deploy_core
from polyhunter.chain.local import LocalChain
from polyhunter.chain.tx import ContractReverted, contract, deploy, send

pytestmark = pytest.mark.integration


def _proxies(chain: LocalChain, n: int) -> list[str]:
    return [chain.proxy_of(f) for f in chain.deployment.accounts.followers[:n]]


def _redeem(
    chain: LocalChain, worker: str, proxies: list[str], market: Market, ctf: str | None = None
) -> None:
    call = chain.executor.functions.redeemBatch(
        [cs(p) for p in proxies],
        cs(ctf or chain.deployment.contracts.ctf),
        cs(market.collateral),
        market.condition_id,
    )
    send(chain.w3, chain.signer(worker), call)


def _balances(chain: LocalChain, holders: list[str], market: Market) -> list[tuple[int, int, int, int]]:
    """(paid token, pUSD, YES, NO) of each holder."""
    c = chain.deployment.contracts
    return [
        (
            erc20_balance(chain, market.paid_token, h),
            erc20_balance(chain, c.collateral, h),
            chain.tokens_of(h, market.yes),
            chain.tokens_of(h, market.no),
        )
        for h in holders
    ]


@pytest.mark.parametrize("kind", ["pusd", "usdce", "negrisk"])
def test_a_resolved_market_is_redeemed_into_every_holding_proxy_exactly(
    local_chain: LocalChain, kind: str
) -> None:
    market = markets(local_chain)[kind]
    assert token_ids_match(market)
    worker = local_chain.deployment.accounts.fleet[0]
    winner, loser, both = _proxies(local_chain, 3)
    give_positions(local_chain, market, winner, 7 * USD, 0)
    give_positions(local_chain, market, loser, 0, 5 * USD)
    give_positions(local_chain, market, both, 2 * USD, 3 * USD)
    resolve(local_chain, market, yes_wins=True)
    paid_before = [erc20_balance(local_chain, market.paid_token, p) for p in (winner, loser, both)]
    worker_before = erc20_balance(local_chain, market.paid_token, worker)
    wrapped_before = erc20_balance(local_chain, market.collateral, worker)

    call = local_chain.executor.functions.redeemBatch(
        [cs(winner), cs(loser), cs(both)],
        cs(local_chain.deployment.contracts.ctf),
        cs(market.collateral),
        market.condition_id,
    )
    receipt = send(local_chain.w3, local_chain.signer(worker), call)

    paid_after = [erc20_balance(local_chain, market.paid_token, p) for p in (winner, loser, both)]
    assert [a - b for a, b in zip(paid_after, paid_before, strict=True)] == [7 * USD, 0, 2 * USD]
    for proxy in (winner, loser, both):
        assert local_chain.tokens_of(proxy, market.yes) == local_chain.tokens_of(proxy, market.no) == 0
        if kind == "negrisk":  # unwrapped: no WrappedCollateral is left in the Proxy
            assert erc20_balance(local_chain, market.collateral, proxy) == 0
    assert erc20_balance(local_chain, market.paid_token, worker) == worker_before
    assert erc20_balance(local_chain, market.collateral, worker) == wrapped_before
    logged = events(local_chain.executor, "ProxyRedeemed", receipt)
    assert [(e["proxy"].lower(), e["paid"], e["worker"].lower()) for e in logged] == [
        (winner.lower(), 7 * USD, worker),
        (loser.lower(), 0, worker),
        (both.lower(), 2 * USD, worker),
    ]


@pytest.mark.parametrize("kind", ["pusd", "negrisk"])
def test_a_merge_turns_matched_yes_and_no_back_into_collateral_in_the_proxy(
    local_chain: LocalChain, kind: str
) -> None:
    market = markets(local_chain)[kind]
    worker = local_chain.deployment.accounts.fleet[0]
    first, second = _proxies(local_chain, 2)
    give_positions(local_chain, market, first, 4 * USD, 3 * USD)
    give_positions(local_chain, market, second, 1 * USD, 1 * USD)
    before = _balances(local_chain, [first, second], market)
    call = local_chain.executor.functions.mergeBatch(
        [cs(first), cs(second)],
        cs(local_chain.deployment.contracts.ctf),
        cs(market.collateral),
        market.condition_id,
        [3 * USD, 1 * USD],
    )
    receipt = send(local_chain.w3, local_chain.signer(worker), call)
    after = _balances(local_chain, [first, second], market)
    assert after[0][0] - before[0][0] == 3 * USD
    assert after[0][2:] == (1 * USD, 0)
    assert after[1][0] - before[1][0] == 1 * USD
    assert after[1][2:] == (0, 0)
    assert [e["amount"] for e in events(local_chain.executor, "ProxyMerged", receipt)] == [3 * USD, 1 * USD]


def test_merging_more_than_held_reverts_whole(local_chain: LocalChain) -> None:
    market = markets(local_chain)["pusd"]
    worker = local_chain.deployment.accounts.fleet[0]
    first, second = _proxies(local_chain, 2)
    give_positions(local_chain, market, first, 2 * USD, 2 * USD)
    give_positions(local_chain, market, second, 1 * USD, 0)
    before = _balances(local_chain, [first, second], market)
    call = local_chain.executor.functions.mergeBatch(
        [cs(first), cs(second)],
        cs(local_chain.deployment.contracts.ctf),
        cs(market.collateral),
        market.condition_id,
        [2 * USD, 1 * USD],
    )
    with pytest.raises(ContractReverted):  # the CTF's burn of NO the second Proxy does not have
        send(local_chain.w3, local_chain.signer(worker), call)
    assert _balances(local_chain, [first, second], market) == before


def test_the_owner_redeems_directly_and_a_stranger_or_worker_cannot(local_chain: LocalChain) -> None:
    market = markets(local_chain)["usdce"]
    accounts = local_chain.deployment.accounts
    follower = accounts.followers[0]
    proxy = local_chain.proxy(follower)
    give_positions(local_chain, market, proxy.address, 3 * USD, 0)
    resolve(local_chain, market, yes_wins=True)
    ctf, collateral = cs(local_chain.deployment.contracts.ctf), cs(market.collateral)
    for intruder in (accounts.leaders[0], accounts.fleet[0]):
        with reverts("NotOwnerOrExecutor"):
            send(
                local_chain.w3,
                local_chain.signer(intruder),
                proxy.functions.redeem(ctf, collateral, market.condition_id, False),
            )
    before = erc20_balance(local_chain, market.paid_token, proxy.address)
    receipt = send(
        local_chain.w3,
        local_chain.signer(follower),
        proxy.functions.redeem(ctf, collateral, market.condition_id, False),
    )
    assert erc20_balance(local_chain, market.paid_token, proxy.address) - before == 3 * USD
    assert [e["paid"] for e in events(proxy, "Redeemed", receipt)] == [3 * USD]


def test_a_paused_proxy_is_still_redeemed_and_a_paused_executor_refuses(local_chain: LocalChain) -> None:
    market = markets(local_chain)["pusd"]
    accounts = local_chain.deployment.accounts
    worker, follower = accounts.fleet[0], accounts.followers[0]
    proxy = local_chain.proxy_of(follower)
    give_positions(local_chain, market, proxy, 2 * USD, 0)
    resolve(local_chain, market, yes_wins=True)
    send(local_chain.w3, local_chain.signer(follower), local_chain.proxy(follower).functions.setPaused(True))
    send(local_chain.w3, local_chain.signer(accounts.owner), local_chain.executor.functions.setPaused(True))
    with reverts("ExecutorPaused"):
        _redeem(local_chain, worker, [proxy], market)
    send(local_chain.w3, local_chain.signer(accounts.owner), local_chain.executor.functions.setPaused(False))
    before = erc20_balance(local_chain, market.paid_token, proxy)
    _redeem(local_chain, worker, [proxy], market)
    assert erc20_balance(local_chain, market.paid_token, proxy) - before == 2 * USD


# ------------------------------------------------------------------------------------------- attacks


def _everyone(chain: LocalChain, extra: list[str]) -> list[str]:
    a = chain.deployment.accounts
    return [*a.fleet, *a.followers, *a.leaders, a.owner, *[chain.proxy_of(f) for f in a.followers], *extra]


def _snapshot(chain: LocalChain, holders: list[str], market: Market) -> list[tuple[int, int, int, int]]:
    return _balances(chain, holders, market)


def test_a_non_worker_cannot_redeem_or_merge(local_chain: LocalChain) -> None:
    market = markets(local_chain)["pusd"]
    stranger = local_chain.deployment.accounts.leaders[0]
    proxy = _proxies(local_chain, 1)[0]
    with reverts("NotWorker"):
        _redeem(local_chain, stranger, [proxy], market)
    call = local_chain.executor.functions.mergeBatch(
        [cs(proxy)], cs(local_chain.deployment.contracts.ctf), cs(market.collateral), market.condition_id, [1]
    )
    with reverts("NotWorker"):
        send(local_chain.w3, local_chain.signer(stranger), call)


def test_unregistered_or_non_proxy_addresses_are_refused(local_chain: LocalChain) -> None:
    market = markets(local_chain)["pusd"]
    accounts = local_chain.deployment.accounts
    worker = accounts.fleet[0]
    give_positions(local_chain, market, worker, 2 * USD, 0)  # the worker's own tokens
    resolve(local_chain, market, yes_wins=True)
    holders = _everyone(local_chain, [local_chain.deployment.contracts.treasury])
    before = _snapshot(local_chain, holders, market)
    for target in (worker, accounts.followers[0], local_chain.deployment.contracts.treasury):
        with reverts("NotProxy"):
            _redeem(local_chain, worker, [_proxies(local_chain, 1)[0], target], market)
    assert _snapshot(local_chain, holders, market) == before


def test_a_fake_ctf_or_collateral_is_refused(local_chain: LocalChain) -> None:
    market = markets(local_chain)["pusd"]
    accounts = local_chain.deployment.accounts
    worker, proxy = accounts.fleet[0], _proxies(local_chain, 1)[0]
    give_positions(local_chain, market, proxy, 2 * USD, 0)
    resolve(local_chain, market, yes_wins=True)
    fake = deploy(local_chain.w3, local_chain.signer(worker), "MaliciousCollateral")
    holders = _everyone(local_chain, [fake])
    before = _snapshot(local_chain, holders, market)
    with reverts("TokenNotAllowed"):
        _redeem(local_chain, worker, [proxy], market, ctf=fake)
    not_collateral = Market(market.condition_id, market.question_id, fake, 0, 0, "pusd", fake)
    with reverts("NotCollateral"):
        _redeem(local_chain, worker, [proxy], not_collateral)
    with reverts("NotCollateral"):  # the CTF itself is no collateral
        _redeem(
            local_chain,
            worker,
            [proxy],
            Market(market.condition_id, "", local_chain.deployment.contracts.ctf, 0, 0, "pusd", fake),
        )
    assert _snapshot(local_chain, holders, market) == before


def test_a_foreign_condition_moves_nothing(local_chain: LocalChain) -> None:
    """A worker naming a condition the Proxies hold nothing of (resolved or not): nothing moves anywhere."""
    all_markets = markets(local_chain)
    held, foreign = all_markets["pusd"], all_markets["usdce"]
    worker, proxy = local_chain.deployment.accounts.fleet[0], _proxies(local_chain, 1)[0]
    give_positions(local_chain, held, proxy, 2 * USD, 1 * USD)
    holders = _everyone(local_chain, [])
    before = _snapshot(local_chain, holders, held)
    with pytest.raises(ContractReverted, match="result for condition not received yet"):
        _redeem(local_chain, worker, [proxy], foreign)
    resolve(local_chain, foreign, yes_wins=True)
    _redeem(local_chain, worker, [proxy], foreign)  # resolved, but this Proxy has none of it: pays 0
    # pUSD positions of the foreign condition id do not exist: the held market's tokens are untouched
    _redeem(
        local_chain,
        worker,
        [proxy],
        Market(foreign.condition_id, "", held.collateral, 0, 0, "pusd", held.paid_token),
    )
    assert _snapshot(local_chain, holders, held) == before


@pytest.mark.parametrize("mode", [1, 2])
def test_reentrancy_through_a_malicious_token_moves_nothing(local_chain: LocalChain, mode: int) -> None:
    """Even if the owner allowlisted a malicious token as wrapped collateral and authorised it as a worker,
    its `unwrap` re-entering the Executor (a pull of the Proxy's pUSD, or another redemption) reverts the
    whole redemption."""
    market = markets(local_chain)["pusd"]
    accounts = local_chain.deployment.accounts
    c = local_chain.deployment.contracts
    w3, owner = local_chain.w3, local_chain.signer(accounts.owner)
    worker, proxy = accounts.fleet[0], _proxies(local_chain, 1)[0]
    evil_address = deploy(w3, owner, "MaliciousCollateral")
    evil: Contract = contract(w3, "MaliciousCollateral", evil_address)
    executor = local_chain.executor.functions
    # The owner's mistakes (no delay on the local world): the token allowlisted and authorised as a worker.
    send(w3, owner, executor.setToken(cs(evil_address), 4))
    send(w3, owner, executor.setWorker(cs(evil_address), True))
    # The attacker splits its token into positions of the resolved market and hands them to the Proxy.
    send(w3, owner, evil.functions.mint(owner.address, 5 * USD))
    send(
        w3,
        owner,
        local_chain.ctf.functions.splitPosition(
            cs(evil_address), bytes(32), market.condition_id, [1, 2], 5 * USD
        ),
    )
    evil_yes, _ = ctf_ids.binary_token_ids(evil_address, market.condition_id)
    send(
        w3,
        owner,
        local_chain.ctf.functions.safeTransferFrom(owner.address, cs(proxy), evil_yes, 5 * USD, b""),
    )
    resolve(local_chain, market, yes_wins=True)
    send(
        w3,
        owner,
        evil.functions.arm(cs(c.executor), cs(proxy), cs(c.collateral), cs(c.ctf), market.condition_id, mode),
    )
    holders = _everyone(local_chain, [evil_address])
    before = _snapshot(local_chain, holders, market)
    evil_market = Market(market.condition_id, "", evil_address, evil_yes, 0, "pusd", c.collateral)
    with reverts("Reentrancy"):
        _redeem(local_chain, worker, [proxy], evil_market)
    assert _snapshot(local_chain, holders, market) == before
    assert local_chain.tokens_of(proxy, evil_yes) == 5 * USD


def test_deploy_core_allowlists_the_redemption_collaterals_it_is_given(local_chain: LocalChain) -> None:
    c = local_chain.deployment.contracts
    assert c.usdce is not None
    wrapped = markets(local_chain)["negrisk"].collateral
    owner = local_chain.signer(local_chain.deployment.accounts.owner)
    core = deploy_core(
        local_chain.w3,
        owner,
        collateral=c.collateral,
        ctf=c.ctf,
        fleet=[],
        change_delay_s=0,
        worker_cap=USD,
        usdce=c.usdce,
        wrapped_collateral=wrapped,
    )
    executor = contract(local_chain.w3, "Executor", core.executor).functions
    kinds = [executor.tokenKind(cs(t)).call() for t in (c.collateral, c.ctf, c.usdce, wrapped)]
    assert kinds == [KIND_ERC20, KIND_ERC1155, KIND_COLLATERAL, KIND_WRAPPED]
    bare = deploy_core(
        local_chain.w3, owner, collateral=c.collateral, ctf=c.ctf, fleet=[], change_delay_s=0, worker_cap=USD
    )
    assert contract(local_chain.w3, "Executor", bare.executor).functions.tokenKind(cs(c.usdce)).call() == 0
