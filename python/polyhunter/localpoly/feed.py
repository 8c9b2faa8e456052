"""The local activity feed: a websocket server that pushes trades in the frames of Polymarket's RTDS.

Polymarket's real-time data service (RTDS, `wss://ws-live-data.polymarket.com`) pushes every trade on the
platform about a second after the match. The local CLOB calls `ActivityFeed.publish(FeedTrade)` per fill;
every connected client whose subscriptions match gets the frame. Switches in `FeedSettings` reproduce the
feed's known pitfalls (duplicates, numbers as strings, ms timestamps, empty frames, a silent stall) and can
be flipped at runtime (`feed.settings = …` or `feed.configure(**changes)`).

What public clients agree on (Polymarket's `real-time-data-client` TypeScript client and README, and
independent clients that captured live frames), and so is modelled as certain:
- Subscribe: a text frame `{"action": "subscribe", "subscriptions": [{"topic": "activity", "type":
  "trades", "filters": "<JSON object as a string, or empty>"}]}`; `"action": "unsubscribe"` removes the
  same entries. `type` is `trades`, `orders_matched` or `*` (every type of the topic). Several subscribe
  messages on one socket add up. There is no acknowledgement frame.
- Keep-alive: the client sends the text `ping` (the official client; others send `PING`) about every 5 s
  and the server answers the text `pong`; websocket control pings are answered with control pongs.
- Data frame: `{"connection_id": str, "payload": {...}, "timestamp": <ms>, "topic": "activity", "type":
  "trades"}`, keys in that (alphabetical) order. The payload carries `asset` (token id, decimal string),
  `bio`, `conditionId`, `eventSlug`, `icon`, `name`, `outcome`, `outcomeIndex`, `price` (JSON number),
  `profileImage`, `proxyWallet` (EIP-55 mixed case), `pseudonym`, `side` (`BUY`/`SELL`), `size` (JSON
  number, shares, up to 4+ decimals), `slug` (the market), `timestamp` (whole seconds), `title`,
  `transactionHash`.

What is uncertain (sources disagree or are single observations), and how this server decides:
- Filters: the README documents `{"event_slug": …}` or `{"market_slug": …}` only, and users report that
  production ignores them (every filtered subscription stays silent; clients filter by `proxyWallet`
  themselves). Here they work as documented (both keys given: both must match), other keys and `{}` are
  refused. There is no filter by wallet in production, so there is none here.
- `orders_matched` vs `trades`: one measurement says `orders_matched` is one frame per transaction (the
  taker) while `trades` has the taker and every maker; another says `trades` was switched off for a while.
  Here `orders_matched` is only ever the duplicate of a `trades` frame (`duplicate_orders_matched`).
- An empty text frame right after subscribing and between data frames was observed by some clients: off
  by default, on with `empty_frames`.
- Malformed subscribes: one client reports production drops the connection. Here the server answers with
  `{"type": "error", "message": …}` (no `payload` key, so RTDS clients that only read frames carrying a
  payload skip it) and keeps the socket.
- Subscriptions that silently stop delivering while pings are still answered were measured in
  production: `stall_after` reproduces both that and a socket that also stops answering pings.
- `fee`, present on some production frames, is not sent.
"""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import json
import logging
import os
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Literal

from aiohttp import WSCloseCode, WSMsgType, web
from web3 import Web3

from polyhunter.errors import ConfigError, InvalidInputError
from polyhunter.localpoly.httputil import is_loopback

log = logging.getLogger(__name__)

TOPIC = "activity"
TRADES = "trades"
ORDERS_MATCHED = "orders_matched"
FILTER_KEYS = frozenset({"event_slug", "market_slug"})
# Topics the production service serves; subscribing to them is accepted although nothing is ever sent.
OTHER_TOPICS = frozenset(
    {"comments", "crypto_prices", "crypto_prices_chainlink", "equity_prices", "clob_user", "clob_market"}
)
MAX_SUBSCRIPTIONS = 64

_ADDRESS = re.compile(r"0x[0-9a-fA-F]{40}")
_HASH32 = re.compile(r"0x[0-9a-fA-F]{64}")


