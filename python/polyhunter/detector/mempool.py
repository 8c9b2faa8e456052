"""The pending-transaction source: Polymarket's operator's `matchOrders` calls, read before their block,
as one `mempool` signal per order whose maker is a watched leader.

Where transactions come from (best effort: public nodes drop pending transactions and the operator may
send privately, so the chain's logs stay the source of truth):
- with websocket URLs (`COPY_TRADING_WS_URLS`), `eth_subscribe ["newPendingTransactions", true]` (full
  objects); a node that refuses full objects is asked for hashes instead, and a node that sends hashes
  (either way) has them fetched with `eth_getTransactionByHash`. The URLs are tried in failover order as
  the log detector tries them (`detector.failover`): a connection that fails or drops moves to the next
  one, the delay grows only once every endpoint has failed in a row, and the log line names the endpoint
  and the delay really waited;
- without one, `txpool_content` polled every `poll_interval_s`.

What is kept: a call of `matchOrders` (selector 0x3c2b4399) to one of the decoder's V2 exchanges, sent by one
of that exchange's operators (`isOperator(sender)` read from the chain and cached: anyone can broadcast
calldata naming a leader, and such a call reverts), whose calldata decodes and would settle (the Rust
`MatchDecoder`). Of its orders, those whose maker is watched and whose signature holds (EOA: recovered
in Rust as the exchange does; POLY_1271: the wrap's signer must be the deposit wallet's `owner()`, read
and cached) become one `PendingFill` each: the signal (leader = the order's maker, its own side, token,
size, exact price, the transaction's hash, `log_index = NO_LOG_INDEX`, `sub_index` = the order's position
in emission order) with the order hash that joins it to the `OrderFilled` row the block will carry.

A transaction is taken once per hash. A transaction replaced or re-sent (same orders, new hash) is taken
again: joining sightings of one fill is the cross-source identity's job (docs/seams.md), keyed on the order
hash and amounts. Rejects (calldata that does not decode or would revert, senders that are not operators,
signatures that do not hold) are counted in `MempoolStats` and logged, never raised.

Use: `MempoolSource(rpc=..., decoder=..., sink=...)` and `await source.run(stop)`; or without a sink,
`async for fill in source.fills(stop)`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
import time
from collections import OrderedDict
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field

import websockets
from websockets.asyncio.client import ClientConnection, connect

from polyhunter._core import MatchDecoder, OrderFill, PendingMatch, PendingTransactions, Signal, keccak256
from polyhunter.chain.aiorpc import AsyncRpc
from polyhunter.detector.failover import WsFailover, reconnect_delay, shown_ws
from polyhunter.errors import ChainError, DecodeError

log = logging.getLogger(__name__)

IS_OPERATOR = "0x" + keccak256(b"isOperator(address)")[:4].hex()
OWNER = "0x" + keccak256(b"owner()")[:4].hex()


@dataclass(frozen=True)
class PendingFill:
    """One watched maker's order in a pending `matchOrders` call."""

    signal: Signal
    """Source `mempool`, no block, `log_index = NO_LOG_INDEX`, `sub_index` = the order's position."""
    order_hash: bytes
    """The EIP-712 hash the fill's `OrderFilled` row will carry (topic 1)."""
    fill: OrderFill
    tx_hash: bytes
    sender: str
    exchange: str


#: Receives the accepted fills of one batch of pending transactions (never an empty list).
Sink = Callable[[list[PendingFill]], Awaitable[None]]


@dataclass
class MempoolStats:
    transactions: int = 0
    """Transactions (or hashes) looked at."""
    matches: int = 0
    """matchOrders calls to a watched exchange, decoded."""
    rejected_calldata: int = 0
    """matchOrders calls whose calldata does not decode or would revert."""
    not_operator: int = 0
    """matchOrders calls sent by an address that is not the exchange's operator."""
    bad_signatures: int = 0
    """Watched orders whose signature does not hold (or cannot be checked: proxy and Safe wallets)."""
    hashes_fetched: int = 0
    fills: int = 0
    """PendingFills handed to the sink."""
    connects: int = 0
    errors: int = 0
    endpoint: str = ""
    """The websocket endpoint of the current (or last) connection, masked as logs show it; empty when
    polling `txpool_content` over the RPC."""
    failovers: int = 0
    """Reconnects that moved to another websocket endpoint."""
    last_reconnect_delay_s: float = 0.0
    """The delay waited before the last reconnect (the one its log line states)."""


