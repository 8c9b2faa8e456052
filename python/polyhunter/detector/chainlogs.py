"""The chain-log detector: websocket subscriptions, backfill from the checkpoint, reconnects.

On every (re)connect it subscribes first and holds the live notifications, backfills with `eth_getLogs`
from the checkpoint to the head, then releases what it held: nothing is missed, and what arrives twice is
dropped downstream by the dedup key (and, at the end, by the store's idempotency key). The checkpoint
advances to block N-1 when the header of block N arrives and every batch handed over before it has been
accepted by the sink (whose await returns once the block's jobs are durably queued).

Raw notification and `eth_getLogs` bytes go to the sink untouched: the Rust decoder parses them.

Endpoints (`COPY_TRADING_WS_URLS`) are tried in failover order: a connection that fails or drops moves to the
next one. The reconnect delay doubles (with jitter, up to `backoff_max_s`) only once every endpoint has failed
in a row, and the log line names the endpoint and the delay really waited.

The receive queue between the websocket reader and the intake is bounded (`receive_queue_max` messages): when
the intake falls behind, the reader waits, the websocket library stops reading the socket and TCP pushes back
on the node. Nothing is dropped on the way; should the node give up on a slow client and close the
connection, the reconnect's backfill from the checkpoint brings back whatever was not handed over.

Reorgs: the detector keeps the hashes of the last blocks it processed and the logs it handed over from them
(`detector.reorgs.RecentBlocks`). On every (re)connect, and whenever a header does not extend the blocks
it knows, it walks back to the fork point, hands the logs of the replaced blocks to the sink again with
`removed: true` (origin "reorg": their copies are cancelled, or flagged when executed), lowers the
checkpoint to the fork point and backfills from there, so the new blocks' fills are taken in once.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import websockets
from websockets.asyncio.client import ClientConnection, connect

from polyhunter import fastjson
from polyhunter.chain.aiorpc import AsyncRpc, RpcError
from polyhunter.detector.failover import reconnect_delay, shown_ws
from polyhunter.detector.filters import LogFilter
from polyhunter.detector.intake import BoundedIntake
from polyhunter.detector.reorgs import DEFAULT_DEPTH, RecentBlocks
from polyhunter.errors import ChainError

log = logging.getLogger(__name__)

#: The sink receives raw JSON-RPC bytes and where they came from ("ws" or "backfill").
Sink = Callable[[bytes, str], Awaitable[None]]
CheckpointLoad = Callable[[], Awaitable[int | None]]
CheckpointSave = Callable[[int], Awaitable[None]]

_SUB_MARKER = '"subscription":"'


def subscription_of(text: str) -> str | None:
    """The subscription id of an `eth_subscription` notification, or None for anything else (a reply).

    Nodes send compact JSON, so a substring search finds the id without parsing the (possibly large)
    message; JSON with other spacing (a proxy, another node) falls back to parsing, never to dropping it.
    """
    start = text.find(_SUB_MARKER, 0, 200)
    if start >= 0:
        start += len(_SUB_MARKER)
        return text[start : text.index('"', start)]
    if "eth_subscription" not in text:
        return None
    try:
        message = json.loads(text)
    except ValueError:
        return None
    params = message.get("params") if isinstance(message, dict) else None
    sub_id = params.get("subscription") if isinstance(params, dict) else None
    return sub_id if isinstance(sub_id, str) else None


@dataclass
class DetectorStats:
    connects: int = 0
    notifications: int = 0
    backfill_batches: int = 0
    backfilled_blocks: int = 0
    heads: int = 0
    last_head: int = 0
    checkpoint: int | None = None
    reorgs: int = 0
    """Reorgs found (a block we processed replaced), whether on a reconnect or live."""
    retracted: int = 0
    """Logs handed over again as `removed: true` because their block was replaced."""
    deepest_reorg: int = 0
    """Blocks replaced by the deepest reorg seen."""
    endpoint: str = ""
    """The websocket endpoint of the current (or last) connection, masked as logs show it."""
    failovers: int = 0
    """Reconnects that moved to another endpoint."""
    last_reconnect_delay_s: float = 0.0
    """The delay waited before the last reconnect (the one its log line states)."""


@dataclass
class ChainLogDetector:
    """Feeds every log matching `filters()` to `sink`, across reconnects, exactly from the checkpoint on."""

    ws_url: str | Sequence[str]
    """One websocket endpoint, or several in failover order."""
    rpc: AsyncRpc
    filters: Callable[[], Sequence[LogFilter]]
    sink: Sink
    load_checkpoint: CheckpointLoad
    save_checkpoint: CheckpointSave
    backfill_chunk: int = 2_000
    intake_limit: int = 25
    backoff_initial_s: float = 0.2
    backoff_max_s: float = 5.0
    reorg_depth: int = DEFAULT_DEPTH
    """How many recent blocks are remembered to undo a reorg (deeper ones are undone as far as this)."""
    receive_queue_max: int = 1024
    """Messages read from the websocket and not yet taken in; past this the reader waits."""
    stats: DetectorStats = field(default_factory=DetectorStats)
    recent: RecentBlocks = field(init=False, repr=False)
    connected: asyncio.Event = field(default_factory=asyncio.Event)
    _resubscribe: asyncio.Event = field(default_factory=asyncio.Event)
    _ws: ClientConnection | None = field(default=None, init=False, repr=False)
    _queue: asyncio.Queue[str] = field(default_factory=asyncio.Queue, init=False, repr=False)
    _held: list[str] = field(default_factory=list, init=False, repr=False)
    _urls: list[str] = field(default_factory=list, init=False, repr=False)
    _current: int = field(default=0, init=False, repr=False)
    _next_id: int = field(default=0, init=False, repr=False)
    _intake: BoundedIntake = field(init=False, repr=False)
    _filters: list[LogFilter] = field(default_factory=list, init=False, repr=False)

    def __post_init__(self) -> None:
        self._urls = [self.ws_url] if isinstance(self.ws_url, str) else list(self.ws_url)
        if not self._urls:
            raise ChainError("no websocket URL configured")
        if self.receive_queue_max < 1:
            raise ChainError(f"receive_queue_max must be at least 1 (got {self.receive_queue_max})")
        self._intake = BoundedIntake(self.sink, self.intake_limit)
        self.recent = RecentBlocks(self.reorg_depth)
        self.stats.endpoint = shown_ws(self._urls[0])

    @property
    def ws_urls(self) -> list[str]:
        """The websocket endpoints in failover order."""
        return list(self._urls)

    @property
    def queued(self) -> int:
        """Messages read from the websocket and waiting for the intake."""
        return self._queue.qsize() + len(self._held)

    def resubscribe(self) -> None:
        """Asks for new subscriptions (the leader set changed); the gap is covered by backfill."""
        self._resubscribe.set()

    async def drop_connection(self) -> None:
        """Closes the current websocket as a network failure would (for tests and operators)."""
        if self._ws is not None:
            await self._ws.close()

    def reconnect_delay(self, failures: int) -> float:
        """The base delay (before jitter) after `failures` failed connections in a row: it doubles only once
        every endpoint has had its turn, so a dead primary costs one short pause, not a backoff."""
        return reconnect_delay(failures, len(self._urls), self.backoff_initial_s, self.backoff_max_s)

    async def run(self, stop: asyncio.Event) -> None:
        """Runs until `stop` is set, failing over between endpoints with exponential backoff and jitter."""
        failures = 0
        while not stop.is_set():
            url = self._urls[self._current]
            failed = True
            try:
                await self._session(url, stop)
                failed = False
            except (OSError, websockets.WebSocketException, ChainError, TimeoutError) as exc:
                reason = f"connection to {shown_ws(url)} lost ({exc or type(exc).__name__})"
            except Exception as exc:
                # A failed intake (store down, say): reconnect and backfill from the checkpoint, which
                # did not pass the failed batch. Never let one bad moment stop detection.
                reason = f"intake failed ({type(exc).__name__}: {exc})"
                log.debug("detector: intake failure", exc_info=True)
            finally:
                was_connected = self.connected.is_set()
                self.connected.clear()
                self._ws = None
            if stop.is_set():
                break
            if not failed:
                failures = 0  # a resubscription: the same endpoint again, at once
                continue
            # A connection that had worked starts a new round of failures.
            failures = 1 if was_connected else failures + 1
            if len(self._urls) > 1:
                self._current = (self._current + 1) % len(self._urls)
                self.stats.failovers += 1
            delay = self.reconnect_delay(failures) * (0.5 + random.random())  # noqa: S311 - jitter
            self.stats.last_reconnect_delay_s = delay
            log.warning(
                "detector: %s; reconnecting to %s in %.2fs",
                reason,
                shown_ws(self._urls[self._current]),
                delay,
            )
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), delay)

    async def _session(self, url: str, stop: asyncio.Event) -> None:
        async with connect(url, max_size=64 * 2**20, ping_interval=20, ping_timeout=20) as ws:
            self._ws = ws
            self.stats.connects += 1
            self.stats.endpoint = shown_ws(url)
            self._resubscribe.clear()
            # Nothing of an earlier connection leaks into this one.
            self._queue = asyncio.Queue(maxsize=self.receive_queue_max)
            self._held = []
            filters = list(self.filters())
            self._filters = filters
            heads_id = await self._subscribe(ws, ["newHeads"])
            for flt in filters:
                await self._subscribe(ws, ["logs", flt.params()])
            reader = asyncio.create_task(self._read(ws))
            try:
                # Before reading anything new: undo what blocks replaced while we were away had caused.
                await self._reconcile()
                await self._backfill(filters)
                self.connected.set()
                log.info(
                    "detector connected to %s (connection %d): %d log filters, checked up to block %s",
                    self.stats.endpoint,
                    self.stats.connects,
                    len(filters),
                    self.stats.checkpoint,
                )
                await self._live(reader, heads_id, stop)
            finally:
                reader.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await reader
                # What was handed over still becomes durable (or fails); the checkpoint did not pass it,
                # so the next connection's backfill covers a failure.
                with contextlib.suppress(Exception):
                    await self._intake.drain()

    # -- websocket plumbing --------------------------------------------------------------------------
    async def _subscribe(self, ws: ClientConnection, params: list[Any]) -> str:
        self._next_id += 1
        request_id = self._next_id
        await ws.send(
            fastjson.dumps({"jsonrpc": "2.0", "id": request_id, "method": "eth_subscribe", "params": params})
        )
        # Replies come before the reader starts (subscriptions are made first), so read them inline,
        # holding any notification that slips in between.
        while True:
            message = await asyncio.wait_for(ws.recv(), timeout=10)
            text = message if isinstance(message, str) else message.decode()
            if subscription_of(text) is not None:
                # The reader has not started: held aside (a handful, arriving while subscribing).
                self._held.append(text)
                continue
            reply = fastjson.loads(text)
            if reply.get("id") != request_id:
                continue
            if reply.get("error"):
                raise ChainError(f"eth_subscribe {params[0]} refused: {reply['error']}")
            return str(reply["result"])

    async def _read(self, ws: ClientConnection) -> None:
        """Moves messages from the websocket to the queue; ends with the connection (`_live` then empties
        the queue before it reports the end)."""
        async for message in ws:
            # Waits while the queue is full: the websocket stops being read and TCP pushes back.
            await self._queue.put(message if isinstance(message, str) else message.decode())

    async def _live(self, reader: asyncio.Task[None], heads_id: str, stop: asyncio.Event) -> None:
        stop_wait = asyncio.create_task(stop.wait())
        resub_wait = asyncio.create_task(self._resubscribe.wait())
        # A batch that failed is raised at once (reconnect, backfill from the checkpoint), not at the next
        # block's drain: on a quiet chain the next block may be long in coming.
        failed_wait = asyncio.create_task(self._intake.failed.wait())
        try:
            while self._held:
                await self._on_message(self._held.pop(0), heads_id)
            while True:
                if reader.done():
                    # The connection ended: what it sent before is taken in first, then the end reported.
                    while not self._queue.empty() and not stop.is_set():
                        await self._on_message(self._queue.get_nowait(), heads_id)
                    if stop.is_set():
                        return
                    error = reader.exception() if not reader.cancelled() else None
                    if error is not None:
                        raise ChainError(f"websocket closed: {error}")
                    raise ChainError("websocket closed by the node")
                get = asyncio.create_task(self._queue.get())
                done, _ = await asyncio.wait(
                    {get, reader, stop_wait, resub_wait, failed_wait}, return_when=asyncio.FIRST_COMPLETED
                )
                if get in done:
                    await self._on_message(get.result(), heads_id)
                    continue
                get.cancel()  # a cancelled get leaves its item in the queue
                with contextlib.suppress(asyncio.CancelledError):
                    await get
                if stop_wait in done or resub_wait in done:
                    return
                if failed_wait in done:
                    await self._intake.drain()  # raises the failure
                    failed_wait = asyncio.create_task(self._intake.failed.wait())  # someone else raised it
        finally:
            stop_wait.cancel()
            resub_wait.cancel()
            failed_wait.cancel()

    async def _on_message(self, text: str, heads_id: str) -> None:
        sub_id = subscription_of(text)
        if sub_id is None:
            return  # a stray reply
        if sub_id == heads_id:
            head = fastjson.loads(text)["params"]["result"]
            await self._on_head(int(head["number"], 16), head.get("hash"), head.get("parentHash"))
            return
        self.stats.notifications += 1
        self.recent.saw_notification(text)
        await self._intake.submit(text.encode(), "ws")

    async def _on_head(self, number: int, block_hash: str | None = None, parent: str | None = None) -> None:
        known_parent = self.recent.blocks.get(number - 1, {})
        known_self = self.recent.blocks.get(number, {})
        if (parent is not None and known_parent and set(known_parent) != {parent.lower()}) or (
            block_hash is not None and known_self and set(known_self) != {block_hash.lower()}
        ):
            # This header does not extend the blocks we processed: a reorg the node did not report.
            log.warning(
                "detector: block %d does not extend the blocks processed; looking for the fork", number
            )
            if await self._reconcile() is not None:
                await self._backfill(self._filters)
        if block_hash is not None:
            self.recent.saw_block(number, block_hash)
        self.stats.heads += 1
        self.stats.last_head = max(self.stats.last_head, number)
        # Every log of blocks < number was handed over before this header; once all of it is durable,
        # the checkpoint may pass it.
        await self._intake.drain()
        if number - 1 > (self.stats.checkpoint or -1):
            self.stats.checkpoint = number - 1
            await self.save_checkpoint(number - 1)

    # -- reorgs -------------------------------------------------------------------------------------
    async def _canonical_hash(self, number: int) -> str | None:
        block = await self.rpc.call("eth_getBlockByNumber", [hex(number), False])
        return str(block["hash"]).lower() if isinstance(block, dict) and block.get("hash") else None

    async def _reconcile(self) -> int | None:
        """Finds a reorg of the blocks we processed; if there is one, retracts the logs of the replaced
        blocks (durably, before anything new is read) and lowers the checkpoint to the fork point, which
        it returns (None: no reorg)."""
        top = self.recent.top
        found = await self.recent.find_replaced(self._canonical_hash)
        if found is None:
            return None
        fork, chain = found
        replaced = self.recent.drop_replaced(chain)
        self.stats.reorgs += 1
        self.stats.retracted += len(replaced)
        self.stats.deepest_reorg = max(self.stats.deepest_reorg, top - fork)
        log.warning(
            "detector: reorg: blocks %d..%d replaced; retracting %d logs handed over from them",
            fork + 1,
            top,
            len(replaced),
        )
        if replaced:
            message = {"jsonrpc": "2.0", "id": 0, "result": replaced}
            await self._intake.submit(fastjson.dumps(message), "reorg")
        await self._intake.drain()
        if self.stats.checkpoint is None or self.stats.checkpoint > fork:
            self.stats.checkpoint = fork
            await self.save_checkpoint(fork)
        return fork

    # -- backfill ------------------------------------------------------------------------------------
    async def _backfill(self, filters: Sequence[LogFilter]) -> None:
        head = await self.rpc.block_number()
        head_hash = await self._canonical_hash(head)
        if head_hash is not None:
            # Known from the start, so that a reorg of blocks that held none of our logs is seen too.
            self.recent.saw_block(head, head_hash)
        checkpoint = await self.load_checkpoint()
        if checkpoint is None:
            # First start: live from the current head, nothing older (a fresh operator copies from now on).
            self.stats.checkpoint = head
            await self.save_checkpoint(head)
            return
        # From the checkpoint itself: a block may have been handed over only in part before a crash.
        start = checkpoint
        chunk = self.backfill_chunk
        while start <= head:
            end = min(head, start + chunk - 1)
            try:
                raws = [
                    (await self.rpc.call_raw("eth_getLogs", [flt.params(start, end)]))[0] for flt in filters
                ]
                for raw in raws:
                    # The raw reply goes to the decoder unparsed; an error object shows in its first bytes
                    # (a result array of logs has no "error" key), and must never pass for "no logs".
                    if b'"error"' in raw[:200]:
                        raise RpcError("eth_getLogs", "", -32005, raw[:200].decode(errors="replace"))
            except RpcError as exc:
                # Providers cap the range or the results of one call: halve the range and go on.
                if chunk == 1:
                    raise
                chunk = max(1, chunk // 2)
                log.warning(
                    "eth_getLogs %d..%d refused (%s); backfilling %d blocks a call", start, end, exc, chunk
                )
                continue
            for raw in raws:
                self.stats.backfill_batches += 1
                self.recent.saw_batch(raw)
                await self._intake.submit(raw, "backfill")
            self.stats.backfilled_blocks += end - start + 1
            start = end + 1
        await self._intake.drain()
        if head > (self.stats.checkpoint or -1):
            self.stats.checkpoint = head
            await self.save_checkpoint(head)