class SubscribeError(InvalidInputError):
    """A client message that is not a well-formed subscribe or unsubscribe request."""


@dataclass(frozen=True)
class FeedTrade:
    """One fill as the feed reports it: the trader's side of it, in shares and an exact price."""

    proxy_wallet: str
    side: str
    asset: str
    condition_id: str
    size: Decimal
    price: Decimal
    timestamp: int
    transaction_hash: str = ""
    outcome: str = ""
    outcome_index: int = 0
    slug: str = ""
    event_slug: str = ""
    name: str = ""
    pseudonym: str = ""
    title: str = ""
    icon: str = ""

    def __post_init__(self) -> None:
        if not _ADDRESS.fullmatch(self.proxy_wallet):
            raise InvalidInputError(
                f"proxy_wallet {self.proxy_wallet!r} is not a 0x-prefixed 20-byte address"
            )
        object.__setattr__(self, "proxy_wallet", self.proxy_wallet.lower())
        if self.side not in ("BUY", "SELL"):
            raise InvalidInputError(f"side {self.side!r} is not BUY or SELL")
        if not self.asset.isdigit():
            raise InvalidInputError(f"asset {self.asset!r} is not a decimal token id")
        if not _HASH32.fullmatch(self.condition_id):
            raise InvalidInputError(f"condition_id {self.condition_id!r} is not a 0x-prefixed 32-byte hash")
        for name in ("size", "price"):
            value = getattr(self, name)
            # Floats never enter: a price that went through a float is no longer the matched price.
            if not isinstance(value, Decimal) or not value.is_finite():
                raise InvalidInputError(f"{name} {value!r} must be a finite Decimal")
        if self.size <= 0:
            raise InvalidInputError(f"size {self.size} must be positive")
        if not Decimal(0) < self.price < Decimal(1):
            raise InvalidInputError(f"price {self.price} is outside (0, 1)")
        if isinstance(self.timestamp, bool) or not isinstance(self.timestamp, int) or self.timestamp < 0:
            raise InvalidInputError(f"timestamp {self.timestamp!r} must be whole seconds since the epoch")
        if self.transaction_hash and not _HASH32.fullmatch(self.transaction_hash):
            raise InvalidInputError(f"transaction_hash {self.transaction_hash!r} is not a 32-byte hash")
        if isinstance(self.outcome_index, bool) or not isinstance(self.outcome_index, int):
            raise InvalidInputError(f"outcome_index {self.outcome_index!r} must be an int")


@dataclass(frozen=True)
class FeedSettings:
    """How the feed behaves; the defaults are production's behaviour, the rest are pitfalls for tests.

    `stall_after` counts data frames per connection: after that many, the connection receives nothing
    more (empty frames included) while the socket stays open; `stall_answers_pings` says whether it still
    answers pings then. `client_queue_max` and `max_message_bytes` apply to connections opened afterwards.
    """

    duplicate_orders_matched: bool = False
    numbers_as_strings: bool = False
    timestamp_unit: Literal["s", "ms"] = "s"
    empty_frames: bool = False
    stall_after: int | None = None
    stall_answers_pings: bool = True
    client_queue_max: int = 1024
    max_message_bytes: int = 64 * 1024
    max_clients: int = 256

    def __post_init__(self) -> None:
        for name in ("duplicate_orders_matched", "numbers_as_strings", "empty_frames", "stall_answers_pings"):
            if not isinstance(getattr(self, name), bool):
                raise ConfigError(f"feed setting {name} must be true or false, got {getattr(self, name)!r}")
        if self.timestamp_unit not in ("s", "ms"):
            raise ConfigError(f"feed setting timestamp_unit must be 's' or 'ms', got {self.timestamp_unit!r}")
        if self.stall_after is not None and (_not_int(self.stall_after) or self.stall_after < 0):
            raise ConfigError(
                f"feed setting stall_after must be a count >= 0 or null, got {self.stall_after!r}"
            )
        for name in ("client_queue_max", "max_message_bytes", "max_clients"):
            value = getattr(self, name)
            if _not_int(value) or value < 1:
                raise ConfigError(f"feed setting {name} must be a positive integer, got {value!r}")


