"""The copy pipeline of one instance: signals in, executed copies out, every step recorded.

Intake (per batch of signals): local dedup (Rust TTL set) → shard ownership → shared dedup (SET NX PX) →
fan-out (Rust index) → guardrails (atomic reservations) → PENDING prewrite (group-committed) → queue. The
await of `on_signals` returns once every job of the batch is durably PENDING and queued (or recorded
SKIPPED), which is when the detector may move its checkpoint.

Workers: dequeue → check the record is still PENDING and never broadcast (a redelivered or cancelled job is
acknowledged and dropped, so nothing executes twice) → `engine.execute(job, journal)` → mark the outcome →
acknowledge; a copy that did not happen gives its guardrail reservation back.

A `removed: true` signal (a reorg retracted the leader's log) cancels the copies it caused that have not
executed yet and flags the executed ones `reorged`.

Caps follow the store: a PENDING or EXECUTED record holds its guardrail reservation, nothing else does. So an
insert retried after a COMMIT whose reply was lost keeps the reservations of the rows it did store (known by
their intake token) and queues them; a shared state that lost its counters is seeded from the store's
PENDING and EXECUTED rows (plus the admissions in flight here); a job claimed past its delivery limit is
dead-lettered in the store and keeps its reservation until `dlq retry` or `dlq drop`.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import itertools
import logging
import time
import uuid
from collections import Counter, deque
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from polyhunter._core import (
    NO_LOG_INDEX,
    CopyIntent,
    DedupCache,
    FanoutIndex,
    Intents,
    LeaderExit,
    LogDecoder,
    Signal,
    keccak256,
    shard_of,
)
from polyhunter.errors import DecodeError
from polyhunter.eventloop import Wakeup
from polyhunter.execution.base import (
    UNCONFIRMED,
    ExecutionEngine,
    ExecutionResult,
    JobRelinquished,
    execute_guarded,
)
from polyhunter.logformat import short_token_id
from polyhunter.models import CopyJob, CopyQuality, SkipReason, TradeStatus, copy_key, now_ms
from polyhunter.report.quality import copy_quality
from polyhunter.shared.base import Delivery, Reservation, SharedState
from polyhunter.store.base import PENDING_ONLY, Mark, Store, StoreJournal, mark_op
from polyhunter.supervisor.guardrails import Guardrails, utc_day
from polyhunter.supervisor.market import MarketBook

log = logging.getLogger(__name__)

PRICE_SCALE = 1_000_000
LOCAL_SWEEP_S = 60.0  # jobs queued here but run elsewhere are forgotten after this long
ORPHAN_SCAN_S = 5.0  # how often an idle worker looks in the store for PENDING jobs no queue holds
ZERO_SIZE = "zero_size"  # a leader fill of no tokens: counted, never copied
ZERO_PRICE = "zero_price"  # a leader fill at a price of 0: counted, never copied
SAMPLES = 200_000  # latency samples kept for percentiles; older ones are dropped so memory stays bounded
UNLOGGED = -1
"""The log index a copy records when made from a sighting without a log (NO_LOG_INDEX fits no BIGINT)."""
CUT_TO_HOLDING = "cut_to_holding"
"""The reason an EXECUTED SELL records when it sold less than the leader-sized amount because the Proxy
held less (docs/seams.md "Leaders' exits")."""
NO_HOLDING = "no_holding"
"""The reason a SELL is SKIPPED with when the Proxy held none of the token: cut to a holding of nothing."""


@dataclass
class PipelineConfig:
    shard_count: int = 1
    shard_index: int = 0
    dedup_ttl_ms: int = 60_000
    pending_expiry_ms: int = 300_000
    exec_concurrency: int = 1024
    drain_interval_ms: int = 500
    claim_idle_ms: int = 30_000
    consumer: str = "supervisor-0"
    drain_timeout_s: float = 180.0
    """At shutdown, how long executions in flight may take to finish (a multi-step on-chain flow)."""


@dataclass
class PipelineStats:
    signals: int = 0
    rejects: int = 0
    removed: int = 0
    duplicates: int = 0
    not_owned: int = 0
    intents: int = 0
    queued: int = 0
    skipped: Counter[str] = field(default_factory=Counter)
    executed: int = 0
    failed: int = 0
    relinquished: int = 0
    """Jobs dropped by a worker because they were cancelled or claimed elsewhere before anything was sent."""
    cancelled: int = 0
    reorged: int = 0
    redelivered_dropped: int = 0
    dead_lettered: int = 0
    """Jobs this instance dead-lettered (claimed past the delivery limit); the store counts them all."""
    cut_to_holding: int = 0
    """Executed SELLs cut to what the follower's Proxy still held (recorded with reason `cut_to_holding`)."""
    refills: int = 0
    """Times the queue was refilled from the store after the shared state lost its data."""
    max_depth: int = 0
    lag_ms: deque[float] = field(default_factory=lambda: deque(maxlen=SAMPLES))
    """Queue lag of the latest executed jobs: from enqueue to the start of execution (bounded memory)."""
    latency_ms: deque[float] = field(default_factory=lambda: deque(maxlen=SAMPLES))
    """From the leader's log being decoded to our execution's end (latest jobs)."""
    intake_commit_ms: deque[float] = field(default_factory=lambda: deque(maxlen=SAMPLES))
    """How long each intake batch waited for the store's commit that made its jobs durable (latest batches):
    the one wait between a fill's sighting and the hand-off of its copies to the engine."""


@dataclass(frozen=True)
class KeyedSignal:
    """A live signal taken in under a dedup key of the caller's: a fill copied from its first sighting
    (`SUPERVISOR_ACT_ON=first`), keyed on its fill identity (docs/seams.md), not on the signal's own."""

    signal: Signal
    key: bytes
    copied: Signal | None = None
    """For a top-up: the sighting the fill's earlier copies were sized on; each new copy is the difference."""
    covers: tuple[bytes, ...] = ()
    """Keys this item's copies stand for once taken in (marked seen in both dedups then): a first copy
    sized on N tokens is the top-up to N that another replica, which copied fewer first, would make."""


@dataclass(slots=True)
class _Local:
    """What this instance remembers of a job it queued itself (for lag, latency and releases)."""

    job: CopyJob
    enqueued_at: float
    seen_at_ns: int
    reservations: list[Reservation]
    claimed: bool = False
    """Inserted already claimed by this worker (`Store.insert_pending(claimer=…)`): run without a claim."""
    source: str = ""
    """The source that saw the fill first (the signal's), stored with the copy's quality."""


