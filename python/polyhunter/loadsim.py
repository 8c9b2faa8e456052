"""The load simulation: synthetic leader fills through the real pipeline, a simulated venue at the end.

Each event is a V2 `OrderFilled` notification in the exact JSON-RPC bytes a node sends, so it goes through
the real Rust decoder, dedup, fan-out, guardrails, the PENDING prewrite in the store, the queue and the
workers; only the venue is simulated (a fixed latency per execution). `tasks_per_s` is the number of
EXECUTED rows in the store divided by the elapsed seconds, from the first event to the last execution.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import resource
import statistics
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from polyhunter._core import TOPIC_ORDER_FILLED_V2, FanoutIndex, LogDecoder
from polyhunter.detector.intake import BoundedIntake
from polyhunter.errors import InvalidInputError
from polyhunter.execution.simulated import SimulatedVenueEngine
from polyhunter.models import CopyConfig, TradeStatus
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


@dataclass
class LoadSimResult:
    tasks_per_s: float
    executed: int
    elapsed_s: float
    events: int
    offered_tasks_per_s: float
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
    """CPU time (user + system, all threads) per executed task: a load-independent cost figure."""
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


def _percentile(values: list[float], q: float) -> float:
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


async def run_loadsim(
    params: LoadSimParams,
    store: Store,
    shared: SharedState,
    progress: Callable[[float, dict[str, float]], None] | None = None,
) -> LoadSimResult:
    """Runs one simulation on an opened, empty store and shared state."""
    if await store.count_trades():
        # Its keys would collide with earlier runs' and its EXECUTED count would include them.
        raise InvalidInputError(
            "loadsim needs an empty store: give --database-url a fresh database or schema"
        )
    rng = random.Random(params.seed)  # noqa: S311 - synthetic load, not security
    leaders = await seed_configs(store, params, rng)
    index = FanoutIndex()
    for config in (await store.configs_changed_since(0)).changed:
        index.upsert(config)
    decoder = LogDecoder(ctf=CTF, v2_exchanges=[EXCHANGE], leaders=leaders)
    engine = SimulatedVenueEngine(params.exec_latency_ms)
    pipeline = Pipeline(
        store=store,
        shared=shared,
        engine=engine,
        index=index,
        guardrails=Guardrails(),
        config=PipelineConfig(exec_concurrency=params.concurrency, drain_interval_ms=50, consumer="loadsim"),
        decoder=decoder,
    )
    # As the detector does: batches taken in concurrently, each awaited only for the checkpoint.
    intake = BoundedIntake(pipeline.on_raw, params.intake_concurrency)
    stop_workers = asyncio.Event()
    workers = asyncio.create_task(pipeline.run_workers(stop_workers))
    timeline: list[dict[str, float]] = []
    max_depth = 0
    start = time.monotonic()
    cpu_start = time.process_time()
    events = 0
    interval = 1.0 / params.events_per_s
    next_at = start
    last_sample = start
    last_executed = 0
    block = 1
    token_ids = [rng.getrandbits(255) for _ in range(8)]
    while True:
        now = time.monotonic()
        if now - start >= params.duration_s:
            break
        # Offer the events due by now (catching up in a burst if the loop fell behind), never past the end.
        while next_at <= now and next_at < start + params.duration_s:
            leader = leaders[events % len(leaders)]
            raw = notification(
                leader,
                token_ids[events % len(token_ids)],
                "0x" + rng.randbytes(32).hex(),
                block,
                50 * USD,
                100 * USD,
            )
            await intake.submit(raw, "loadsim")
            events += 1
            next_at += interval
            if events % max(1, int(params.events_per_s)) == 0:
                block += 1
        if now - last_sample >= 1.0:
            depth = (await shared.queue_stats()).length
            max_depth = max(max_depth, depth)
            executed = pipeline.stats.executed
            window = pipeline.stats.lag_ms
            recent = [window[i] for i in range(max(0, len(window) - 5000), len(window))]
            sample = {
                "t": round(now - start, 3),
                "tasks_per_s": (executed - last_executed) / (now - last_sample),
                "depth": depth,
                "lag_p50_ms": _percentile(recent, 0.5),
                "lag_p99_ms": _percentile(recent, 0.99),
            }
            timeline.append(sample)
            last_executed, last_sample = executed, now
            if progress is not None:
                progress(min(1.0, (now - start) / params.duration_s), sample)
        else:
            depth = (await shared.queue_stats()).length if events % 50 == 0 else 0
            max_depth = max(max_depth, depth)
        await asyncio.sleep(max(0.0, min(next_at, start + params.duration_s) - time.monotonic()))
    # Intake stops; the workers finish what was queued.
    await intake.drain()
    while (await shared.queue_stats()).length:  # noqa: ASYNC110 - the queue may be in another process
        await asyncio.sleep(0.02)
    stop_workers.set()
    await workers
    elapsed = time.monotonic() - start
    cpu = time.process_time() - cpu_start
    executed_rows = await store.count_trades(TradeStatus.EXECUTED)
    all_lags = list(pipeline.stats.lag_ms)
    queue = await shared.queue_stats()
    return LoadSimResult(
        tasks_per_s=round(executed_rows / elapsed, 1),
        executed=executed_rows,
        elapsed_s=round(elapsed, 3),
        events=events,
        offered_tasks_per_s=params.events_per_s * params.followers,
        lag_p50_ms=round(_percentile(all_lags, 0.5), 2),
        lag_p99_ms=round(_percentile(all_lags, 0.99), 2),
        lag_max_ms=round(max(all_lags, default=0.0), 2),
        max_depth=max_depth,
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
        timeline=timeline,
    )


def mean_rate(result: LoadSimResult) -> float:
    rates = [s["tasks_per_s"] for s in result.timeline]
    return statistics.fmean(rates) if rates else 0.0
