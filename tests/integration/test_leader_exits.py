"""A leader's merges and redemptions on the local chain (the CTF directly, the CtfCollateralAdapter and the
NegRiskAdapter), read with the supervisor's own filters and decoder: each is one `LeaderExit` naming the
leader, the condition and the amount, and none of their token movements is a SELL (or any) signal."""

from __future__ import annotations

import json
from typing import Any

import pytest
from web3 import Web3

from polyhunter._core import LeaderExit, LogDecoder, Signal
from polyhunter.chain import adapters
from polyhunter.chain.local import LocalChain
from polyhunter.chain.tx import contract, send
from polyhunter.detector.exits import exit_filters
from polyhunter.detector.filters import leader_filters
from polyhunter.supervisor.sources import non_trading_addresses

pytestmark = [pytest.mark.integration]

SHARE = USD = 1_000_000
MAX_UINT256 = 2**256 - 1


def cs(address: str) -> str:
    return Web3.to_checksum_address(address)


def _read(
    chain: LocalChain, leaders: list[str], first: int
) -> tuple[list[Signal], list[LeaderExit], list[str]]:
    """Everything the supervisor's filters bring from `first` on, through its decoder."""
    d = chain.deployment
    exchanges = [d.contracts.local_exchange or ""]
    plumbing = non_trading_addresses(d)
    decoder = LogDecoder(ctf=d.contracts.ctf, v2_exchanges=exchanges, leaders=leaders, non_trading=plumbing)
    filters = leader_filters(exchanges=exchanges, ctf=d.contracts.ctf, leaders=leaders)
    filters += exit_filters(ctf=d.contracts.ctf, adapters=plumbing, leaders=leaders)
    signals: list[Signal] = []
    exits: list[LeaderExit] = []
    rejects: list[str] = []
    last = chain.w3.eth.block_number
    for flt in filters:
        reply: Any = chain.w3.provider.make_request("eth_getLogs", [flt.params(first, last)])  # type: ignore[arg-type]
        decoded = decoder.decode(json.dumps(reply).encode())
        signals += decoded.signals
        exits += decoded.exits
        rejects += [r.reason for r in decoded.rejects]
    exits.sort(key=lambda e: (e.block_number or 0, e.log_index))
    return signals, exits, rejects


def _fund_usdce(chain: LocalChain, holder: str, amount: int) -> None:
    d = chain.deployment
    assert d.contracts.usdce
    owner = chain.signer(d.accounts.owner)
    usdce = contract(chain.w3, "MockCollateral", d.contracts.usdce)
    send(chain.w3, owner, usdce.functions.mint(cs(holder), amount))


def test_merges_and_redemptions_are_exits_never_sells(local_chain: LocalChain) -> None:
    chain, d = local_chain, local_chain.deployment
    c = d.contracts
    assert c.usdce
    assert c.collateral_adapter
    assert c.neg_risk_adapter
    w3 = chain.w3
    owner = chain.signer(d.accounts.owner)
    leader_address = d.accounts.leaders[0]
    leader = chain.signer(leader_address)
    market = d.markets[0]
    extra = adapters.local_adapter_markets(
        oracle=d.accounts.owner, usdce=c.usdce, neg_risk_adapter=c.neg_risk_adapter
    )
    usdce_market, negrisk = extra.usdce_market, extra.neg_risk_market.questions[0]
    first = w3.eth.block_number + 1

    # A trade first: the filters and the decoder still see the leader's fills.
    chain.trade(leader_address, "BUY", market.yes_token_id, 20 * SHARE, 10 * USD)
    # 1. On the CTF directly: split 10 pUSD, merge 4, then (resolved YES) redeem the rest.
    send(w3, leader, chain.collateral.functions.approve(cs(c.ctf), MAX_UINT256))
    send(
        w3,
        leader,
        chain.ctf.functions.splitPosition(cs(c.collateral), bytes(32), market.condition_id, [1, 2], 10 * USD),
    )
    send(
        w3,
        leader,
        chain.ctf.functions.mergePositions(cs(c.collateral), bytes(32), market.condition_id, [1, 2], 4 * USD),
    )
    # 2. Through the CtfCollateralAdapter (positions over USDC.e, paid in pUSD): split 5, merge 3.
    adapters.approve_adapter(w3, leader, c.collateral_adapter, collateral=c.collateral, ctf=c.ctf)
    adapters.split(w3, leader, c.collateral_adapter, usdce_market.condition_id, 5 * USD)
    adapters.merge(w3, leader, c.collateral_adapter, usdce_market.condition_id, 3 * USD)
    # 3. Through the NegRiskAdapter (USDC.e in and out): split 6, merge 2.
    _fund_usdce(chain, leader_address, 6 * USD)
    adapters.approve_adapter(w3, leader, c.neg_risk_adapter, collateral=c.usdce, ctf=c.ctf)
    adapters.neg_risk_split(w3, leader, c.neg_risk_adapter, negrisk.condition_id, 6 * USD)
    adapters.neg_risk_merge(w3, leader, c.neg_risk_adapter, negrisk.condition_id, 2 * USD)
    # Resolutions (YES wins everywhere), then the leader redeems each way.
    send(w3, owner, chain.ctf.functions.reportPayouts(market.question_id, [1, 0]))
    send(w3, owner, chain.ctf.functions.reportPayouts(usdce_market.question_id, [1, 0]))
    adapters.report_outcome(w3, owner, c.neg_risk_adapter, negrisk.question_id, True)
    held_yes = chain.tokens_of(leader_address, market.yes_token_id)
    assert held_yes == 26 * SHARE  # 20 bought + 6 left of the split
    send(
        w3,
        leader,
        chain.ctf.functions.redeemPositions(cs(c.collateral), bytes(32), market.condition_id, [1, 2]),
    )
    adapters.redeem(w3, leader, c.collateral_adapter, usdce_market.condition_id)
    adapters.neg_risk_redeem(w3, leader, c.neg_risk_adapter, negrisk.condition_id, (4 * USD, 4 * USD))

    signals, exits, rejects = _read(chain, [leader_address], first)
    assert rejects == []
    # The one fill is the only signal: no split, merge, burn or redemption became a BUY or a SELL.
    assert [(s.side, s.token_id, s.size, s.source) for s in signals] == [
        ("BUY", market.yes_token_id, 20 * SHARE, "v2")
    ]
    cond = lambda hex_id: bytes.fromhex(hex_id.removeprefix("0x"))  # noqa: E731
    assert [(e.leader, e.kind, e.condition_id, e.amount, e.via) for e in exits] == [
        (leader_address, "merge", cond(market.condition_id), 4 * USD, c.ctf),
        (leader_address, "merge", cond(usdce_market.condition_id), 3 * USD, c.collateral_adapter),
        (leader_address, "merge", cond(negrisk.condition_id), 2 * USD, c.neg_risk_adapter),
        (leader_address, "redeem", cond(market.condition_id), 26 * USD, c.ctf),
        (leader_address, "redeem", cond(usdce_market.condition_id), 2 * USD, c.collateral_adapter),
        (leader_address, "redeem", cond(negrisk.condition_id), 4 * USD, c.neg_risk_adapter),
    ]
    assert all(not e.removed and e.block_number and len(e.tx_hash) == 32 for e in exits)

    # Another wallet's exits are not this leader's: with only leader 1 tracked, nothing at all.
    signals, exits, rejects = _read(chain, [d.accounts.leaders[1]], first)
    assert (signals, exits, rejects) == ([], [], [])