def _not_int(value: object) -> bool:
    return isinstance(value, bool) or not isinstance(value, int)


@dataclass(frozen=True)
class Subscription:
    """One entry of a subscribe message: a topic, a type (`*` = all) and equality filters."""

    topic: str
    type: str
    filters: tuple[tuple[str, str], ...] = ()

    def matches(self, msg_type: str, trade: FeedTrade) -> bool:
        """Whether a frame of `msg_type` about `trade` is for this subscription."""
        if self.topic != TOPIC or self.type not in ("*", msg_type):
            return False
        fields = {"event_slug": trade.event_slug, "market_slug": trade.slug}
        return all(fields[key] == value for key, value in self.filters)


@dataclass(frozen=True)
class SubscribeRequest:
    action: Literal["subscribe", "unsubscribe"]
    subscriptions: tuple[Subscription, ...]


def parse_request(text: str) -> SubscribeRequest:
    """Parse a client's subscribe/unsubscribe message; raises SubscribeError saying what is wrong."""
    try:
        message = json.loads(text)
    except ValueError:
        raise SubscribeError("message is not JSON (expected a subscribe request or 'ping')") from None
    if not isinstance(message, dict):
        raise SubscribeError("message must be a JSON object")
    action = message.get("action")
    if action not in ("subscribe", "unsubscribe"):
        raise SubscribeError(f"action must be 'subscribe' or 'unsubscribe', got {_shown(action)}")
    entries = message.get("subscriptions")
    if not isinstance(entries, list) or not entries:
        raise SubscribeError("subscriptions must be a non-empty list")
    if len(entries) > MAX_SUBSCRIPTIONS:
        raise SubscribeError(f"at most {MAX_SUBSCRIPTIONS} subscriptions per message, got {len(entries)}")
    return SubscribeRequest(action, tuple(_parse_subscription(entry, i) for i, entry in enumerate(entries)))


def _parse_subscription(entry: object, index: int) -> Subscription:
    where = f"subscriptions[{index}]"
    if not isinstance(entry, dict):
        raise SubscribeError(f"{where} must be an object")
    topic, msg_type = entry.get("topic"), entry.get("type")
    if not isinstance(topic, str) or not topic:
        raise SubscribeError(f"{where}.topic must be a non-empty string")
    if not isinstance(msg_type, str) or not msg_type:
        raise SubscribeError(f"{where}.type must be a non-empty string")
    if topic != TOPIC:
        if topic not in OTHER_TOPICS:
            raise SubscribeError(f"{where}.topic {_shown(topic)} is not a known topic")
        return Subscription(topic, msg_type)
    if msg_type not in (TRADES, ORDERS_MATCHED, "*"):
        raise SubscribeError(f"{where}.type {_shown(msg_type)} is not trades, orders_matched or *")
    return Subscription(topic, msg_type, _parse_filters(entry.get("filters"), where))


def _parse_filters(raw: object, where: str) -> tuple[tuple[str, str], ...]:
    if raw is None or raw == "":
        return ()
    # The protocol sends filters as a JSON string; an object is taken too, since nothing is lost.
    if isinstance(raw, str):
        try:
            raw = json.loads(raw)
        except ValueError:
            raise SubscribeError(f"{where}.filters is not a JSON object string") from None
    if not isinstance(raw, dict) or not raw:
        raise SubscribeError(f"{where}.filters must be a non-empty JSON object or empty")
    unknown = sorted(set(raw) - FILTER_KEYS)
    if unknown:
        raise SubscribeError(f"{where}.filters has unknown keys {unknown}; supported: {sorted(FILTER_KEYS)}")
    for key, value in raw.items():
        if not isinstance(value, str) or not value:
            raise SubscribeError(f"{where}.filters.{key} must be a non-empty string")
    return tuple(sorted(raw.items()))


def _shown(value: object) -> str:
    """A client-supplied value for an error message: quoted, and cut short so a frame cannot echo a blob."""
    text = json.dumps(value) if not isinstance(value, str) else json.dumps(value[:64])
    return text if len(text) <= 80 else text[:77] + "..."


