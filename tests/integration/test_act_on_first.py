"""SUPERVISOR_ACT_ON end to end through the real pipeline (fan-out, guardrails, SQLite store, in-memory shared
state and queue, workers): the same fills fed as pending orders, feed frames and log rows in every order of
the sources give, per follower, exactly the copies that the logs alone give under `log`; under `first`
they are made from the earliest sighting, a later one only tops up, a pending fill that never lands is
flagged `unconfirmed_source`, and a reorg reaches the copies a pending sighting made."""

from __future__ import annotations

import asyncio
import itertools
import time
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from polyhunter._core import NO_LOG_INDEX, FanoutIndex, Signal
from polyhunter.execution.base import ExecutionResult, JobJournal
from polyhunter.models import CopyConfig, CopyJob, TradeStatus
from polyhunter.shared.base import SharedState
from polyhunter.shared.memory import MemorySharedState
from polyhunter.shared.redis import RedisSharedState
from polyhunter.store.base import Store
from polyhunter.store.postgres import PostgresStore
from polyhunter.store.sqlite import SqliteStore
from polyhunter.supervisor.guardrails import Guardrails
from polyhunter.supervisor.pipeline import UNLOGGED, Pipeline, PipelineConfig
from polyhunter.supervisor.sources import UNCONFIRMED_SOURCE, Early, FillIntake

pytestmark = [pytest.mark.integration, pytest.mark.asyncio]

LEADER = "0x" + "1e" * 20
OTHER = "0x" + "2f" * 20
USD = 1_000_000
FOLLOWERS = 3


class RecordingEngine:
    """Executes every job at its limit price and remembers it (the venue is not what is tested here)."""

    name = "recording"

    def __init__(self) -> None:
        self.jobs: list[CopyJob] = []

    async def execute(self, job: CopyJob, journal: JobJournal) -> ExecutionResult:
        self.jobs.append(job)
        return ExecutionResult(TradeStatus.EXECUTED, fill_price_ppm=job.limit_price_ppm, fill_size=job.amount)

    async def close(self) -> None:
        return None


@dataclass(frozen=True)
class Sighting:
    source: str  # "mempool" | "activity" | "log"
    signal: Signal
    order_hash: bytes | None = None
    taker: bool = False


def _tx(n: int) -> bytes:
    return n.to_bytes(32, "big")


def sighting(
    source: str,
    leader: str,
    token: int,
    tokens: int,
    usd: int,
    tx: int,
    position: int,
    order_hash: bytes | None = None,
    taker: bool = False,
) -> Sighting:
    logged = source == "log"
    signal = Signal(
        leader=leader,
        token_id=token,
        side="BUY",
        size=tokens,
        price_num=usd,
        price_den=tokens,
        usd=usd,
        tx_hash=_tx(tx),
        log_index=position if logged else NO_LOG_INDEX,
        sub_index=position if source == "mempool" else 0,
        block_number=1_000 + tx if logged else None,
        source="v2" if logged else "mempool" if source == "mempool" else "activity",
        seen_at_ns=time.time_ns(),
    )
    return Sighting(source, signal, order_hash, taker)


