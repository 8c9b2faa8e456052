"""The supervisor in this process, end to end on anvil, for both back-end pairs (SQLite + memory, PostgreSQL +
Redis): each leader trade → exactly one copy per matching follower, checked on chain (the Executor's `Pushed`
events per Proxy, the Proxies' balances) and not only in the store. Faults come through a loopback websocket
relay in front of anvil: duplicated notifications, a dropped connection, an injected `removed: true` log.

Expected amounts are written out by hand from the rules (not computed by the sizing code). Each Proxy
starts with $5,000.00 and no outcome tokens.
"""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from supervisor_helpers import (
    BACKENDS,
    SHARE,
    USD,
    World,
    backend_env,
    running,
    settled,
    until,
)
from wsrelay import WsRelay

from polyhunter._core import derive_signers
from polyhunter.chain.aiorpc import AsyncRpc
from polyhunter.chain.anvil import TEST_MNEMONIC
from polyhunter.chain.local import LocalChain
from polyhunter.detector.filters import topic_of
from polyhunter.execution.base import ExecutionResult, JobJournal
from polyhunter.execution.localchain import LocalChainEngine
from polyhunter.models import CopyJob, TradeStatus

pytestmark = [pytest.mark.integration, pytest.mark.asyncio]

START = (5_000 * USD, 0, 0)


@pytest.fixture(params=BACKENDS)
def world(request: pytest.FixtureRequest, local_chain: LocalChain, tmp_path: Path) -> World:
    home = tmp_path / "home"
    local_chain.deployment.save(home / "deployment.json")
    env = backend_env(request.param, request, home)
    return World(local_chain, env, home, request.param, local_chain.w3.eth.block_number + 1)


@pytest_asyncio.fixture
async def relay(local_chain: LocalChain) -> AsyncIterator[WsRelay]:
    relay = await WsRelay(local_chain.deployment.ws_url).start()
    yield relay
    await relay.stop()


def multiset(items: list[Any]) -> Counter[Any]:
    return Counter(items)


# -- item 2 ---------------------------------------------------------------------------------------------


async def test_a_leader_trade_gives_one_copy_per_matching_follower(world: World) -> None:
    await world.follow(0, 0, mode="fixed", fixed_usd=25 * USD)
    await world.follow(1, 0, mode="ratio", ratio_ppm=500_000)
    await world.follow(2, 0, mode="percent", percent_bps=200)
    await world.follow(3, 0, mode="fixed", fixed_usd=25 * USD, min_leader_usd=1_000 * USD)  # filtered out
    async with running(world) as supervisor:
        # BUY 200 YES of market 0 for $100 (at $0.50); leader 1, whom nobody follows, trades too.
        await world.trade(0, "BUY", 0, 200 * SHARE, 100 * USD)
        await world.trade(1, "BUY", 1, 100 * SHARE, 40 * USD)
        await settled(supervisor, 3, "three copies")
        stats = supervisor.pipeline.stats
        assert stats.executed == 3
        assert stats.skipped == Counter({"filtered": 1})

    p = world.proxies
    # fixed $25 → 50 sh; ratio 0.5 x $100 = $50 → 100 sh; 2 % of $5,000 = $100 → 200 sh; filtered: nothing.
    assert world.pushed(p[0]) == world.bought(0, 50 * SHARE)
    assert world.pushed(p[1]) == world.bought(0, 100 * SHARE)
    assert world.pushed(p[2]) == world.bought(0, 200 * SHARE)
    assert world.pushed(p[3]) == []
    assert world.holdings(p[0]) == (4_975 * USD, 50 * SHARE, 0)
    assert world.holdings(p[1]) == (4_950 * USD, 100 * SHARE, 0)
    assert world.holdings(p[2]) == (4_900 * USD, 200 * SHARE, 0)
    assert world.holdings(p[3]) == START
    records = await world.records()
    assert sorted((r.proxy, r.amount, r.status) for r in records) == sorted(
        [
            (p[0], 25 * USD, TradeStatus.EXECUTED),
            (p[1], 50 * USD, TradeStatus.EXECUTED),
            (p[2], 100 * USD, TradeStatus.EXECUTED),
        ]
    )


# -- item 3 ---------------------------------------------------------------------------------------------


def _twice(text: str) -> list[str]:
    """Every log notification delivered twice (newHeads and replies once)."""
    return [text, text] if '"transactionHash"' in text else [text]