class IntakeGate:
    """Many intakes at once, or one retraction alone (a readers-writer lock for one event loop)."""

    def __init__(self) -> None:
        self._active = 0
        self._idle = asyncio.Event()
        self._idle.set()
        self._exclusive = asyncio.Lock()

    @contextlib.asynccontextmanager
    async def shared(self) -> AsyncIterator[None]:
        async with self._exclusive:
            pass  # a retraction holding the gate finishes first
        self._active += 1
        self._idle.clear()
        try:
            yield
        finally:
            self._active -= 1
            if not self._active:
                self._idle.set()

    @contextlib.asynccontextmanager
    async def exclusive(self) -> AsyncIterator[None]:
        async with self._exclusive:
            await self._idle.wait()
            yield


class Pipeline:
    def __init__(
        self,
        *,
        store: Store,
        shared: SharedState,
        engine: ExecutionEngine,
        index: FanoutIndex,
        guardrails: Guardrails,
        config: PipelineConfig,
        decoder: LogDecoder | None = None,
        balances: Callable[[], dict[str, int]] | None = None,
        on_event: Callable[[str, dict[str, Any]], None] | None = None,
        market: MarketBook | None = None,
    ) -> None:
        self.store = store
        self.shared = shared
        self.engine = engine
        self.index = index
        self.guardrails = guardrails
        self.config = config
        self.decoder = decoder
        self.balances = balances
        self.on_event = on_event
        self.market = market or MarketBook()
        self.holding_of: Callable[[str, int], Awaitable[int]] | None = None
        """A Proxy's balance of an outcome token now (the CTF's `balanceOf`): tells a SELL cut to the holding
        from one the venue's rounding or a partial fill left short. None: no SELL is taken for cut."""
        self.exit_sink: Callable[[list[LeaderExit]], Awaitable[None]] | None = None
        """Where decoded leaders' exits go (`detector.exits.ExitFollower.on_exits`); None: dropped."""
        self.stats = PipelineStats()
        self.dedup = DedupCache(config.dedup_ttl_ms, 1_000_000)
        self._local: dict[bytes, _Local] = {}
        self._inflight: set[asyncio.Task[None]] = set()
        self._acks: list[str] = []
        self._ack_timer: asyncio.TimerHandle | None = None
        self._ack_tasks: set[asyncio.Task[int]] = set()
        self._running: set[bytes] = set()  # keys executing here now: a duplicate delivery of one is dropped
        self._retracted: set[bytes] = set()  # dedup keys of logs a reorg removed (they may come back)
        self._free = config.exec_concurrency
        self._slot_freed = asyncio.Event()
        self._wake = Wakeup()
        self._gate = IntakeGate()
        # Reservations taken for jobs not yet known stored: counted in when a lost shared state is seeded.
        self._admitting: dict[bytes, list[Reservation]] = {}
        # Admissions whose insert had an unknown outcome and could not be settled at once.
        self._unresolved: list[
            tuple[str, list[CopyJob], dict[bytes, list[Reservation]], dict[bytes, int]]
        ] = []
        self._refill = False
        shared.on_loss(self._loss_seeds, self._state_restored)
        # Intake tokens: unique per call and per process, without a random draw per call.
        self._intake_prefix = uuid.uuid4().hex[:16] + "-"
        self._intakes = itertools.count(1)
        # Jobs queued here run here when the queue is this process's alone: claimed when inserted.
        shared.attach_consumer(config.consumer)
        self._execute_many: Callable[..., Any] | None = getattr(engine, "execute_many", None)

    def _emit(self, kind: str, **data: Any) -> None:
        if self.on_event is not None:
            self.on_event(kind, data)

    # -- intake --------------------------------------------------------------------------------------
    async def on_raw(self, raw: bytes, origin: str) -> None:
        """The detector's sink: decode JSON-RPC bytes in Rust, then take the signals in."""
        assert self.decoder is not None, "a pipeline fed raw bytes needs a decoder"
        try:
            decoded = self.decoder.decode(raw)
        except DecodeError as exc:
            # One malformed notification is logged and counted; it never stops the supervisor.
            self.stats.rejects += 1
            log.warning("rejected %s message: %s", origin, exc)
            return
        self.stats.rejects += len(decoded.rejects)
        for reject in decoded.rejects:
            log.warning("rejected log #%d from %s: %s", reject.index, origin, reject.reason)
        if decoded.signals:
            await self.on_signals(decoded.signals, replay=origin == "backfill")
        await self.on_exits(decoded.exits)

    async def on_exits(self, exits: list[LeaderExit]) -> None:
        """Leaders' merges and redemptions (never signals) go to the exit sink."""
        if exits and self.exit_sink is not None:
            await self.exit_sink(exits)

    async def on_signals(self, signals: Sequence[Signal], *, replay: bool = False) -> None:
        """Takes a batch in; returns once each of its jobs is durably PENDING and queued, or SKIPPED.

        Batches are taken in concurrently; a retraction waits until no batch is being taken in, so it
        always sees the copies of the log it retracts. A `replay` (a backfill after a reconnect or a
        restart) passes the dedup caches: they may remember a log whose intake failed or was cut short by a
        crash, and the store's idempotency key alone decides what is new.
        """
        self.stats.signals += len(signals)
        live = [s for s in signals if not s.removed]
        retracted = [s for s in signals if s.removed]
        if live:
            async with self._gate.shared():
                await self._take(live, replay)
        if retracted:
            async with self._gate.exclusive():
                await self._retract(retracted)

    async def _take(self, live: Sequence[Signal], replay: bool) -> None:
        if self._retracted and any(s.dedup_key in self._retracted for s in live):
            # A log a reorg removed is mined again: the caches remember it, the store revives its copies.
            replay = True
            self._retracted.difference_update(s.dedup_key for s in live)
        firsts = self.dedup.check_and_insert([s.dedup_key for s in live])
        fresh = list(live) if replay else [s for s, first in zip(live, firsts, strict=True) if first]
        self.stats.duplicates += len(live) - len(fresh)
        if self.config.shard_count > 1:
            owned = [
                s for s in fresh if shard_of(s.leader, self.config.shard_count) == self.config.shard_index
            ]
            self.stats.not_owned += len(fresh) - len(owned)
            fresh = owned
        if not fresh:
            return
        shared_firsts = await self.shared.first_sightings(
            [s.dedup_key for s in fresh], self.config.dedup_ttl_ms
        )
        if not replay:
            fresh = [s for s, first in zip(fresh, shared_firsts, strict=True) if first]
            self.stats.duplicates += len(shared_firsts) - len(fresh)
        if not fresh:
            return
        fresh = self._sane(fresh)
        if not fresh:
            return
        self.market.observe(fresh)
        fresh = self.market.priced(fresh)
        for signal in fresh:
            self._emit("signal", signal=signal)
        balances = self.balances() if self.balances is not None else None
        intents = self.index.match(fresh, balances, self.market.min_sizes(fresh))
        self.stats.intents += len(intents)
        # Built in Rust for the whole batch: each job's queue payload and owner, then the jobs themselves.
        _, payloads, owners = intents.jobs()
        jobs: list[CopyJob] = intents.jobs_as(CopyJob)
        seen = [s.seen_at_ns for s in fresh]
        origin = [s.source for s in fresh]
        seen_at: dict[bytes, int] = {}
        sources: dict[bytes, str] = {}
        for job, n in zip(jobs, owners, strict=True):
            seen_at[job.key] = seen[n]
            sources[job.key] = origin[n]
        for signal_index, config_id, reason in intents.skipped:
            # Fan-out skips (filters, no price, below the venue minimum) are counted, not stored: no copy
            # was ever intended, and storing every filtered follower would cost a write per follower.
            self.stats.skipped[reason] += 1
            self._emit("skip", config_id=config_id, reason=reason, signal=fresh[signal_index])
        if jobs:
            await self._admit(jobs, seen_at, sources, intents, payloads)

    async def on_keyed(self, items: Sequence[KeyedSignal], *, replay: bool = False) -> None:
        """Takes live signals in under the caller's keys: the dedup caches use `item.key`, each job's
        idempotency key is keccak256(key ‖ be64(config_id)) and its tx hash, log index and sub index are the
        signal's (what a retraction or an unconfirmed source finds it by). A top-up (`copied` set) copies, per
        config, what sizing `signal` gives beyond what sizing `copied` gave, nothing when that is not more.
        (The caller counts what it takes in: a keyed signal may come from any source.)"""
        async with self._gate.shared():
            keys = [i.key for i in items]
            if self._retracted and any(k in self._retracted for k in keys):
                replay = True  # a fill whose log a reorg removed is confirmed again: revive its copies
                self._retracted.difference_update(keys)
            firsts = self.dedup.check_and_insert(keys)
            fresh = list(items) if replay else [i for i, first in zip(items, firsts, strict=True) if first]
            self.stats.duplicates += len(items) - len(fresh)
            if self.config.shard_count > 1:
                count, index = self.config.shard_count, self.config.shard_index
                owned = [i for i in fresh if shard_of(i.signal.leader, count) == index]
                self.stats.not_owned += len(fresh) - len(owned)
                fresh = owned
            if not fresh:
                return
            shared_firsts = await self.shared.first_sightings(
                [i.key for i in fresh], self.config.dedup_ttl_ms
            )
            if not replay:
                fresh = [i for i, first in zip(fresh, shared_firsts, strict=True) if first]
                self.stats.duplicates += len(shared_firsts) - len(fresh)
            kept = {id(s) for s in self._sane([i.signal for i in fresh])}
            fresh = [i for i in fresh if id(i.signal) in kept]
            if not fresh:
                return
            covered = [k for i in fresh for k in i.covers]
            if covered:
                self.dedup.check_and_insert(covered)
                await self.shared.first_sightings(covered, self.config.dedup_ttl_ms)
            signals = self.market.priced([i.signal for i in fresh])
            self.market.observe(signals)
            owners: list[int] = []
            batch = list(signals)
            for n, item in enumerate(fresh):
                if item.copied is not None:
                    owners.append(n)
                    batch.append(item.copied)
            balances = self.balances() if self.balances is not None else None
            intents = self.index.match(batch, balances, self.market.min_sizes(batch))
            before: dict[tuple[int, int], int] = {}
            for intent in intents:
                if intent.signal_index >= len(signals):
                    before[(owners[intent.signal_index - len(signals)], intent.config_id)] = intent.amount
            jobs: list[CopyJob] = []
            seen_at: dict[bytes, int] = {}
            sources: dict[bytes, str] = {}
            for intent in intents:
                n = intent.signal_index
                if n >= len(signals):
                    continue
                amount = intent.amount - before.get((n, intent.config_id), 0)
                if amount <= 0:
                    continue
                key = keccak256(fresh[n].key + intent.config_id.to_bytes(8, "big"))
                log_index = stored_log_index(signals[n])
                job = replace(job_of(intent, signals[n]), key=key, amount=amount, log_index=log_index)
                self.stats.intents += 1
                jobs.append(job)
                seen_at[key] = signals[n].seen_at_ns
                sources[key] = signals[n].source
            for n, config_id, reason in intents.skipped:
                if n < len(signals):
                    self.stats.skipped[reason] += 1
                    self._emit("skip", config_id=config_id, reason=reason, signal=signals[n])
            if jobs:
                await self._admit(jobs, seen_at, sources)

    async def unconfirmed(
        self, keys: Sequence[bytes], leader: str, flag: str, *, copies: Sequence[bytes] = ()
    ) -> list[bytes]:
        """A fill whose log did not come in time: the copies made under its dedup `keys` (the fill's key
        and its top-ups', `KeyedSignal.key`) for `leader`'s configs are flagged `flag` in the store; those
        not started yet are cancelled with `flag` as reason (their cap reservations released). Nothing else
        is undone: executed copies stay as they are for an operator to judge. By key, never by (tx, log
        index, sub index): feed frames all sit at position 0, and another leader's copies may share it.
        `copies`: copies' own keys, flagged as well (found by the store after a restart)."""
        configs = await self.store.list_configs(leader=leader) if keys else []
        candidates = [copy_key(k, c.config_id) for k in dict.fromkeys(keys) for c in configs]
        candidates += copies
        found = await self.store.flag_keys(candidates, flag) if candidates else []
        quiet = await self.store.executable(found)
        for key in found:
            if key in quiet and await self.store.mark(key, TradeStatus.CANCELLED, flag):
                self.stats.cancelled += 1
                local = self._local.pop(key, None)
                if local is not None:
                    await self._release(local.reservations)
        return found

    def _sane(self, signals: list[Signal]) -> list[Signal]:
        """Drops fills that cannot be right before anything is sized or reserved: no tokens, or a known
        price of zero (a log of zero amounts is valid on chain but is no trade to copy). Counted."""
        kept: list[Signal] = []
        for signal in signals:
            if signal.size == 0:
                reason = ZERO_SIZE
            elif signal.price_den and not signal.price_num:
                reason = ZERO_PRICE
            else:
                kept.append(signal)
                continue
            self.stats.skipped[reason] += 1
            self._emit("skip", config_id=0, reason=reason, signal=signal)
        return kept

    async def _admit(
        self,
        jobs: list[CopyJob],
        seen_at: dict[bytes, int],
        sources: dict[bytes, str] | None = None,
        intents: Intents | None = None,
        payloads: list[bytes] | None = None,
    ) -> None:
        """Reserves, prewrites PENDING (refused copies SKIPPED) and queues one batch's jobs. `seen_at` and
        `sources`: each job's first sighting and the source of it, by key. `intents` and `payloads` (from
        `Intents.jobs`, in the order of `jobs`) give the store rows and queue payloads ready-made when every
        job is admitted."""
        day = utc_day()
        admitted: list[CopyJob] = []
        refused: list[tuple[CopyJob, str]] = []
        held: dict[bytes, list[Reservation]] = {}
        whole = _admits_everything(self.guardrails)
        if whole:
            admitted = jobs  # no cap, allowlist or trade bound: nothing to reserve or check per job
        else:
            payloads = None
            for job in jobs:
                reason, reservations = await self.guardrails.admit(self.shared, job, day)
                if reason is None:
                    admitted.append(job)
                    held[job.key] = reservations
                else:
                    refused.append((job, reason))
        expires_at = now_ms() + self.config.pending_expiry_ms
        # The token tells this call's rows from a replay's when a COMMIT's reply is lost and retried.
        intake = f"{self._intake_prefix}{next(self._intakes)}"
        consumer = self.config.consumer
        claimer = consumer if self.shared.sole_consumer(consumer) else None
        rows = intents.rows(now_ms(), expires_at, intake, claimer) if whole and intents is not None else None
        self._admitting.update(held)
        began = time.perf_counter()
        try:
            pending = self.store.insert_pending(admitted, expires_at, intake, claimer=claimer, rows=rows)
            if refused:
                # One group commit takes both: refused copies are SKIPPED from their first row, never PENDING.
                inserted, skipped = await asyncio.gather(pending, self.store.insert_skipped(refused))
            else:
                inserted, skipped = await pending, set()
        except asyncio.CancelledError:
            self._unresolved.append((intake, admitted, held, seen_at))
            raise
        except Exception:
            # Rows may be stored although the call failed: they keep their reservations and are queued.
            await self._settle(intake, admitted, held, seen_at)
            raise
        finally:
            for key in held:
                self._admitting.pop(key, None)
        waited_ms = (time.perf_counter() - began) * 1000
        self.stats.intake_commit_ms.append(waited_ms)
        self._emit("intake_commit", latency_ms=waited_ms, jobs=len(admitted) + len(refused))
        # A job already stored (a replay after a restart) is neither queued again nor re-reserved: its
        # record holds the reservation it was admitted with.
        if len(inserted) < len(admitted):
            for job in admitted:
                if job.key not in inserted:
                    await self._release(held.pop(job.key, []))
            if payloads is not None:
                payloads = [p for j, p in zip(admitted, payloads, strict=True) if j.key in inserted]
            admitted = [j for j in admitted if j.key in inserted]
        for job, reason in refused:
            if job.key in skipped:
                self.stats.skipped[reason] += 1
                self._emit("skip", config_id=job.config_id, reason=reason, job=job)
        await self._queue(
            admitted, held, seen_at, claimed=claimer is not None, payloads=payloads, sources=sources
        )

    async def _settle(
        self,
        intake: str,
        jobs: list[CopyJob],
        held: dict[bytes, list[Reservation]],
        seen_at: dict[bytes, int],
    ) -> bool:
        """After an insert with an unknown outcome: the jobs stored under `intake` are this call's (queued,
        reservations kept), the others were never stored (released). False when the store cannot say yet
        (kept for the idle loop to settle: meanwhile their reservations stay held, which errs safe)."""
        try:
            ours = await self.store.inserted_by([j.key for j in jobs], intake) if jobs else set()
        except Exception as exc:
            log.warning(
                "intake %s: which of %d copies were stored is unknown yet: %s", intake, len(jobs), exc
            )
            self._unresolved.append((intake, jobs, held, seen_at))
            return False
        for job in jobs:
            if job.key not in ours:
                await self._release(held.pop(job.key, []))
        if ours:
            log.warning(
                "intake %s: %d copies were stored although the insert failed; queued", intake, len(ours)
            )
        await self._queue([j for j in jobs if j.key in ours], held, seen_at)
        return True

    async def _settle_unresolved(self) -> None:
        pending, self._unresolved = self._unresolved, []
        for index, (intake, jobs, held, seen_at) in enumerate(pending):
            if not await self._settle(intake, jobs, held, seen_at):
                self._unresolved.extend(pending[index + 1 :])  # the store is still away: later
                return

    async def _queue(
        self,
        admitted: list[CopyJob],
        held: dict[bytes, list[Reservation]],
        seen_at: dict[bytes, int],
        *,
        claimed: bool = False,
        payloads: list[bytes] | None = None,
        sources: dict[bytes, str] | None = None,
    ) -> None:
        """Queues a signal's admitted jobs together; those the queue's bound refuses are recorded SKIPPED
        (`queue_full`) in one operation, counted and released, never silently lost. `payloads`, when
        given, are the jobs' `to_bytes()` already made."""
        if not admitted:
            return
        now = time.monotonic()
        if payloads is None:
            payloads = [job.to_bytes() for job in admitted]
        accepted = await self.shared.enqueue_many(
            [(j.key, p) for j, p in zip(admitted, payloads, strict=True)]
        )
        refused: list[CopyJob] = []
        local = self._local
        emit = self.on_event is not None
        for job, ok in zip(admitted, accepted, strict=True):
            if ok:
                key = job.key
                source = sources.get(key, "") if sources is not None else ""
                local[key] = _Local(job, now, seen_at.get(key, 0), held.get(key, []), claimed, source)
                if emit:
                    self._emit("queued", job=job)
            else:
                refused.append(job)
        queued = len(admitted) - len(refused)
        if queued:
            self.stats.queued += queued
            self._wake.set()
        if refused:
            reason = SkipReason.QUEUE_FULL.value
            await self.store.mark_many([mark_op(j.key, TradeStatus.SKIPPED, reason) for j in refused])
            await self._release([r for j in refused for r in held.get(j.key, ())])
            self.stats.skipped[reason] += len(refused)
            for job in refused:
                self._emit("skip", config_id=job.config_id, reason=reason, job=job)

    async def _release(self, reservations: list[Reservation]) -> None:
        if reservations:
            await self.shared.release(reservations)

    async def _retract(self, signals: Sequence[Signal]) -> None:
        """A reorg removed these logs: cancel their copies not yet executed, flag the executed ones."""
        self.stats.removed += len(signals)
        if len(self._retracted) > 100_000:
            self._retracted.clear()  # bounded memory; the backfill after a reconnect still revives
        self._retracted.update(s.dedup_key for s in signals)
        for signal in signals:
            keys = await self.store.flag_reorged(signal.tx_hash, stored_log_index(signal), signal.sub_index)
            # Only copies with nothing journaled are cancelled: one mid-flow stays PENDING (flagged) so that
            # recovery finishes it or returns the funds, rather than hiding it as CANCELLED.
            quiet = await self.store.executable(keys)
            for key in keys:
                if key in quiet and await self.store.mark(key, TradeStatus.CANCELLED, "reorged"):
                    self.stats.cancelled += 1
                    local = self._local.pop(key, None)
                    if local is not None:
                        await self._release(local.reservations)
                else:
                    self.stats.reorged += 1
            log.warning(
                "leader log %s#%d removed by a reorg: %d copies cancelled or flagged",
                signal.tx_hash.hex(),
                signal.log_index,
                len(keys),
            )
            self._emit("removed", signal=signal, keys=keys)

    async def seed_guardrails(self) -> None:
        """In-memory caps start at zero: count today's copies that hold a reservation back in, so a restart
        never resets a daily cap. (Redis keeps its counters across restarts of the instances.)"""
        if self.shared.backend != "memory" or not (
            self.guardrails.daily_cap_usd is not None or self.guardrails.wallet_daily_cap_usd is not None
        ):
            return
        day = utc_day()
        midnight = int(dt.datetime.strptime(day, "%Y-%m-%d").replace(tzinfo=dt.UTC).timestamp() * 1000)
        usage = await self.store.daily_notional(midnight)
        seeds = [Reservation(f"daily:{day}", sum(usage.values()), None)]
        seeds += [Reservation(f"wallet:{day}:{follower}", usd, None) for follower, usd in usage.items()]
        await self.shared.reserve(seeds)
        log.info(
            "guardrails: today's usage so far %d base units over %d followers", seeds[0].amount, len(usage)
        )

    async def _loss_seeds(self) -> list[Reservation]:
        """What the counters hold by the store of record (today's PENDING and EXECUTED copies) plus the
        reservations of admissions in flight here: the values a shared state that lost its data restores."""
        g = self.guardrails
        if g.daily_cap_usd is None and g.wallet_daily_cap_usd is None:
            return []
        day = utc_day()
        midnight = int(dt.datetime.strptime(day, "%Y-%m-%d").replace(tzinfo=dt.UTC).timestamp() * 1000)
        usage = Counter(await self.store.daily_notional(midnight))
        total = sum(usage.values())
        for reservations in list(self._admitting.values()):
            for r in reservations:
                if r.counter == f"daily:{day}":
                    total += r.amount
                elif r.counter.startswith(f"wallet:{day}:"):
                    usage[r.counter.removeprefix(f"wallet:{day}:")] += r.amount
        seeds = []
        if g.daily_cap_usd is not None:
            seeds.append(Reservation(f"daily:{day}", total, None))
        if g.wallet_daily_cap_usd is not None:
            seeds += [Reservation(f"wallet:{day}:{follower}", usd, None) for follower, usd in usage.items()]
        return seeds

    def _state_restored(self) -> None:
        """The shared state lost its queue: the workers refill it from the store at their next turn."""
        self._refill = True
        self._wake.set()

    async def _refill_queue(self) -> None:
        """Queues every PENDING job never broadcast that is not running here (the queue was wiped)."""
        records = [r for r in await self.store.unbroadcast_pending() if r.key not in self._running]
        accepted = await self.shared.enqueue_many([(r.key, r.to_job().to_bytes()) for r in records])
        self._refill = False  # only once queued: a refill that failed is tried again at the next turn
        self.stats.refills += 1
        log.warning("shared state restored: %d PENDING jobs queued again from the store", sum(accepted))

    # -- workers -------------------------------------------------------------------------------------
    async def requeue_unbroadcast(self) -> int:
        """On start: PENDING records that were never broadcast go back to the queue (their job exists)."""
        records = await self.store.unbroadcast_pending()
        if not records:
            return 0
        stats = await self.shared.queue_stats()
        if stats.length:
            # They may still be in the shared queue (another instance queued them); a duplicate delivery
            # is harmless (the worker checks the record), a lost one is not.
            log.info("requeue: %d jobs already wait in the shared queue", stats.length)
        accepted = await self.shared.enqueue_many([(r.key, r.to_job().to_bytes()) for r in records])
        log.info("requeued %d PENDING jobs never broadcast", sum(accepted))
        return sum(accepted)

    def _sweep_local(self, before: float) -> None:
        """Forgets jobs queued here before `before` that no worker here took: with a shared queue another
        instance ran them (and released their reservations itself), so the memory stays bounded."""
        stale: list[bytes] = []
        for key, local in self._local.items():
            if local.enqueued_at >= before:
                break  # in the order queued: every later one is as recent
            stale.append(key)
        for key in stale:
            del self._local[key]

    async def _requeue_orphans(self) -> None:
        """An idle worker looks in the store for PENDING jobs never broadcast that no queue holds any more
        (their enqueue failed after the prewrite, say) and queues them again; the claim keeps a job that
        was in a queue after all from running twice."""
        try:
            horizon = now_ms() - self.config.claim_idle_ms
            orphans = [
                r for r in await self.store.unbroadcast_pending(limit=1000)
                if r.created_at < horizon and r.key not in self._running
            ]  # fmt: skip
            if orphans:
                accepted = await self.shared.enqueue_many([(r.key, r.to_job().to_bytes()) for r in orphans])
                log.warning("requeued %d PENDING jobs that no queue held", sum(accepted))
        except Exception:
            log.exception("orphan scan failed; the next idle moment retries")

    async def run_workers(self, stop: asyncio.Event) -> None:
        """Consumes the queue until `stop`, with up to `exec_concurrency` executions in flight."""
        interval_s = self.config.drain_interval_ms / 1000
        last_claim = last_orphan_scan = last_sweep = time.monotonic()
        while not stop.is_set():
            free = self._free
            if free == 0:
                self._slot_freed.clear()
                await self._slot_freed.wait()
                continue
            self._wake.clear()  # before the fetch: an enqueue after this point wakes the wait below
            try:
                if self._refill:
                    await self._refill_queue()
                deliveries = await self.shared.dequeue(self.config.consumer, count=min(free, 512))
                if time.monotonic() - last_claim > interval_s:
                    last_claim = time.monotonic()
                    deliveries += await self.shared.claim_stale(
                        self.config.consumer, self.config.claim_idle_ms, count=max(1, free - len(deliveries))
                    )
            except Exception:
                # The shared queue is unreachable for a moment: the workers wait and try again, never stop.
                log.exception("dequeue failed; retrying in %.1fs", max(1.0, interval_s))
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), max(1.0, interval_s))
                continue
            if time.monotonic() - last_sweep > LOCAL_SWEEP_S:
                last_sweep = time.monotonic()
                self._sweep_local(last_sweep - LOCAL_SWEEP_S)
            if not deliveries:
                if time.monotonic() - last_orphan_scan > max(interval_s, ORPHAN_SCAN_S):
                    last_orphan_scan = time.monotonic()
                    if self._unresolved:
                        await self._settle_unresolved()
                    await self._requeue_orphans()
                await self._wake.wait(interval_s)
                continue
            # The slots are taken now and the claim runs beside the next fetch: the loop never waits on
            # a commit while slots are free.
            self._free -= len(deliveries)
            task = asyncio.create_task(self._start(deliveries))
            self._inflight.add(task)
            task.add_done_callback(self._inflight.discard)
        await self.drain(self.config.drain_timeout_s)

    async def _start(self, deliveries: list[Delivery]) -> None:
        """Claims a fetched batch in the store, then starts what was claimed (each holding its slot).

        The claim is the guard against running a job twice: a job handed to two instances (a requeue at
        start, a redelivery) is claimed by one worker only; a cancelled, finished or already broadcast
        one by none (recovery reconciles broadcast ones from the chain).
        """
        # A job running here is not claimed again: a second claim would count as one more attempt. One
        # this worker inserted already claimed is runnable as it is (its first delivery here).
        running, local = self._running, self._local
        keys: list[bytes] = []
        runnable: set[bytes] = set()
        for d in deliveries:
            if d.key in running:
                continue
            entry = local.get(d.key)
            if entry is not None and entry.claimed and d.deliveries == 1:
                runnable.add(d.key)
            else:
                keys.append(d.key)
        try:
            outcome = await self.store.claim_jobs(
                keys, self.config.consumer, self.config.claim_idle_ms, self.shared.max_deliveries
            )
        except Exception:
            log.exception("claiming %d jobs failed; they will be redelivered", len(deliveries))
            for _ in deliveries:
                self._release_slot()
            return
        runnable |= outcome.runnable
        if outcome.dead:
            self.stats.dead_lettered += len(outcome.dead)
            for key in outcome.dead:
                log.error(
                    "job %s dead-lettered after %d deliveries: `polyhunter dlq list` shows it",
                    key.hex(),
                    self.shared.max_deliveries,
                )
                self._emit("dead_letter", key=key)
        batch: list[Delivery] = []
        for delivery in deliveries:
            if delivery.key not in runnable or delivery.key in running:
                self.stats.redelivered_dropped += 1
                self._ack_later(delivery.id)
                self._release_slot()
                continue
            running.add(delivery.key)
            if self._execute_many is not None:
                batch.append(delivery)
                continue
            task = asyncio.create_task(self._run_one(delivery))
            self._inflight.add(task)
            task.add_done_callback(self._inflight.discard)
        if batch:
            # The engine runs a batch at once: one mark and one ack for all of it, in this task (one of
            # `_inflight`), without another loop iteration before the engine's call.
            await self._run_batch(batch)

    async def drain(self, timeout_s: float = 30.0) -> None:
        """Waits for the executions in flight (at shutdown); what is left stays PENDING for the next start."""
        deadline = time.monotonic() + timeout_s
        # A batch being claimed starts its executions after this began: wait until nothing is left.
        while self._inflight and time.monotonic() < deadline:
            await asyncio.wait(set(self._inflight), timeout=deadline - time.monotonic())
        await self.flush_acks()

    def _ack_later(self, delivery_id: str) -> None:
        """Acknowledges in batches (one round trip per batch on Redis). An ack lost in a crash only means
        a redelivery, which the claim drops: the record is no longer PENDING."""
        self._acks.append(delivery_id)
        self._ack_soon()

    def _ack_many(self, delivery_ids: list[str]) -> None:
        self._acks.extend(delivery_ids)
        self._ack_soon()

    def _ack_soon(self) -> None:
        if len(self._acks) >= 256:
            self._flush_acks_soon()
        elif self._ack_timer is None:
            self._ack_timer = asyncio.get_running_loop().call_later(0.005, self._flush_acks_soon)

    def _flush_acks_soon(self) -> None:
        if self._ack_timer is not None:
            self._ack_timer.cancel()
            self._ack_timer = None
        if self._acks:
            ids, self._acks = self._acks, []
            task = asyncio.create_task(self.shared.ack(ids))
            self._ack_tasks.add(task)
            task.add_done_callback(self._ack_tasks.discard)

    async def flush_acks(self) -> None:
        self._flush_acks_soon()
        if self._ack_tasks:
            await asyncio.gather(*self._ack_tasks, return_exceptions=True)

    def _release_slot(self, count: int = 1) -> None:
        self._free += count
        self._slot_freed.set()

    async def _run_batch(self, deliveries: list[Delivery]) -> None:
        """Runs a claimed batch through the engine's `execute_many`: one task, one mark, one ack."""
        holding = len(deliveries)
        ran: list[Delivery] = []
        try:
            jobs: list[CopyJob] = []
            locals_: list[_Local | None] = []
            journals: list[_LiveJournal] = []
            now = time.monotonic()
            lags = self.stats.lag_ms
            store, consumer = self.store, self.config.consumer
            for delivery in deliveries:
                local = self._local.pop(delivery.key, None)
                if local is not None:
                    job = local.job
                    lags.append((now - local.enqueued_at) * 1000)
                else:
                    try:
                        job = CopyJob.from_bytes(delivery.payload)
                    except Exception:
                        # Left unacknowledged: redelivered, and the dead-letter list ends a poison job.
                        log.exception("job %s crashed; it will be redelivered", delivery.key.hex())
                        continue
                ran.append(delivery)
                jobs.append(job)
                locals_.append(local)
                journals.append(_LiveJournal(store, job.key, consumer, self._first_sent(job, local)))
            self._handed_off(locals_)
            results = await self._engine_many(jobs, journals)
            # Recording the outcomes does not hold execution slots; the keys stay "running" until acked.
            self._release_slot(holding)
            holding = 0
            await self._finish_many(jobs, results, locals_)
            self._ack_many([d.id for d in ran])
        except Exception:
            log.exception("a batch of %d jobs crashed; they will be redelivered", len(deliveries))
        finally:
            for delivery in deliveries:
                self._running.discard(delivery.key)
            if holding:
                self._release_slot(holding)

    def _handed_off(self, locals_: Sequence[_Local | None]) -> None:
        """Reports (event `handoff`) each job's time from its fill's first sighting to the engine's call, for
        jobs queued here (whose sighting time is known); one event per batch."""
        if self.on_event is None:
            return
        now_ns = time.time_ns()
        waited = [(now_ns - x.seen_at_ns) / 1e6 for x in locals_ if x is not None and x.seen_at_ns]
        if waited:
            self._emit("handoff", latencies_ms=waited)

    def _first_sent(self, job: CopyJob, local: _Local | None) -> Callable[[], None] | None:
        """Reports (event `first_tx`) the time from the leader's log to the job's first transaction or order,
        journaled right before it is sent; only for jobs queued here (whose log time is known)."""
        if self.on_event is None or local is None or not local.seen_at_ns:
            return None
        seen_at_ns = local.seen_at_ns
        return lambda: self._emit("first_tx", job=job, latency_ms=(time.time_ns() - seen_at_ns) / 1e6)

    async def _engine_many(self, jobs: list[CopyJob], journals: list[_LiveJournal]) -> list[ExecutionResult]:
        assert self._execute_many is not None
        try:
            results: list[ExecutionResult] = await self._execute_many(jobs, journals)
            if len(results) != len(jobs):
                raise RuntimeError(f"execute_many returned {len(results)} results for {len(jobs)} jobs")
            return results
        except Exception as exc:
            log.exception("engine %s failed a batch of %d jobs", self.engine.name, len(jobs))
            reason = f"engine_error: {type(exc).__name__}: {exc}"
            # A job with something journaled may be on chain: recovery settles it from the journal.
            return [
                ExecutionResult(TradeStatus.FAILED, f"{UNCONFIRMED}: {reason}" if j.recorded else reason)
                for j in journals
            ]

    async def _run_one(self, delivery: Delivery) -> None:
        holding = True
        try:
            local = self._local.pop(delivery.key, None)
            # A job queued here is known already; one from another instance is parsed from its payload.
            job = local.job if local is not None else CopyJob.from_bytes(delivery.payload)
            if local is not None:
                self.stats.lag_ms.append((time.monotonic() - local.enqueued_at) * 1000)
            journal = _LiveJournal(self.store, job.key, self.config.consumer, self._first_sent(job, local))
            self._handed_off([local])
            result = await execute_guarded(self.engine, job, journal)
            # Recording the outcome does not hold an execution slot; the key stays "running" until acked.
            holding = False
            self._release_slot()
            await self._finish(job, result, local)
            self._ack_later(delivery.id)
        except Exception:
            # Left unacknowledged: the queue redelivers it, and the dead-letter list ends a poison job.
            log.exception("job %s crashed; it will be redelivered", delivery.key.hex())
        finally:
            self._running.discard(delivery.key)
            if holding:
                self._release_slot()

    async def _execute(self, delivery: Delivery) -> None:
        """Runs one delivery to the end (used by the self-test)."""
        self._free -= 1
        self._running.add(delivery.key)
        await self._run_one(delivery)

    def _reservations(self, job: CopyJob, local: _Local | None) -> list[Reservation]:
        return local.reservations if local is not None else self.guardrails.reservations(job, utc_day())

    async def _finish(self, job: CopyJob, result: ExecutionResult, local: _Local | None) -> None:
        await self._finish_many([job], [result], [local])

    async def _relinquished(self, job: CopyJob, result: ExecutionResult, local: _Local | None) -> None:
        # Nothing was sent here. Claimed by another worker, the record and its cap reservation are that
        # worker's now; cancelled or expired meanwhile, the copy will not happen: the cap is given back.
        log.info("job %s: %s", job.key.hex(), result.reason)
        self.stats.relinquished += 1
        record = await self.store.get_trade(job.key)
        gone = (TradeStatus.CANCELLED, TradeStatus.FAILED)
        if record is not None and record.status in gone and not record.journal:
            await self._release(self._reservations(job, local))

    @staticmethod
    def _quality(
        job: CopyJob, result: ExecutionResult, local: _Local | None, filled_at: int
    ) -> CopyQuality | None:
        """An executed copy's quality row (docs/seams.md "Copy quality"), stored with its EXECUTED mark: the
        delay from this instance's first sighting of the fill (none for a job another instance queued)."""
        if result.status is not TradeStatus.EXECUTED:
            return None
        seen_ms = local.seen_at_ns // 1_000_000 if local is not None and local.seen_at_ns else None
        source = local.source if local is not None else ""
        return copy_quality(job, result, filled_at=filled_at, source=source, seen_at_ms=seen_ms)

    async def _cut_to_holding(self, job: CopyJob, result: ExecutionResult) -> ExecutionResult:
        """An executed SELL that sold less than its job: cut to the Proxy's holding when what it sold and
        what it holds now (the flow has returned any unsold rest) fall short of the job's amount, i.e. the
        Proxy held less before. A venue's share rounding or a partial fill leaves the rest in the Proxy."""
        if self.holding_of is None or job.side != "SELL":
            return result
        # The engine skips a SELL it cut to nothing as too small: say why, when the Proxy holds none.
        nothing = result.status is TradeStatus.SKIPPED and result.reason == SkipReason.BELOW_MIN_SIZE.value
        short = (
            result.status is TradeStatus.EXECUTED
            and result.reason is None
            and result.fill_size is not None
            and result.fill_size < job.amount
        )
        if not (nothing or short):
            return result
        try:
            left = await self.holding_of(job.proxy, job.token_id)
        except Exception as exc:  # the record is what matters: left unflagged, said so
            log.warning("job %s: holding of %s not read, no cut recorded: %s", job.key.hex(), job.proxy, exc)
            return result
        if nothing:
            return replace(result, reason=NO_HOLDING) if left == 0 else result
        if (result.fill_size or 0) + left >= job.amount:
            return result
        self.stats.cut_to_holding += 1
        return replace(result, reason=CUT_TO_HOLDING)

    async def _finish_many(
        self, jobs: list[CopyJob], results: list[ExecutionResult], locals_: list[_Local | None]
    ) -> None:
        """Records a batch's outcomes in one mark operation, then releases, counts and reports them."""
        marks: list[Mark] = []
        done: list[tuple[CopyJob, ExecutionResult, _Local | None]] = []
        filled_at = now_ms()
        for job, result, local in zip(jobs, results, locals_, strict=True):
            if result.status is TradeStatus.PENDING:
                await self._relinquished(job, result, local)
                continue
            result = await self._cut_to_holding(job, result)
            executed = result.status is TradeStatus.EXECUTED
            marks.append(
                Mark(
                    job.key,
                    result.status,
                    result.reason,
                    result.tx_hashes,
                    # What happened on chain is the truth: a copy executed although a reorg cancelled it
                    # meanwhile is recorded EXECUTED (its `reorged` flag stays), never left CANCELLED.
                    _EXECUTED_FROM if executed else PENDING_ONLY,
                    result.fill_size,
                    result.fill_price_ppm,
                    result.slippage_bps(job),
                    None if result.worker is None else result.worker.lower(),
                    self._quality(job, result, local, filled_at),
                )
                if not result.tx_hashes
                or all(isinstance(h, bytes) and len(h) == 32 for h in result.tx_hashes)
                else mark_op(
                    job.key,
                    result.status,
                    result.reason,
                    result.tx_hashes,
                    expect=_EXECUTED_FROM if executed else PENDING_ONLY,
                    copy_size=result.fill_size,
                    copy_price_ppm=result.fill_price_ppm,
                    slippage_bps=result.slippage_bps(job),
                    worker=result.worker,
                    quality=self._quality(job, result, local, filled_at),
                )
            )
            done.append((job, result, local))
        if not marks:
            return
        moved = await self.store.mark_many(marks)
        stats = self.stats
        release: list[Reservation] = []
        now_ns = time.time_ns()
        info = log.isEnabledFor(logging.INFO)
        for (job, result, local), was_moved in zip(done, moved, strict=True):
            status = result.status
            if status is TradeStatus.EXECUTED:
                stats.executed += 1
            elif status is TradeStatus.FAILED:
                stats.failed += 1
            else:
                stats.skipped[result.reason or "unknown"] += 1
            # An unconfirmed failure may yet turn out executed (recovery reads the chain): its reservation
            # stays. A job queued by another instance carries no local reservations: derive them (the day
            # is today's, which is off only for a job reserved before midnight and run after it).
            if status is not TradeStatus.EXECUTED and not (result.reason or "").startswith(UNCONFIRMED):
                release += self._reservations(job, local)
            latency_ms = None
            if local is not None and local.seen_at_ns:
                latency_ms = (now_ns - local.seen_at_ns) / 1e6
                stats.latency_ms.append(latency_ms)
            if not was_moved:
                log.warning("job %s: outcome %s not recorded (no longer PENDING)", job.key.hex(), status)
            elif info:
                # The one line per copy (the supervisor command adds none): short token ids keep it readable.
                log.info(
                    "copy 0x%s %s: config %d proxy %s %s %d of token %s, leader %s tx 0x%s log %d%s%s",
                    job.key.hex()[:12],
                    status.value,
                    job.config_id,
                    job.proxy,
                    job.side,
                    job.amount,
                    short_token_id(job.token_id),
                    job.leader,
                    job.tx_hash.hex(),
                    job.log_index,
                    f" ({result.reason})" if result.reason else "",
                    f", {latency_ms:.0f} ms after the leader's log" if latency_ms is not None else "",
                    # Lifted to the top of a JSON log line (polyhunter.logformat) for log shippers to index.
                    extra={
                        "copy_key": job.key,
                        "config_id": job.config_id,
                        "stage": status.value,
                        "latency_ms": round(latency_ms) if latency_ms is not None else None,
                    },
                )
            if self.on_event is not None:
                self._emit("done", job=job, result=result, latency_ms=latency_ms)
        await self._release(release)


