"""The activity feed over a real loopback websocket: frames, filters, switches, stalls, bad clients."""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any
from urllib.parse import urlsplit

import pytest
import pytest_asyncio
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from polyhunter.localpoly.feed import ActivityFeed, FeedSettings, FeedTrade

pytestmark = pytest.mark.integration

WALLET = "0x510F4963b66B1B18505faaB74b0bB943D1dDa43C"
CONDITION = "0x1d8720896546460a48d4f7fd5b3f0705a8d427921222de498d1cd334d4890c52"
TX = "0xb6acf6859bc84216f4b3e2567fb392a2eae19d275340ad96ea17218ccfec27b7"
ALL_TRADES = {"topic": "activity", "type": "trades"}


def trade(n: int = 1, **changes: Any) -> FeedTrade:
    fields: dict[str, Any] = {
        "proxy_wallet": WALLET,
        "side": "SELL",
        "asset": str(1000 + n),
        "condition_id": CONDITION,
        "size": Decimal("12.5") + n,
        "price": Decimal("0.43"),
        "timestamp": 1787102287 + n,
        "transaction_hash": TX,
        "outcome": "Yes",
        "outcome_index": 0,
        "slug": "market-a",
        "event_slug": "event-a",
    }
    fields.update(changes)
    return FeedTrade(**fields)


@pytest_asyncio.fixture
async def feed() -> AsyncIterator[ActivityFeed]:
    server = ActivityFeed()
    await server.start()
    yield server
    await server.stop()


async def subscribed(url: str, *subs: dict[str, Any], **options: Any) -> ClientConnection:
    """A client whose subscriptions are in force: the server answers pings in order, after the subscribe."""
    ws = await connect(url, **options)
    await ws.send(json.dumps({"action": "subscribe", "subscriptions": list(subs)}))
    await ws.send("ping")
    assert await ws.recv() == "pong"
    return ws


async def frame(ws: ClientConnection) -> dict[str, Any]:
    text = await ws.recv()
    assert isinstance(text, str)
    decoded: dict[str, Any] = json.loads(text, parse_float=Decimal)
    return decoded


async def drain(ws: ClientConnection) -> None:
    """Read until the connection closes (ConnectionClosed)."""
    while True:
        await ws.recv()


async def until(condition: Any) -> None:
    """Wait for a condition the server reaches asynchronously (pytest-timeout bounds the wait)."""
    while not condition():
        await asyncio.sleep(0.005)


@pytest.mark.asyncio
async def test_a_published_trade_arrives_in_production_shape(feed: ActivityFeed) -> None:
    assert feed.url.startswith("ws://127.0.0.1:")
    async with await subscribed(feed.url, ALL_TRADES) as ws:
        feed.publish(trade(1))
        got = await frame(ws)
    assert list(got) == ["connection_id", "payload", "timestamp", "topic", "type"]
    assert (got["topic"], got["type"]) == ("activity", "trades")
    assert got["timestamp"] > 1_700_000_000_000  # the envelope stamp is in ms
    payload = got["payload"]
    assert payload["proxyWallet"] == WALLET
    assert payload["side"] == "SELL"
    assert payload["asset"] == "1001"
    assert payload["conditionId"] == CONDITION
    assert payload["size"] == Decimal("13.5")
    assert payload["price"] == Decimal("0.43")
    assert payload["timestamp"] == 1787102288
    assert payload["transactionHash"] == TX
    assert (payload["outcome"], payload["outcomeIndex"], payload["slug"], payload["eventSlug"]) == (
        "Yes",
        0,
        "market-a",
        "event-a",
    )
    assert feed.stats.frames_sent == 1


@pytest.mark.asyncio
async def test_each_connection_has_its_own_stable_connection_id(feed: ActivityFeed) -> None:
    async with await subscribed(feed.url, ALL_TRADES) as one, await subscribed(feed.url, ALL_TRADES) as two:
        feed.publish(trade(1))
        feed.publish(trade(2))
        first, second = await frame(one), await frame(one)
        other = await frame(two)
    assert first["connection_id"] == second["connection_id"]
    assert first["connection_id"] != other["connection_id"]
    assert [first["payload"]["asset"], second["payload"]["asset"]] == ["1001", "1002"]