def fills() -> dict[str, list[Sighting]]:
    """F1 seen by all three; F2 re-settled (pending in tx 2 and tx 3, the feed names tx 2, logged in tx 3);
    F3 a MINT taker whose calldata implies 10 shares for $4 and whose row says 12 for $5; F4 another
    leader's fill; P pending (and in the feed) in a transaction that never lands."""
    h = [bytes([n]) * 32 for n in range(6)]
    return {
        "mempool": [
            sighting("mempool", LEADER, 7, 10 * USD, 5 * USD, 1, 0, order_hash=h[1]),
            sighting("mempool", LEADER, 8, 20 * USD, 8 * USD, 2, 0, order_hash=h[2]),
            sighting("mempool", LEADER, 8, 20 * USD, 8 * USD, 3, 0, order_hash=h[2]),
            sighting("mempool", LEADER, 9, 10 * USD, 4 * USD, 4, 1, order_hash=h[3], taker=True),
            sighting("mempool", OTHER, 7, 6 * USD, 3 * USD, 5, 0, order_hash=h[4]),
            sighting("mempool", LEADER, 7, 9 * USD, 4 * USD, 6, 0, order_hash=h[5]),
        ],
        "activity": [
            sighting("activity", LEADER, 7, 10 * USD, 5 * USD, 1, 0),
            sighting("activity", LEADER, 7, 10 * USD, 5 * USD, 1, 0),  # `trades` and `orders_matched`
            sighting("activity", LEADER, 8, 20 * USD, 8 * USD, 2, 0),
            sighting("activity", LEADER, 9, 12 * USD, 5 * USD, 4, 0),
            sighting("activity", LEADER, 7, 9 * USD, 4 * USD, 6, 0),
        ],
        "log": [
            sighting("log", LEADER, 7, 10 * USD, 5 * USD, 1, 3),
            sighting("log", LEADER, 8, 20 * USD, 8 * USD, 3, 0),
            sighting("log", LEADER, 9, 12 * USD, 5 * USD, 4, 5),
            sighting("log", OTHER, 7, 6 * USD, 3 * USD, 5, 2),
        ],
    }


async def seed(store: Store) -> FanoutIndex:
    index = FanoutIndex()
    for i in range(FOLLOWERS):
        for leader in (LEADER, OTHER):
            follower, proxy = f"0x{i + 1:040x}", f"0x{i + 0xA0:040x}"
            if i == 2:  # one follower copies a fixed amount per fill: a top-up gives it nothing more
                config = CopyConfig(
                    follower=follower, proxy=proxy, leader=leader, mode="fixed", fixed_usd=2 * USD
                )
            else:
                config = CopyConfig(
                    follower=follower, proxy=proxy, leader=leader, mode="ratio", ratio_ppm=500_000
                )
            index.upsert(await store.add_config(config))
    return index


def instance(
    store: Store, index: FanoutIndex, shared: SharedState, act_on: str, name: str = "t"
) -> FillIntake:
    pipeline = Pipeline(
        store=store,
        shared=shared,
        engine=RecordingEngine(),
        index=index,
        guardrails=Guardrails(),
        config=PipelineConfig(consumer=name, drain_interval_ms=10),
    )
    intake = FillIntake(pipeline, act_on=act_on, confirm_blocks=20)
    intake.at_block(1_000)  # the chain's head when the sightings come (the supervisor polls it)
    return intake


def engine_of(intake: FillIntake) -> RecordingEngine:
    engine = intake.pipeline.engine
    assert isinstance(engine, RecordingEngine)
    return engine


@asynccontextmanager
async def world(
    tmp_path: Path, act_on: str
) -> AsyncIterator[tuple[FillIntake, SqliteStore, RecordingEngine]]:
    store = SqliteStore(tmp_path / f"{act_on}-{time.monotonic_ns()}.db")
    await store.open()
    try:
        intake = instance(store, await seed(store), MemorySharedState(), act_on)
        yield intake, store, engine_of(intake)
    finally:
        await store.close()


async def feed(intake: FillIntake, stream: list[Sighting]) -> None:
    for s in stream:
        if s.source == "log":
            await intake.on_logs([s.signal])
        elif s.source == "mempool":
            # What `on_pending` reads of a PendingFill (whose OrderFill only the Rust decoder makes).
            await intake.on_early([Early(s.signal, s.order_hash, s.taker)])
        else:
            await intake.on_feed([s.signal])


async def run_until_settled(intake: FillIntake, store: Store) -> None:
    pipeline = intake.pipeline
    stop = asyncio.Event()
    workers = asyncio.create_task(pipeline.run_workers(stop))
    try:
        deadline = time.monotonic() + 60
        while await store.count_trades(TradeStatus.PENDING) and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
    finally:
        stop.set()
        await workers
    assert await store.count_trades(TradeStatus.PENDING) == 0


