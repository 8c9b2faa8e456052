"""A leader's CLOB trade under SUPERVISOR_SOURCES=logs,feed: the local CLOB's activity feed announces the
trade when the operator broadcasts its settlement, the supervisor's feed source stamps that first sighting
(it joins the log's OrderFilled row and gives a lead in ms), and the fill is copied exactly once per matching
follower, by the log.

Blocks are made by hand (automine off while the settlement is pending), so "seen before its log" is a fact
of the chain: the block holding the match is mined only once the supervisor has the feed's frame.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest
from supervisor_helpers import SQLITE_MEMORY, USD, World, backend_env, running, settled, until

from polyhunter._core import Signer
from polyhunter.chain.clobtrader import ClobTrader
from polyhunter.chain.local import LocalChain
from polyhunter.localpoly.config import ClobSettings, MarketMakerSettings
from polyhunter.localpoly.feed import ActivityFeed
from polyhunter.localpoly.server import LocalClob
from polyhunter.models import CopyConfig, TradeStatus
from polyhunter.supervisor.readiness import Readiness, feed_check

pytestmark = [pytest.mark.integration, pytest.mark.asyncio]

YES_MID = Decimal("0.49")  # the market maker's best ask is one tick above: the leader buys at 0.50


@pytest.fixture
def world(request: pytest.FixtureRequest, local_chain: LocalChain, tmp_path: Path) -> Iterator[World]:
    home = tmp_path / "home"
    local_chain.deployment.save(home / "deployment.json")
    env = backend_env(SQLITE_MEMORY, request, home)
    yield World(local_chain, env, home, SQLITE_MEMORY, local_chain.w3.eth.block_number + 1)
    local_chain.w3.provider.make_request("evm_setAutomine", [True])  # type: ignore[arg-type]


def automine(world: World, on: bool) -> None:
    world.chain.w3.provider.make_request("evm_setAutomine", [on])  # type: ignore[arg-type]


def mine(world: World) -> None:
    world.chain.w3.provider.make_request("evm_mine", [])  # type: ignore[arg-type]


async def test_a_clob_fill_is_seen_in_the_feed_before_its_log_and_copied_once_per_follower(
    world: World,
) -> None:
    d = world.deployment
    market = next(m for m in d.markets if not m.neg_risk)
    leader_key, other_key = d.accounts.leaders[0], d.accounts.leaders[1]
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
        await store.add_config(
            CopyConfig(
                follower=world.followers[2],
                proxy=world.proxies[2],
                leader=d.accounts.deposit_wallet(other_key).lower(),
                mode="fixed",
                fixed_usd=25 * USD,
            )
        )

    mids = {market.yes_token_id: YES_MID, market.no_token_id: 1 - YES_MID}
    clob = LocalClob(
        d, ClobSettings(market_maker=MarketMakerSettings(size=Decimal(1000), mids=mids)), rtds_port=0
    )
    await clob.start()
    try:
        assert clob.rtds_url is not None
        async with running(
            world, supervisor_sources="logs,feed", supervisor_feed_url=clob.rtds_url
        ) as supervisor:
            assert supervisor.mempool is None
            assert supervisor.feed is not None
            await asyncio.wait_for(supervisor.feed.connected.wait(), 60)
            # The subscription is in force once the server answered a ping sent after it.
            await until(
                lambda: supervisor.feed is not None and supervisor.feed.stats.pongs >= 1, "a pong", 60
            )
            exchanges = {t: d.exchange_for(m) for m in d.markets for t in m.token_ids}
            signer = Signer(bytes(world.chain.signer(leader_key).key))
            async with ClobTrader(clob.url, d.chain_id, signer, wallet=leader, exchanges=exchanges) as trader:
                automine(world, False)
                try:
                    post = asyncio.create_task(
                        trader.market_buy(market.yes_token_id, 50 * USD, Decimal("0.50"))
                    )
                    stats = supervisor.feed_sightings.stats
                    await until(lambda: stats.pending >= 1, "the trade seen in the feed", timeout_s=120)
                    assert stats.confirmed == 0  # its block does not exist yet
                    sighted_ns = time.time_ns()
                    await until(lambda: time.time_ns() - sighted_ns > 2_000_000, "a few ms", every_s=0.001)
                finally:
                    automine(world, True)
                    mine(world)
                reply = await asyncio.wait_for(post, 120)
                (trade,) = await trader.wait_trades(list(reply.get("tradeIDs") or []))
            tx_hash = bytes.fromhex(str(trade["transaction_hash"]).removeprefix("0x"))
            await settled(supervisor, 2, "both followers' copies executed", timeout_s=120)
            lead = supervisor.feed_sightings.lead_ms(tx_hash, leader, market.yes_token_id, "BUY")
            assert lead is not None, stats
            assert lead > 0, stats
            feed_stats = supervisor.feed.stats
            assert feed_stats.trades >= 1
            assert feed_stats.rejects == {}
            # Only the leader's own trade is kept: the market maker's side of it is another wallet's.
            assert feed_stats.skipped >= 1
        records = await world.records()
        # Exactly one copy per matching follower: the feed's sighting added none of its own.
        assert sorted(r.config_id for r in records) == sorted(c.config_id for c in copying)
        assert all(r.status is TradeStatus.EXECUTED for r in records), records
        assert {bytes(r.tx_hash) for r in records} == {tx_hash}
    finally:
        await clob.stop()


async def test_logs_only_runs_no_feed_source(world: World) -> None:
    async with running(
        world, supervisor_sources="logs", supervisor_feed_url="ws://127.0.0.1:9/"
    ) as supervisor:
        assert supervisor.feed is None
        assert "feed" not in {t.get_name() for t in supervisor._tasks}


async def test_readiness_says_whether_the_activity_feed_answers(world: World) -> None:
    feed = ActivityFeed()
    url = await feed.start()
    try:
        report = Readiness()
        await feed_check(
            world.settings(supervisor_sources="logs,feed", supervisor_feed_url=url), world.deployment, report
        )
        [check] = report.checks
        assert (check.name, check.ok) == ("activity feed", True)
        assert check.detail.startswith(f"answering ({url}, pong in ")
        # Stalled and no longer answering pings: the row fails, as a warning (the logs stay exact).
        feed.configure(stall_after=0, stall_answers_pings=False)
        report = Readiness()
        await feed_check(world.settings(supervisor_feed_url=url), world.deployment, report, timeout_s=0.5)
        [check] = report.checks
        assert (check.ok, check.status) == (False, "warning")
        assert "did not answer ping within 0.5s" in check.detail
    finally:
        await feed.stop()
    report = Readiness()
    await feed_check(world.settings(supervisor_feed_url=url), world.deployment, report)
    [check] = report.checks
    assert not check.ok
    assert check.detail.startswith(url)
    # Not asked for: no row.
    report = Readiness()
    await feed_check(
        world.settings(supervisor_sources="logs", supervisor_feed_url=url), world.deployment, report
    )
    assert report.checks == []