@pytest.mark.asyncio
async def test_filters_select_by_event_or_market_slug(feed: ActivityFeed) -> None:
    by_event = {"topic": "activity", "type": "trades", "filters": json.dumps({"event_slug": "event-b"})}
    by_market = {"topic": "activity", "type": "*", "filters": json.dumps({"market_slug": "market-c"})}
    async with (
        await subscribed(feed.url, by_event) as events,
        await subscribed(feed.url, by_market) as markets,
        await subscribed(feed.url, ALL_TRADES) as everything,
    ):
        feed.publish(trade(1))
        feed.publish(trade(2, event_slug="event-b"))
        feed.publish(trade(3, slug="market-c"))
        # The first frame each filtered client sees is its match: the trades before it were not sent.
        assert (await frame(events))["payload"]["asset"] == "1002"
        assert (await frame(markets))["payload"]["asset"] == "1003"
        assert [(await frame(everything))["payload"]["asset"] for _ in range(3)] == ["1001", "1002", "1003"]


@pytest.mark.asyncio
async def test_orders_matched_duplicates_go_to_who_asked_for_them(feed: ActivityFeed) -> None:
    feed.configure(duplicate_orders_matched=True)
    star = {"topic": "activity", "type": "*"}
    matched = {"topic": "activity", "type": "orders_matched"}
    async with (
        await subscribed(feed.url, star) as both,
        await subscribed(feed.url, ALL_TRADES) as trades_only,
        await subscribed(feed.url, matched) as matched_only,
    ):
        feed.publish(trade(1))
        feed.publish(trade(2))
        seen = [await frame(both) for _ in range(4)]
        assert [(f["type"], f["payload"]["asset"]) for f in seen] == [
            ("trades", "1001"),
            ("orders_matched", "1001"),
            ("trades", "1002"),
            ("orders_matched", "1002"),
        ]
        assert seen[0]["payload"] == seen[1]["payload"]
        assert [(await frame(trades_only))["type"] for _ in range(2)] == ["trades", "trades"]
        assert [(await frame(matched_only))["type"] for _ in range(2)] == ["orders_matched", "orders_matched"]


@pytest.mark.asyncio
async def test_strings_ms_and_empty_frames_switched_on_at_runtime(feed: ActivityFeed) -> None:
    async with await subscribed(feed.url, ALL_TRADES) as ws:
        feed.configure(numbers_as_strings=True, timestamp_unit="ms", empty_frames=True)
        feed.publish(trade(1))
        assert await ws.recv() == ""
        payload = (await frame(ws))["payload"]
        assert (payload["size"], payload["price"], payload["timestamp"]) == ("13.5", "0.43", 1787102288000)
        # A subscribe is followed by an empty frame too, as some production clients observed.
        await ws.send(
            json.dumps({"action": "subscribe", "subscriptions": [{"topic": "comments", "type": "*"}]})
        )
        assert await ws.recv() == ""
        feed.settings = FeedSettings()
        feed.publish(trade(2))
        assert (await frame(ws))["payload"]["size"] == Decimal("14.5")


@pytest.mark.asyncio
async def test_unsubscribe_stops_delivery(feed: ActivityFeed) -> None:
    filtered = {"topic": "activity", "type": "trades", "filters": json.dumps({"event_slug": "event-b"})}
    async with await subscribed(feed.url, ALL_TRADES) as ws:
        await ws.send(json.dumps({"action": "unsubscribe", "subscriptions": [ALL_TRADES]}))
        await ws.send(json.dumps({"action": "subscribe", "subscriptions": [filtered]}))
        await ws.send("PING")
        assert await ws.recv() == "PONG"
        feed.publish(trade(1))
        feed.publish(trade(2, event_slug="event-b"))
        assert (await frame(ws))["payload"]["asset"] == "1002"


@pytest.mark.asyncio
async def test_a_stalled_feed_keeps_the_socket_and_still_answers_pings(feed: ActivityFeed) -> None:
    feed.configure(stall_after=1)
    async with await subscribed(feed.url, ALL_TRADES) as ws:
        feed.publish(trade(1))
        feed.publish(trade(2))
        assert (await frame(ws))["payload"]["asset"] == "1001"
        await ws.send("ping")
        assert await ws.recv() == "pong"  # not trade 2: the feed is stalled, the socket is not
        pong_waiter = await ws.ping()
        await pong_waiter
        feed.configure(stall_after=None)
        feed.publish(trade(3))
        assert (await frame(ws))["payload"]["asset"] == "1003"  # trade 2 was never sent