def _word_address(result: object) -> str | None:
    if not isinstance(result, str) or len(result) != 66:
        return None
    return "0x" + result[-40:].lower()


@dataclass
class ChainFacts:
    """`isOperator` of the exchanges and `owner()` of deposit wallets, read from the chain and cached for
    `ttl_s` (an operator removed or a wallet handed over takes effect within that time)."""

    rpc: AsyncRpc
    ttl_s: float = 60.0
    _operators: dict[tuple[str, str], tuple[bool, float]] = field(default_factory=dict, repr=False)
    _owners: dict[str, tuple[str | None, float]] = field(default_factory=dict, repr=False)

    async def is_operator(self, exchange: str, sender: str) -> bool:
        key = (exchange.lower(), sender.lower())
        cached = self._operators.get(key)
        if cached is not None and cached[1] > time.monotonic():
            return cached[0]
        data = IS_OPERATOR + "00" * 12 + key[1][2:]
        result = await self.rpc.call("eth_call", [{"to": key[0], "data": data}, "latest"])
        answer = isinstance(result, str) and result.startswith("0x") and int(result, 16) == 1
        self._operators[key] = (answer, time.monotonic() + self.ttl_s)
        return answer

    async def owner_of(self, wallet: str) -> str | None:
        """The deposit wallet's owner, or None when `owner()` does not answer an address."""
        key = wallet.lower()
        cached = self._owners.get(key)
        if cached is not None and cached[1] > time.monotonic():
            return cached[0]
        try:
            result = await self.rpc.call("eth_call", [{"to": key, "data": OWNER}, "latest"])
        except ChainError as exc:
            log.warning("mempool: owner() of %s failed: %s", key, exc)
            result = None
        owner = _word_address(result)
        self._owners[key] = (owner, time.monotonic() + self.ttl_s)
        return owner