def spent(engine: RecordingEngine) -> Counter[tuple[str, int]]:
    """What each follower's copies spent per token (BUY amounts are collateral)."""
    out: Counter[tuple[str, int]] = Counter()
    for job in engine.jobs:
        out[(job.follower, job.token_id)] += job.amount
    return out


async def by_logs_alone(tmp_path: Path) -> tuple[Counter[tuple[str, int]], int]:
    async with world(tmp_path, "log") as (intake, store, engine):
        await intake.pipeline.on_signals([s.signal for s in fills()["log"]])
        await run_until_settled(intake, store)
        return spent(engine), len(engine.jobs)


async def test_act_on_first_copies_each_fill_once_per_follower_in_every_order_of_the_sources(
    tmp_path: Path,
) -> None:
    expected, logged_copies = await by_logs_alone(tmp_path)
    assert logged_copies == 4 * FOLLOWERS
    streams = fills()
    for order in itertools.permutations(("mempool", "activity", "log")):
        async with world(tmp_path, "first") as (intake, store, engine):
            await feed(intake, [s for source in order for s in streams[source]])
            await run_until_settled(intake, store)
            got = spent(engine)
            # What the logs alone give, per follower and token (top-ups included), plus on token 7 the
            # phantom's copy ($2 at 50 % of $4, or the fixed $2): never a fill copied twice.
            assert got == Counter({k: v + (2 * USD if k[1] == 7 else 0) for k, v in expected.items()}), order
            fixed = [j for j in engine.jobs if j.follower == f"0x{3:040x}"]
            assert len(fixed) == 5, order  # one per fill: F1, F2, F3, F4 (the other leader's), the phantom
            # The phantom is flagged once its window passes; nothing else is.
            intake.at_block(10_000)
            gone = await intake.expire()
            assert [f.group[1] for f in gone] == [7]
            flagged = [j for j in engine.jobs if UNCONFIRMED_SOURCE in await store.flags_of(j.key)]
            assert {(bytes(j.tx_hash), j.log_index) for j in flagged} == {(_tx(6), UNLOGGED)}
            assert len(flagged) == FOLLOWERS
            assert {UNCONFIRMED_SOURCE} == await store.flags_of(flagged[0].key)
            assert sum(intake.stats.unconfirmed.values()) == 1


