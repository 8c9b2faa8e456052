"""Helpers of the redemption tests on the local world: positions of each collateral put into Proxies, and
markets resolved by their oracle (the owner, or the NegRiskAdapter through `reportOutcome`)."""

from __future__ import annotations

from dataclasses import dataclass

from web3 import Web3

from polyhunter.chain import adapters, polymarket
from polyhunter.chain import ctf as ctf_ids
from polyhunter.chain.local import LocalChain
from polyhunter.chain.polymarket import PolymarketContracts
from polyhunter.chain.tx import contract, send

USD = 1_000_000
MAX_UINT256 = 2**256 - 1


def cs(address: str) -> str:
    return Web3.to_checksum_address(address)


@dataclass(frozen=True)
class Market:
    """A binary condition of the local world, with what its positions are over and how it resolves."""

    condition_id: str
    question_id: str
    collateral: str
    yes: int
    no: int
    kind: str  # "pusd" | "usdce" | "negrisk"
    paid_token: str  # what a redemption pays into the Proxy


def _pm(chain: LocalChain) -> PolymarketContracts:
    c = chain.deployment.contracts
    assert c.usdce
    assert c.pusd
    assert c.onramp
    assert c.offramp
    return PolymarketContracts(
        usdce=c.usdce,
        pusd=c.pusd,
        onramp=c.onramp,
        offramp=c.offramp,
        ctf=c.ctf,
        exchange=c.ctf_exchange_v2 or "",
        neg_risk_exchange=c.neg_risk_exchange_v2 or "",
        wallet_factory=c.deposit_wallet_factory or "",
        wallet_init_code_hash=chain.deployment.deposit_wallet_init_code_hash or "",
    )


def markets(chain: LocalChain) -> dict[str, Market]:
    """One market of each kind: the first pinned market (pUSD), the adapters' USDC.e market and the first
    question of the neg-risk market (over the WrappedCollateral, paid in USDC.e)."""
    d = chain.deployment
    c = d.contracts
    assert c.usdce
    assert c.neg_risk_adapter
    extra = adapters.local_adapter_markets(
        oracle=d.accounts.owner, usdce=c.usdce, neg_risk_adapter=c.neg_risk_adapter
    )
    first = d.markets[0]
    usdce, negrisk = extra.usdce_market, extra.neg_risk_market.questions[0]
    return {
        "pusd": Market(
            first.condition_id,
            first.question_id,
            c.collateral,
            first.yes_token_id,
            first.no_token_id,
            "pusd",
            c.collateral,
        ),
        "usdce": Market(
            usdce.condition_id,
            usdce.question_id,
            usdce.collateral,
            usdce.yes_token_id,
            usdce.no_token_id,
            "usdce",
            c.usdce.lower(),
        ),
        "negrisk": Market(
            negrisk.condition_id,
            negrisk.question_id,
            negrisk.collateral,
            negrisk.yes_token_id,
            negrisk.no_token_id,
            "negrisk",
            c.usdce.lower(),
        ),
    }


def give_positions(chain: LocalChain, market: Market, proxy: str, yes: int, no: int) -> None:
    """The owner splits `max(yes, no)` of the market's collateral into YES + NO and sends `yes` YES and `no`
    NO to `proxy` (what it keeps of the rest stays with the owner)."""
    w3, d = chain.w3, chain.deployment
    owner = chain.signer(d.accounts.owner)
    c = d.contracts
    amount = max(yes, no)
    usdce = contract(w3, "MockCollateral", c.usdce)
    if market.kind == "pusd":
        polymarket.wrap_usdce(w3, _pm(chain), owner, owner, owner.address, amount)
        send(w3, owner, chain.collateral.functions.approve(cs(c.ctf), MAX_UINT256))
        send(
            w3,
            owner,
            chain.ctf.functions.splitPosition(
                cs(c.collateral), bytes(32), market.condition_id, [1, 2], amount
            ),
        )
    elif market.kind == "usdce":
        send(w3, owner, usdce.functions.mint(owner.address, amount))
        send(w3, owner, usdce.functions.approve(cs(c.ctf), MAX_UINT256))
        send(
            w3,
            owner,
            chain.ctf.functions.splitPosition(cs(c.usdce), bytes(32), market.condition_id, [1, 2], amount),
        )
    else:
        assert c.neg_risk_adapter
        send(w3, owner, usdce.functions.mint(owner.address, amount))
        send(w3, owner, usdce.functions.approve(cs(c.neg_risk_adapter), MAX_UINT256))
        adapters.neg_risk_split(w3, owner, c.neg_risk_adapter, market.condition_id, amount)
    for token_id, count in ((market.yes, yes), (market.no, no)):
        if count:
            call = chain.ctf.functions.safeTransferFrom(owner.address, cs(proxy), token_id, count, b"")
            send(w3, owner, call)


def resolve(chain: LocalChain, market: Market, yes_wins: bool) -> None:
    """The market's oracle reports: YES wins (payouts [1, 0]) or NO wins ([0, 1])."""
    w3, d = chain.w3, chain.deployment
    owner = chain.signer(d.accounts.owner)
    if market.kind == "negrisk":
        assert d.contracts.neg_risk_adapter
        adapters.report_outcome(w3, owner, d.contracts.neg_risk_adapter, market.question_id, yes_wins)
        return
    payouts = [1, 0] if yes_wins else [0, 1]
    send(w3, owner, chain.ctf.functions.reportPayouts(market.question_id, payouts))


def erc20_balance(chain: LocalChain, token: str, holder: str) -> int:
    value: int = contract(chain.w3, "MockCollateral", token).functions.balanceOf(cs(holder)).call()
    return value


def token_ids_match(market: Market) -> bool:
    """The market's ids are its collateral's positions (what the redeemer derives)."""
    return (market.yes, market.no) == ctf_ids.binary_token_ids(market.collateral, market.condition_id)
