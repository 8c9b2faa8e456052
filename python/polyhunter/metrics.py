"""The supervisor's Prometheus series: its own counters read at scrape time, plus the store's, the shared
state's and the fleet wallets' values fetched just before each scrape.

Labels are bounded: a copy status, a skip reason, a detection source, a masked RPC endpoint, a fleet
wallet (the operator's own fleet), a feed reject's kind (values stripped, at most `feed.MAX_REASONS` kinds
and `other`) or a mempool refusal's reason. Never a transaction hash, a follower or a Proxy."""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from eth_abi.abi import encode
from prometheus_client import CollectorRegistry, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from polyhunter._core import keccak256
from polyhunter.models import DebtStatus, TradeStatus
from polyhunter.settings import mask_url
from polyhunter.supervisor.guardrails import utc_day

if TYPE_CHECKING:
    from polyhunter.supervisor.app import Supervisor

USD_SCALE = Decimal(1_000_000)
BALANCE_OF = keccak256(b"balanceOf(address)")[:4]
REFRESH_TIMEOUT_S = 10.0
"""A scrape waits at most this long for the store, the shared state and the chain; stale values beat none."""

LATENCY_BUCKETS_S = (0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 3.0, 5.0, 10.0, 30.0, 60.0)
LEAD_BUCKETS_S = (0.0, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0)
HANDOFF_BUCKETS_S = (0.001, 0.002, 0.003, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0, 5.0)


def usd(base_units: int) -> float:
    """Base units as USD for exposition only: Prometheus samples are float64 whatever we hand them."""
    return float(Decimal(base_units) / USD_SCALE)


@dataclass
class WalletReading:
    """One fleet wallet as the last refresh saw it."""

    gas_wei: int | None = None
    collateral: int | None = None


@dataclass
class Snapshot:
    """What the supervisor keeps outside this process (store, shared state, chain), read before a scrape."""

    copies: dict[str, int] = field(default_factory=dict)
    dead_letters: int | None = None
    debts_open: int | None = None
    queue_depth: int | None = None
    queue_in_flight: int | None = None
    queue_dropped: int | None = None
    queue_oldest_ms: int | None = None
    """When the oldest job not yet acknowledged was queued (unix ms); None: the queue is empty."""
    cap_used: int | None = None
    wallets: dict[str, WalletReading] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    at: float = 0.0


