"""`polyhunter supervisor` as real processes on anvil: two shards sharing PostgreSQL + Redis, a SIGKILL at the
`after_queue` fault point and a restart, a SIGTERM with copies in flight, and daily caps while two instances
race. Every outcome is checked on chain (the Executor's `Pushed` events per Proxy, Proxy balances).

The world here has five leaders so that two of them fall on different shards of two: leader 0 on shard 1,
leader 4 on shard 0 (`shard_of`, checked below).
"""

from __future__ import annotations

import asyncio
import re
import signal
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from supervisor_helpers import (
    BACKENDS,
    POSTGRES_REDIS,
    SHARE,
    USD,
    SupervisorProcess,
    World,
    backend_env,
    until,
)
from web3 import Web3

from polyhunter._core import shard_of
from polyhunter.chain.accounts import LocalAccounts
from polyhunter.chain.anvil import Anvil
from polyhunter.chain.deploy import deploy_local
from polyhunter.chain.deployment import Deployment
from polyhunter.chain.local import LocalChain
from polyhunter.models import TradeStatus
from polyhunter.shared import open_shared_state

pytestmark = [pytest.mark.integration, pytest.mark.asyncio]

L_SHARD1, L_SHARD0 = 0, 4  # leader indices


@pytest.fixture(scope="module")
def five_leaders() -> Iterator[Deployment]:
    with Anvil() as node:
        w3 = Web3(Web3.HTTPProvider(node.rpc_url))
        yield deploy_local(
            w3, rpc_url=node.rpc_url, ws_url=node.ws_url, accounts=LocalAccounts(leader_count=5)
        )


@pytest.fixture
def chain(five_leaders: Deployment) -> Iterator[LocalChain]:
    chain = LocalChain.connect(five_leaders)
    snapshot = chain.snapshot()
    yield chain
    chain.revert(snapshot)


def _world(request: pytest.FixtureRequest, chain: LocalChain, tmp_path: Path, backend: str) -> World:
    home = tmp_path / "home"
    chain.deployment.save(home / "deployment.json")
    env = backend_env(backend, request, home)
    return World(chain, env, home, backend, chain.w3.eth.block_number + 1)


@pytest.fixture(params=BACKENDS)
def world(request: pytest.FixtureRequest, chain: LocalChain, tmp_path: Path) -> World:
    return _world(request, chain, tmp_path, request.param)


@pytest.fixture
def shared_world(request: pytest.FixtureRequest, chain: LocalChain, tmp_path: Path) -> World:
    """PostgreSQL + Redis: what several instances share."""
    return _world(request, chain, tmp_path, POSTGRES_REDIS)


@pytest.fixture
def processes() -> Iterator[list[SupervisorProcess]]:
    """Every process a test starts; killed at the end if still running."""
    started: list[SupervisorProcess] = []
    yield started
    for proc in started:
        proc.close()


def spawn(processes: list[SupervisorProcess], world: World, name: str, **env: str) -> SupervisorProcess:
    proc = SupervisorProcess(world, name, **env).start()
    processes.append(proc)
    return proc


async def stop(proc: SupervisorProcess) -> None:
    proc.signal(signal.SIGTERM)
    assert await proc.wait_exit() == 0, proc.output[-4000:]


async def executed_and_idle(world: World, executed: int) -> bool:
    """`executed` copies EXECUTED, nothing PENDING, and (Redis) nothing left unacknowledged in the queue."""
    async with world.store() as store:
        if await store.count_trades(TradeStatus.PENDING):
            return False
        if await store.count_trades(TradeStatus.EXECUTED) != executed:
            return False
    if world.backend == POSTGRES_REDIS:
        shared = await open_shared_state(world.settings())
        try:
            return (await shared.queue_stats()).length == 0
        finally:
            await shared.close()
    return True


async def trades_in_one_block(world: World, *trades: tuple[int, int, int, int]) -> int:
    """Leaders' BUYs (leader, market, tokens, collateral) mined together in one block; returns it."""
    w3 = world.chain.w3
    w3.provider.make_request("evm_setAutomine", [False])  # type: ignore[arg-type]
    try:
        sent = [
            asyncio.create_task(world.trade(leader, "BUY", market, tokens, collateral))
            for leader, market, tokens, collateral in trades
        ]

        senders = {world.leaders[leader] for leader, *_ in trades}

        def pooled() -> bool:
            content = w3.provider.make_request("txpool_content", [])  # type: ignore[arg-type]
            return senders <= {a.lower() for a in content["result"]["pending"]}

        await until(pooled, "the leaders' transactions in the pool")
        w3.provider.make_request("evm_mine", [])  # type: ignore[arg-type]
        blocks = await asyncio.gather(*sent)
    finally:
        w3.provider.make_request("evm_setAutomine", [True])  # type: ignore[arg-type]
    assert len(set(blocks)) == 1
    return blocks[0]


