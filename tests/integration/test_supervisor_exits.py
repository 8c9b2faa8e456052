"""The supervisor in this process on anvil, after the copies: a leader's SELL larger than what a follower
still holds is cut to the holding and recorded `cut_to_holding` (`no_holding` when it holds none); a leader's
merge makes the followers merge their matched pairs; a leader's redemption is an exit, never a SELL copy.
Amounts are written out by hand; each Proxy starts with $5,000.00 and no outcome tokens."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
from supervisor_helpers import SHARE, SQLITE_MEMORY, USD, World, backend_env, running, settled, until
from web3 import Web3

from polyhunter.chain.local import LocalChain
from polyhunter.chain.tx import send
from polyhunter.models import TradeStatus
from polyhunter.supervisor.pipeline import CUT_TO_HOLDING, NO_HOLDING

pytestmark = [pytest.mark.integration, pytest.mark.asyncio]


@pytest.fixture
def world(request: pytest.FixtureRequest, local_chain: LocalChain, tmp_path: Path) -> World:
    home = tmp_path / "home"
    local_chain.deployment.save(home / "deployment.json")
    env = backend_env(SQLITE_MEMORY, request, home)
    return World(local_chain, env, home, SQLITE_MEMORY, local_chain.w3.eth.block_number + 1)


def cs(address: str) -> str:
    return Web3.to_checksum_address(address)


async def test_a_sell_beyond_the_holding_is_cut_to_it_and_recorded(world: World) -> None:
    chain = world.chain
    await world.follow(0, 0, mode="ratio", ratio_ppm=1_000_000)
    await world.follow(1, 0, mode="ratio", ratio_ppm=500_000)
    await world.follow(2, 0, mode="ratio", ratio_ppm=250_000)
    proxy = world.proxies[0]
    async with running(world) as supervisor:
        # BUY 100 YES at $0.50: follower 0 copies 100 shares, follower 1 half of it, follower 2 a quarter.
        await world.trade(0, "BUY", 0, 100 * SHARE, 50 * USD)
        await settled(supervisor, 3, "the three BUY copies")
        assert world.holdings(proxy)[1] == 100 * SHARE
        # Follower 0's owner takes 70 shares out of the Proxy (it holds 30 now), follower 2's all 25.
        for who, shares in ((0, 70 * SHARE), (2, 25 * SHARE)):
            owner = chain.signer(world.followers[who])
            take = chain.proxy(world.followers[who]).functions.withdrawERC1155(
                cs(world.deployment.contracts.ctf), world.yes[0], owner.address, shares
            )
            await asyncio.to_thread(send, chain.w3, owner, take)
        # The leader sells all 100 at $0.40: follower 0 can sell only its 30, follower 1 its 50 in full,
        # follower 2 nothing.
        await world.trade(0, "SELL", 0, 100 * SHARE, 40 * USD)
        await settled(supervisor, 5, "the two SELL copies")
        assert supervisor.pipeline.stats.cut_to_holding == 1
        assert supervisor.pipeline.stats.skipped == {NO_HOLDING: 1}

    assert world.holdings(proxy)[1] == 0
    assert world.holdings(world.proxies[1])[1] == 0
    sells = {r.proxy: r for r in await world.records() if r.side == "SELL"}
    assert sells[proxy].status is TradeStatus.EXECUTED
    assert (sells[proxy].amount, sells[proxy].copy_size, sells[proxy].reason) == (
        100 * SHARE,
        30 * SHARE,
        CUT_TO_HOLDING,
    )
    nothing = sells[world.proxies[2]]
    assert (nothing.status, nothing.amount, nothing.copy_size, nothing.reason) == (
        TradeStatus.SKIPPED,
        25 * SHARE,
        None,
        NO_HOLDING,
    )
    other = sells[world.proxies[1]]
    assert (other.status, other.amount, other.copy_size, other.reason) == (
        TradeStatus.EXECUTED,
        50 * SHARE,
        50 * SHARE,
        None,
    )


async def test_a_leaders_redemption_is_an_exit_not_a_sell(world: World) -> None:
    chain, d = world.chain, world.deployment
    market = d.markets[0]
    await world.follow(0, 0, mode="fixed", fixed_usd=25 * USD)
    leader = chain.signer(world.leaders[0])
    proxy = world.proxies[0]
    async with running(world, copy_trading_redeem_poll_ms=200) as supervisor:
        await world.trade(0, "BUY", 0, 200 * SHARE, 100 * USD)
        await settled(supervisor, 1, "the BUY copy")
        # YES wins; the leader redeems its 200 YES on the CTF (burning them: a transfer to the zero address).
        owner = chain.signer(d.accounts.owner)
        await asyncio.to_thread(
            send, chain.w3, owner, chain.ctf.functions.reportPayouts(market.question_id, [1, 0])
        )
        redeem = chain.ctf.functions.redeemPositions(
            cs(d.contracts.collateral), bytes(32), market.condition_id, [1, 2]
        )
        receipt = await asyncio.to_thread(send, chain.w3, leader, redeem)
        assert receipt["status"] == 1

        async def seen() -> bool:
            return supervisor.exits.stats.redemptions == 1

        await until(seen, "the leader's redemption seen as an exit")
        # The follower's 50 YES ($25 at $0.50) are redeemed into its Proxy by the supervisor's redeemer.
        await until(lambda: world.holdings(proxy) == (5_025 * USD, 0, 0), "the follower's YES redeemed")
        # Another leader fill after it, so the redemption's block was surely taken in before we look.
        await world.trade(0, "BUY", 1, 10 * SHARE, 5 * USD)
        await settled(supervisor, 2, "the second BUY copy")
        assert supervisor.pipeline.stats.skipped == {}

    records = await world.records()
    assert sorted((r.side, r.status) for r in records) == [
        ("BUY", TradeStatus.EXECUTED),
        ("BUY", TradeStatus.EXECUTED),
    ]
    assert supervisor.exits.stats.merges == 0
    # $25 more spent on market 1's copy (50 YES at $0.50).
    assert world.holdings(proxy) == (5_000 * USD, 0, 50 * SHARE)


@pytest.mark.parametrize("act_on", ["log", "first"])
async def test_a_leaders_merge_makes_the_followers_merge_their_matched_pairs(
    world: World, act_on: str
) -> None:
    chain, d = world.chain, world.deployment
    market = d.markets[0]
    await world.follow(0, 0, mode="ratio", ratio_ppm=1_000_000)
    await world.follow(
        1, 0, mode="ratio", ratio_ppm=1_000_000, side_filter="BUY", token_allow={market.yes_token_id}
    )
    leader = chain.signer(world.leaders[0])
    p0, p1 = world.proxies[0], world.proxies[1]
    # Both intake paths hand exits over: the pipeline's own (act on the log) and the fill intake's.
    async with running(world, supervisor_act_on=act_on) as supervisor:
        # The leader buys 100 YES at $0.50 and 60 NO at $0.50: follower 0 copies both, follower 1 only YES.
        await world.trade(0, "BUY", 0, 100 * SHARE, 50 * USD)
        await asyncio.to_thread(
            chain.trade, world.leaders[0], "BUY", market.no_token_id, 60 * SHARE, 30 * USD
        )
        await settled(supervisor, 3, "the three BUY copies")
        assert chain.tokens_of(p0, market.no_token_id) == 60 * SHARE
        # The leader merges 60 full sets on the CTF (burning 60 YES and 60 NO: no SELL of either).
        merge = chain.ctf.functions.mergePositions(
            cs(d.contracts.collateral), bytes(32), market.condition_id, [1, 2], 60 * SHARE
        )
        receipt = await asyncio.to_thread(send, chain.w3, leader, merge)
        assert receipt["status"] == 1

        async def merged() -> bool:
            return supervisor.exits.stats.merged == 1

        await until(merged, "follower 0's merge")
        assert supervisor.exits.stats.proxies_asked == 2
        assert supervisor.exits.stats.failed == 0
        # A replay of the same exit (a backfill after a restart) merges nothing more.
        [exit_] = [e for e in supervisor.decoder.decode(_logs_of(chain, receipt)).exits]
        await supervisor.exits.on_exits([exit_])
        assert supervisor.exits.stats.merged == 1

    # Follower 0 held 100 YES + 60 NO: 60 pairs merged back to $60; 40 YES left. Follower 1 had no NO.
    assert chain.tokens_of(p0, market.yes_token_id) == 40 * SHARE
    assert chain.tokens_of(p0, market.no_token_id) == 0
    assert chain.collateral_of(p0) == 5_000 * USD - 50 * USD - 30 * USD + 60 * USD
    assert chain.tokens_of(p1, market.yes_token_id) == 100 * SHARE
    assert chain.collateral_of(p1) == 4_950 * USD
    assert sorted(r.side for r in await world.records()) == ["BUY", "BUY", "BUY"]


def _logs_of(chain: LocalChain, receipt: Any) -> bytes:
    """The receipt's logs as the node's JSON (what the detector hands the decoder)."""
    reply = chain.w3.provider.make_request(  # type: ignore[arg-type]
        "eth_getLogs", [{"blockHash": "0x" + bytes(receipt["blockHash"]).hex()}]
    )
    return json.dumps(reply).encode()
