"""Watching the Executor for value moved out of Proxies by transactions polyhunter never sent.

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
from polyhunter.shared.base import SharedState
from polyhunter.store.base import Store

log = logging.getLogger(__name__)

WATCHED_PREFIXES = ("Pulled", "DebtRepaid")


@dataclass(frozen=True)
class EventShape:
    """One watched Executor event: its name, topic 0 and argument layout."""

    name: str
    topic: bytes
    indexed: tuple[tuple[str, str], ...]
    data: tuple[tuple[str, str], ...]


def watched_events(abi: Sequence[dict[str, Any]] | None = None) -> dict[bytes, EventShape]:
    """topic 0 → shape of every Executor event that moves value out of a Proxy (Pulled…, DebtRepaid…)."""
    entries = load_artifact("Executor").abi if abi is None else abi
    shapes: dict[bytes, EventShape] = {}
    for entry in entries:
        if entry.get("type") != "event" or not str(entry.get("name", "")).startswith(WATCHED_PREFIXES):
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

    @property
    def unjournaled_total(self) -> int:
        return sum(self.unjournaled.values())


class ExecutorWatch:
    """Scans the Executor's value-moving events and alarms on those polyhunter did not journal."""

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
                if await self._hold():
                    await self.scan()
            except (ChainError, DecodeError, OSError) as exc:
                self.stats.errors += 1
                log.warning("Executor watch: scan failed, retrying: %s", exc)
            except Exception:  # a watch that dies in silence is worse than one that logs and retries
                self.stats.errors += 1
                log.exception("Executor watch: scan failed, retrying")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self.poll_s)

    async def _hold(self) -> bool:
        if self.shared is None:
            return True
        ttl_ms = int(max(3 * self.poll_s, 30.0) * 1000)
        held = await self.shared.acquire_lease(self.source, self.holder, ttl_ms)
        if not held:
            self._next = None  # another instance scans; resume from the shared checkpoint if it stops
            self._suspects.clear()
        return held

    async def scan(self) -> list[ExecutorEvent]:
        """One pass: reads the new events up to the head, judges them and the suspects whose grace is over;
        returns the events reported as unjournaled in this pass."""
        head = await self.rpc.block_number()
        if self._next is None:
            saved = await self.store.get_checkpoint(self.source)
            if saved is not None:
                self._next = saved + 1
            else:
                self._next = head + 1 if self.start_block is None else self.start_block
            self._floor = self._next  # never judge what lies before this process's first block
        events: list[ExecutorEvent] = []
        for low in range(max(self._floor, self._next - self.rescan), head + 1, self.window):
            events += await self._read(low, min(low + self.window - 1, head))
        events = [
            e
            for e in events
            if (k := (e.tx_hash, e.log_index)) not in self._judged and k not in self._suspects
        ]
        if head >= self._next:
            self._next = head + 1
        self.stats.last_block = max(self.stats.last_block, head)
        self.stats.events += len(events)
        now = self.clock()
        for event in events:
            self._suspects.setdefault((event.tx_hash, event.log_index), (now, event))
        reported = await self._judge(now)
        self._judged = {k: b for k, b in self._judged.items() if b > head - self.rescan}
        # Never past a suspect still in its grace: after a restart it is read and judged again.
        waiting = [e.block_number for _, e in self._suspects.values()]
        await self.store.set_checkpoint(self.source, min([self._next - 1, *(b - 1 for b in waiting)]))
        return reported

    async def _read(self, low: int, high: int) -> list[ExecutorEvent]:
        logs = await self.rpc.call(
            "eth_getLogs",
            [
                {
                    "address": self.executor,
                    "fromBlock": hex(low),
                    "toBlock": hex(high),
                    "topics": [["0x" + t.hex() for t in self.shapes]],
                }
            ],
        )
        out = []
        for entry in logs or []:
            if entry.get("removed"):
                continue
            shape = self.shapes.get(bytes.fromhex(entry["topics"][0].removeprefix("0x")))
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
