"""The activity-feed source: Polymarket's real-time data service (RTDS) read over a websocket, each trade of a
watched wallet handed on as an `ActivityTrade` (its `activity` signal and what joins it to its fill).

The protocol (the same served by the local CLOB, `polyhunter.localpoly.feed`): subscribe with
`{"action": "subscribe", "subscriptions": [{"topic": "activity", "type": "trades"}, ...]}` (no filter:
production ignores them, so wallets are filtered here, in Rust); send the text `ping` every `ping_s`, the
service answers `pong`. Frames are parsed by `polyhunter._core.ActivityParser`.

What this client guards against:
- A subscription that lapses while the socket stays up (measured in production): `silence_s` without a
  data frame is a dead subscription. It is resubscribed (unsubscribe, subscribe) once; if another
  `silence_s` passes without data, or no `pong` answers our pings for `silence_s`, the socket is
  dropped and opened again. A quiet market looks the same, which costs one resubscribe and one
  reconnect per idle period, nothing more.
- Errors (refused connection, closed socket, timeouts): reconnect with exponential backoff and jitter; the
  log states the delay actually waited.
- `trades` and `orders_matched` carrying the same trade: for each (transaction, wallet, asset, side,
  size, price, time) one frame of each type pairs off and the second is a counted duplicate. Two
  frames of the same type are two fills (one transaction can hold two equal fills of one maker).
- Malformed frames: counted in `FeedStats.rejects` by reason (the first of each reason logged as a
  warning), never raised. A failing sink is logged; the source keeps running.

The feed has no order hash and no log index: its signals make no copy under `SUPERVISOR_ACT_ON=log`;
they pre-warm and stamp first sightings (see `polyhunter.supervisor.sources`).

Use: `FeedSource(url, ActivityParser(leaders), sink)` and `await source.run(stop)`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
import re
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field

import websockets
from websockets.asyncio.client import ClientConnection, connect

from polyhunter._core import ActivityParser, ActivityTrade
from polyhunter.errors import ChainError, ConfigError
from polyhunter.settings import POLYGON_CHAIN_ID
from polyhunter.venue.hosts import PRODUCTION_FEED_URL

log = logging.getLogger(__name__)

TOPIC = "activity"
TRADES = "trades"
ORDERS_MATCHED = "orders_matched"
MAX_REASONS = 64
"""Distinct reject reasons counted one by one; further ones are counted under `other`."""

#: Receives the trades of one frame (never an empty list).
Sink = Callable[[list[ActivityTrade]], Awaitable[None]]

TradeKey = tuple[bytes, str, int, str, int, int, int]


class FeedSilent(ChainError):
    """The feed delivered no data (or answered no ping) for too long, even after a resubscribe."""


@dataclass
class FeedStats:
    """What the source saw; read by the supervisor's status and by tests."""

    frames: int = 0
    """Data frames received (frames carrying a payload)."""
    trades: int = 0
    """Trades of watched wallets handed to the sink."""
    skipped: int = 0
    """Well-formed trades of other wallets."""
    duplicates: int = 0
    """`orders_matched` (or `trades`) frames that repeated a trade of the other type."""
    rejects: dict[str, int] = field(default_factory=dict)
    """Malformed frames by reason (values stripped, so a reason counts as one kind)."""
    pongs: int = 0
    resubscribes: int = 0
    reconnects: int = 0
    connects: int = 0
    sink_errors: int = 0
    last_data_ms: int | None = None
    """Wall-clock ms of the last data frame (None before any)."""

    @property
    def rejected(self) -> int:
        return sum(self.rejects.values())


def reason_kind(reason: str) -> str:
    """A reject reason without the values it quotes, so that one kind of fault is one counter."""
    kind = re.sub(r'"(?:[^"\\]|\\.)*"(?:\.\.\.)?', "…", reason)
    kind = re.sub(r"\s*\([^)]*\)", "", kind)
    kind = re.sub(r"\d+", "N", kind)
    return kind.strip()[:120]


def trade_key(trade: ActivityTrade) -> TradeKey:
    """What two frames of one trade share (everything but the frame type and the arrival time)."""
    return (
        trade.tx_hash,
        trade.wallet,
        trade.asset,
        trade.side,
        trade.size,
        trade.price[0],
        trade.timestamp_ms,
    )


@dataclass
class PairedDuplicates:
    """Drops the `trades`/`orders_matched` duplicate of a trade: per key, a frame of one type is taken
    only while that type has not more frames than the other (so frames pair off across types)."""

    limit: int = 100_000
    _counts: OrderedDict[TradeKey, list[int]] = field(default_factory=OrderedDict, init=False, repr=False)

    def is_duplicate(self, trade: ActivityTrade) -> bool:
        key = trade_key(trade)
        counts = self._counts.get(key)
        if counts is None:
            counts = self._counts[key] = [0, 0]
            while len(self._counts) > self.limit:
                self._counts.popitem(last=False)
        mine = 0 if trade.frame_type == TRADES else 1
        counts[mine] += 1
        return counts[mine] <= counts[1 - mine]