async def test_the_leaders_fall_on_different_shards(five_leaders: Deployment) -> None:
    leaders = five_leaders.accounts.leaders
    assert (shard_of(leaders[L_SHARD1], 2), shard_of(leaders[L_SHARD0], 2)) == (1, 0)


# -- item 4 ---------------------------------------------------------------------------------------------


async def test_two_shards_split_the_leaders_and_copy_each_trade_once(
    shared_world: World, processes: list[SupervisorProcess]
) -> None:
    world = shared_world
    await world.follow(0, L_SHARD1, mode="fixed", fixed_usd=25 * USD)
    await world.follow(1, L_SHARD1, mode="fixed", fixed_usd=10 * USD)
    await world.follow(2, L_SHARD0, mode="fixed", fixed_usd=20 * USD)
    await world.follow(3, L_SHARD0, mode="ratio", ratio_ppm=500_000)
    shards = [
        spawn(processes, world, f"shard{i}", SUPERVISOR_SHARD_COUNT="2", SUPERVISOR_SHARD_INDEX=str(i))
        for i in range(2)
    ]
    for proc in shards:
        await proc.wait_connected()
    receipts = [
        await world.trade(L_SHARD1, "BUY", 0, 200 * SHARE, 100 * USD),  # at $0.50
        await world.trade(L_SHARD0, "BUY", 1, 100 * SHARE, 40 * USD),  # at $0.40
    ]
    await trades_in_one_block(
        world, (L_SHARD1, 1, 50 * SHARE, 20 * USD), (L_SHARD0, 0, 100 * SHARE, 60 * USD)
    )
    assert len(receipts) == 2
    await until(lambda: executed_and_idle(world, 8), "eight copies")
    for proc in shards:
        await stop(proc)

    # Each instance detected only its own leader's fills: leader 4 on shard 0, leader 0 on shard 1.
    for proc, mine in zip(shards, (L_SHARD0, L_SHARD1), strict=True):
        detected = re.findall(r"detected leader (0x[0-9a-f]{40})", proc.output)
        assert Counter(detected) == Counter({world.leaders[mine]: 2}), proc.name
        assert f"shard {proc.name[-1]}/2" in proc.output
    # Every copy exactly once, on chain.
    p = world.proxies
    assert Counter(world.pushed(p[0])) == Counter(world.bought(0, 50 * SHARE) + world.bought(1, 62_500_000))
    assert Counter(world.pushed(p[1])) == Counter(world.bought(0, 20 * SHARE) + world.bought(1, 25 * SHARE))
    # leader 4: BUY $40 at $0.40, then BUY $60 at $0.60.
    assert Counter(world.pushed(p[2])) == Counter(world.bought(1, 50 * SHARE) + world.bought(0, 33_333_333))
    assert Counter(world.pushed(p[3])) == Counter(world.bought(1, 50 * SHARE) + world.bought(0, 50 * SHARE))
    assert world.holdings(p[0]) == (4_950 * USD, 50 * SHARE, 62_500_000)
    assert world.holdings(p[1]) == (4_980 * USD, 20 * SHARE, 25 * SHARE)
    assert world.holdings(p[2]) == (4_960 * USD, 33_333_333, 50 * SHARE)
    assert world.holdings(p[3]) == (4_950 * USD, 50 * SHARE, 50 * SHARE)


# -- item 5 ---------------------------------------------------------------------------------------------


async def test_a_supervisor_killed_after_queueing_loses_and_repeats_nothing(
    world: World, processes: list[SupervisorProcess]
) -> None:
    await world.follow(0, L_SHARD1, mode="fixed", fixed_usd=25 * USD)
    await world.follow(1, L_SHARD1, mode="fixed", fixed_usd=10 * USD)
    await world.follow(2, L_SHARD1, mode="ratio", ratio_ppm=500_000)
    doomed = spawn(processes, world, "supervisor", POLYHUNTER_FAULTPOINT="after_queue")
    await doomed.wait_connected()
    await world.trade(L_SHARD1, "BUY", 0, 200 * SHARE, 100 * USD)  # at $0.50
    assert await doomed.wait_exit() == -signal.SIGKILL
    assert "fault point after_queue" in doomed.output

    # Killed with the jobs durably PENDING and nothing sent.
    pending = await world.records(TradeStatus.PENDING)
    assert sorted(r.amount for r in pending) == [10 * USD, 25 * USD, 50 * USD]
    assert len(await world.records()) == 3
    assert all(world.pushed(p) == [] for p in world.proxies)

    again = spawn(processes, world, "supervisor")
    await again.wait_connected(times=2)
    await until(lambda: executed_and_idle(world, 3), "the three copies after the restart")
    await world.trade(L_SHARD1, "BUY", 1, 100 * SHARE, 40 * USD)  # at $0.40: it goes on copying
    await until(lambda: executed_and_idle(world, 6), "the copies of the next trade")
    await stop(again)

    p = world.proxies
    assert Counter(world.pushed(p[0])) == Counter(world.bought(0, 50 * SHARE) + world.bought(1, 62_500_000))
    assert Counter(world.pushed(p[1])) == Counter(world.bought(0, 20 * SHARE) + world.bought(1, 25 * SHARE))
    assert Counter(world.pushed(p[2])) == Counter(world.bought(0, 100 * SHARE) + world.bought(1, 50 * SHARE))
    assert world.holdings(p[0]) == (4_950 * USD, 50 * SHARE, 62_500_000)
    assert world.holdings(p[1]) == (4_980 * USD, 20 * SHARE, 25 * SHARE)
    assert world.holdings(p[2]) == (4_930 * USD, 100 * SHARE, 50 * SHARE)
    assert len(await world.records(TradeStatus.EXECUTED)) == 6


