"""The in-process shared state: the default for one instance, with the Redis back end's exact semantics.

Everything runs on the event loop without awaiting between a check and its update, so each operation is
atomic as the Redis Lua scripts are. Time is `time.monotonic()`.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass

from polyhunter.shared.base import Delivery, QueueStats, Reservation, SharedState

_PRUNE_EVERY_S = 1.0
_PRUNE_FILL_KEYS_S = 60.0


def _now_ms() -> float:
    return time.monotonic() * 1000


@dataclass(slots=True)
class _InFlight:
    consumer: str
    delivered_at: float
    deliveries: int


class MemorySharedState(SharedState):
    backend = "memory"

    def __init__(self, max_queue: int = 5000, max_deliveries: int = 5) -> None:
        super().__init__(max_queue, max_deliveries)
        self._seen: dict[bytes, float] = {}
        self._fill_keys: dict[bytes, tuple[bytes, float]] = {}
        self._fill_keys_pruned = _now_ms()
        self._last_prune = _now_ms()
        self._counters: dict[str, tuple[int, float]] = {}
        self._entries: OrderedDict[str, tuple[bytes, bytes]] = OrderedDict()
        self._waiting: OrderedDict[str, None] = OrderedDict()
        # In delivery order (a redelivery moves to the end): the scan for idle ones stops at the first fresh.
        self._in_flight: OrderedDict[str, _InFlight] = OrderedDict()
        self._consumers: set[str] = set()
        self._dead: list[Delivery] = []
        self._dropped = 0
        self._ids = itertools.count(1)
        self._arrived = asyncio.Event()
        self._leases: dict[str, tuple[str, float]] = {}

    async def open(self) -> None:
        return None

    def attach_consumer(self, consumer: str) -> bool:
        self._consumers.add(consumer)
        return self.sole_consumer(consumer)

    def sole_consumer(self, consumer: str) -> bool:
        return self._consumers == {consumer}

    async def close(self) -> None:
        return None

    # Dedup.
    async def first_sightings(self, keys: Sequence[bytes], ttl_ms: int) -> list[bool]:
        now = _now_ms()
        self._prune(now)
        out = []
        for key in keys:
            expiry = self._seen.get(key)
            if expiry is not None and expiry > now:
                out.append(False)
            else:
                self._seen[key] = now + ttl_ms
                out.append(True)
        return out

    async def claim_fill_key(
        self,
        aliases: Sequence[bytes],
        key: bytes,
        ttl_ms: int,
        *,
        lookups: Sequence[bytes] = (),
        notes: Sequence[bytes] = (),
    ) -> bytes:
        now = _now_ms()
        self._prune(now)
        winner = key
        for alias in (*aliases, *lookups):
            found = self._fill_keys.get(alias)
            if found is not None and found[1] > now:
                winner = found[0]
                break
        for alias in (*aliases, *notes):
            found = self._fill_keys.get(alias)
            if found is None or found[1] <= now:
                self._fill_keys[alias] = (winner, now + ttl_ms)
        return winner

    def _prune(self, now: float) -> None:
        # Expired keys are dropped in one sweep a second, so memory stays bounded by the TTL window.
        if now - self._last_prune < _PRUNE_EVERY_S * 1000:
            return
        self._last_prune = now
        self._seen = {k: e for k, e in self._seen.items() if e > now}
        self._counters = {k: v for k, v in self._counters.items() if v[1] > now}
        if now - self._fill_keys_pruned >= _PRUNE_FILL_KEYS_S * 1000:
            # Aliases live an hour: swept far less often than the dedup keys, so a sweep stays cheap.
            self._fill_keys_pruned = now
            self._fill_keys = {k: v for k, v in self._fill_keys.items() if v[1] > now}

    # Guardrails.
    def _value(self, name: str, now: float) -> int:
        value, expiry = self._counters.get(name, (0, 0.0))
        return value if expiry > now else 0

    async def reserve(self, reservations: Sequence[Reservation], ttl_ms: int = 2 * 86_400_000) -> str | None:
        now = _now_ms()
        for r in reservations:
            if r.cap is not None and self._value(r.counter, now) + r.amount > r.cap:
                return r.reason
        for r in reservations:
            self._counters[r.counter] = (self._value(r.counter, now) + r.amount, now + ttl_ms)
        return None

    async def release(self, reservations: Sequence[Reservation]) -> None:
        now = _now_ms()
        for r in reservations:
            value, expiry = self._counters.get(r.counter, (0, 0.0))
            if expiry > now:
                self._counters[r.counter] = (max(0, value - r.amount), expiry)

    async def counter(self, name: str) -> int:
        return self._value(name, _now_ms())

    # Queue.
    async def enqueue_many(self, items: Sequence[tuple[bytes, bytes]]) -> list[bool]:
        out = []
        stamp = int(time.time() * 1000)
        for key, payload in items:
            if len(self._entries) >= self.max_queue:
                self._dropped += 1
                out.append(False)
                continue
            entry_id = f"{stamp}-{next(self._ids)}"
            self._entries[entry_id] = (key, payload)
            self._waiting[entry_id] = None
            out.append(True)
        if any(out):
            self._arrived.set()
        return out

    async def dequeue(self, consumer: str, count: int = 1, block_ms: int = 0) -> list[Delivery]:
        if not self._waiting and block_ms > 0:
            self._arrived.clear()
            try:
                await asyncio.wait_for(self._arrived.wait(), block_ms / 1000)
            except TimeoutError:
                return []
        out: list[Delivery] = []
        now = _now_ms()
        while self._waiting and len(out) < count:
            entry_id, _ = self._waiting.popitem(last=False)
            self._in_flight[entry_id] = _InFlight(consumer, now, 1)
            key, payload = self._entries[entry_id]
            out.append(Delivery(entry_id, key, payload, 1))
        return out

    async def claim_stale(self, consumer: str, min_idle_ms: int, count: int = 100) -> list[Delivery]:
        now = _now_ms()
        out: list[Delivery] = []
        while self._in_flight and len(out) < count:
            entry_id, flight = next(iter(self._in_flight.items()))
            if now - flight.delivered_at < min_idle_ms:
                break  # the oldest delivery is fresh: so is every later one
            del self._in_flight[entry_id]
            key, payload = self._entries[entry_id]
            deliveries = flight.deliveries + 1
            if deliveries > self.max_deliveries:
                del self._entries[entry_id]
                self._dead.append(Delivery(entry_id, key, payload, flight.deliveries))
                continue
            self._in_flight[entry_id] = _InFlight(consumer, now, deliveries)
            out.append(Delivery(entry_id, key, payload, deliveries))
        return out

    async def ack(self, ids: Sequence[str]) -> int:
        acked = 0
        for entry_id in ids:
            if self._in_flight.pop(entry_id, None) is not None:
                del self._entries[entry_id]
                acked += 1
        return acked

    async def dead_letters(self, count: int = 100) -> list[Delivery]:
        return self._dead[:count]

    async def queue_stats(self) -> QueueStats:
        oldest = next(iter(self._entries), None)  # ids start with the unix ms they were queued at
        return QueueStats(
            len(self._entries),
            len(self._in_flight),
            self._dropped,
            len(self._dead),
            None if oldest is None else int(oldest.split("-", 1)[0]),
        )

    # Leases.
    def _holder(self, name: str, now: float) -> str | None:
        holder, expiry = self._leases.get(name, ("", 0.0))
        return holder if expiry > now else None

    async def acquire_lease(self, name: str, holder: str, ttl_ms: int) -> bool:
        now = _now_ms()
        if self._holder(name, now) not in (None, holder):
            return False
        self._leases[name] = (holder, now + ttl_ms)
        return True

    async def renew_lease(self, name: str, holder: str, ttl_ms: int) -> bool:
        now = _now_ms()
        if self._holder(name, now) != holder:
            return False
        self._leases[name] = (holder, now + ttl_ms)
        return True

    async def release_lease(self, name: str, holder: str) -> bool:
        if self._holder(name, _now_ms()) != holder:
            return False
        del self._leases[name]
        return True

    async def lease_holder(self, name: str) -> str | None:
        return self._holder(name, _now_ms())