@pytest.mark.asyncio
async def test_a_stalled_feed_can_also_stop_answering_pings(feed: ActivityFeed) -> None:
    feed.configure(stall_after=1, stall_answers_pings=False)
    async with await subscribed(feed.url, ALL_TRADES) as ws:
        feed.publish(trade(1))
        assert (await frame(ws))["payload"]["asset"] == "1001"
        pings_before = feed.stats.pings_received
        await ws.send("ping")
        pong_waiter = await ws.ping()
        await until(lambda: feed.stats.pings_received == pings_before + 2)
        feed.configure(stall_after=None)
        feed.publish(trade(2))
        # Had either ping been answered, its pong would have been queued before this trade.
        assert (await frame(ws))["payload"]["asset"] == "1002"
        assert not pong_waiter.done()
        assert ws.state.name == "OPEN"


@pytest.mark.asyncio
async def test_a_malformed_subscribe_gets_an_error_frame_and_the_socket_lives_on(feed: ActivityFeed) -> None:
    async with await connect(feed.url) as ws:
        await ws.send("{not json")
        first = json.loads(await ws.recv())
        await ws.send(
            json.dumps({"action": "subscribe", "subscriptions": [{"topic": "activity", "type": "x"}]})
        )
        second = json.loads(await ws.recv())
        await ws.send(b"\x00\x01")
        third = json.loads(await ws.recv())
        assert first["type"] == second["type"] == third["type"] == "error"
        assert "not JSON" in first["message"]
        assert "trades, orders_matched or *" in second["message"]
        assert "binary" in third["message"]
        assert "payload" not in first
        assert feed.stats.subscribe_errors == 3
        await ws.send(json.dumps({"action": "subscribe", "subscriptions": [ALL_TRADES]}))
        await ws.send("ping")
        assert await ws.recv() == "pong"
        feed.publish(trade(1))
        assert (await frame(ws))["payload"]["asset"] == "1001"


@pytest.mark.asyncio
async def test_an_oversized_message_closes_the_connection_with_1009(feed: ActivityFeed) -> None:
    ws = await connect(feed.url)
    await ws.send("x" * (feed.settings.max_message_bytes + 1))
    with pytest.raises(ConnectionClosed) as info:
        await ws.recv()
    assert info.value.rcvd is not None
    assert info.value.rcvd.code == 1009
    await until(lambda: feed.client_count == 0)


@pytest.mark.asyncio
async def test_a_slow_client_is_dropped_without_holding_up_a_fast_one() -> None:
    feed = ActivityFeed(FeedSettings(client_queue_max=8))
    await feed.start()
    # The slow client's kernel buffer is tiny and its library stops reading after one queued message, so
    # the server's writes to it back up while the fast client reads every frame.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    port = urlsplit(feed.url).port
    assert port is not None
    sock.connect(("127.0.0.1", port))  # the feed binds loopback
    sock.setblocking(False)
    try:
        slow = await subscribed(feed.url, ALL_TRADES, sock=sock, max_queue=1, compression=None)
        fast = await subscribed(feed.url, ALL_TRADES)
        bulky = "x" * 16_384  # big frames fill the buffers in few round trips
        sent = 0
        while feed.stats.clients_dropped == 0 and sent < 20_000:
            sent += 1
            feed.publish(trade(sent, title=bulky))
            assert (await frame(fast))["payload"]["asset"] == str(1000 + sent)
        assert feed.stats.clients_dropped == 1
        assert feed.client_count == 1
        # The fast client goes on receiving.
        feed.publish(trade(sent + 1))
        assert (await frame(fast))["payload"]["asset"] == str(1001 + sent)
        with pytest.raises(ConnectionClosed):
            await drain(slow)
        await fast.close()
    finally:
        await feed.stop()


@pytest.mark.asyncio
async def test_publish_from_another_thread_is_delivered(feed: ActivityFeed) -> None:
    async with await subscribed(feed.url, ALL_TRADES) as ws:
        await asyncio.to_thread(feed.publish, trade(7))
        assert (await frame(ws))["payload"]["asset"] == "1007"


@pytest.mark.asyncio
async def test_stop_closes_clients_with_going_away() -> None:
    feed = ActivityFeed()
    await feed.start()
    ws = await subscribed(feed.url, ALL_TRADES)
    await feed.stop()
    with pytest.raises(ConnectionClosed) as info:
        await ws.recv()
    assert info.value.rcvd is not None
    assert info.value.rcvd.code == 1001
    feed.publish(trade(1))  # after stop: silently nothing, never an exception