_EXECUTED_FROM = frozenset({TradeStatus.PENDING, TradeStatus.CANCELLED})


class _LiveJournal(StoreJournal):
    """A job's journal whose first transaction is journaled only while this worker still holds the job.

    A job waits between its claim and its first broadcast, e.g. for a free wallet. Meanwhile a reorg may
    cancel it, or, past `claim_idle_ms`, another instance may claim it; the first `record_tx` checks the
    record is PENDING and still this worker's claim in the same store transaction that journals it (and
    refreshes the claim), so at most one worker ever sends for a job.
    """

    def __init__(
        self, store: Store, key: bytes, claimer: str, on_first: Callable[[], None] | None = None
    ) -> None:
        super().__init__(store, key)
        self.claimer = claimer
        self.recorded = False
        """True once a transaction of the job was journaled: it may be on chain."""
        self.on_first = on_first
        """Called once, when the job's first transaction or order is journaled (it is sent right after)."""

    def _first(self) -> None:
        self.recorded = True
        if self.on_first is not None:
            self.on_first()

    async def record_tx(self, step: str, wallet: str, nonce: int, tx_hash: bytes | str) -> None:
        if self.recorded:
            await super().record_tx(step, wallet, nonce, tx_hash)
            return
        if not await self.store.record_tx(self.key, step, wallet, nonce, tx_hash, claimer=self.claimer):
            raise JobRelinquished(
                f"job {self.key.hex()} is no longer this worker's to run (cancelled or claimed elsewhere): "
                "nothing sent"
            )
        self._first()

    async def record_order(self, wallet: str, order_hash: bytes, body: bytes) -> None:
        if self.recorded:
            await super().record_order(wallet, order_hash, body)
            return
        if not await self.store.record_order(self.key, wallet, order_hash, body, claimer=self.claimer):
            raise JobRelinquished(
                f"job {self.key.hex()} is no longer this worker's to run (cancelled or claimed elsewhere): "
                "nothing posted"
            )
        self._first()