async def test_act_on_first_a_later_sighting_tops_up_and_the_first_source_is_recorded(tmp_path: Path) -> None:
    streams = fills()
    taker_pending = streams["mempool"][3]
    taker_row = streams["log"][2]
    async with world(tmp_path, "first") as (intake, store, engine):
        events: list[tuple[str, dict[str, object]]] = []
        intake.on_event = lambda kind, data: events.append((kind, data))
        await feed(intake, [taker_pending, taker_row])
        await run_until_settled(intake, store)
        ratio = sorted(j.amount for j in engine.jobs if j.follower != f"0x{3:040x}")
        # 10 shares for $4 first (50 %: $2 each), then the row's $5: $0.50 more each, never a second $2.50.
        assert ratio == [USD // 2, USD // 2, 2 * USD, 2 * USD]
        assert [j.amount for j in engine.jobs if j.follower == f"0x{3:040x}"] == [2 * USD]
        assert intake.stats.top_ups == 1
        confirmed = [d for kind, d in events if kind == "fill"]
        assert len(confirmed) == 1
        fill = confirmed[0]["fill"]
        assert fill.first_source == "mempool"  # type: ignore[attr-defined]
        assert set(confirmed[0]["leads"]) == {"mempool"}  # type: ignore[arg-type]


async def test_act_on_first_a_reorg_of_the_log_reaches_copies_made_from_the_pending_sighting(
    tmp_path: Path,
) -> None:
    streams = fills()
    pending, row = streams["mempool"][0], streams["log"][0]
    async with world(tmp_path, "first") as (intake, store, engine):
        await feed(intake, [pending, row])
        await run_until_settled(intake, store)
        assert len(engine.jobs) == FOLLOWERS
        r = row.signal
        removed = Signal(
            leader=r.leader,
            token_id=r.token_id,
            side=r.side,
            size=r.size,
            usd=r.usd,
            price_num=r.price_num,
            price_den=r.price_den,
            tx_hash=r.tx_hash,
            log_index=r.log_index,
            block_number=r.block_number,
            source="v2",
            removed=True,
        )
        await intake.on_logs([removed])
        records = [await store.get_trade(j.key) for j in engine.jobs]
        assert all(r is not None and r.reorged for r in records)
        # Mined again: the same fill, no second copy.
        await intake.on_logs([row.signal])
        await run_until_settled(intake, store)
        assert len(engine.jobs) == FOLLOWERS


async def test_act_on_log_only_the_log_copies_and_early_sightings_measure_their_lead(tmp_path: Path) -> None:
    expected, _ = await by_logs_alone(tmp_path)
    streams = fills()
    async with world(tmp_path, "log") as (intake, store, engine):
        events: list[tuple[str, dict[str, object]]] = []
        intake.on_event = lambda kind, data: events.append((kind, data))
        intake.pipeline.on_event = lambda kind, data: (
            intake.observe_log(data["signal"]) if kind == "signal" else None
        )
        await feed(intake, streams["mempool"] + streams["activity"])
        assert intake.pipeline.stats.queued == 0  # nothing copied before the logs
        for s in streams["log"]:
            await intake.pipeline.on_signals([s.signal])
        await run_until_settled(intake, store)
        assert spent(engine) == expected
        assert len(engine.jobs) == 4 * FOLLOWERS
        firsts = Counter(d["fill"].first_source for kind, d in events if kind == "fill")  # type: ignore[attr-defined]
        assert firsts == Counter({"mempool": 4})
        assert intake.stats.coverage_ppm == 1_000_000
        intake.at_block(10_000)
        gone = await intake.expire()
        assert len(gone) == 1  # the phantom: counted, nothing to flag
        assert sum(intake.stats.unconfirmed.values()) == 0
        assert not [j for j in engine.jobs if await store.flags_of(j.key)]


async def test_act_on_first_two_instances_sharing_redis_and_postgres_copy_a_fill_once(
    pg_url: str, redis_url: str, redis_prefix: str
) -> None:
    """Two replicas of one shard: one sees the fill pending, the other only its log (both get the logs).
    Both compute the fill's key, so the shared dedup lets one copy per follower through; flags live in
    PostgreSQL."""
    streams = fills()
    pending, row = streams["mempool"][0], streams["log"][0]
    phantom = streams["mempool"][5]
    store_a, store_b = PostgresStore(pg_url), PostgresStore(pg_url)
    shared_a, shared_b = RedisSharedState(redis_url, redis_prefix), RedisSharedState(redis_url, redis_prefix)
    for part in (store_a, store_b, shared_a, shared_b):
        await part.open()
    try:
        index = await seed(store_a)
        a = instance(store_a, index, shared_a, "first", "a")
        b = instance(store_b, index, shared_b, "first", "b")
        await feed(a, [pending, phantom])
        await feed(b, [row])
        await feed(a, [row])
        await run_until_settled(a, store_a)
        await run_until_settled(b, store_b)
        copies = engine_of(a).jobs + engine_of(b).jobs
        f1 = [j for j in copies if bytes(j.tx_hash) == _tx(1)]
        assert len(f1) == FOLLOWERS
        assert len({j.follower for j in f1}) == FOLLOWERS
        assert b.pipeline.stats.duplicates == 1
        a.at_block(2_000)
        await a.expire()
        flagged = [j for j in copies if UNCONFIRMED_SOURCE in await store_b.flags_of(j.key)]
        assert {bytes(j.tx_hash) for j in flagged} == {_tx(6)}
        assert len(flagged) == FOLLOWERS
        # Flagging again is one flag.
        again = await store_a.flag_copies(_tx(6), UNLOGGED, 0, UNCONFIRMED_SOURCE)
        assert sorted(again) == sorted(j.key for j in flagged)
        assert await store_a.flags_of(flagged[0].key) == {UNCONFIRMED_SOURCE}
    finally:
        for part in (store_a, store_b, shared_a, shared_b):
            await part.close()
