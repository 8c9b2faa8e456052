"""The activity-feed client against the local feed server over a real loopback websocket: trades of watched
wallets arrive as activity signals, duplicates pair off, stalls are survived, bad frames are counted."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from decimal import Decimal
from typing import Any

import pytest
import pytest_asyncio

from polyhunter._core import NO_LOG_INDEX, ActivityParser, ActivityTrade
from polyhunter.detector.feed import FeedSource
from polyhunter.errors import ConfigError
from polyhunter.localpoly.feed import ActivityFeed, FeedTrade

pytestmark = pytest.mark.integration

LEADER = "0x510F4963b66B1B18505faaB74b0bB943D1dDa43C"
OTHER = "0x00000000000000000000000000000000000000aa"
CONDITION = "0x1d8720896546460a48d4f7fd5b3f0705a8d427921222de498d1cd334d4890c52"


def trade(n: int, **changes: Any) -> FeedTrade:
    fields: dict[str, Any] = {
        "proxy_wallet": LEADER,
        "side": "BUY",
        "asset": str(1000 + n),
        "condition_id": CONDITION,
        "size": Decimal("12.5") + n,
        "price": Decimal("0.43"),
        "timestamp": 1787102287 + n,
        "transaction_hash": "0x" + f"{n:064x}",
    }
    fields.update(changes)
    return FeedTrade(**fields)


@pytest_asyncio.fixture
async def feed() -> AsyncIterator[ActivityFeed]:
    server = ActivityFeed()
    await server.start()
    yield server
    await server.stop()


class Running:
    """A FeedSource running in the background, collecting what its sink gets."""

    def __init__(self, url: str, **options: Any) -> None:
        self.got: list[ActivityTrade] = []
        self.stop = asyncio.Event()
        self.source = FeedSource(url, ActivityParser([LEADER]), self._sink, **options)
        self.task: asyncio.Task[None] | None = None

    async def _sink(self, trades: list[ActivityTrade]) -> None:
        self.got.extend(trades)

    async def __aenter__(self) -> Running:
        self.task = asyncio.create_task(self.source.run(self.stop))
        await self.source.connected.wait()
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.stop.set()
        assert self.task is not None
        await self.task


async def until(condition: Callable[[], bool]) -> None:
    """Wait for something the client reaches asynchronously (pytest-timeout bounds the wait)."""
    while not condition():
        await asyncio.sleep(0.005)


async def subscribed(feed: ActivityFeed, running: Running) -> None:
    """The server has the client's subscription once it answered a ping sent after it."""
    pongs = running.source.stats.pongs
    await until(lambda: running.source.stats.pongs > pongs)


@pytest.mark.asyncio
async def test_trades_of_the_leader_arrive_as_activity_signals(feed: ActivityFeed) -> None:
    async with Running(feed.url, ping_s=0.05) as running:
        await subscribed(feed, running)
        feed.publish(trade(1, proxy_wallet=OTHER))
        feed.publish(trade(2))
        await until(lambda: len(running.got) == 1 and running.source.stats.skipped == 1)
    [t] = running.got
    assert (t.wallet, t.asset, t.size, t.price, t.frame_type) == (
        LEADER.lower(),
        1002,
        14_500_000,
        (430_000, 10**6),
        "trades",
    )
    assert (t.signal.source, t.signal.log_index, t.signal.tx_hash) == (
        "activity",
        NO_LOG_INDEX,
        bytes.fromhex(f"{2:064x}"),
    )
    assert running.source.stats.trades == 1


@pytest.mark.parametrize(("strings", "unit"), [(True, "s"), (False, "ms"), (True, "ms")])
@pytest.mark.asyncio
async def test_numbers_as_strings_and_ms_timestamps_parse_alike(
    feed: ActivityFeed, strings: bool, unit: str
) -> None:
    feed.configure(numbers_as_strings=strings, timestamp_unit=unit, empty_frames=True)
    async with Running(feed.url, ping_s=0.05) as running:
        await subscribed(feed, running)
        feed.publish(trade(3, size=Decimal("0.000001"), price=Decimal("0.999999")))
        await until(lambda: len(running.got) == 1)
    [t] = running.got
    assert (t.size, t.price, t.usd, t.timestamp_ms) == (1, (999_999, 10**6), 0, (1787102287 + 3) * 1000)
    assert running.source.stats.rejects == {}


@pytest.mark.asyncio
async def test_orders_matched_duplicates_are_dropped_and_counted(feed: ActivityFeed) -> None:
    feed.configure(duplicate_orders_matched=True)
    async with Running(feed.url, ping_s=0.05) as running:
        await subscribed(feed, running)
        feed.publish(trade(4))
        feed.publish(trade(5))
        await until(lambda: running.source.stats.duplicates == 2)
        assert [t.asset for t in running.got] == [1004, 1005]
        assert running.source.stats.frames == 4