def _admits_everything(guardrails: Guardrails) -> bool:
    """No check or reservation to make per job: no allowlist, no trade bound, no daily cap."""
    g = guardrails
    return (
        not g.allowlist
        and g.max_trade_usd is None
        and g.daily_cap_usd is None
        and (g.wallet_daily_cap_usd is None)
    )


def job_of(intent: CopyIntent, signal: Signal) -> CopyJob:
    """The copy job of one fan-out intent of `signal`."""
    return CopyJob(
        key=intent.idempotency_key,
        config_id=intent.config_id,
        follower=intent.follower,
        proxy=intent.proxy,
        leader=intent.leader,
        token_id=intent.token_id,
        side=intent.side,
        amount=intent.amount,
        limit_price_ppm=intent.limit_price_ppm or 0,
        tx_hash=signal.tx_hash,
        log_index=signal.log_index,
        sub_index=signal.sub_index,
        leader_size=signal.size,
        leader_price_ppm=_price_ppm(signal),
        block_number=signal.block_number or 0,
    )


def stored_log_index(signal: Signal) -> int:
    """The log index a copy of `signal` records: its own, or `UNLOGGED` for a sighting without a log."""
    return UNLOGGED if signal.log_index == NO_LOG_INDEX else signal.log_index


def _price_ppm(signal: Signal) -> int | None:
    if not signal.price_den:
        return None
    return signal.price_num * PRICE_SCALE // signal.price_den
