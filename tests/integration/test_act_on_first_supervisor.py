"""`polyhunter supervisor` with SUPERVISOR_ACT_ON=first on the local chain and CLOB: a leader's CLOB trade is
copied from its pending `matchOrders`, before its block exists, once per matching follower; the log that
follows confirms the fill (first source: the mempool) and adds no copy.

Blocks are made by hand (automine off while the match is pending), so "copied before its log" is a fact of
the chain: the block holding the match is mined only once the copies are durably PENDING.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest
from supervisor_helpers import SQLITE_MEMORY, USD, World, backend_env, running, settled, until

from polyhunter._core import Signer
from polyhunter.chain.clobtrader import ClobTrader
from polyhunter.chain.local import LocalChain
from polyhunter.localpoly.config import ClobSettings, MarketMakerSettings
from polyhunter.localpoly.server import LocalClob
from polyhunter.models import CopyConfig, TradeStatus
from polyhunter.supervisor.pipeline import UNLOGGED

pytestmark = [pytest.mark.integration, pytest.mark.asyncio]

YES_MID = Decimal("0.49")  # the market maker's best ask is one tick above: the leader buys at 0.50


@pytest.fixture
def world(request: pytest.FixtureRequest, local_chain: LocalChain, tmp_path: Path) -> Iterator[World]:
    home = tmp_path / "home"
    local_chain.deployment.save(home / "deployment.json")
    env = backend_env(SQLITE_MEMORY, request, home)
    yield World(local_chain, env, home, SQLITE_MEMORY, local_chain.w3.eth.block_number + 1)
    # The session's node is shared: whatever happened, it mines on its own again.
    local_chain.w3.provider.make_request("evm_setAutomine", [True])  # type: ignore[arg-type]


def automine(world: World, on: bool) -> None:
    world.chain.w3.provider.make_request("evm_setAutomine", [on])  # type: ignore[arg-type]


def mine(world: World) -> None:
    world.chain.w3.provider.make_request("evm_mine", [])  # type: ignore[arg-type]


async def test_act_on_first_copies_a_clob_fill_from_its_pending_match_and_the_log_only_confirms(
    world: World,
) -> None:
    d = world.deployment
    market = next(m for m in d.markets if not m.neg_risk)
    leader_key = d.accounts.leaders[0]
    leader = d.accounts.deposit_wallet(leader_key).lower()
    async with world.store() as store:
        copying = [
            await store.add_config(
                CopyConfig(
                    follower=world.followers[i],
                    proxy=world.proxies[i],
                    leader=leader,
                    mode="fixed",
                    fixed_usd=25 * USD,
                )
            )
            for i in (0, 1)
        ]

    mids = {market.yes_token_id: YES_MID, market.no_token_id: 1 - YES_MID}
    clob = LocalClob(d, ClobSettings(market_maker=MarketMakerSettings(size=Decimal(1000), mids=mids)))
    await clob.start()
    try:
        async with running(world, supervisor_sources="logs,mempool", supervisor_act_on="first") as supervisor:
            assert supervisor.mempool is not None
            await asyncio.wait_for(supervisor.mempool.connected.wait(), 60)
            exchanges = {t: d.exchange_for(m) for m in d.markets for t in m.token_ids}
            signer = Signer(bytes(world.chain.signer(leader_key).key))
            async with ClobTrader(clob.url, d.chain_id, signer, wallet=leader, exchanges=exchanges) as trader:
                automine(world, False)
                try:
                    post = asyncio.create_task(
                        trader.market_buy(market.yes_token_id, 50 * USD, Decimal("0.50"))
                    )
                    stats = supervisor.pipeline.stats
                    await until(lambda: stats.queued >= 2, "both copies queued from the pending match", 120)
                    assert supervisor.fills.stats.logged == 0  # its block does not exist yet
                finally:
                    automine(world, True)
                    mine(world)
                reply = await asyncio.wait_for(post, 120)
                (trade,) = await trader.wait_trades(list(reply.get("tradeIDs") or []))
            tx_hash = bytes.fromhex(str(trade["transaction_hash"]).removeprefix("0x"))
            await settled(supervisor, 2, "both followers' copies executed", timeout_s=120)
            fills = supervisor.fills.stats
            await until(lambda: fills.logged >= 1, "the fill confirmed by its log", 60)
            assert fills.first_seen["mempool"] == 1
            assert fills.coverage_ppm == 1_000_000
            assert stats.queued == 2  # the log added no copy
        records = await world.records()
        # Exactly one copy per matching follower, made from the pending order (no log index yet).
        assert sorted(r.config_id for r in records) == sorted(c.config_id for c in copying)
        assert all(r.status is TradeStatus.EXECUTED for r in records), records
        assert {(bytes(r.tx_hash), r.log_index) for r in records} == {(tx_hash, UNLOGGED)}
    finally:
        await clob.stop()