@pytest.mark.asyncio
async def test_a_stalled_subscription_is_resubscribed_then_reconnected_and_trades_flow_again(
    feed: ActivityFeed,
) -> None:
    feed.configure(stall_after=1)
    async with Running(feed.url, ping_s=0.05, silence_s=0.4, backoff_initial_s=0.01) as running:
        await subscribed(feed, running)
        feed.publish(trade(6))
        await until(lambda: len(running.got) == 1)
        feed.publish(trade(7))  # the stalled connection never delivers it
        await until(lambda: running.source.stats.resubscribes >= 1)
        await until(lambda: running.source.stats.connects >= 2 and running.source.connected.is_set())
        await subscribed(feed, running)
        feed.publish(trade(8))
        await until(lambda: any(t.asset == 1008 for t in running.got))
    stats = running.source.stats
    assert stats.reconnects >= 1
    assert [t.asset for t in running.got][:1] == [1006]
    assert 1007 not in [t.asset for t in running.got]


@pytest.mark.asyncio
async def test_a_stall_that_also_stops_pongs_reconnects(feed: ActivityFeed) -> None:
    feed.configure(stall_after=0, stall_answers_pings=False)
    async with Running(feed.url, ping_s=0.05, silence_s=0.4, backoff_initial_s=0.01) as running:
        await until(lambda: running.source.stats.connects >= 2)
        feed.configure(stall_after=None)
        await until(lambda: running.source.connected.is_set())
        await subscribed(feed, running)
        feed.publish(trade(9))
        await until(lambda: len(running.got) == 1)
    assert running.source.stats.pongs >= 1


@pytest.mark.asyncio
async def test_a_dropped_connection_reconnects(feed: ActivityFeed) -> None:
    async with Running(feed.url, ping_s=0.05, backoff_initial_s=0.01) as running:
        await subscribed(feed, running)
        await running.source.drop_connection()
        await until(lambda: running.source.stats.connects == 2 and running.source.connected.is_set())
        await subscribed(feed, running)
        feed.publish(trade(10))
        await until(lambda: len(running.got) == 1)
    assert running.source.stats.reconnects >= 1


@pytest.mark.asyncio
async def test_an_unreachable_feed_backs_off_and_keeps_trying(caplog: pytest.LogCaptureFixture) -> None:
    server = ActivityFeed()
    url = await server.start()
    await server.stop()
    running = Running(url, backoff_initial_s=0.01, backoff_max_s=0.02)
    task = asyncio.create_task(running.source.run(running.stop))
    with caplog.at_level("WARNING", logger="polyhunter.detector.feed"):
        await until(lambda: running.source.stats.reconnects >= 3)
    running.stop.set()
    await task
    assert running.source.stats.connects == 0
    assert any("reconnecting in 0.0" in r.getMessage() for r in caplog.records)


@pytest.mark.asyncio
async def test_bad_frames_are_counted_by_reason_and_the_source_keeps_running(feed: ActivityFeed) -> None:
    async with Running(feed.url, ping_s=0.05) as running:
        await subscribed(feed, running)
        frames = [
            "not json",
            '{"topic":"activity","type":"trades","payload":{"proxyWallet":"' + LEADER + '","size":"1e3"}}',
            '{"topic":"activity","type":"trades","payload":{"proxyWallet":"' + LEADER + '","size":"2e3"}}',
        ]
        await running.source.take(frames)
        feed.publish(trade(11))
        await until(lambda: len(running.got) == 1)
    rejects = running.source.stats.rejects
    assert sum(rejects.values()) == 3
    assert len(rejects) == 2  # the two exponent forms are one kind of fault


@pytest.mark.asyncio
async def test_a_failing_sink_is_logged_and_the_source_goes_on(feed: ActivityFeed) -> None:
    calls: list[int] = []

    async def sink(trades: list[ActivityTrade]) -> None:
        calls.append(len(trades))
        if len(calls) == 1:
            raise RuntimeError("sink broke")

    stop = asyncio.Event()
    source = FeedSource(feed.url, ActivityParser([LEADER]), sink, ping_s=0.05)
    task = asyncio.create_task(source.run(stop))
    try:
        await source.connected.wait()
        pongs = source.stats.pongs
        await until(lambda: source.stats.pongs > pongs)
        feed.publish(trade(12))
        feed.publish(trade(13))
        await until(lambda: len(calls) == 2)
    finally:
        stop.set()
        await task
    assert source.stats.sink_errors == 1


def test_settings_that_cannot_work_are_refused() -> None:
    async def sink(trades: list[ActivityTrade]) -> None:
        return None

    with pytest.raises(ConfigError, match="ping_s"):
        FeedSource("ws://127.0.0.1:1/", ActivityParser(None), sink, ping_s=30, silence_s=30)
    with pytest.raises(ConfigError, match="types"):
        FeedSource("ws://127.0.0.1:1/", ActivityParser(None), sink, types=("comments",))