@pytest.mark.parametrize("dedup_ttl_ms", [60_000, 1], ids=["dedup", "store-only"])
async def test_a_log_delivered_twice_is_copied_once(world: World, relay: WsRelay, dedup_ttl_ms: int) -> None:
    """Each notification arrives twice, then a reconnect backfills over the same block a third time. With
    a 1 ms dedup TTL the dedup layers forget at once and the store's idempotency key alone must hold."""
    await world.follow(0, 0, mode="fixed", fixed_usd=25 * USD)
    await world.follow(1, 0, mode="fixed", fixed_usd=10 * USD)
    relay.rewrite = _twice
    async with running(world, copy_trading_ws_url=relay.url, supervisor_dedup_ttl_ms=dedup_ttl_ms) as sup:
        block = await world.trade(0, "BUY", 0, 200 * SHARE, 100 * USD)
        await settled(sup, 2, "the two copies")
        await until(lambda: sup.pipeline.stats.signals >= 2, "the duplicate notification")

        # A reconnect whose checkpoint is behind the trade (as after a crash): the backfill overlaps it.
        await sup.store.set_checkpoint(sup.checkpoint_source, block - 1)
        batches = sup.detector.stats.backfill_batches
        await sup.detector.drop_connection()
        await until(lambda: sup.detector.stats.backfill_batches > batches, "the overlapping backfill")
        await sup.wait_connected()
        await until(lambda: sup.pipeline.stats.signals >= 3, "the backfilled signal")
        await settled(sup, 2, "nothing more")
        assert sup.pipeline.stats.signals == 3  # one log, three deliveries
        if dedup_ttl_ms == 60_000:
            # The duplicate notification is dropped by dedup; a backfill replay passes dedup on purpose
            # (its log's first intake may have failed) and is stopped by the store's idempotency key.
            assert sup.pipeline.stats.duplicates == 1
        assert sup.pipeline.stats.queued == 2
        assert sup.pipeline.stats.executed == 2

    assert world.pushed(world.proxies[0]) == world.bought(0, 50 * SHARE)
    assert world.pushed(world.proxies[1]) == world.bought(0, 20 * SHARE)
    assert world.holdings(world.proxies[0]) == (4_975 * USD, 50 * SHARE, 0)
    assert world.holdings(world.proxies[1]) == (4_990 * USD, 20 * SHARE, 0)
    assert len(await world.records(TradeStatus.EXECUTED)) == 2


# -- item 6 ---------------------------------------------------------------------------------------------


async def test_trades_while_the_websocket_is_down_are_copied_after_reconnect(
    world: World, relay: WsRelay
) -> None:
    await world.follow(0, 0, mode="fixed", fixed_usd=25 * USD)
    await world.follow(1, 0, mode="ratio", ratio_ppm=500_000)
    async with running(world, copy_trading_ws_url=relay.url) as sup:
        await relay.drop(refuse=True)
        await until(lambda: not sup.detector.connected.is_set(), "the detector noticing the drop")
        blocks = [
            await world.trade(0, "BUY", 0, 200 * SHARE, 100 * USD),  # at $0.50
            await world.trade(0, "BUY", 1, 100 * SHARE, 40 * USD),  # at $0.40
            await world.trade(0, "BUY", 0, 50 * SHARE, 30 * USD),  # at $0.60
        ]
        assert blocks == sorted(set(blocks))  # three different blocks
        assert sup.pipeline.stats.signals == 0
        relay.accept()
        await sup.wait_connected()
        await settled(sup, 6, "the six copies after reconnect")
        assert sup.detector.stats.connects >= 2
        assert sup.pipeline.stats.executed == 6

    p = world.proxies
    # fixed $25: 50 sh @0.50, 62.5 sh @0.40, 41.666666 sh @0.60 (rounded down).
    assert multiset(world.pushed(p[0])) == multiset(
        world.bought(0, 50 * SHARE, 41_666_666) + world.bought(1, 62_500_000)
    )
    # ratio 0.5x: $50 → 100 sh, $20 → 50 sh, $15 → 25 sh.
    assert multiset(world.pushed(p[1])) == multiset(
        world.bought(0, 100 * SHARE, 25 * SHARE) + world.bought(1, 50 * SHARE)
    )
    assert world.holdings(p[0]) == (4_925 * USD, 91_666_666, 62_500_000)
    assert world.holdings(p[1]) == (4_915 * USD, 125 * SHARE, 50 * SHARE)


# -- item 7 ---------------------------------------------------------------------------------------------