@dataclass
class MempoolSource:
    """Pending `matchOrders` calls → `PendingFill`s for the decoder's tracked leaders (module docstring)."""

    rpc: AsyncRpc
    decoder: MatchDecoder
    sink: Sink | None = None
    ws_url: str | Sequence[str] | None = None
    """One websocket endpoint, or several in failover order; none (or an empty list): `txpool_content`."""
    full_objects: bool = True
    """Ask the node for full transaction objects (else hashes, fetched one by one)."""
    poll_interval_s: float = 0.5
    seen_limit: int = 100_000
    """Transaction hashes remembered so that each is taken once (oldest forgotten first)."""
    backoff_initial_s: float = 0.2
    backoff_max_s: float = 5.0
    facts: ChainFacts | None = None
    stats: MempoolStats = field(default_factory=MempoolStats)
    connected: asyncio.Event = field(default_factory=asyncio.Event)
    _seen: OrderedDict[bytes, None] = field(default_factory=OrderedDict, init=False, repr=False)
    _ws: ClientConnection | None = field(default=None, init=False, repr=False)
    _facts: ChainFacts = field(init=False, repr=False)
    _failover: WsFailover | None = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        self._facts = self.facts or ChainFacts(self.rpc)
        urls = [self.ws_url] if isinstance(self.ws_url, str) else list(self.ws_url or ())
        urls = [u for u in urls if u]
        if urls:
            self._failover = WsFailover(urls, self.backoff_initial_s, self.backoff_max_s)
            self.stats.endpoint = self._failover.shown

    @property
    def ws_urls(self) -> list[str]:
        """The websocket endpoints in failover order (empty: `txpool_content` is polled)."""
        return list(self._failover.urls) if self._failover is not None else []

    # -- public API ---------------------------------------------------------------------------------
    async def run(self, stop: asyncio.Event) -> None:
        """Runs until `stop` is set: subscribes (or polls), failing over between the websocket endpoints
        with exponential backoff and jitter."""
        if self.sink is None:
            raise ChainError("MempoolSource.run needs a sink (or iterate MempoolSource.fills)")
        failover = self._failover
        polled_failures = 0
        while not stop.is_set():
            url = failover.url if failover is not None else None
            where = shown_ws(url) if url is not None else "txpool_content"
            failed = True
            try:
                if url is not None:
                    await self._subscribed(url, stop)
                else:
                    await self._polled(stop)
                failed = False
            except (OSError, websockets.WebSocketException, ChainError, TimeoutError) as exc:
                reason = f"connection to {where} lost ({exc or type(exc).__name__})"
            except Exception as exc:
                # A failing sink must not end detection; the logs confirm what this source misses.
                reason = f"batch failed ({type(exc).__name__}: {exc})"
                log.debug("mempool: batch failure", exc_info=True)
            finally:
                was_connected = self.connected.is_set()
                self.connected.clear()
                self._ws = None
            if stop.is_set():
                break
            if not failed:
                # Only `stop` ends a session cleanly; should one end otherwise, go again at once.
                if failover is not None:
                    failover.succeeded()
                polled_failures = 0
                continue
            self.stats.errors += 1
            if failover is not None:
                moved = failover.failovers
                delay = failover.failed(was_connected)
                self.stats.failovers += failover.failovers - moved
                where = failover.shown
            else:
                polled_failures = 1 if was_connected else polled_failures + 1
                base = reconnect_delay(polled_failures, 1, self.backoff_initial_s, self.backoff_max_s)
                delay = base * (0.5 + random.random())  # noqa: S311 - jitter
            self.stats.last_reconnect_delay_s = delay
            log.warning("mempool: %s; reconnecting to %s in %.2fs", reason, where, delay)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), delay)

    async def fills(self, stop: asyncio.Event) -> AsyncIterator[PendingFill]:
        """Iterates the accepted fills until `stop` is set (runs the source in the background)."""
        queue: asyncio.Queue[PendingFill] = asyncio.Queue()

        async def enqueue(batch: list[PendingFill]) -> None:
            for item in batch:
                queue.put_nowait(item)

        source = MempoolSource(
            rpc=self.rpc,
            decoder=self.decoder,
            sink=enqueue,
            ws_url=self.ws_url,
            full_objects=self.full_objects,
            poll_interval_s=self.poll_interval_s,
            seen_limit=self.seen_limit,
            backoff_initial_s=self.backoff_initial_s,
            backoff_max_s=self.backoff_max_s,
            facts=self._facts,
            stats=self.stats,
            connected=self.connected,
        )
        # The source stops with the caller's `stop` or when the caller leaves the loop, whichever first.
        inner = asyncio.Event()
        runner = asyncio.create_task(source.run(inner))
        stopped = asyncio.create_task(stop.wait())
        try:
            while True:
                get = asyncio.create_task(queue.get())
                done, _ = await asyncio.wait({get, stopped}, return_when=asyncio.FIRST_COMPLETED)
                if get not in done:
                    get.cancel()
                    return
                yield get.result()
        finally:
            stopped.cancel()
            inner.set()
            with contextlib.suppress(asyncio.CancelledError):
                await runner

    async def drop_connection(self) -> None:
        """Closes the websocket as a network failure would (for tests and operators)."""
        if self._ws is not None:
            await self._ws.close()

    async def take(self, raw: bytes | str) -> list[PendingFill]:
        """Decodes one node message (or `txpool_content` reply), fetches transactions sent as hashes,
        checks operators and signatures, and hands the accepted fills to the sink. Returns them."""
        decoded = self.decoder.decode_transactions(raw)
        fills = await self._accept(decoded)
        if decoded.hashes:
            fills += await self._accept(await self._fetch(decoded.hashes))
        if fills and self.sink is not None:
            await self.sink(fills)
        return fills

    # -- sources ------------------------------------------------------------------------------------
    async def _polled(self, stop: asyncio.Event) -> None:
        self.stats.connects += 1
        self.connected.set()
        while not stop.is_set():
            raw, _ = await self.rpc.call_raw("txpool_content")
            await self.take(raw)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self.poll_interval_s)

    async def _subscribed(self, url: str, stop: asyncio.Event) -> None:
        async with connect(url, max_size=64 * 2**20, ping_interval=20, ping_timeout=20) as ws:
            self._ws = ws
            self.stats.connects += 1
            self.stats.endpoint = shown_ws(url)
            full = self.full_objects and await self._subscribe(ws, ["newPendingTransactions", True])
            if not full:
                if self.full_objects:
                    log.info("mempool: the node refuses full pending transactions; fetching them by hash")
                if not await self._subscribe(ws, ["newPendingTransactions"]):
                    raise ChainError("eth_subscribe newPendingTransactions refused")
            self.connected.set()
            stopped = asyncio.create_task(stop.wait())
            try:
                while True:
                    receive = asyncio.create_task(ws.recv())
                    done, _ = await asyncio.wait({receive, stopped}, return_when=asyncio.FIRST_COMPLETED)
                    if receive not in done:
                        receive.cancel()
                        return
                    message = receive.result()
                    await self._on_message(message if isinstance(message, str) else message.decode())
            finally:
                stopped.cancel()

    async def _subscribe(self, ws: ClientConnection, params: list[object]) -> bool:
        await ws.send(json.dumps({"jsonrpc": "2.0", "id": 1, "method": "eth_subscribe", "params": params}))
        while True:
            text = await asyncio.wait_for(ws.recv(), timeout=10)
            reply = json.loads(text)
            if isinstance(reply, dict) and reply.get("id") == 1:
                return reply.get("error") is None
            # A notification of an earlier subscription attempt: take it, it is a pending transaction.
            await self._on_message(text if isinstance(text, str) else text.decode())

    async def _on_message(self, text: str) -> None:
        if '"eth_subscription"' not in text[:120]:
            return  # a stray reply
        try:
            await self.take(text)
        except DecodeError as exc:
            self.stats.errors += 1
            log.warning("mempool: message dropped: %s", exc)

    async def _fetch(self, hashes: list[bytes]) -> PendingTransactions:
        fresh = [h for h in hashes if h not in self._seen]
        self.stats.hashes_fetched += len(fresh)
        replies = await asyncio.gather(
            *(self.rpc.call_raw("eth_getTransactionByHash", ["0x" + h.hex()]) for h in fresh),
            return_exceptions=True,
        )
        bodies = [r[0] for r in replies if isinstance(r, tuple)]
        if len(bodies) < len(replies):
            self.stats.errors += len(replies) - len(bodies)
        return self.decoder.decode_transactions(b"[" + b",".join(bodies) + b"]")

    # -- checks -------------------------------------------------------------------------------------
    def _first_sighting(self, key: bytes) -> bool:
        if key in self._seen:
            return False
        self._seen[key] = None
        while len(self._seen) > self.seen_limit:
            self._seen.popitem(last=False)
        return True

    async def _accept(self, decoded: PendingTransactions) -> list[PendingFill]:
        self.stats.transactions += decoded.ignored + len(decoded.matches) + len(decoded.rejects)
        for index, reason in decoded.rejects:
            # The reason names the transaction: a pool polled again does not count it twice.
            if self._first_sighting(reason.encode()):
                self.stats.rejected_calldata += 1
                log.info("mempool: rejected transaction #%d: %s", index, reason)
        out: list[PendingFill] = []
        for match in decoded.matches:
            if not self._first_sighting(match.tx_hash):
                continue
            self.stats.matches += 1
            watched = [f for f in match.call.fills if f.watched]
            if not watched:
                continue
            if not await self._facts.is_operator(match.call.exchange, match.sender):
                self.stats.not_operator += 1
                log.warning(
                    "mempool: matchOrders 0x%s from %s, not an operator of %s: ignored",
                    match.tx_hash.hex(),
                    match.sender,
                    match.call.exchange,
                )
                continue
            for fill in watched:
                if await self._signature_holds(match, fill):
                    out.append(self._pending_fill(match, fill))
        self.stats.fills += len(out)
        return out

    async def _signature_holds(self, match: PendingMatch, fill: OrderFill) -> bool:
        status = fill.signature_status
        if status == "valid":
            return True
        if status == "needs_owner":
            owner = await self._facts.owner_of(fill.maker)
            if owner is not None and owner == fill.wrap_signer:
                return True
            reason = f"the wrap is signed by {fill.wrap_signer}, the wallet's owner is {owner}"
        else:
            reason = fill.signature_error or status
        self.stats.bad_signatures += 1
        log.warning(
            "mempool: order 0x%s of %s in 0x%s: signature does not hold (%s)",
            fill.order_hash.hex(),
            fill.maker,
            match.tx_hash.hex(),
            reason,
        )
        return False

    @staticmethod
    def _pending_fill(match: PendingMatch, fill: OrderFill) -> PendingFill:
        return PendingFill(
            signal=fill.signal(),
            order_hash=fill.order_hash,
            fill=fill,
            tx_hash=match.tx_hash,
            sender=match.sender,
            exchange=match.call.exchange,
        )
