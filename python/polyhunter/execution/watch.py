"""Watching the Executor for value moved out of Proxies by transactions polyhunter never sent, and for what
its owner does.

Every pull and debt repayment polyhunter makes is journaled before it is broadcast (a job's journal, or a
debt's `repay_tx`), so an Executor `Pulled…` or `DebtRepaid…` event whose transaction the store does not know
was signed by a worker key outside polyhunter: a leaked key. Each such event is logged at CRITICAL and
counted (`polyhunter_unjournaled_executor_events_total`, by event and worker), which the Prometheus rule
`PolyhunterUnjournaledExecutorEvent` turns into a page: the answer is `polyhunter executor pause`.

The events are found by name in the Executor's ABI (every event whose name starts with `Pulled` or
`DebtRepaid`), so a new variant of either is watched without a change here. A suspect is reported only once
it is still unknown `grace_s` after it was first seen: a repayment is marked in the store just after it
mines, and that moment must not page anyone. The scan resumes from a store checkpoint, never past a suspect
not yet judged, so a restart re-reads what it had not settled. Each pass also re-reads its last `rescan`
blocks (a reorg may mine a foreign pull at a height already read) and judges only events not judged yet;
its failed passes and last block scanned are exported (`polyhunter_executor_watch_errors_total`,
`polyhunter_executor_watch_last_block`).

The same pass reads the owner's admin events (`owner_actions`: every event no worker or factory emits, found
in the ABI) and logs each once at WARNING, counted by event (`polyhunter_executor_owner_actions_total`). A
widening change waits `changeDelay` between `ChangeQueued` and `ChangeExecuted`; that delay protects followers
only if someone sees the queued change in time, so the changes queued and neither executed nor cancelled are
kept (`ExecutorWatch.queued`) and exported (`polyhunter_executor_queued_changes`,
`polyhunter_executor_next_change_ready_timestamp_seconds`), which `PolyhunterExecutorChangeQueued` alerts on.
Owner events have their own checkpoint (the last block whose owner events were reported), so a restart logs
none twice; on start (or when this instance takes the watch's lease over) the queued changes are rebuilt,
without logging, from the `Change…` events of the last `lookback` blocks before it, never from before
`first_block` (the Executor's deployment block, deployment.json's `executor_from_block`: no event of it lies
earlier, so a young Executor costs no long read-back), and every pass checks them against the Executor's
`changeReadyAt(id)` at the block read (a reorg may take a `ChangeQueued` away).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from eth_abi.abi import decode

from polyhunter._core import keccak256
from polyhunter.chain.aiorpc import AsyncRpc
from polyhunter.chain.artifacts import load_artifact
from polyhunter.errors import ChainError, DecodeError
from polyhunter.execution.owner_actions import (
    CHANGE_EVENTS,
    CHANGE_EXECUTED,
    CHANGE_QUEUED,
    CallDecoder,
    QueuedChange,
    QueuedChanges,
    is_owner_event,
    show,
    utc,
)
from polyhunter.shared.base import SharedState
from polyhunter.store.base import Store

log = logging.getLogger(__name__)

WATCHED_PREFIXES = ("Pulled", "DebtRepaid")
#: Blocks read back on start to rebuild the changes still queued (about 12 days of Polygon blocks; longer than
#: any change delay the settings allow to pass unseen by a watch that was down less than that).
DEFAULT_LOOKBACK = 500_000
#: `changeReadyAt(bytes32)`
CHANGE_READY_AT = keccak256(b"changeReadyAt(bytes32)")[:4]


def read_back_start(seen: int, lookback: int, first_block: int = 0) -> int:
    """The first block read to rebuild the queued changes when owner events up to `seen` were reported:
    `lookback` blocks back, never before `first_block` (the Executor's deployment block)."""
    return max(0, seen + 1 - lookback, first_block)


@dataclass(frozen=True)
class EventShape:
    """One watched Executor event: its name, topic 0 and argument layout."""

    name: str
    topic: bytes
    indexed: tuple[tuple[str, str], ...]
    data: tuple[tuple[str, str], ...]


def _events(abi: Sequence[dict[str, Any]] | None, keep: Callable[[str], bool]) -> dict[bytes, EventShape]:
    entries = load_artifact("Executor").abi if abi is None else abi
    shapes: dict[bytes, EventShape] = {}
    for entry in entries:
        if entry.get("type") != "event" or not keep(str(entry.get("name", ""))):
            continue
        inputs = entry.get("inputs", [])
        signature = f"{entry['name']}({','.join(i['type'] for i in inputs)})"
        shape = EventShape(
            name=entry["name"],
            topic=keccak256(signature.encode()),
            indexed=tuple((i["name"], i["type"]) for i in inputs if i.get("indexed")),
            data=tuple((i["name"], i["type"]) for i in inputs if not i.get("indexed")),
        )
        shapes[shape.topic] = shape
    return shapes


def watched_events(abi: Sequence[dict[str, Any]] | None = None) -> dict[bytes, EventShape]:
    """topic 0 → shape of every Executor event that moves value out of a Proxy (Pulled…, DebtRepaid…)."""
    return _events(abi, lambda name: name.startswith(WATCHED_PREFIXES))


def owner_events(abi: Sequence[dict[str, Any]] | None = None) -> dict[bytes, EventShape]:
    """topic 0 → shape of every Executor event recording an owner action (see `owner_actions`)."""
    return _events(abi, is_owner_event)


@dataclass(frozen=True)
class ExecutorEvent:
    """A watched event as read from a log."""

    name: str
    tx_hash: bytes
    block_number: int
    log_index: int
    args: dict[str, Any]

    @property
    def worker(self) -> str:
        """The worker whose key sent it (the caller: `worker` in every watched event)."""
        return str(self.args.get("worker", "")).lower()

    @property
    def proxy(self) -> str:
        return str(self.args.get("proxy", "")).lower()

    @property
    def amount(self) -> int:
        return int(self.args.get("amount", 0))

    def describe(self) -> str:
        token = str(self.args.get("token", "")).lower()
        return (
            f"{self.name} of {self.amount} (token {token} id {self.args.get('id', 0)}) "
            f"from Proxy {self.proxy} by worker {self.worker} "
            f"in tx 0x{self.tx_hash.hex()} (block {self.block_number})"
        )


def decode_event(shape: EventShape, entry: dict[str, Any]) -> ExecutorEvent:
    """One `eth_getLogs` entry of a watched event; `DecodeError` if it does not fit the shape."""
    try:
        topics = [bytes.fromhex(t.removeprefix("0x")) for t in entry["topics"]]
        args: dict[str, Any] = {}
        for (name, kind), topic in zip(shape.indexed, topics[1:], strict=True):
            args[name] = decode([kind], topic)[0]
        values = decode([k for _, k in shape.data], bytes.fromhex(entry["data"].removeprefix("0x")))
        args.update(zip((n for n, _ in shape.data), values, strict=True))
        return ExecutorEvent(
            name=shape.name,
            tx_hash=bytes.fromhex(entry["transactionHash"].removeprefix("0x")),
            block_number=int(entry["blockNumber"], 16),
            log_index=int(entry["logIndex"], 16),
            args=args,
        )
    except (KeyError, ValueError, TypeError) as exc:
        raise DecodeError(f"Executor {shape.name} log: {exc}") from exc


@dataclass
class WatchStats:
    """What the watch has seen; `unjournaled` feeds the metric."""

    events: int = 0
    journaled: int = 0
    unjournaled: Counter[tuple[str, str]] = field(default_factory=Counter)
    """(event name, worker) → events whose transaction polyhunter did not send."""
    last_block: int = 0
    errors: int = 0
    owner_actions: Counter[str] = field(default_factory=Counter)
    """Owner (admin) events reported, by event name."""
    queued_changes: int = 0
    """Changes queued and neither executed nor cancelled (0 while another instance holds the watch)."""
    next_change_ready_at: int = 0
    """Chain time (s) from which the first of them may be executed; 0 when none is queued."""

    @property
    def unjournaled_total(self) -> int:
        return sum(self.unjournaled.values())


class ExecutorWatch:
    """Scans the Executor's value-moving events and alarms on those polyhunter did not journal; reports the
    owner's actions and keeps the changes still queued."""

    def __init__(
        self,
        rpc: AsyncRpc,
        store: Store,
        executor: str,
        *,
        chain_id: int,
        poll_s: float = 15.0,
        grace_s: float = 120.0,
        window: int = 2_000,
        rescan: int = 128,
        start_block: int | None = None,
        clock: Callable[[], float] = time.monotonic,
        shared: SharedState | None = None,
        holder: str = "",
        lookback: int = DEFAULT_LOOKBACK,
        first_block: int = 0,
    ) -> None:
        self.rpc = rpc
        self.store = store
        self.executor = executor.lower()
        self.poll_s = poll_s
        self.grace_s = grace_s
        self.window = window
        self.rescan = rescan
        """Blocks re-read on every pass: a reorg may put a foreign pull at a height already read (Polygon has
        had reorgs of 30+ blocks); an event already judged there is not judged again."""
        self.start_block = start_block
        """Where a first run (no checkpoint) starts; None: at the current head (history is not judged)."""
        self.clock = clock
        self.source = f"executor-watch:{chain_id}:{self.executor}"
        self.shared = shared
        """With several instances, only the holder of the watch's lease in the shared state scans."""
        self.holder = holder
        self.shapes = watched_events()
        self.owner_shapes = owner_events()
        self.owner_source = f"executor-owner-watch:{chain_id}:{self.executor}"
        self.lookback = lookback
        """Blocks before the owner checkpoint read on start to rebuild the queued changes."""
        self.first_block = first_block
        """The Executor's deployment block (0: unknown): the read-back on start never begins before it."""
        self.queued = QueuedChanges(CallDecoder(load_artifact("Executor").abi))
        self._owner_seen: int | None = None
        """Owner events at or below this block were reported (by this process or before a restart)."""
        self.stats = WatchStats()
        self._next: int | None = None
        self._floor = 0
        self._suspects: dict[tuple[bytes, int], tuple[float, ExecutorEvent]] = {}
        self._judged: dict[tuple[bytes, int], int] = {}
        """(tx hash, log index) → block of the events judged within the last `rescan` blocks."""

    async def run(self, stop: asyncio.Event) -> None:
        """Scans every `poll_s` until `stop` is set; a failed pass is logged and retried on the next."""
        while not stop.is_set():
            try:
                await self.tick()
            except (ChainError, DecodeError, OSError) as exc:
                self.stats.errors += 1
                log.warning("Executor watch: scan failed, retrying: %s", exc)
            except Exception:  # a watch that dies in silence is worse than one that logs and retries
                self.stats.errors += 1
                log.exception("Executor watch: scan failed, retrying")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self.poll_s)

    async def tick(self) -> list[ExecutorEvent]:
        """One pass as `run` makes it: a scan if this instance holds the watch (no shared state: always)."""
        return await self.scan() if await self._hold() else []

    async def _hold(self) -> bool:
        if self.shared is None:
            return True
        ttl_ms = int(max(3 * self.poll_s, 30.0) * 1000)
        held = await self.shared.acquire_lease(self.source, self.holder, ttl_ms)
        if not held:
            self._next = None  # another instance scans; resume from the shared checkpoint if it stops
            self._suspects.clear()
            # The holder exports the queue; a stale copy here would keep the alert up after a cancel.
            self.queued.clear()
            self._owner_seen = None
            self._export_queue()
        return held

    async def scan(self) -> list[ExecutorEvent]:
        """One pass: reads the new events up to the head, judges them and the suspects whose grace is over;
        returns the events reported as unjournaled in this pass."""
        head = await self.rpc.block_number()
        if self._next is None:
            saved = await self.store.get_checkpoint(self.source)
            if saved is not None:
                start = saved + 1
            else:
                start = head + 1 if self.start_block is None else self.start_block
            await self._rebuild_queue(start)  # first: a pass that fails here rebuilds again on the next
            self._next = start
            self._floor = start  # never judge what lies before this process's first block
        topics = [*self.shapes, *self.owner_shapes]
        events: list[ExecutorEvent] = []
        for low in range(max(self._floor, self._next - self.rescan), head + 1, self.window):
            events += await self._read(low, min(low + self.window - 1, head), topics)
        events = [
            e
            for e in events
            if (k := (e.tx_hash, e.log_index)) not in self._judged and k not in self._suspects
        ]
        owner = [e for e in events if is_owner_event(e.name)]
        events = [e for e in events if not is_owner_event(e.name)]
        if head >= self._next:
            self._next = head + 1
        self.stats.last_block = max(self.stats.last_block, head)
        self.stats.events += len(events)
        await self._report_owner(owner, head)
        now = self.clock()
        for event in events:
            self._suspects.setdefault((event.tx_hash, event.log_index), (now, event))
        reported = await self._judge(now)
        self._judged = {k: b for k, b in self._judged.items() if b > head - self.rescan}
        await self._confirm_queue(head)
        # Never past a suspect still in its grace: after a restart it is read and judged again.
        waiting = [e.block_number for _, e in self._suspects.values()]
        await self.store.set_checkpoint(self.source, min([self._next - 1, *(b - 1 for b in waiting)]))
        await self.store.set_checkpoint(self.owner_source, self._next - 1)
        self._owner_seen = self._next - 1
        return reported

    async def _rebuild_queue(self, start: int) -> None:
        """The changes still queued when this process takes the watch (whose first block is `start`), from
        the `Change…` events of the `lookback` blocks up to the owner checkpoint, none before `first_block`
        (already reported: not logged again)."""
        saved = await self.store.get_checkpoint(self.owner_source)
        seen = start - 1 if saved is None else saved
        self.queued.clear()
        topics = [t for t, shape in self.owner_shapes.items() if shape.name in CHANGE_EVENTS]
        for low in range(read_back_start(seen, self.lookback, self.first_block), seen + 1, self.window):
            for event in await self._read(low, min(low + self.window - 1, seen), topics):
                self.queued.apply(event.name, event.args, event.block_number)
        self._owner_seen = seen

    async def _report_owner(self, events: list[ExecutorEvent], head: int) -> None:
        # Read before any event is marked reported: a failure here leaves them all for the next pass.
        chain_now = await self._chain_time(head) if any(e.name == CHANGE_QUEUED for e in events) else 0
        for event in sorted(events, key=lambda e: (e.block_number, e.log_index)):
            self._judged[(event.tx_hash, event.log_index)] = event.block_number
            if self._owner_seen is not None and event.block_number <= self._owner_seen:
                continue  # reported before this process (re)started, and already in the rebuilt queue
            cancelled = self.queued.get(bytes(event.args.get("id", b"")))
            self.queued.apply(event.name, event.args, event.block_number)
            self.stats.owner_actions[event.name] += 1
            where = f"tx 0x{event.tx_hash.hex()}, block {event.block_number}"
            if event.name == CHANGE_QUEUED:
                ready_at = int(event.args["readyAt"])
                minutes = -(-max(0, ready_at - chain_now) // 60)
                log.warning(
                    "Executor owner queued %s (change 0x%s, %s): ready at %s, in %d minutes. If the owner "
                    "did not queue it, cancel it before then: inspect with `polyhunter executor show`, "
                    "`polyhunter executor pause`, and `cancelChange(0x%s)` from the owner key "
                    "(`polyhunter executor authorise WORKER --revoke` cancels what is queued for a worker).",
                    self.queued.decoder.describe(bytes(event.args["call"])),
                    bytes(event.args["id"]).hex(),
                    where,
                    utc(ready_at),
                    minutes,
                    bytes(event.args["id"]).hex(),
                )
            else:
                log.warning("Executor owner action: %s (%s)", self._describe_owner(event, cancelled), where)

    def _describe_owner(self, event: ExecutorEvent, cancelled: QueuedChange | None) -> str:
        shown = []
        for name, value in event.args.items():
            if event.name == CHANGE_EXECUTED and name == "call":
                shown.append(f"call={self.queued.decoder.describe(bytes(value))}")
            else:
                shown.append(f"{name}={show(value)}")
        text = f"{event.name}({', '.join(shown)})"
        if cancelled is not None and event.name not in (CHANGE_QUEUED, CHANGE_EXECUTED):
            text += f", dropping the queued {cancelled.call}"
        return text

    async def _chain_time(self, head: int) -> int:
        block = await self.rpc.call("eth_getBlockByNumber", [hex(head), False])
        try:
            return int(block["timestamp"], 16)
        except (KeyError, TypeError, ValueError) as exc:
            raise DecodeError(f"block {head}: no timestamp ({exc})") from exc

    async def _confirm_queue(self, head: int) -> None:
        for change_id in self.queued.ids:
            data = "0x" + (CHANGE_READY_AT + change_id).hex()
            answer = await self.rpc.call("eth_call", [{"to": self.executor, "data": data}, hex(head)])
            try:
                ready_at = int(str(answer), 16)
            except ValueError as exc:
                raise DecodeError(f"Executor changeReadyAt(0x{change_id.hex()}): {answer!r}") from exc
            self.queued.confirm(change_id, ready_at)
        self._export_queue()

    def _export_queue(self) -> None:
        self.stats.queued_changes = len(self.queued)
        self.stats.next_change_ready_at = self.queued.next_ready_at

    async def _read(self, low: int, high: int, topics: Sequence[bytes]) -> list[ExecutorEvent]:
        logs = await self.rpc.call(
            "eth_getLogs",
            [
                {
                    "address": self.executor,
                    "fromBlock": hex(low),
                    "toBlock": hex(high),
                    "topics": [["0x" + t.hex() for t in topics]],
                }
            ],
        )
        out = []
        for entry in logs or []:
            if entry.get("removed"):
                continue
            topic = bytes.fromhex(entry["topics"][0].removeprefix("0x"))
            shape = self.shapes.get(topic) or self.owner_shapes.get(topic)
            if shape is not None:
                out.append(decode_event(shape, entry))
        return out

    async def _judge(self, now: float) -> list[ExecutorEvent]:
        if not self._suspects:
            return []
        known = await self.store.journaled_txs(list({tx for tx, _ in self._suspects}))
        reported: list[ExecutorEvent] = []
        for key, (first_seen, event) in list(self._suspects.items()):
            if event.tx_hash in known:
                self.stats.journaled += 1
                del self._suspects[key]
                self._judged[key] = event.block_number
            elif now - first_seen >= self.grace_s:
                del self._suspects[key]
                self._judged[key] = event.block_number
                self.stats.unjournaled[(event.name, event.worker)] += 1
                reported.append(event)
                log.critical(
                    "Executor event not sent by polyhunter (a worker key used elsewhere?): %s. "
                    "Pause the Executor (`polyhunter executor pause`) and rotate the fleet "
                    "(`polyhunter fleet rotate`).",
                    event.describe(),
                )
        return reported