def subscribe_message(action: str, types: Sequence[str]) -> str:
    return json.dumps({"action": action, "subscriptions": [{"topic": TOPIC, "type": t} for t in types]})


@dataclass
class FeedSource:
    """The activity feed at `url` → the sink, for the parser's watched wallets (module docstring)."""

    url: str
    parser: ActivityParser
    sink: Sink
    silence_s: float = 30.0
    """Without a data frame for this long the subscription is taken as dead (resubscribe, then reconnect)."""
    ping_s: float = 5.0
    """Interval of the text `ping` keep-alive."""
    types: tuple[str, ...] = (TRADES, ORDERS_MATCHED)
    backoff_initial_s: float = 0.2
    backoff_max_s: float = 10.0
    open_timeout_s: float = 10.0
    stats: FeedStats = field(default_factory=FeedStats)
    connected: asyncio.Event = field(default_factory=asyncio.Event)
    """Set while a subscription is in force (cleared on each disconnect)."""
    duplicates: PairedDuplicates = field(default_factory=PairedDuplicates)
    _ws: ClientConnection | None = field(default=None, init=False, repr=False)
    _logged_reasons: set[str] = field(default_factory=set, init=False, repr=False)

    def __post_init__(self) -> None:
        if not 0 < self.ping_s < self.silence_s:
            # A ping must be able to come back before silence is judged.
            raise ConfigError(
                f"feed: need 0 < ping_s < silence_s, got ping_s={self.ping_s} and silence_s={self.silence_s}"
            )
        unknown = [t for t in self.types if t not in (TRADES, ORDERS_MATCHED)]
        if not self.types or unknown:
            raise ConfigError(f"feed: types must be among trades, orders_matched; got {list(self.types)}")

    async def run(self, stop: asyncio.Event) -> None:
        """Runs until `stop` is set, reconnecting with backoff; never raises for the feed's faults."""
        delay = self.backoff_initial_s
        while not stop.is_set():
            frames_before = self.stats.frames
            try:
                await self._session(stop)
            except (OSError, websockets.WebSocketException, TimeoutError, ChainError) as exc:
                failure = f"{type(exc).__name__}: {exc}"
            except Exception as exc:  # a bug here must not end detection: the logs confirm what we miss
                log.exception("feed: session failed")
                failure = f"{type(exc).__name__}: {exc}"
            else:
                failure = ""
            finally:
                self.connected.clear()
                self._ws = None
            if stop.is_set():
                break
            if self.stats.frames > frames_before:
                delay = self.backoff_initial_s  # that connection worked: start the backoff afresh
            wait = delay * (0.5 + random.random())  # noqa: S311 - jitter, not a secret
            self.stats.reconnects += 1
            log.warning("feed: %s; reconnecting in %.2fs", failure or "connection closed", wait)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), wait)
            delay = min(self.backoff_max_s, delay * 2)

    async def drop_connection(self) -> None:
        """Closes the websocket as a network failure would (for tests and operators)."""
        if self._ws is not None:
            await self._ws.close()

    async def take(self, frames: Sequence[bytes | str]) -> list[ActivityTrade]:
        """Parses frames (keep-alive answers and empty frames already removed), counts, drops duplicates,
        and hands the rest to the sink. Returns what it handed on."""
        trades, rejects = self.parser.parse_frames(frames)
        for _, reason in rejects:
            self._reject(reason)
        fresh: list[ActivityTrade] = []
        for trade in trades:
            if self.duplicates.is_duplicate(trade):
                self.stats.duplicates += 1
            else:
                fresh.append(trade)
        self.stats.skipped += len(frames) - len(trades) - len(rejects)
        if fresh:
            self.stats.trades += len(fresh)
            try:
                await self.sink(fresh)
            except Exception:
                self.stats.sink_errors += 1
                log.exception("feed: the sink failed on %d trades", len(fresh))
        return fresh

    # -- one connection ------------------------------------------------------------------------------
    async def _session(self, stop: asyncio.Event) -> None:
        async with connect(
            self.url,
            open_timeout=self.open_timeout_s,
            ping_interval=None,  # liveness is ours: text pings and the data silence below
            max_size=1 << 20,
            close_timeout=2,
        ) as ws:
            self._ws = ws
            self.stats.connects += 1
            await ws.send(subscribe_message("subscribe", self.types))
            self.connected.set()
            log.info("feed: subscribed to %s %s at %s", TOPIC, ",".join(self.types), _shown_url(self.url))
            pinger = asyncio.create_task(self._ping(ws), name="feed-ping")
            try:
                await self._read(ws, stop)
            finally:
                pinger.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await pinger

    async def _ping(self, ws: ClientConnection) -> None:
        while True:
            await asyncio.sleep(self.ping_s)
            await ws.send("ping")

    async def _read(self, ws: ClientConnection, stop: asyncio.Event) -> None:
        now = time.monotonic()
        last_data = last_pong = now
        resubscribed = False
        stopped = asyncio.create_task(stop.wait())
        try:
            while True:
                deadline = min(last_data, last_pong) + self.silence_s
                receive = asyncio.create_task(ws.recv())
                done, _ = await asyncio.wait(
                    {receive, stopped},
                    timeout=max(0.0, deadline - time.monotonic()),
                    return_when=asyncio.FIRST_COMPLETED,
                )
                if stopped in done:
                    receive.cancel()
                    return
                if receive not in done:
                    receive.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await receive
                    now = time.monotonic()
                    if now - last_pong >= self.silence_s:
                        raise FeedSilent(f"no pong for {now - last_pong:.1f}s")
                    if resubscribed:
                        raise FeedSilent(f"no data for {now - last_data:.1f}s, even after resubscribing")
                    self.stats.resubscribes += 1
                    log.warning("feed: no data for %.1fs; resubscribing", now - last_data)
                    await ws.send(subscribe_message("unsubscribe", self.types))
                    await ws.send(subscribe_message("subscribe", self.types))
                    resubscribed, last_data = True, now
                    continue
                message = receive.result()
                text = message if isinstance(message, str) else message.decode("utf-8", "replace")
                word = text.strip()
                if not word:
                    continue  # production sends empty frames now and then: not data, not a fault
                if word.lower() == "pong":
                    self.stats.pongs += 1
                    last_pong = time.monotonic()
                    continue
                if '"payload"' in text:
                    self.stats.frames += 1
                    self.stats.last_data_ms = time.time_ns() // 1_000_000
                    last_data = last_pong = time.monotonic()
                    resubscribed = False
                await self.take([message])
        finally:
            stopped.cancel()

    def _reject(self, reason: str) -> None:
        kind = reason_kind(reason)
        rejects = self.stats.rejects
        if kind not in rejects and len(rejects) >= MAX_REASONS:
            kind = "other"
        rejects[kind] = rejects.get(kind, 0) + 1
        if kind not in self._logged_reasons:
            self._logged_reasons.add(kind)
            log.warning("feed: frame rejected: %s (further ones of this kind are only counted)", reason)
        else:
            log.debug("feed: frame rejected: %s", reason)