def _number(value: Decimal, as_string: bool) -> str:
    """An exact decimal as JSON: a number in plain notation (never an exponent), or that text quoted."""
    text = format(value.normalize(), "f")
    return json.dumps(text) if as_string else text


def trade_payload(trade: FeedTrade, settings: FeedSettings) -> str:
    """The JSON text of a trade frame's `payload`, keys in production's (alphabetical) order."""
    stamp = trade.timestamp * 1000 if settings.timestamp_unit == "ms" else trade.timestamp
    fields: list[tuple[str, str]] = [
        ("asset", json.dumps(trade.asset)),
        ("bio", '""'),
        ("conditionId", json.dumps(trade.condition_id)),
        ("eventSlug", json.dumps(trade.event_slug)),
        ("icon", json.dumps(trade.icon)),
        ("name", json.dumps(trade.name)),
        ("outcome", json.dumps(trade.outcome)),
        ("outcomeIndex", str(trade.outcome_index)),
        ("price", _number(trade.price, settings.numbers_as_strings)),
        ("profileImage", '""'),
        ("proxyWallet", json.dumps(Web3.to_checksum_address(trade.proxy_wallet))),
        ("pseudonym", json.dumps(trade.pseudonym)),
        ("side", json.dumps(trade.side)),
        ("size", _number(trade.size, settings.numbers_as_strings)),
        ("slug", json.dumps(trade.slug)),
        ("timestamp", str(stamp)),
        ("title", json.dumps(trade.title)),
        ("transactionHash", json.dumps(trade.transaction_hash)),
    ]
    return "{" + ",".join(f'"{key}":{value}' for key, value in fields) + "}"


def envelope(connection_id: str, msg_type: str, payload: str, timestamp_ms: int) -> str:
    """A whole data frame around a payload built by `trade_payload`."""
    return (
        f'{{"connection_id":{json.dumps(connection_id)},"payload":{payload},'
        f'"timestamp":{timestamp_ms},"topic":"{TOPIC}","type":{json.dumps(msg_type)}}}'
    )


def error_frame(message: str) -> str:
    return json.dumps({"type": "error", "message": message})


@dataclass
class FeedStats:
    """Counters, for tests and the admin endpoint."""

    published: int = 0
    frames_sent: int = 0
    pings_received: int = 0
    subscribe_errors: int = 0
    clients_dropped: int = 0
    publish_errors: int = 0


_DATA, _EMPTY, _TEXT, _PONG = "data", "empty", "text", "pong"


@dataclass(eq=False)
class _Client:
    ws: web.WebSocketResponse
    request: web.Request
    connection_id: str
    queue: asyncio.Queue[tuple[str, str | bytes]]
    subscriptions: list[Subscription] = field(default_factory=list)
    data_frames_sent: int = 0
    dropped: bool = False
    writer: asyncio.Task[None] | None = None


