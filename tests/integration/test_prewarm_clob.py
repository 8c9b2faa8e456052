"""Under SUPERVISOR_ACT_ON=log an early sighting pre-warms its copy on the real local Polymarket (anvil, the
CLOB server, deposit wallets): the follower's balance is read, the caps' counters are read without being
reserved, the copy's order is signed ahead and nothing is posted; the log's job then posts that very order
without signing again. A sighting whose log never comes loses its orders when its window passes."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
from engine_world import FAST, USD, World, engine, fresh_world, stop, store_at
from localpoly_world import ClobThread

from polyhunter._core import NO_LOG_INDEX, FanoutIndex, Signal
from polyhunter.execution.clobvenue import ClobVenue
from polyhunter.execution.localchain import LocalChainEngine
from polyhunter.execution.sender import TxSender
from polyhunter.localpoly import ClobSettings, LocalClob
from polyhunter.models import CopyConfig, Step, TradeStatus, copy_key
from polyhunter.shared.memory import MemorySharedState
from polyhunter.store.sqlite import SqliteStore
from polyhunter.supervisor import prewarm
from polyhunter.supervisor.balances import BalanceBook
from polyhunter.supervisor.guardrails import Guardrails, utc_day
from polyhunter.supervisor.pipeline import Pipeline, PipelineConfig
from polyhunter.supervisor.sources import FillIntake

pytestmark = [pytest.mark.integration, pytest.mark.asyncio]

CONFIRM_BLOCKS = 20
PRICE_NUM, PRICE_DEN = 51, 100  # the local book's best ask: $0.51 a share
LEADER_SHARES = 100 * USD


@pytest.fixture
def w() -> Iterator[World]:
    yield from fresh_world()


@pytest.fixture
def clob(w: World) -> Iterator[LocalClob]:
    with ClobThread(LocalClob(w.deployment, ClobSettings())) as server:
        yield server


@dataclass
class Rig:
    w: World
    intake: FillIntake
    pipeline: Pipeline
    venue: ClobVenue
    engine: LocalChainEngine
    store: SqliteStore
    shared: MemorySharedState
    balances: BalanceBook
    config: CopyConfig

    @property
    def prewarmer(self) -> prewarm.Prewarmer:
        assert self.intake.prewarm is not None
        return self.intake.prewarm


@asynccontextmanager
async def rig(w: World, clob: LocalClob, tmp_path: Path) -> AsyncIterator[Rig]:
    made: list[ClobVenue] = []
    c = w.deployment.contracts

    def build(sender: TxSender) -> ClobVenue:
        venue = ClobVenue(
            sender.rpc,
            clob.url,
            w.deployment.chain_id,
            exchange=c.ctf_exchange_v2 or "",
            neg_risk_exchange=c.neg_risk_exchange_v2 or "",
            wallets=w.deployment.accounts.deposit_wallets,
            poll_s=0.02,
            trades_every_s=0.5,
        )
        made.append(venue)
        return venue

    eng = engine(w, wallets=1, config=FAST, venue=build)
    (venue,) = made
    store = await store_at(tmp_path / "prewarm.db")
    shared = MemorySharedState()
    index = FanoutIndex()
    # Percent of the Proxy's balance: without a balance read, fan-out skips it (`no_balance`).
    config = await store.add_config(
        CopyConfig(
            follower=w.follower(0),
            proxy=w.proxy(0),
            leader=w.deployment.accounts.leaders[0],
            mode="percent",
            percent_bps=50,
        )
    )
    index.upsert(config)
    intake: FillIntake | None = None

    def on_event(kind: str, data: dict[str, object]) -> None:
        if kind == "signal" and intake is not None:
            signal = data["signal"]
            assert isinstance(signal, Signal)
            intake.observe_log(signal)

    pipeline = Pipeline(
        store=store,
        shared=shared,
        engine=eng,
        index=index,
        guardrails=Guardrails(daily_cap_usd=10_000 * USD, refusal_ttl_ms=60_000),
        config=PipelineConfig(consumer="prewarm", drain_interval_ms=10),
        on_event=on_event,
    )
    intake = FillIntake(pipeline, act_on="log", confirm_blocks=CONFIRM_BLOCKS)
    balances = BalanceBook(eng.rpc, c.collateral, index)
    intake.prewarm = prewarm.for_engine(
        pipeline,
        eng,
        balances=balances,
        percent_proxies=prewarm.percent_followers(lambda: [config]),
        confirm_blocks=CONFIRM_BLOCKS,
    )
    await eng.start()
    intake.at_block(int(w.rpc("eth_blockNumber"), 16))
    try:
        yield Rig(w, intake, pipeline, venue, eng, store, shared, balances, config)
    finally:
        await intake.prewarm.settle()
        await stop(eng)
        await store.close()


def sighting(w: World, tx: bytes, *, logged: bool) -> Signal:
    """The leader's BUY of 100 shares at $0.51, as a feed frame (no log index) or as its V2 log row."""
    return Signal(
        leader=w.deployment.accounts.leaders[0],
        token_id=w.token,
        side="BUY",
        size=LEADER_SHARES,
        price_num=PRICE_NUM,
        price_den=PRICE_DEN,
        usd=LEADER_SHARES * PRICE_NUM // PRICE_DEN,
        tx_hash=tx,
        log_index=4 if logged else NO_LOG_INDEX,
        sub_index=0,
        block_number=int(w.rpc("eth_blockNumber"), 16) if logged else None,
        source="v2" if logged else "activity",
        seen_at_ns=time.time_ns(),
    )