# -- item 8 ---------------------------------------------------------------------------------------------


async def test_sigterm_with_copies_in_flight_loses_none(
    world: World, processes: list[SupervisorProcess]
) -> None:
    for follower in range(4):
        await world.follow(follower, L_SHARD1, mode="fixed", fixed_usd=(follower + 1) * 10 * USD)
    proc = spawn(processes, world, "supervisor")
    await proc.wait_connected()
    await world.trade(L_SHARD1, "BUY", 0, 200 * SHARE, 100 * USD)  # at $0.50
    await world.trade(L_SHARD1, "BUY", 1, 100 * SHARE, 40 * USD)  # at $0.40

    async def in_flight() -> bool:
        async with world.store() as store:
            pending = await store.list_trades(TradeStatus.PENDING)
            journaled = [await store.get_trade(r.key) for r in pending]
            return any(r is not None and r.journal for r in journaled)

    await until(in_flight, "a copy in flight (journaled, not finished)", every_s=0.01)
    proc.signal(signal.SIGTERM)
    assert await proc.wait_exit() == 0, proc.output[-4000:]

    # Stopped: every copy finished, or is PENDING and was never broadcast (so the next start queues it).
    async with world.store() as store:
        records = [await store.get_trade(r.key) for r in await store.list_trades(limit=100)]
    assert len(records) == 8
    for record in records:
        assert record is not None
        assert record.status in (TradeStatus.EXECUTED, TradeStatus.PENDING), record
        if record.status is TradeStatus.PENDING:
            assert record.journal == (), record

    again = spawn(processes, world, "supervisor")
    await again.wait_connected(times=2)
    await until(lambda: executed_and_idle(world, 8), "all eight copies")
    await stop(again)
    p = world.proxies
    for i, proxy in enumerate(p):
        usd = (i + 1) * 10
        # $usd at $0.50 → 2·usd shares of market 0; at $0.40 → 2.5·usd shares of market 1.
        assert Counter(world.pushed(proxy)) == Counter(
            world.bought(0, 2 * usd * SHARE) + world.bought(1, usd * 5 * SHARE // 2)
        )
        assert world.holdings(proxy) == ((5_000 - 2 * usd) * USD, 2 * usd * SHARE, usd * 5 * SHARE // 2)


# -- item 10 --------------------------------------------------------------------------------------------


async def test_the_daily_cap_holds_while_two_instances_race(
    shared_world: World, processes: list[SupervisorProcess]
) -> None:
    """Two instances, one leader each, four followers of $25; the day's cap is $100: exactly four copies,
    although both leaders trade in the same block twice (eight copies wanted)."""
    world = shared_world
    for follower, leader in enumerate((L_SHARD1, L_SHARD1, L_SHARD0, L_SHARD0)):
        await world.follow(follower, leader, mode="fixed", fixed_usd=25 * USD)
    shards = [
        spawn(
            processes,
            world,
            f"shard{i}",
            SUPERVISOR_SHARD_COUNT="2",
            SUPERVISOR_SHARD_INDEX=str(i),
            COPY_TRADING_DAILY_CAP_USD="100",
        )
        for i in range(2)
    ]
    for proc in shards:
        await proc.wait_connected()
    for market in (0, 1):
        await trades_in_one_block(
            world, (L_SHARD1, market, 100 * SHARE, 50 * USD), (L_SHARD0, market, 100 * SHARE, 50 * USD)
        )

    async def decided() -> bool:
        async with world.store() as store:
            skipped = await store.count_trades(TradeStatus.SKIPPED)
        return skipped == 4 and await executed_and_idle(world, 4)

    await until(decided, "four copies executed and four skipped at the cap")
    for proc in shards:
        await stop(proc)

    skipped = await world.records(TradeStatus.SKIPPED)
    assert {r.reason for r in skipped} == {"daily_cap"}
    pushed = [e for p in world.proxies for e in world.pushed(p)]
    assert len(pushed) == 4  # $25 at $0.50 → 50 shares, four times
    assert {e.amount for e in pushed} == {50 * SHARE}
    spent = sum(5_000 * USD - world.holdings(p)[0] for p in world.proxies)
    assert spent == 100 * USD