class ActivityFeed:
    """The RTDS-compatible websocket server of the local Polymarket."""

    def __init__(self, settings: FeedSettings | None = None) -> None:
        self._settings = settings or FeedSettings()
        self._clients: set[_Client] = set()
        self._runner: web.AppRunner | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._url = ""
        self._tasks: set[asyncio.Task[None]] = set()
        self.stats = FeedStats()

    @property
    def settings(self) -> FeedSettings:
        return self._settings

    @settings.setter
    def settings(self, value: FeedSettings) -> None:
        if not isinstance(value, FeedSettings):
            raise ConfigError(f"feed settings must be a FeedSettings, got {type(value).__name__}")
        self._settings = value

    def configure(self, **changes: Any) -> FeedSettings:
        """Change some settings at runtime (e.g. from the CLOB's admin endpoint); returns the new settings."""
        unknown = sorted(set(changes) - {f.name for f in dataclasses.fields(FeedSettings)})
        if unknown:
            raise ConfigError(f"unknown feed settings {unknown}")
        self._settings = dataclasses.replace(self._settings, **changes)
        return self._settings

    @property
    def url(self) -> str:
        """`ws://host:port/` once started."""
        if not self._url:
            raise RuntimeError("the activity feed is not started")
        return self._url

    @property
    def client_count(self) -> int:
        return len(self._clients)

    async def start(self, host: str = "127.0.0.1", port: int = 0, *, allow_remote: bool = False) -> str:
        """Listen on host:port (port 0 = a free one); refuses a non-loopback host unless allowed."""
        if self._runner is not None:
            raise RuntimeError("the activity feed is already started")
        if not allow_remote and not is_loopback(host):
            raise ConfigError(f"activity feed host {host!r} is not a loopback address (allow_remote=False)")
        app = web.Application()
        app.router.add_get("/", self._handle)
        runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await runner.setup()
        site = web.TCPSite(runner, host, port)
        await site.start()
        bound_host, bound_port = runner.addresses[0][:2]
        shown = f"[{bound_host}]" if ":" in bound_host else bound_host
        self._runner, self._loop = runner, asyncio.get_running_loop()
        self._url = f"ws://{shown}:{bound_port}/"
        return self._url

    async def stop(self) -> None:
        """Close every connection (1001 going away) and stop listening."""
        runner, self._runner = self._runner, None
        if runner is None:
            return
        for client in list(self._clients):
            self._discard(client)
            await _close(client, WSCloseCode.GOING_AWAY, b"server stopping")
        for task in list(self._tasks):
            task.cancel()
        await runner.cleanup()
        self._url, self._loop = "", None

    def publish(self, trade: FeedTrade) -> None:
        """Queue `trade` for every matching subscriber; never blocks and never raises to the caller."""
        loop = self._loop
        if loop is None:
            return
        try:
            if _running_loop() is loop:
                self._fan_out(trade)
            else:
                loop.call_soon_threadsafe(self._fan_out, trade)
        except Exception:  # the loop is closing: a trade published during shutdown is simply not sent
            log.debug("activity feed: publish after shutdown ignored")

    def _fan_out(self, trade: FeedTrade) -> None:
        try:
            settings = self._settings
            self.stats.published += 1
            payload = trade_payload(trade, settings)
            now_ms = time.time_ns() // 1_000_000
            types = (TRADES, ORDERS_MATCHED) if settings.duplicate_orders_matched else (TRADES,)
            for client in list(self._clients):
                for msg_type in types:
                    if any(sub.matches(msg_type, trade) for sub in client.subscriptions):
                        frame = envelope(client.connection_id, msg_type, payload, now_ms)
                        if settings.empty_frames:
                            self._enqueue(client, _EMPTY, "")
                        self._enqueue(client, _DATA, frame)
        except Exception:
            self.stats.publish_errors += 1
            log.exception("activity feed: a trade could not be fanned out")

    def _enqueue(self, client: _Client, kind: str, data: str | bytes) -> None:
        if client.dropped:
            return
        try:
            client.queue.put_nowait((kind, data))
        except asyncio.QueueFull:
            # A client that cannot keep up is cut off rather than allowed to hold memory or slow others.
            self.stats.clients_dropped += 1
            self._discard(client)
            self._spawn(_close(client, WSCloseCode.TRY_AGAIN_LATER, b"slow consumer: send queue full"))

    def _discard(self, client: _Client) -> None:
        client.dropped = True
        self._clients.discard(client)
        if client.writer is not None and client.writer is not asyncio.current_task():
            client.writer.cancel()

    def _spawn(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _stalled(self, client: _Client) -> bool:
        limit = self._settings.stall_after
        return limit is not None and client.data_frames_sent >= limit

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        settings = self._settings
        if len(self._clients) >= settings.max_clients:
            return web.Response(status=503, text="too many connections")
        # Pings are answered by hand (autoping off) so that a stalled feed can also leave them unanswered.
        ws = web.WebSocketResponse(autoping=False, max_msg_size=settings.max_message_bytes)
        await ws.prepare(request)
        client = _Client(ws, request, _connection_id(), asyncio.Queue(maxsize=settings.client_queue_max))
        self._clients.add(client)
        client.writer = asyncio.get_running_loop().create_task(self._write_loop(client))
        try:
            async for msg in ws:
                if msg.type == WSMsgType.TEXT:
                    self._on_text(client, msg.data)
                elif msg.type == WSMsgType.PING:
                    self._on_ping(client, _PONG, bytes(msg.data))
                elif msg.type == WSMsgType.BINARY:
                    self._reject(client, "binary frames are not accepted; send JSON text")
        finally:
            self._discard(client)
            if not ws.closed:
                await _close(client, WSCloseCode.OK, b"")
        return ws

    def _on_text(self, client: _Client, text: str) -> None:
        word = text.strip()
        if word.lower() == "ping":
            self._on_ping(client, _TEXT, "PONG" if word == "PING" else "pong")
            return
        try:
            request = parse_request(text)
        except SubscribeError as exc:
            self._reject(client, str(exc))
            return
        if request.action == "subscribe":
            for sub in request.subscriptions:
                if sub not in client.subscriptions:
                    client.subscriptions.append(sub)
            if len(client.subscriptions) > MAX_SUBSCRIPTIONS:
                del client.subscriptions[MAX_SUBSCRIPTIONS:]
                self._reject(client, f"at most {MAX_SUBSCRIPTIONS} subscriptions per connection")
            elif self._settings.empty_frames:
                self._enqueue(client, _EMPTY, "")
        else:
            client.subscriptions = [s for s in client.subscriptions if s not in request.subscriptions]

    def _on_ping(self, client: _Client, kind: str, answer: str | bytes) -> None:
        self.stats.pings_received += 1
        if self._stalled(client) and not self._settings.stall_answers_pings:
            return
        self._enqueue(client, kind, answer)

    def _reject(self, client: _Client, message: str) -> None:
        self.stats.subscribe_errors += 1
        self._enqueue(client, _TEXT, error_frame(message))

    async def _write_loop(self, client: _Client) -> None:
        ws = client.ws
        try:
            while True:
                kind, data = await client.queue.get()
                if kind in (_DATA, _EMPTY) and self._stalled(client):
                    continue
                if kind == _PONG:
                    await ws.pong(data if isinstance(data, bytes) else data.encode())
                else:
                    await ws.send_str(data if isinstance(data, str) else data.decode())
                if kind == _DATA:
                    client.data_frames_sent += 1
                    self.stats.frames_sent += 1
        except (ConnectionError, RuntimeError):
            # The peer went away mid-send; the reader side notices too and cleans up.
            self._discard(client)
        except Exception:
            # A writer must never die silently and leave a socket that looks alive but gets nothing.
            log.exception("activity feed: writer failed; dropping connection %s", client.connection_id)
            self._discard(client)
            await _close(client, WSCloseCode.INTERNAL_ERROR, b"internal error")


async def _close(client: _Client, code: int, message: bytes) -> None:
    """Close politely, or abort the connection if the peer does not read (its buffers are full)."""
    try:
        await asyncio.wait_for(client.ws.close(code=code, message=message), timeout=2)
    except (TimeoutError, ConnectionError, RuntimeError):
        transport = client.request.transport
        if transport is not None:
            transport.abort()


def _connection_id() -> str:
    # Production ids look like 'gXseIO-NQWeIKEhJwA==': url-safe base64 of 14 random bytes.
    return base64.urlsafe_b64encode(os.urandom(14)).decode()


def _running_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


def settings_from_mapping(values: Mapping[str, Any]) -> FeedSettings:
    """FeedSettings from a JSON object (the admin endpoint's body); unknown keys are a ConfigError."""
    unknown = sorted(set(values) - {f.name for f in dataclasses.fields(FeedSettings)})
    if unknown:
        raise ConfigError(f"unknown feed settings {unknown}")
    return FeedSettings(**values)


__all__ = [
    "ORDERS_MATCHED",
    "TRADES",
    "ActivityFeed",
    "FeedSettings",
    "FeedStats",
    "FeedTrade",
    "SubscribeError",
    "SubscribeRequest",
    "Subscription",
    "envelope",
    "error_frame",
    "parse_request",
    "settings_from_mapping",
    "trade_payload",
]