async def executed(r: Rig, key: bytes) -> None:
    stop_workers = asyncio.Event()
    workers = asyncio.create_task(r.pipeline.run_workers(stop_workers))
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            record = await r.store.get_trade(key)
            if record is not None and record.status is not TradeStatus.PENDING:
                break
            await asyncio.sleep(0.05)
    finally:
        stop_workers.set()
        await workers


async def test_the_log_posts_the_order_its_early_sighting_signed(
    w: World, clob: LocalClob, tmp_path: Path
) -> None:
    async with rig(w, clob, tmp_path) as r:
        day = utc_day()
        tx = b"\x71" * 32
        await r.intake.on_feed([sighting(w, tx, logged=False)])
        # The same trade again (the feed's `trades` and `orders_matched`): one fill, one pre-warm.
        await r.intake.on_feed([sighting(w, tx, logged=False)])
        await r.prewarmer.settle()
        stats = r.prewarmer.stats
        assert stats.sightings == 1
        # Balances: the follower's Proxy read from the chain, into the fan-out index.
        assert stats.balance_refreshes == 1
        assert r.balances.balances[w.proxy(0).lower()] == w.chain.collateral_of(w.proxy(0))
        # Caps: today's counter read, nothing reserved.
        assert stats.caps_warmed == 1
        assert r.pipeline.guardrails.usage(f"daily:{day}") == 0
        assert await r.shared.counter(f"daily:{day}") == 0
        # The order signed ahead for the one wallet; nothing posted, no copy made before the log.
        (fill,) = r.venue.presigned.fills()
        ahead = [o.signed.hash for o in r.venue.presigned.orders_of(fill)]
        assert len(ahead) == 1
        assert r.venue.posts == 0
        assert r.venue.signs == 0
        assert await r.store.count_trades(TradeStatus.PENDING) == 0

        row = sighting(w, tx, logged=True)
        await r.pipeline.on_signals([row])
        key = copy_key(row.dedup_key, r.config.config_id)
        await executed(r, key)
        record = await r.store.get_trade(key)
        assert record is not None
        assert record.status is TradeStatus.EXECUTED, record.reason
        posted = [e.tx_hash for e in record.journal if e.step == Step.ORDER_POSTED]
        # The venue signed nothing at the log: the posted order is the one signed ahead.
        assert posted == ahead
        assert r.venue.signs == 0
        assert r.venue.presigned.stats.used == 1
        assert r.venue.posts == 1
        assert len(r.venue.presigned) == 0
        # The job reserved its cap at the log only.
        assert await r.shared.counter(f"daily:{day}") > 0


async def test_a_sighting_without_a_log_loses_its_orders_when_its_window_passes(
    w: World, clob: LocalClob, tmp_path: Path
) -> None:
    async with rig(w, clob, tmp_path) as r:
        await r.intake.on_feed([sighting(w, b"\x72" * 32, logged=False)])
        await r.prewarmer.settle()
        (fill,) = r.venue.presigned.fills()
        assert len(r.venue.presigned.orders_of(fill)) == 1
        r.intake.at_block(r.intake.head + CONFIRM_BLOCKS - 1)
        await r.intake.expire()
        assert len(r.venue.presigned) == 1  # still within the window
        r.intake.at_block(r.intake.head + 1)
        await r.intake.expire()
        assert len(r.venue.presigned) == 0
        assert r.venue.presigned.stats.dropped == 1
        assert r.venue.presigned.stats.used == 0
        assert r.venue.posts == 0
        assert await r.store.count_trades(TradeStatus.PENDING) == 0
        assert await r.shared.counter(f"daily:{utc_day()}") == 0