class GatedEngine(LocalChainEngine):
    """The on-chain engine, holding every execution until `gate` opens (as a busy fleet makes jobs wait
    for a wallet after they were dequeued)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.gate = asyncio.Event()
        self.waiting = 0

    async def execute(self, job: CopyJob, journal: JobJournal) -> ExecutionResult:
        self.waiting += 1
        await self.gate.wait()
        return await super().execute(job, journal)


def _notification_of(relay: WsRelay, tx_hash: str, leader: str) -> dict[str, Any]:
    for text in relay.seen:
        if tx_hash in text:
            message: dict[str, Any] = json.loads(text)
            result = message.get("params", {}).get("result", {})
            if result.get("transactionHash") == tx_hash and result["topics"][2] == topic_of(leader):
                return message
    raise AssertionError(f"no notification of {tx_hash} went through the relay")


async def _retract(relay: WsRelay, world: World, receipt_hash: str) -> None:
    message = _notification_of(relay, receipt_hash, world.leaders[0])
    message["params"]["result"]["removed"] = True
    await relay.inject(json.dumps(message))


async def test_a_removed_log_cancels_its_pending_copies_and_flags_executed_ones(
    world: World, relay: WsRelay
) -> None:
    await world.follow(0, 0, mode="fixed", fixed_usd=25 * USD)
    await world.follow(1, 0, mode="fixed", fixed_usd=10 * USD)
    d = world.deployment
    rpc = AsyncRpc([d.rpc_url])
    engine = GatedEngine(rpc, d, derive_signers(TEST_MNEMONIC, len(d.accounts.fleet)))
    try:
        settings = world.settings(copy_trading_ws_url=relay.url)
        from polyhunter.supervisor.app import Supervisor

        sup = Supervisor(settings, d, engine=engine, consumer="test")
        await sup.start()
        try:
            await sup.wait_connected()
            # Trade 1: its copies are dequeued and wait for a wallet when the reorg retracts the trade.
            first = await asyncio.to_thread(
                world.chain.trade, world.leaders[0], "BUY", world.yes[0], 200 * SHARE, 100 * USD
            )
            await until(lambda: engine.waiting == 2, "both copies waiting for a wallet")
            await _retract(relay, world, first["transactionHash"].to_0x_hex())
            await until(lambda: sup.pipeline.stats.removed == 1, "the removed log")
            engine.gate.set()
            await settled(sup, 0, "the cancelled copies")

            # Trade 2 is copied, then retracted: its executed copies stay, flagged `reorged`.
            second = await asyncio.to_thread(
                world.chain.trade, world.leaders[0], "BUY", world.yes[1], 100 * SHARE, 40 * USD
            )
            await settled(sup, 2, "the copies of trade 2")
            await _retract(relay, world, second["transactionHash"].to_0x_hex())
            await until(lambda: sup.pipeline.stats.removed == 2, "the second removed log")
        finally:
            engine.gate.set()
            await sup.stop()
    finally:
        await rpc.close()

    records = {(r.proxy, r.token_id): r for r in await world.records()}
    p, (y0, y1) = world.proxies, world.yes
    for proxy in p[:2]:
        cancelled, executed = records[(proxy, y0)], records[(proxy, y1)]
        assert (cancelled.status, cancelled.reorged, cancelled.journal) == (TradeStatus.CANCELLED, True, ())
        assert (executed.status, executed.reorged) == (TradeStatus.EXECUTED, True)
    # On chain: nothing for the cancelled trade, the executed copies of trade 2 (at $0.40) in place.
    assert world.pushed(p[0]) == world.bought(1, 62_500_000)
    assert world.pushed(p[1]) == world.bought(1, 25 * SHARE)
    assert world.holdings(p[0]) == (4_975 * USD, 0, 62_500_000)
    assert world.holdings(p[1]) == (4_990 * USD, 0, 25 * SHARE)


# -- item 9 ---------------------------------------------------------------------------------------------


async def test_configs_added_changed_or_paused_while_running_take_effect(world: World) -> None:
    changed = await world.follow(0, 0, mode="fixed", fixed_usd=25 * USD)
    paused = await world.follow(1, 0, mode="fixed", fixed_usd=10 * USD)
    async with running(world) as sup:
        await world.trade(0, "BUY", 0, 100 * SHARE, 50 * USD)  # at $0.50
        await settled(sup, 2, "the copies under the first configs")

        # While it runs: follower 0's rule changes ($25 → $40: removed and added again, as an operator
        # does), follower 1 pauses, follower 2 starts following leader 1 (a new leader to subscribe to).
        async with world.store() as store:
            assert await store.remove_config(changed.config_id)
            await store.add_config(
                changed.__class__(
                    follower=changed.follower,
                    proxy=changed.proxy,
                    leader=changed.leader,
                    mode="fixed",
                    fixed_usd=40 * USD,
                )
            )
            assert await store.set_enabled(paused.config_id, False) is not None
        await world.follow(2, 1, mode="fixed", fixed_usd=20 * USD)
        # Within the refresh interval: the next whole refresh after the change applies it.
        seen = sup.sync.refreshes
        await until(lambda: sup.sync.refreshes >= seen + 2, "two config refreshes")
        assert sup.sync.leaders == sorted(world.leaders[:2])

        await world.trade(0, "BUY", 0, 200 * SHARE, 100 * USD)  # at $0.50
        await world.trade(1, "BUY", 1, 100 * SHARE, 40 * USD)  # at $0.40
        await settled(sup, 4, "the copies under the new configs")
        assert sup.pipeline.stats.executed == 4

    p = world.proxies
    assert world.pushed(p[0]) == world.bought(0, 50 * SHARE, 80 * SHARE)  # $25, then $40
    assert world.pushed(p[1]) == world.bought(0, 20 * SHARE)  # $10, then paused
    assert world.pushed(p[2]) == world.bought(1, 50 * SHARE)  # $20 at $0.40, leader 1
    assert world.holdings(p[0]) == (4_935 * USD, 130 * SHARE, 0)
    assert world.holdings(p[1]) == (4_990 * USD, 20 * SHARE, 0)
    assert world.holdings(p[2]) == (4_980 * USD, 0, 50 * SHARE)
