"""The shared state's interface: dedup, guardrail counters, job queue, leases.

Two back ends keep identical semantics (one conformance suite proves it): in-process memory for one instance,
Redis for many. The queue is at-least-once: a delivery stays in flight until acknowledged; one idle past a
timeout is claimed by another consumer; one delivered more than `max_deliveries` times goes to the dead-letter
list instead. The queue's bound counts waiting and in-flight jobs, and a job over it is refused (and counted),
never an older one evicted.

A shared state that can lose its data (Redis restarted without persistence, a failover, `FLUSHALL`) notices
it before the next reservation or queue operation, and restores itself from the store of record through the
handlers given to `on_loss`: the guardrail counters are set to what the store says is held, the consumer
group is made again, and the one instance that restored is told to refill the queue from PENDING rows.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from types import TracebackType

from polyhunter.errors import QueueFull

DAY_MS = 86_400_000

Seeds = Callable[[], Awaitable[Sequence["Reservation"]]]
"""After a loss: each counter to restore (`counter`) with the value the store of record says is held."""
Restored = Callable[[], None]
"""After a loss, called in the instance that restored the state: the queue is empty, refill it."""


@dataclass(frozen=True, slots=True)
class Reservation:
    """Add `amount` to `counter` unless that would take it above `cap` (None: no cap, only counted)."""

    counter: str
    amount: int
    cap: int | None
    reason: str = "daily_cap"
    """The skip reason reported when this cap refuses (`daily_cap`, `wallet_daily_cap`, …)."""


@dataclass(frozen=True, slots=True)
class Delivery:
    """A queued job handed to a consumer: ack it with `id` when done."""

    id: str
    key: bytes
    payload: bytes
    deliveries: int
    """How many times it has been delivered (1 the first time; in the dead-letter list: the tries made)."""


@dataclass(frozen=True, slots=True)
class QueueStats:
    length: int
    """Jobs not yet acknowledged: waiting plus in flight (what the bound counts)."""
    in_flight: int
    dropped: int
    """Jobs refused because the queue was full."""
    dead: int
    """Jobs in the dead-letter list."""
    oldest_ms: int | None = None
    """When the oldest job not yet acknowledged was queued (unix ms, its entry id's time); None: empty."""

    def oldest_age_s(self, now_ms: float) -> float:
        """Seconds the oldest job not yet acknowledged has waited at `now_ms` (unix ms); 0 when empty."""
        return 0.0 if self.oldest_ms is None else max(0.0, (now_ms - self.oldest_ms) / 1000)


class SharedState(ABC):
    """State several supervisor instances share (or one instance keeps in memory)."""

    backend: str = ""

    def __init__(self, max_queue: int = 5000, max_deliveries: int = 5) -> None:
        self.max_queue = max_queue
        self.max_deliveries = max_deliveries
        self.resets = 0
        """How many times this instance found the state lost and restored it (a metric)."""
        self._seeds: Seeds | None = None
        self._restored: Restored | None = None

    def attach_consumer(self, consumer: str) -> bool:
        """A pipeline that will consume the queue as `consumer` says so; True when every job it queues from
        now on can only be delivered to it (a queue in this process with no other consumer attached), so
        that it may claim its jobs in the store when it inserts them. A shared queue says False."""
        return False

    def sole_consumer(self, consumer: str) -> bool:
        """Still True for `consumer` (see `attach_consumer`): no other consumer attached since."""
        return False

    def on_loss(self, seeds: Seeds, restored: Restored) -> None:
        """Handlers for a loss of the shared data (see the module docstring); a back end that cannot lose
        its data (memory) never calls them."""
        self._seeds, self._restored = seeds, restored

    @abstractmethod
    async def open(self) -> None:
        """Connect (Redis) and create the consumer group; a no-op in memory."""

    @abstractmethod
    async def close(self) -> None:
        """Disconnect. Idempotent."""

    async def __aenter__(self) -> SharedState:
        await self.open()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    # Dedup.
    async def first_sighting(self, key: bytes, ttl_ms: int) -> bool:
        """True the first time `key` is seen within `ttl_ms` (SET NX PX), False while it is remembered."""
        (first,) = await self.first_sightings([key], ttl_ms)
        return first

    @abstractmethod
    async def first_sightings(self, keys: Sequence[bytes], ttl_ms: int) -> list[bool]:
        """`first_sighting` of each key in order (a key twice in `keys` is first only once)."""

    @abstractmethod
    async def claim_fill_key(
        self,
        aliases: Sequence[bytes],
        key: bytes,
        ttl_ms: int,
        *,
        lookups: Sequence[bytes] = (),
        notes: Sequence[bytes] = (),
    ) -> bytes:
        """The canonical key of a leader fill across replicas and restarts (docs/seams.md, "Fill identity").

        Atomically: the value recorded under the first of `aliases`, then of `lookups`, that has one, else
        `key`; that winner is then recorded (SET NX PX `ttl_ms`) under each of `aliases` and `notes` that has
        none. `lookups` are only read, `notes` only written. The first writer's key wins; every later caller
        adopts it."""

    # Guardrails.
    @abstractmethod
    async def reserve(self, reservations: Sequence[Reservation], ttl_ms: int = 2 * DAY_MS) -> str | None:
        """Atomically add every amount if no cap would be exceeded and return None; else add nothing and
        return the `reason` of the first reservation that would exceed its cap."""

    @abstractmethod
    async def release(self, reservations: Sequence[Reservation]) -> None:
        """Give back what `reserve` added (a counter never goes below zero)."""

    @abstractmethod
    async def counter(self, name: str) -> int:
        """The current value of a guardrail counter (0 if absent or expired)."""

    # Queue.
    async def enqueue(self, key: bytes, payload: bytes) -> None:
        """Queue one job; raises `QueueFull` (and counts the drop) when the queue is at its bound."""
        (accepted,) = await self.enqueue_many([(key, payload)])
        if not accepted:
            raise QueueFull(f"the job queue is full ({self.max_queue} jobs not yet acknowledged)")

    @abstractmethod
    async def enqueue_many(self, items: Sequence[tuple[bytes, bytes]]) -> list[bool]:
        """Queue jobs in order while there is room; False for each refused (counted as dropped)."""

    @abstractmethod
    async def dequeue(self, consumer: str, count: int = 1, block_ms: int = 0) -> list[Delivery]:
        """Up to `count` waiting jobs for `consumer`, waiting up to `block_ms` for one (0: do not wait)."""

    @abstractmethod
    async def claim_stale(self, consumer: str, min_idle_ms: int, count: int = 100) -> list[Delivery]:
        """Take over jobs in flight for at least `min_idle_ms` (their consumer died or hangs). A job that
        would exceed `max_deliveries` moves to the dead-letter list instead of being returned."""

    @abstractmethod
    async def ack(self, ids: Sequence[str]) -> int:
        """Acknowledge (and delete) deliveries; returns how many were in flight (an id acks once)."""

    @abstractmethod
    async def dead_letters(self, count: int = 100) -> list[Delivery]: ...

    @abstractmethod
    async def queue_stats(self) -> QueueStats: ...

    # Leases.
    @abstractmethod
    async def acquire_lease(self, name: str, holder: str, ttl_ms: int) -> bool:
        """Take `name` for `ttl_ms` if free or expired (or extend it if `holder` has it)."""

    @abstractmethod
    async def renew_lease(self, name: str, holder: str, ttl_ms: int) -> bool:
        """Extend a lease `holder` still has; False means it was lost (expired, taken): stop acting on it."""

    @abstractmethod
    async def release_lease(self, name: str, holder: str) -> bool:
        """Give a lease up; False if `holder` no longer had it."""

    @abstractmethod
    async def lease_holder(self, name: str) -> str | None: ...