def feed_url(configured: str | None, chain_id: int, local_rtds_url: str | None) -> str | None:
    """Where the feed is read: `SUPERVISOR_FEED_URL`, else Polymarket's on Polygon, else the local CLOB's
    (`deployment.rtds_url`, set while the local CLOB runs); None where there is none (Amoy)."""
    if configured:
        return configured
    if chain_id == POLYGON_CHAIN_ID:
        return PRODUCTION_FEED_URL
    return local_rtds_url or None


async def probe(url: str, timeout_s: float = 10.0) -> str:
    """Connects, sends `ping` and waits for `pong` (frames before it are skipped); returns what it saw.
    Raises `ChainError` when the feed does not answer in time (a silent socket is no feed)."""
    try:
        async with asyncio.timeout(timeout_s), connect(url, open_timeout=timeout_s, ping_interval=None) as ws:
            started = time.monotonic()
            await ws.send("ping")
            while True:
                message = await ws.recv()
                if isinstance(message, str) and message.strip().lower() == "pong":
                    return (
                        f"answering ({_shown_url(url)}, pong in {(time.monotonic() - started) * 1000:.0f} ms)"
                    )
    except TimeoutError:
        raise ChainError(f"{_shown_url(url)} did not answer ping within {timeout_s:g}s") from None
    except (OSError, websockets.WebSocketException) as exc:
        raise ChainError(f"{_shown_url(url)}: {type(exc).__name__}: {exc}") from None


def _shown_url(url: str) -> str:
    """The URL without a query (it could carry a key)."""
    return url.split("?", 1)[0]


__all__ = [
    "ORDERS_MATCHED",
    "TRADES",
    "FeedSilent",
    "FeedSource",
    "FeedStats",
    "PairedDuplicates",
    "Sink",
    "feed_url",
    "probe",
    "reason_kind",
    "subscribe_message",
    "trade_key",
]
