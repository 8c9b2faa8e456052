"""The load simulation: synthetic leader fills through the real pipeline, a simulated venue at the end.

Each event is a V2 `OrderFilled` notification in the exact JSON-RPC bytes a node sends, so it goes through
the real Rust decoder, dedup, fan-out, guardrails, the PENDING prewrite in the store, the queue and the
workers; only the venue is simulated (a fixed latency per execution).

The events are made on their own thread, on its own clock, and handed to the measured event loop as a
websocket reader would hand them over: so the offered rate is what was really offered (a saturated loop
cannot slow the generator down), and both it and the achieved rate are reported. `tasks_per_s` is the number
of EXECUTED rows in the store divided by the elapsed seconds, from the first event to the last execution.
Every copy's hand-off latency is measured from the moment its log's raw bytes exist to the call of the
engine's `execute`. A burst run (`burst` followers of one leader, one fill) reports the time from the log to
the last copy handed to the venue.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import resource
import statistics
import threading
import time
from array import array
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from polyhunter._core import TOPIC_ORDER_FILLED_V2, FanoutIndex, LogDecoder, shard_of
from polyhunter.detector.intake import BoundedIntake
from polyhunter.errors import InvalidInputError
from polyhunter.eventloop import loop_name
from polyhunter.execution.base import ExecutionResult, JobJournal
from polyhunter.execution.simulated import SimulatedVenueEngine
from polyhunter.models import CopyConfig, CopyJob, TradeStatus
from polyhunter.shared.base import SharedState
from polyhunter.store.base import Store
from polyhunter.supervisor.guardrails import Guardrails
from polyhunter.supervisor.pipeline import Pipeline, PipelineConfig

EXCHANGE = "0x" + "e1" * 20
CTF = "0x" + "c7" * 20
USD = 1_000_000


@dataclass
class LoadSimParams:
    duration_s: float = 20.0
    events_per_s: float = 100.0
    followers: int = 100
    leaders: int = 10
    exec_latency_ms: float = 30.0
    concurrency: int = 1024
    queue_max: int = 5000
    intake_concurrency: int = 25
    seed: int = 1
    burst: int = 0
    """When above 0: one leader with this many followers fills once (duration, rate and leaders unused)."""
    instance: int = 0
    instances: int = 1
    """With `instances` > 1 this run is instance `instance` of a sharded group sharing one store and one
    shared state (`run_instances`): it takes the configs already seeded and makes the fills of its own
    leaders only (their share of `events_per_s`)."""


@dataclass
class LoadSimResult:
    tasks_per_s: float
    executed: int
    elapsed_s: float
    events: int
    offered_tasks_per_s: float
    """Measured: events the generator really made × followers ÷ the seconds it took to make them."""
    lag_p50_ms: float
    lag_p99_ms: float
    lag_max_ms: float
    max_depth: int
    dropped: int
    skipped: dict[str, int]
    peak_rss_mb: float
    concurrency: int
    exec_latency_ms: float
    followers: int
    leaders: int
    store: str
    shared: str
    cpu_us_per_task: float = 0.0
    """CPU time (user + system, every thread but the generator's) per executed task."""
    nominal_tasks_per_s: float = 0.0
    """What the parameters ask for (events per second × followers)."""
    offered_events_per_s: float = 0.0
    handoff_p50_ms: float = 0.0
    handoff_p99_ms: float = 0.0
    handoff_max_ms: float = 0.0
    """From a log's raw bytes to the engine's `execute` call, over every copy."""
    intake_commit_p50_ms: float = 0.0
    intake_commit_p99_ms: float = 0.0
    """How long each batch waited for the commit that made its copies durable (part of the hand-off)."""
    burst_followers: int = 0
    burst_first_handoff_ms: float | None = None
    burst_last_handoff_ms: float | None = None
    generator_cpu_s: float = 0.0
    event_loop: str = ""
    """The event loop the simulation ran on: `uvloop` or `asyncio` (POLYHUNTER_EVENT_LOOP)."""
    instances: int = 1
    started_at: float = 0.0
    ended_at: float = 0.0
    """Wall-clock seconds since the epoch of the first event and of the last execution (to aggregate)."""
    per_instance: list[dict[str, Any]] = field(default_factory=list)
    """For several instances: each one's own result (without timeline)."""
    timeline: list[dict[str, float]] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def _word(value: int) -> str:
    return f"{value:064x}"


def notification(leader: str, token_id: int, tx_hash: str, block: int, usd: int, tokens: int) -> bytes:
    """A V2 `OrderFilled` (leader BUYs `tokens` for `usd`) as an `eth_subscription` notification."""
    data = "0x" + "".join(_word(v) for v in (0, token_id, usd, tokens, 0, 0, 0))
    log = {
        "address": EXCHANGE,
        "topics": [
            TOPIC_ORDER_FILLED_V2,
            "0x" + os.urandom(32).hex(),
            "0x" + "0" * 24 + leader[2:],
            "0x" + "0" * 24 + EXCHANGE[2:],
        ],
        "data": data,
        "blockNumber": hex(block),
        "blockHash": "0x" + os.urandom(32).hex(),
        "transactionHash": tx_hash,
        "transactionIndex": "0x0",
        "logIndex": "0x0",
        "removed": False,
    }
    message = {
        "jsonrpc": "2.0",
        "method": "eth_subscription",
        "params": {"subscription": "0x1", "result": log},
    }
    return json.dumps(message, separators=(",", ":")).encode()


def _percentile(values: list[float] | array[float], q: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def seed_configs(store: Store, params: LoadSimParams, rng: random.Random) -> list[str]:
    leaders = ["0x" + rng.randbytes(20).hex() for _ in range(params.leaders)]
    for leader in leaders:
        for _ in range(params.followers):
            follower = "0x" + rng.randbytes(20).hex()
            await store.add_config(
                CopyConfig(
                    follower=follower,
                    proxy="0x" + rng.randbytes(20).hex(),
                    leader=leader,
                    mode="fixed",
                    fixed_usd=10 * USD,
                )
            )
    return leaders


Deliver = Callable[[bytes, bytes, int], None]


class EventGenerator(threading.Thread):
    """Makes leader fills on its own thread and clock, handing each (raw bytes, tx hash, birth ns) over.

    It keeps its schedule whatever the measured loop is doing: events due while it waited are made at once,
    and every event due before the end is made. `count` bounds the events (a burst is one).
    """

    def __init__(
        self,
        deliver: Deliver,
        leaders: list[str],
        rng: random.Random,
        events_per_s: float,
        duration_s: float,
        count: int | None = None,
    ) -> None:
        super().__init__(name="loadsim-generator", daemon=True)
        self.deliver = deliver
        self.leaders = leaders
        self.rng = rng
        self.events_per_s = events_per_s
        self.duration_s = duration_s
        self.count = count
        self.token_ids = [rng.getrandbits(255) for _ in range(8)]
        self.events = 0
        self.started_at = 0.0
        self.span_s = 0.0
        self.cpu_s = 0.0
        self.error: BaseException | None = None

    def run(self) -> None:
        cpu_start = time.thread_time()
        try:
            self._offer()
        except BaseException as exc:  # reported by the run, which must not wait forever for a dead thread
            self.error = exc
        finally:
            self.cpu_s = time.thread_time() - cpu_start

    def _offer(self) -> None:
        start = self.started_at = time.monotonic()
        end = start + self.duration_s
        per_block = max(1, round(self.events_per_s))
        # Event n is due at start + n / rate (no drift from summing intervals); every event due before the end
        # is made, late if the thread was kept waiting (its span then grows and the offered rate falls).
        due = start
        while due < end and (self.count is None or self.events < self.count):
            now = time.monotonic()
            while due <= now and due < end and (self.count is None or self.events < self.count):
                n = self.events
                tx = self.rng.randbytes(32)
                raw = notification(
                    self.leaders[n % len(self.leaders)],
                    self.token_ids[n % len(self.token_ids)],
                    "0x" + tx.hex(),
                    1 + n // per_block,
                    50 * USD,
                    100 * USD,
                )
                self.deliver(raw, tx, time.monotonic_ns())
                self.events = n + 1
                due = start + self.events / self.events_per_s
            time.sleep(max(0.0, min(due, end) - time.monotonic()))
        self.span_s = time.monotonic() - start


class HandoffClock:
    """The engine the pipeline calls: notes when each copy reaches `execute`, then lets the venue run it."""

    def __init__(self, venue: SimulatedVenueEngine) -> None:
        self.venue = venue
        self.name = venue.name
        self.born: dict[bytes, int] = {}
        self.handoff_ms: array[float] = array("d")
        self.last_ns = 0
        self.first_ns = 0

    async def execute(self, job: CopyJob, journal: JobJournal) -> ExecutionResult:
        now = time.monotonic_ns()
        if not self.first_ns:
            self.first_ns = now
        self.last_ns = now
        born = self.born.get(job.tx_hash)
        if born is not None:
            self.handoff_ms.append((now - born) / 1e6)
        return await self.venue.execute(job, journal)

    async def execute_many(
        self, jobs: Sequence[CopyJob], journals: Sequence[JobJournal]
    ) -> list[ExecutionResult]:
        now = time.monotonic_ns()
        if not self.first_ns:
            self.first_ns = now
        self.last_ns = now
        born = self.born
        for job in jobs:
            birth = born.get(job.tx_hash)
            if birth is not None:
                self.handoff_ms.append((now - birth) / 1e6)
        return await self.venue.execute_many(jobs, journals)

    async def close(self) -> None:
        await self.venue.close()


async def _sample(
    shared: SharedState,
    pipeline: Pipeline,
    start: float,
    params: LoadSimParams,
    timeline: list[dict[str, float]],
    depth: list[int],
    progress: Callable[[float, dict[str, float]], None] | None,
) -> None:
    """Queue depth every 100 ms, a timeline point every second, until cancelled."""
    last_sample, last_executed = start, 0
    while True:
        await asyncio.sleep(0.1)
        now = time.monotonic()
        length = (await shared.queue_stats()).length
        depth[0] = max(depth[0], length)
        if now - last_sample < 1.0:
            continue
        executed = pipeline.stats.executed
        window = pipeline.stats.lag_ms
        recent = [window[i] for i in range(max(0, len(window) - 5000), len(window))]
        sample = {
            "t": round(now - start, 3),
            "tasks_per_s": (executed - last_executed) / (now - last_sample),
            "depth": length,
            "lag_p50_ms": _percentile(recent, 0.5),
            "lag_p99_ms": _percentile(recent, 0.99),
        }
        timeline.append(sample)
        last_executed, last_sample = executed, now
        if progress is not None:
            progress(min(1.0, (now - start) / max(params.duration_s, 1e-9)), sample)


async def run_loadsim(
    params: LoadSimParams,
    store: Store,
    shared: SharedState,
    progress: Callable[[float, dict[str, float]], None] | None = None,
) -> LoadSimResult:
    """Runs one simulation on an opened, empty store and shared state (or, as one of several instances, on
    the store `run_instances` seeded)."""
    sharded = params.instances > 1
    if params.burst:
        params = LoadSimParams(**{**asdict(params), "leaders": 1, "followers": params.burst})
    if not sharded:
        if await store.count_trades():
            # Its keys would collide with earlier runs' and its EXECUTED count would include them.
            raise InvalidInputError(
                "loadsim needs an empty store: give --database-url a fresh database or schema"
            )
        rng = random.Random(params.seed)  # noqa: S311 - synthetic load, not security
        leaders = await seed_configs(store, params, rng)
    else:
        # Each instance's fills are its own (distinct tx hashes), of the leaders its shard owns.
        rng = random.Random(params.seed * 1_000_003 + params.instance + 1)  # noqa: S311
        leaders = []
    index = FanoutIndex()
    for config in (await store.configs_changed_since(0)).changed:
        index.upsert(config)
    if sharded:
        every = index.leaders()
        leaders = [lead for lead in every if shard_of(lead, params.instances) == params.instance]
        share = len(leaders) / max(1, len(every))
        params = LoadSimParams(**{**asdict(params), "events_per_s": max(1e-9, params.events_per_s * share)})
    decoder = LogDecoder(ctf=CTF, v2_exchanges=[EXCHANGE], leaders=leaders)
    engine = HandoffClock(SimulatedVenueEngine(params.exec_latency_ms))
    pipeline = Pipeline(
        store=store,
        shared=shared,
        engine=engine,
        index=index,
        guardrails=Guardrails(),
        config=PipelineConfig(
            shard_count=params.instances,
            shard_index=params.instance,
            exec_concurrency=params.concurrency,
            drain_interval_ms=50,
            consumer=f"loadsim-{params.instance}",
        ),
        decoder=decoder,
    )
    # As the detector does: batches taken in concurrently, each awaited only for the checkpoint.
    intake = BoundedIntake(pipeline.on_raw, params.intake_concurrency)
    inbox: asyncio.Queue[tuple[bytes, bytes, int] | None] = asyncio.Queue()
    loop = asyncio.get_running_loop()

    def deliver(raw: bytes, tx: bytes, born_ns: int) -> None:
        loop.call_soon_threadsafe(inbox.put_nowait, (raw, tx, born_ns))

    generator = EventGenerator(
        deliver,
        leaders,
        rng,
        events_per_s=params.events_per_s,
        duration_s=params.duration_s if not params.burst else 3600.0,
        count=1 if params.burst else (None if leaders else 0),
    )
    stop_workers = asyncio.Event()
    workers = asyncio.create_task(pipeline.run_workers(stop_workers))
    timeline: list[dict[str, float]] = []
    depth = [0]
    start = time.monotonic()
    started_at = time.time()
    cpu_start = time.process_time()
    sampler = asyncio.create_task(_sample(shared, pipeline, start, params, timeline, depth, progress))
    generator.start()
    # The thread's end is awaited off the loop; the sentinel then follows every event it handed over.
    ended = asyncio.ensure_future(asyncio.to_thread(generator.join))
    ended.add_done_callback(lambda _: inbox.put_nowait(None))
    while (item := await inbox.get()) is not None:
        raw, tx, born_ns = item
        engine.born[tx] = born_ns
        await intake.submit(raw, "loadsim")
    await ended
    if generator.error is not None:
        raise generator.error
    # Intake stops; the workers finish what was queued.
    await intake.drain()
    while (await shared.queue_stats()).length:  # noqa: ASYNC110 - the queue may be in another process
        await asyncio.sleep(0.02)
    stop_workers.set()
    await workers
    sampler.cancel()
    elapsed = time.monotonic() - start
    ended_at = time.time()
    cpu = time.process_time() - cpu_start - generator.cpu_s
    # An instance of several counts what it executed; alone, the store's rows are the count.
    executed_rows = pipeline.stats.executed if sharded else await store.count_trades(TradeStatus.EXECUTED)
    all_lags = list(pipeline.stats.lag_ms)
    handoffs = engine.handoff_ms
    queue = await shared.queue_stats()
    offered_events_per_s = generator.events / generator.span_s if generator.span_s > 0 else 0.0
    born = min(engine.born.values(), default=0)
    return LoadSimResult(
        tasks_per_s=round(executed_rows / elapsed, 1),
        executed=executed_rows,
        elapsed_s=round(elapsed, 3),
        events=generator.events,
        offered_tasks_per_s=0.0 if params.burst else round(offered_events_per_s * params.followers, 1),
        lag_p50_ms=round(_percentile(all_lags, 0.5), 2),
        lag_p99_ms=round(_percentile(all_lags, 0.99), 2),
        lag_max_ms=round(max(all_lags, default=0.0), 2),
        max_depth=depth[0],
        dropped=queue.dropped,
        skipped=dict(pipeline.stats.skipped),
        peak_rss_mb=round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        concurrency=params.concurrency,
        exec_latency_ms=params.exec_latency_ms,
        followers=params.followers,
        leaders=params.leaders,
        store=store.backend,
        shared=shared.backend,
        cpu_us_per_task=round(cpu * 1e6 / max(1, executed_rows), 1),
        nominal_tasks_per_s=0.0 if params.burst else params.events_per_s * params.followers,
        offered_events_per_s=0.0 if params.burst else round(offered_events_per_s, 2),
        handoff_p50_ms=round(_percentile(handoffs, 0.5), 2),
        handoff_p99_ms=round(_percentile(handoffs, 0.99), 2),
        handoff_max_ms=round(max(handoffs, default=0.0), 2),
        intake_commit_p50_ms=round(_percentile(list(pipeline.stats.intake_commit_ms), 0.5), 2),
        intake_commit_p99_ms=round(_percentile(list(pipeline.stats.intake_commit_ms), 0.99), 2),
        burst_followers=params.burst,
        burst_first_handoff_ms=round((engine.first_ns - born) / 1e6, 2) if params.burst else None,
        burst_last_handoff_ms=round((engine.last_ns - born) / 1e6, 2) if params.burst else None,
        generator_cpu_s=round(generator.cpu_s, 3),
        event_loop=loop_name(loop),
        instances=params.instances,
        started_at=started_at,
        ended_at=ended_at,
        timeline=timeline,
    )


def aggregate(runs: list[LoadSimResult], executed: int, nominal_events_per_s: float) -> LoadSimResult:
    """One result for a sharded group of instances: `executed` (the store's EXECUTED rows) over the time
    from the first instance's first event to the last one's end; offered rates, events and CPU summed;
    latencies and depth are the worst instance's (each instance measures only the copies it queued and
    ran itself); `per_instance` keeps each run."""
    first = runs[0]
    elapsed = max(r.ended_at for r in runs) - min(r.started_at for r in runs)
    cpu_s = sum(r.cpu_us_per_task * r.executed for r in runs) / 1e6
    skipped: dict[str, int] = {}
    for r in runs:
        for reason, count in r.skipped.items():
            skipped[reason] = skipped.get(reason, 0) + count
    per_instance = []
    for r in runs:
        data = r.to_json()
        data.pop("timeline")
        per_instance.append(data)
    return LoadSimResult(
        tasks_per_s=round(executed / elapsed, 1) if elapsed > 0 else 0.0,
        executed=executed,
        elapsed_s=round(elapsed, 3),
        events=sum(r.events for r in runs),
        offered_tasks_per_s=round(sum(r.offered_tasks_per_s for r in runs), 1),
        lag_p50_ms=max(r.lag_p50_ms for r in runs),
        lag_p99_ms=max(r.lag_p99_ms for r in runs),
        lag_max_ms=max(r.lag_max_ms for r in runs),
        max_depth=max(r.max_depth for r in runs),
        dropped=max(r.dropped for r in runs),  # the shared queue's count, seen by each
        skipped=skipped,
        peak_rss_mb=max(r.peak_rss_mb for r in runs),
        concurrency=first.concurrency,
        exec_latency_ms=first.exec_latency_ms,
        followers=first.followers,
        leaders=first.leaders,
        store=first.store,
        shared=first.shared,
        cpu_us_per_task=round(cpu_s * 1e6 / max(1, executed), 1),
        nominal_tasks_per_s=nominal_events_per_s * first.followers,
        offered_events_per_s=round(sum(r.offered_events_per_s for r in runs), 2),
        handoff_p50_ms=max(r.handoff_p50_ms for r in runs),
        handoff_p99_ms=max(r.handoff_p99_ms for r in runs),
        handoff_max_ms=max(r.handoff_max_ms for r in runs),
        intake_commit_p50_ms=max(r.intake_commit_p50_ms for r in runs),
        intake_commit_p99_ms=max(r.intake_commit_p99_ms for r in runs),
        generator_cpu_s=round(sum(r.generator_cpu_s for r in runs), 3),
        event_loop=first.event_loop,
        instances=len(runs),
        started_at=min(r.started_at for r in runs),
        ended_at=max(r.ended_at for r in runs),
        per_instance=per_instance,
    )


def mean_rate(result: LoadSimResult) -> float:
    rates = [s["tasks_per_s"] for s in result.timeline]
    return statistics.fmean(rates) if rates else 0.0