class SupervisorMetrics(Collector):
    """One supervisor's series in its own registry (two supervisors in one process never collide)."""

    def __init__(self, supervisor: Supervisor) -> None:
        self.supervisor = supervisor
        self.snapshot = Snapshot()
        self.registry = CollectorRegistry(auto_describe=False)
        self.latency = Histogram(
            "polyhunter_copy_latency_seconds",
            "From the leader's log being decoded to our copy's execution ending",
            buckets=LATENCY_BUCKETS_S,
            registry=self.registry,
        )
        self.first_tx = Histogram(
            "polyhunter_first_tx_latency_seconds",
            "From the leader's log being decoded to our copy's first transaction or order (journaled, sent)",
            buckets=LATENCY_BUCKETS_S,
            registry=self.registry,
        )
        self.handoff = Histogram(
            "polyhunter_handoff_latency_seconds",
            "From a leader's fill being first seen to its copy being handed to the engine (every copy)",
            buckets=HANDOFF_BUCKETS_S,
            registry=self.registry,
        )
        self.intake_commit = Histogram(
            "polyhunter_intake_commit_seconds",
            "How long an intake batch waited for the store's commit that made its copies durable",
            buckets=HANDOFF_BUCKETS_S,
            registry=self.registry,
        )
        self.lead = Histogram(
            "polyhunter_detection_lead_seconds",
            "How long before its log a copied fill was seen by another source",
            ["source"],
            buckets=LEAD_BUCKETS_S,
            registry=self.registry,
        )
        self.registry.register(self)
        self._refreshing = asyncio.Lock()

    # -- events ------------------------------------------------------------------------------------------
    def hook(
        self, chained: Callable[[str, dict[str, Any]], None] | None
    ) -> Callable[[str, dict[str, Any]], None]:
        """An `on_event` callback that observes the pipeline's events, then hands them to `chained`."""

        def on_event(kind: str, data: dict[str, Any]) -> None:
            self.observe(kind, data)
            if chained is not None:
                chained(kind, data)

        return on_event

    def observe(self, kind: str, data: dict[str, Any]) -> None:
        if kind == "done":
            self.latency.observe(max(0.0, float(data["latency_ms"])) / 1000)
        elif kind == "first_tx":
            self.first_tx.observe(max(0.0, float(data["latency_ms"])) / 1000)
        elif kind == "handoff":
            for waited_ms in data["latencies_ms"]:
                self.handoff.observe(max(0.0, waited_ms) / 1000)
        elif kind == "intake_commit":
            self.intake_commit.observe(max(0.0, float(data["latency_ms"])) / 1000)
        elif kind == "fill":
            # Once per leader fill its log confirmed, for every source that saw it before the log.
            for source, lead_ms in data["leads"].items():
                self.lead.labels(source=source).observe(max(0, lead_ms) / 1000)

    # -- scrape --------------------------------------------------------------------------------------------
    async def render(self) -> bytes:
        """The exposition text, after refreshing what lives outside this process."""
        await self.refresh()
        return generate_latest(self.registry)

    async def refresh(self) -> Snapshot:
        """Reads the store's, the shared state's and the fleet's values; a part that fails keeps its last
        value and is named in `snapshot.errors` (a scrape never fails because Redis blinked)."""
        async with self._refreshing:
            sup = self.supervisor
            snap = self.snapshot
            snap.errors = []
            parts: list[tuple[str, Awaitable[None]]] = []
            if hasattr(sup, "store"):
                parts.append(("store", self._read_store(snap)))
            if hasattr(sup, "shared"):
                parts.append(("shared state", self._read_shared(snap)))
            if hasattr(sup, "rpc") and hasattr(sup, "pipeline"):
                parts.append(("chain", self._read_fleet(snap)))
            results = await asyncio.gather(
                *(asyncio.wait_for(p, REFRESH_TIMEOUT_S) for _, p in parts), return_exceptions=True
            )
            for (name, _), result in zip(parts, results, strict=True):
                if isinstance(result, BaseException):
                    snap.errors.append(f"{name}: {result!r}")
            snap.at = time.time()
            return snap

    async def _read_store(self, snap: Snapshot) -> None:
        store = self.supervisor.store
        statuses = list(TradeStatus)
        counts = await asyncio.gather(*(store.count_trades(s) for s in statuses))
        snap.copies = {s.value: n for s, n in zip(statuses, counts, strict=True)}
        snap.dead_letters = await store.count_dead_letters()
        snap.debts_open = len(await store.list_debts(DebtStatus.OPEN))

    async def _read_shared(self, snap: Snapshot) -> None:
        shared = self.supervisor.shared
        q = await shared.queue_stats()
        snap.queue_depth, snap.queue_in_flight, snap.queue_dropped = q.length, q.in_flight, q.dropped
        snap.queue_oldest_ms = q.oldest_ms
        snap.cap_used = await shared.counter(f"daily:{utc_day()}")

    async def _read_fleet(self, snap: Snapshot) -> None:
        sup = self.supervisor
        collateral = sup.deployment.contracts.collateral
        gate = asyncio.Semaphore(8)

        async def read(address: str) -> tuple[str, WalletReading]:
            data = BALANCE_OF + encode(["address"], [address])
            async with gate:
                gas = await sup.rpc.call("eth_getBalance", [address, "latest"])
                held = await sup.rpc.call(
                    "eth_call", [{"to": collateral, "data": "0x" + data.hex()}, "latest"]
                )
            return address, WalletReading(int(gas, 16), int(held, 16))

        readings = await asyncio.gather(*(read(w.address) for w in fleet_wallets(sup)))
        snap.wallets = dict(readings)

    def collect(self) -> Iterable[Metric]:
        sup = self.supervisor
        snap = self.snapshot
        yield gauge("polyhunter_up", "1 while the supervisor runs; 0 once a long-running part failed").add(
            (), 0 if sup.failed.is_set() else 1
        )
        if hasattr(sup, "pipeline"):
            yield from self._pipeline_series()
        if hasattr(sup, "detector"):
            d = sup.detector.stats
            yield gauge("polyhunter_detector_head_block", "Newest block header the detector saw").add(
                (), d.last_head
            )
            yield counter("polyhunter_detector_reorgs", "Reorgs the detector found").add((), d.reorgs)
            yield counter("polyhunter_detector_connects", "Websocket (re)connections").add((), d.connects)
            yield counter(
                "polyhunter_detector_failovers", "Reconnects that moved to another websocket endpoint"
            ).add((), d.failovers)
        if hasattr(sup, "rpc"):
            calls = counter("polyhunter_rpc_calls", "JSON-RPC calls per endpoint (URL masked)", ["endpoint"])
            errors = counter(
                "polyhunter_rpc_errors",
                "JSON-RPC calls an endpoint failed (transport, 5xx, 429), per endpoint (URL masked)",
                ["endpoint"],
            )
            failing = gauge(
                "polyhunter_rpc_consecutive_failures",
                "Failures of an endpoint since its last good answer (URL masked)",
                ["endpoint"],
            )
            for e in sup.rpc.endpoints:
                shown = mask_url(e.url, keep_path=False)
                calls.add((shown,), e.calls)
                errors.add((shown,), e.errors)
                failing.add((shown,), e.failures)
            yield calls
            yield errors
            yield failing
        recovery = getattr(sup, "recovery", None)
        if recovery is not None:
            # One series per RecoveryStats field, so a new kind of action is exported as it is added.
            actions = counter(
                "polyhunter_recovery_actions",
                "What recovery did: stale PENDING expired, flows reconciled, completed or returned, debts "
                "repaid",
                ["action"],
            )
            for f in dataclasses.fields(recovery.stats):
                actions.add((f.name,), getattr(recovery.stats, f.name))
            yield actions
        redeemer = getattr(sup, "redeemer", None)
        if redeemer is not None:
            done = counter(
                "polyhunter_redemptions",
                "What the redeemer did to Proxies' positions: redeemed, closed (a losing position), merged, "
                "failed, recovered from the journal; resolutions seen; passes",
                ["outcome"],
            )
            for f in dataclasses.fields(redeemer.stats):
                done.add((f.name,), getattr(redeemer.stats, f.name))
            yield done
        yield from self._mempool_series()
        yield from self._feed_series()
        yield from self._prewarm_series()
        yield from self._engine_series()
        yield from self._watch_series()
        yield from self._wal_series()
        yield from self._snapshot_series(snap)

    def _pipeline_series(self) -> Iterable[Metric]:
        sup = self.supervisor
        st = sup.pipeline.stats
        signals = counter("polyhunter_signals", "Leaders' fills taken in, by source", ["source"])
        signals.add(("logs",), st.signals)
        if sup.mempool is not None:
            signals.add(("mempool",), sup.mempool.stats.fills)
        if hasattr(sup, "fills"):
            fills = sup.fills.stats
            signals.add(("activity",), fills.signals["activity"])
            yield signals
            yield gauge(
                "polyhunter_mempool_coverage_ratio",
                "Share of logged fills first seen pending (0 before any logged fill)",
            ).add((), fills.coverage_ppm / 1_000_000)
            unconfirmed = counter(
                "polyhunter_unconfirmed_sources",
                "Fills copied from a pending order or a feed frame that no log confirmed in time, by source",
                ["source"],
            )
            for source in ("mempool", "activity"):
                unconfirmed.add((source,), fills.unconfirmed[source])
            yield unconfirmed
        else:
            yield signals
        yield counter("polyhunter_duplicates", "Fills already seen (dedup)").add((), st.duplicates)
        yield counter("polyhunter_intents", "Copy intents from fan-out").add((), st.intents)
        yield counter("polyhunter_queued", "Copy jobs queued by this instance").add((), st.queued)
        yield counter("polyhunter_executed", "Copies this instance executed").add((), st.executed)
        yield counter("polyhunter_failed", "Copies this instance saw fail").add((), st.failed)
        skipped = counter(
            "polyhunter_copies_skipped", "Copies skipped by this instance, by reason", ["reason"]
        )
        for reason, n in sorted(st.skipped.items()):
            skipped.add((reason,), n)
        yield skipped
        yield gauge(
            "polyhunter_queue_lag_max_seconds",
            "Longest enqueue-to-execution wait of the latest executed jobs",
        ).add((), max(st.lag_ms, default=0.0) / 1000)

    def _prewarm_series(self) -> Iterable[Metric]:
        """What early sightings pre-warmed under act-on-log (`PrewarmStats`) and what became of the orders
        signed ahead (`PresignStats`, with a venue that signs ahead)."""
        prewarmer = getattr(getattr(self.supervisor, "fills", None), "prewarm", None)
        if prewarmer is None:
            return
        warmed = counter(
            "polyhunter_prewarm",
            "What early sightings prepared before their log: fills, balance reads, cap counters read, orders "
            "signed ahead, jobs bound to them, failures",
            ["what"],
        )
        for f in dataclasses.fields(prewarmer.stats):
            warmed.add((f.name,), getattr(prewarmer.stats, f.name))
        yield warmed
        if prewarmer.venue is not None:
            orders = counter(
                "polyhunter_presigned_orders",
                "Orders signed ahead: made, used by their log's job, missed (the order differed), dropped",
                ["outcome"],
            )
            stats = prewarmer.venue.presigned.stats
            for f in dataclasses.fields(stats):
                orders.add((f.name,), getattr(stats, f.name))
            yield orders

    def _mempool_series(self) -> Iterable[Metric]:
        """The pending-transaction source's `MempoolStats` (only when the source runs)."""
        mempool = getattr(self.supervisor, "mempool", None)
        if mempool is None:
            return
        st = mempool.stats
        yield counter(
            "polyhunter_mempool_transactions", "Pending transactions (or bare hashes) the mempool source read"
        ).add((), st.transactions)
        yield counter(
            "polyhunter_mempool_matches", "Pending matchOrders calls to a watched exchange, decoded"
        ).add((), st.matches)
        refused = counter(
            "polyhunter_mempool_refused",
            "Pending matchOrders calls or orders refused: calldata that does not decode or would revert, a "
            "sender that is not the exchange's operator, a watched order whose signature does not hold",
            ["reason"],
        )
        refused.add(("calldata",), st.rejected_calldata)
        refused.add(("not_operator",), st.not_operator)
        refused.add(("signature",), st.bad_signatures)
        yield refused
        yield counter(
            "polyhunter_mempool_hashes_fetched",
            "Pending transactions fetched by hash (nodes that send hashes)",
        ).add((), st.hashes_fetched)
        yield counter("polyhunter_mempool_connects", "Pending-transaction subscriptions (re)connected").add(
            (), st.connects
        )
        yield counter("polyhunter_mempool_errors", "Mempool source errors (transport, node replies)").add(
            (), st.errors
        )
        yield counter(
            "polyhunter_mempool_failovers", "Mempool reconnects that moved to another websocket endpoint"
        ).add((), st.failovers)

    def _feed_series(self) -> Iterable[Metric]:
        """The activity feed's `FeedStats` (only when the source runs)."""
        feed = getattr(self.supervisor, "feed", None)
        if feed is None:
            return
        st = feed.stats
        yield counter("polyhunter_feed_frames", "Activity feed data frames received").add((), st.frames)
        yield counter("polyhunter_feed_trades", "Feed trades of watched wallets handed to the intake").add(
            (), st.trades
        )
        yield counter(
            "polyhunter_feed_duplicates", "Feed frames repeating a trade (`trades` and `orders_matched`)"
        ).add((), st.duplicates)
        rejects = counter(
            "polyhunter_feed_rejects", "Malformed feed frames, by kind of fault (values stripped)", ["kind"]
        )
        for kind, n in sorted(st.rejects.items()):
            rejects.add((kind,), n)
        yield rejects
        yield counter(
            "polyhunter_feed_resubscribes",
            "Feed subscriptions renewed after a silence (a lapsed subscription)",
        ).add((), st.resubscribes)
        yield counter("polyhunter_feed_reconnects", "Feed connections that ended and were opened again").add(
            (), st.reconnects
        )

    def _engine_series(self) -> Iterable[Metric]:
        engine = self.supervisor.engine
        in_flight = getattr(engine, "in_flight", None)
        yield gauge("polyhunter_executions_in_flight", "Copies executing in this instance now").add(
            (), len(in_flight) if in_flight is not None else 0
        )
        monitor = getattr(engine, "monitor", None)
        yield counter("polyhunter_fee_bumps", "Stuck transactions replaced with higher fees").add(
            (), getattr(monitor, "replacements", 0)
        )
        yield counter("polyhunter_rebroadcasts", "Transactions sent again after dropping out").add(
            (), getattr(monitor, "rebroadcasts", 0)
        )
        nonces = gauge("polyhunter_fleet_nonces_in_flight", "Nonces reserved and not yet mined", ["wallet"])
        gaps = gauge("polyhunter_fleet_nonce_gaps", "Abandoned nonces still to fill", ["wallet"])
        for w in fleet_wallets(self.supervisor):
            nonces.add((w.address,), len(w.nonces.in_flight))
            gaps.add((w.address,), len(w.nonces.abandoned))
        yield nonces
        yield gaps
        caps = getattr(engine, "caps", None)
        used = gauge(
            "polyhunter_worker_cap_used_usd",
            "What counts against each fleet worker's hourly cap on the Executor (reserved flows included)",
            ["wallet"],
        )
        limit = gauge("polyhunter_worker_cap_usd", "Each fleet worker's hourly cap (Executor)", ["wallet"])
        if caps is not None:
            for w in fleet_wallets(self.supervisor):
                cap = caps.cap(w.address)
                if cap is not None:
                    used.add((w.address,), usd(caps.used(w.address)))
                    limit.add((w.address,), usd(cap))
        yield used
        yield limit

    def _wal_series(self) -> Iterable[Metric]:
        """The SQLite store's WAL checkpointer (`polyhunter.store.wal`; nothing on PostgreSQL): a WAL that
        keeps growing means checkpoints are held back (a long reader) or failing."""
        checkpointer = getattr(getattr(self.supervisor, "store", None), "checkpointer", None)
        if checkpointer is None:
            return
        yield gauge("polyhunter_store_wal_frames", "Frames in the SQLite WAL at the last checkpoint").add(
            (), checkpointer.wal_frames
        )
        yield counter(
            "polyhunter_store_wal_checkpoints", "WAL checkpoints run by the store's checkpoint thread"
        ).add((), checkpointer.checkpoints)
        yield counter(
            "polyhunter_store_wal_checkpoints_behind",
            "WAL checkpoints that left frames behind (a reader still needed them) or failed",
        ).add((), checkpointer.behind + checkpointer.failures)

    def _watch_series(self) -> Iterable[Metric]:
        watch = getattr(self.supervisor, "executor_watch", None)
        unjournaled = counter(
            "polyhunter_unjournaled_executor_events",
            "Executor pulls and debt repayments whose transaction polyhunter never sent, by event and worker",
            ["event", "worker"],
        )
        for (event, worker), n in sorted(watch.stats.unjournaled.items() if watch is not None else ()):
            unjournaled.add((event, worker), n)
        yield unjournaled
        # A watch whose passes fail, or whose last block stops moving, alarms on nothing: its health shows.
        errors = counter("polyhunter_executor_watch_errors", "Executor watch passes that failed (retried)")
        scanned = gauge("polyhunter_executor_watch_last_block", "Last block the Executor watch scanned")
        if watch is not None:
            errors.add((), watch.stats.errors)
            scanned.add((), watch.stats.last_block)
        yield errors
        yield scanned
        # The owner's admin calls, and the widening changes waiting out the delay (cancellable until then).
        actions = counter(
            "polyhunter_executor_owner_actions", "Executor owner (admin) events seen, by event", ["event"]
        )
        queued = gauge(
            "polyhunter_executor_queued_changes", "Executor changes queued, neither executed nor cancelled"
        )
        ready = gauge(
            "polyhunter_executor_next_change_ready_timestamp_seconds",
            "Chain time from which the first queued Executor change may be executed (0: none queued)",
        )
        if watch is not None:
            for event, n in sorted(watch.stats.owner_actions.items()):
                actions.add((event,), n)
            queued.add((), watch.stats.queued_changes)
            ready.add((), watch.stats.next_change_ready_at)
        yield actions
        yield queued
        yield ready

    def _snapshot_series(self, snap: Snapshot) -> Iterable[Metric]:
        copies = gauge("polyhunter_copies", "Copy trades in the store, by status", ["status"])
        for status, n in sorted(snap.copies.items()):
            copies.add((status,), n)
        yield copies
        for name, doc, value in (
            ("polyhunter_queue_depth_jobs", "Jobs queued and not acknowledged", snap.queue_depth),
            (
                "polyhunter_queue_in_flight_jobs",
                "Jobs delivered to a worker, not acknowledged",
                snap.queue_in_flight,
            ),
            ("polyhunter_dead_letters", "Jobs in the store's dead-letter list", snap.dead_letters),
            ("polyhunter_debts_open", "Smart Buffer debts not yet repaid", snap.debts_open),
        ):
            if value is not None:
                yield gauge(name, doc).add((), value)
        if snap.queue_depth is not None:
            oldest = gauge(
                "polyhunter_queue_oldest_job_age_seconds",
                "How long the oldest job not yet acknowledged has waited (0 when the queue is empty)",
            )
            age = 0.0 if snap.queue_oldest_ms is None else max(0.0, time.time() - snap.queue_oldest_ms / 1000)
            yield oldest.add((), age)
        if snap.queue_dropped is not None:
            yield counter("polyhunter_queue_dropped", "Jobs refused because the queue was full").add(
                (), snap.queue_dropped
            )
        if snap.cap_used is not None:
            used = gauge("polyhunter_cap_used_usd", "Notional reserved against today's cap", ["scope"])
            yield used.add(("global",), usd(snap.cap_used))
            limit = self.supervisor.settings.copy_trading_daily_cap_usd
            if limit is not None:
                yield gauge("polyhunter_cap_limit_usd", "Today's cap", ["scope"]).add(("global",), usd(limit))
        gas = gauge("polyhunter_fleet_gas_balance_wei", "Native balance of each fleet wallet", ["wallet"])
        held = gauge("polyhunter_fleet_collateral_usd", "Collateral held by each fleet wallet", ["wallet"])
        for address, r in sorted(snap.wallets.items()):
            if r.gas_wei is not None:
                gas.add((address,), float(r.gas_wei))
            if r.collateral is not None:
                held.add((address,), usd(r.collateral))
        yield gas
        yield held
        yield gauge("polyhunter_scrape_errors", "Parts that could not be read for this scrape").add(
            (), len(snap.errors)
        )


def gauge(name: str, doc: str, labels: list[str] | None = None) -> _Gauge:
    return _Gauge(name, doc, labels=labels or [])


def counter(name: str, doc: str, labels: list[str] | None = None) -> _Counter:
    return _Counter(name, doc, labels=labels or [])


class _Gauge(GaugeMetricFamily):
    def add(self, labels: Iterable[str], value: float) -> _Gauge:
        self.add_metric(list(labels), value)
        return self


class _Counter(CounterMetricFamily):
    def add(self, labels: Iterable[str], value: float) -> _Counter:
        self.add_metric(list(labels), value)
        return self


def fleet_wallets(supervisor: Supervisor) -> list[Any]:
    """The engine's fleet wallets (none for the dry-run engines, which send nothing)."""
    return list(getattr(supervisor.engine, "wallets", None) or [])
