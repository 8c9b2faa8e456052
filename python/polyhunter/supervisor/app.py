"""`polyhunter supervisor`: wires settings, store, shared state, the Rust hot path, detector, pipeline and
engine together, and stops them in the right order (intake first, then the workers drain)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import uuid
from collections.abc import Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from typing import Any

from polyhunter._core import ActivityParser, ActivityTrade, FanoutIndex, LogDecoder, MatchDecoder, Signer
from polyhunter.chain.aiorpc import AsyncRpc
from polyhunter.chain.anvil import TEST_MNEMONIC
from polyhunter.chain.deployment import Deployment
from polyhunter.chain.profile import (
    chain_profile,
    is_production_chain,
    production_deployment,
    resolve_profile,
)
from polyhunter.detector.chainlogs import ChainLogDetector
from polyhunter.detector.exits import ExitFollower, exit_filters
from polyhunter.detector.feed import FeedSource, feed_url
from polyhunter.detector.filters import leader_filters
from polyhunter.detector.mempool import MempoolSource, PendingFill
from polyhunter.errors import ConfigError
from polyhunter.eventloop import loop_name
from polyhunter.execution.base import ExecutionEngine
from polyhunter.execution.calls import balance_of_1155
from polyhunter.execution.faults import faultpoint
from polyhunter.execution.fleet import fleet_signers
from polyhunter.execution.localchain import EngineConfig, LocalChainEngine
from polyhunter.execution.recovery import Recovery
from polyhunter.execution.redeem import Redeemer
from polyhunter.execution.simulated import DryRunEngine
from polyhunter.execution.watch import ExecutorWatch
from polyhunter.logformat import short_token_id
from polyhunter.settings import Settings
from polyhunter.shared import open_shared_state
from polyhunter.shared.base import SharedState
from polyhunter.store import open_store
from polyhunter.store.base import Store
from polyhunter.supervisor import prewarm
from polyhunter.supervisor.balances import BalanceBook
from polyhunter.supervisor.configs import ConfigSync
from polyhunter.supervisor.guardrails import Guardrails
from polyhunter.supervisor.market import MarketBook
from polyhunter.supervisor.pipeline import Pipeline, PipelineConfig
from polyhunter.supervisor.sources import (
    FEED,
    MEMPOOL,
    FillIntake,
    PendingSightings,
    enabled_sources,
    non_trading_addresses,
)
from polyhunter.supervisor.startup import apply_address_settings, verify_chain, verify_contracts

log = logging.getLogger(__name__)

LOCAL_CHAIN_IDS = frozenset({31337, 1337})

CONSUMER_LEASE_TTL_MS = 15_000
"""How long a configured consumer name stays taken after its instance stops renewing it (a crash)."""
CONSUMER_LEASE_RENEW_S = 5.0
CONFIRM_WINDOW_TICK_S = 1.0
"""How often fills seen early are checked against `SUPERVISOR_PENDING_CONFIRM_BLOCKS`."""
_SOURCE_NAMES = {"mempool": "pending", "activity": "in the feed"}


async def load_deployment(settings: Settings) -> Deployment:
    """What the supervisor runs on: with CHAIN_ID 137 or 80002 the production profile, every address checked
    for code on the settings' RPC (Polymarket's contracts are never read from a file we wrote); elsewhere
    `$POLYHUNTER_HOME/deployment.json`."""
    if not is_production_chain(settings.chain_id):
        return Deployment.load()
    profile = chain_profile(settings)
    urls = [u for u in settings.rpc_urls if u.startswith("http")]
    if not urls:
        raise ConfigError(
            f"COPY_TRADING_RPC_URLS: required on chain {profile.chain_id} (an http or https URL)"
        )
    async with AsyncRpc(urls) as rpc:
        return await production_deployment(settings, await resolve_profile(profile, rpc), rpc)


@dataclass
class Supervisor:
    settings: Settings
    deployment: Deployment
    engine: ExecutionEngine | None = None
    consumer: str = ""
    on_event: Callable[[str, dict[str, Any]], None] | None = None
    store: Store = field(init=False)
    shared: SharedState = field(init=False)
    pipeline: Pipeline = field(init=False)
    decoder: LogDecoder = field(init=False)
    detector: ChainLogDetector = field(init=False)
    mempool: MempoolSource | None = field(default=None, init=False)
    recovery: Recovery | None = field(default=None, init=False)
    """The recovery loops (engines that send transactions only); their counters are exported."""
    feed: FeedSource | None = field(default=None, init=False)
    sightings: PendingSightings = field(default_factory=PendingSightings, init=False)
    """Pending fills' first sightings and their leads over the log (mempool source only)."""
    feed_sightings: PendingSightings = field(default_factory=PendingSightings, init=False)
    """The activity feed's first sightings and their leads over the log, apart from the mempool's."""
    fills: FillIntake = field(init=False)
    """Sightings joined per fill: which one copies (`SUPERVISOR_ACT_ON`), first source, leads."""
    sync: ConfigSync = field(init=False)
    rpc: AsyncRpc = field(init=False)
    balances: BalanceBook = field(init=False)
    redeemer: Redeemer | None = field(default=None, init=False)
    """Resolved markets redeemed and leaders' merges followed (engines that send transactions only)."""
    exits: ExitFollower = field(init=False)
    """Leaders' merges and redemptions (never SELLs): a merge makes the following Proxies merge theirs."""
    executor_watch: ExecutorWatch | None = field(default=None, init=False)
    """Reports Executor pulls and repayments that polyhunter never journaled (a worker key used elsewhere)."""
    _stop_intake: asyncio.Event = field(default_factory=asyncio.Event, init=False)
    _stop_workers: asyncio.Event = field(default_factory=asyncio.Event, init=False)
    _tasks: list[asyncio.Task[None]] = field(default_factory=list, init=False)
    _extra: list[asyncio.Task[None]] = field(default_factory=list, init=False)
    _resources: AsyncExitStack = field(default_factory=AsyncExitStack, init=False)
    """What `start` opened (RPC, store, shared state, engine), closed last-opened-first by `stop` or by a
    `start` that fails half way: no aiosqlite thread or aiohttp session outlives a failed start."""
    _holder: str = field(default_factory=lambda: uuid.uuid4().hex, init=False)
    """This process's identity as the holder of its consumer name's lease."""
    failed: asyncio.Event = field(default_factory=asyncio.Event, init=False)
    """Set when a long-running part ended unexpectedly: `polyhunter supervisor` then exits non-zero."""

    @property
    def local_chain(self) -> bool:
        return self.deployment.chain_id in LOCAL_CHAIN_IDS

    @property
    def checkpoint_source(self) -> str:
        s = self.settings
        return f"logs:{self.deployment.chain_id}:{s.supervisor_shard_index}/{s.supervisor_shard_count}"

    def _engine(self) -> ExecutionEngine:
        clob = self.settings.copy_trading_venue == "clob"
        if self.settings.is_dry_run(self.local_chain):
            return self._dry_run_engine() if clob else DryRunEngine()
        if not self.local_chain and not clob:
            raise ConfigError(
                f"COPY_TRADING_VENUE={self.settings.copy_trading_venue}: on chain {self.deployment.chain_id} "
                "copies trade on Polymarket's CLOB only; set COPY_TRADING_VENUE=clob"
            )
        fleet = self._fleet()
        funder = self.settings.funder_private_key
        venue = None
        if self.settings.copy_trading_venue == "clob":
            # Copies become CLOB V2 orders from each worker's deposit wallet (or its EOA with type 0).
            from polyhunter.execution.clobvenue import clob_venue_factory

            venue = clob_venue_factory(self.deployment, self.settings)
        engine_type = LocalChainEngine
        if venue is not None and self.settings.copy_trading_clob_batch_orders:
            # A dequeued batch runs as one unit and its orders leave through POST /orders, 15 a request; its
            # outcomes are marked when its slowest copy has settled.
            from polyhunter.execution.batched import BatchedChainEngine

            engine_type = BatchedChainEngine
        return engine_type(
            self.rpc,
            self.deployment,
            fleet,
            config=EngineConfig.from_settings(self.settings),
            shared=self.shared,
            funder=Signer(funder.get_secret_value()) if funder is not None else None,
            venue=venue,
        )

    def _fleet(self) -> list[Signer]:
        """This instance's fleet wallets: the configured ones (on the local chain, the test mnemonic's by
        default; elsewhere the operator's own only) that the deployment authorised, its shard's share."""
        fleet = fleet_signers(self.settings, default_mnemonic=TEST_MNEMONIC if self.local_chain else None)
        authorised = {a.lower() for a in self.deployment.accounts.fleet}
        if authorised:
            # On the local chain only the deployment's fleet is authorised on the Executor.
            fleet = [f for f in fleet if f.address in authorised]
        shards = self.settings.supervisor_shard_count
        if shards > 1:
            # The shards of one fleet split it (every shard_count-th wallet), so that two instances never
            # sign with the same wallet's nonces; cross-instance wallet leases replace this (issue 7).
            fleet = fleet[self.settings.supervisor_shard_index :: shards]
        if not fleet:
            raise ConfigError("TRADING_MNEMONIC: none of its wallets is in the deployment's fleet")
        return fleet

    def _dry_run_engine(self) -> ExecutionEngine:
        """DRY_RUN on the CLOB: each copy's order built and signed by a fleet wallet, its hash recorded,
        nothing posted. Without a configured fleet (or deposit wallets for type 3) nothing can be signed:
        copies are then only logged, and the start-up line says why."""
        from polyhunter.execution.clobdryrun import ClobDryRunEngine
        from polyhunter.execution.clobvenue import make_clob_venue
        from polyhunter.execution.fleet import OperatorWallet

        try:
            signers = fleet_signers(
                self.settings, default_mnemonic=TEST_MNEMONIC if self.local_chain else None
            )
            venue = make_clob_venue(self.deployment, self.settings, self.rpc)
            return ClobDryRunEngine(venue, [OperatorWallet(s) for s in signers])
        except ConfigError as exc:
            log.warning("DRY_RUN: orders are not signed (%s); copies are only logged", exc)
            return DryRunEngine()

    async def start(self) -> None:
        """Checks the chain, opens everything and starts the long-running parts; if any step fails, what the
        earlier steps opened is closed before the error propagates."""
        try:
            from polyhunter.supervisor.metrics_server import serve_supervisor

            # Bound first, so that a port in use stops start-up before anything opens; closed last by stop.
            metrics = await serve_supervisor(self)
            if metrics is not None:
                self._resources.push_async_callback(metrics.close)
            await self._start()
        except BaseException:
            for task in [*self._tasks, *self._extra]:
                task.cancel()
            await asyncio.gather(*self._tasks, *self._extra, return_exceptions=True)
            await self._resources.aclose()
            raise

    async def _start(self) -> None:
        s = self.settings
        await verify_chain(s, self.deployment)
        urls = s.rpc_urls or [self.deployment.rpc_url]
        self.rpc = AsyncRpc([u for u in urls if u.startswith("http")] or [self.deployment.rpc_url])
        self._resources.push_async_callback(self.rpc.close)
        chain_id = await self.rpc.chain_id()
        listed_executor = self.deployment.contracts.executor.lower()
        self.deployment = await apply_address_settings(s, self.deployment, self.rpc)
        await verify_contracts(self.deployment, self.rpc)
        d = self.deployment
        self.store = await open_store(s)
        self._resources.push_async_callback(self.store.close)
        self.shared = await open_shared_state(s)
        self._resources.push_async_callback(self.shared.close)
        consumer = await self._take_consumer_name()
        index = FanoutIndex()
        # Every exchange that emits V2 `OrderFilled` rows: Polymarket's two V2 exchanges (on the local world,
        # ours behind the local CLOB) and, on local chains, LocalExchange where the engine fills copies.
        exchanges = [*d.contracts.v2_exchanges]
        if d.contracts.local_exchange:
            exchanges.append(d.contracts.local_exchange)
        decoder = LogDecoder(
            ctf=d.contracts.ctf, v2_exchanges=exchanges, leaders=[], non_trading=non_trading_addresses(d)
        )
        self.decoder = decoder
        self.sync = ConfigSync(
            self.store,
            index,
            shard_count=s.supervisor_shard_count,
            shard_index=s.supervisor_shard_index,
            on_leaders=lambda leaders: self._leaders_changed(decoder, leaders),
        )
        await self.sync.rebuild()
        decoder.set_leaders(self.sync.leaders)
        if self.engine is None:
            self.engine = self._engine()
        self._resources.push_async_callback(self.engine.close)
        if isinstance(self.engine, LocalChainEngine):
            await self.engine.start()
        self.pipeline = Pipeline(
            store=self.store,
            shared=self.shared,
            engine=self.engine,
            index=index,
            guardrails=Guardrails.from_settings(s),
            config=PipelineConfig(
                shard_count=s.supervisor_shard_count,
                shard_index=s.supervisor_shard_index,
                dedup_ttl_ms=s.supervisor_dedup_ttl_ms,
                pending_expiry_ms=s.copy_trading_pending_expiry_ms,
                exec_concurrency=s.supervisor_exec_concurrency,
                drain_interval_ms=s.supervisor_queue_drain_interval_ms,
                claim_idle_ms=s.supervisor_queue_claim_idle_ms,
                consumer=consumer,
            ),
            decoder=decoder,
            on_event=self._pipeline_event,
            market=MarketBook(meta_ttl_ms=s.supervisor_market_meta_ttl_ms),
        )
        self.fills = FillIntake(
            self.pipeline,
            act_on=s.supervisor_act_on,
            confirm_blocks=s.supervisor_pending_confirm_blocks,
            on_event=self._fill_event,
        )
        self.pipeline.holding_of = self.holding_of
        self.exits = ExitFollower(None, self.following_proxies)
        self.pipeline.exit_sink = self.exits.on_exits
        plumbing = non_trading_addresses(d)
        ws_urls = s.ws_urls or [d.ws_url]
        ws_url = ws_urls[0]
        self.detector = ChainLogDetector(
            ws_url=ws_urls,
            rpc=self.rpc,
            filters=lambda: [
                *leader_filters(
                    exchanges=exchanges,
                    ctf=d.contracts.ctf,
                    leaders=self.sync.leaders if s.supervisor_ws_filter_by_address else None,
                ),
                *exit_filters(
                    ctf=d.contracts.ctf,
                    adapters=plumbing,
                    leaders=self.sync.leaders if s.supervisor_ws_filter_by_address else None,
                ),
            ],
            sink=self._sink,
            load_checkpoint=lambda: self.store.get_checkpoint(self.checkpoint_source),
            save_checkpoint=lambda block: self.store.set_checkpoint(self.checkpoint_source, block),
            intake_limit=s.supervisor_fanout_concurrency,
        )
        rtds = feed_url(s.supervisor_feed_url, d.chain_id, d.rtds_url)
        sources = enabled_sources(s, ws_url, rtds)
        if FEED in sources and rtds:
            self.feed = FeedSource(rtds, ActivityParser(self.sync.leaders), self._feed_sink)
        if MEMPOOL in sources:
            if d.contracts.v2_exchanges:
                self.mempool = MempoolSource(
                    rpc=self.rpc,
                    decoder=MatchDecoder(
                        chain_id=d.chain_id, exchanges=d.contracts.v2_exchanges, leaders=self.sync.leaders
                    ),
                    sink=self._pending_sink,
                    # Every endpoint, in the detector's failover order: pending fills outlive a dead primary.
                    ws_url=[u for u in ws_urls if u],
                )
            else:
                log.warning("SUPERVISOR_SOURCES: mempool needs the V2 exchanges' addresses; not started")
        self.balances = BalanceBook(self.rpc, d.contracts.collateral, index)
        # Under act-on-log an early sighting refreshes balances, warms the caps and signs orders ahead.
        self.fills.prewarm = prewarm.for_engine(
            self.pipeline,
            self.engine,
            balances=self.balances,
            percent_proxies=prewarm.percent_followers(lambda: self.sync.configs.values()),
            confirm_blocks=s.supervisor_pending_confirm_blocks,
        )
        await self.balances.refresh(self.percent_proxies())
        await self.pipeline.seed_guardrails()
        requeued = await self.pipeline.requeue_unbroadcast()
        if isinstance(self.engine, LocalChainEngine):
            # Stale PENDING, interrupted flows and debts are settled from the journal and the chain.
            self.recovery = recovery = Recovery(
                self.engine,
                self.store,
                shared=self.shared,
                stale_scan_s=s.copy_trading_stale_scan_ms / 1000,
                reconcile_s=s.copy_trading_reconcile_ms / 1000,
                debt_repay_s=s.copy_trading_debt_repay_ms / 1000,
                min_age_ms=s.supervisor_queue_claim_idle_ms,
            )
            self._extra.append(asyncio.create_task(recovery.run(self._stop_workers), name="recovery"))
            # COPY_TRADING_AUTO_REDEEM=false stops the resolution watch only: interrupted redemptions are
            # still settled and leaders' merges still followed.
            self.redeemer = Redeemer(
                self.engine,
                self.store,
                shared=self.shared,
                poll_s=s.copy_trading_redeem_poll_ms / 1000,
                batch=s.copy_trading_redeem_batch,
                min_age_ms=s.supervisor_queue_claim_idle_ms,
            )
            self.exits.merger = self.redeemer
            redeeming = self.redeemer.run(self._stop_workers, watch=s.copy_trading_auto_redeem)
            self._extra.append(asyncio.create_task(redeeming, name="redeemer"))
            if s.copy_trading_executor_watch_ms > 0:
                self.executor_watch = ExecutorWatch(
                    self.rpc,
                    self.store,
                    d.contracts.executor,
                    chain_id=d.chain_id,
                    poll_s=s.copy_trading_executor_watch_ms / 1000,
                    grace_s=s.copy_trading_executor_watch_grace_ms / 1000,
                    shared=self.shared,
                    holder=self._holder,
                    # deployment.json's first block is its own Executor's, not one EXECUTOR_ADDRESS names.
                    first_block=(d.executor_from_block or 0)
                    if d.contracts.executor.lower() == listed_executor
                    else 0,
                )
                watch = self.executor_watch.run(self._stop_workers)
                self._extra.append(asyncio.create_task(watch, name="executor-watch"))
        self._tasks = [
            asyncio.create_task(self.detector.run(self._stop_intake), name="detector"),
            asyncio.create_task(self.pipeline.run_workers(self._stop_workers), name="workers"),
            asyncio.create_task(
                self.sync.run(
                    self._stop_intake, s.supervisor_config_refresh_ms, s.supervisor_config_full_refresh_ms
                ),
                name="configs",
            ),
            asyncio.create_task(self.balances.run(self._stop_intake, self.percent_proxies), name="balances"),
        ]
        if self.mempool is not None:
            self._tasks.append(asyncio.create_task(self.mempool.run(self._stop_intake), name="mempool"))
        if self.feed is not None:
            self._tasks.append(asyncio.create_task(self.feed.run(self._stop_intake), name="feed"))
        if self.feed is not None or self.mempool is not None:
            self._tasks.append(asyncio.create_task(self._confirm_window(), name="confirm-window"))
        for task in self._tasks:
            task.add_done_callback(self._task_ended)
        log.info(
            "supervisor up: chain %d, engine %s, fleet %d, configs %d, leaders %d, shard %d/%d, store %s, "
            "shared %s, requeued %d, loop %s",
            chain_id,
            self.engine.name,
            # The wallets copies really go out from (none for a dry run that signs nothing).
            len(getattr(self.engine, "wallets", ())),
            len(self.sync.configs),
            len(self.sync.leaders),
            s.supervisor_shard_index,
            s.supervisor_shard_count,
            self.store.backend,
            self.shared.backend,
            requeued,
            loop_name(),
        )

    async def _take_consumer_name(self) -> str:
        """The consumer name: generated unique per process, or the configured one, then held as a lease in the
        shared state (renewed while this instance runs), so that two instances can never both claim one job
        under one name: the second refuses to start."""
        s = self.settings
        name = self.consumer or s.supervisor_consumer_name
        if not name:
            # Unique per process even where every replica is PID 1 in its container: claims tell workers
            # apart by this name.
            return f"supervisor-{s.supervisor_shard_index}-{socket.gethostname()}-{uuid.uuid4().hex[:8]}"
        lease = f"consumer:{name}"
        if not await self.shared.acquire_lease(lease, self._holder, CONSUMER_LEASE_TTL_MS):
            raise ConfigError(
                f"SUPERVISOR_CONSUMER_NAME: {name!r} is in use by another running instance; give each "
                "instance its own name, or leave it unset for a unique one"
            )
        self._resources.push_async_callback(self.shared.release_lease, lease, self._holder)
        keeper = asyncio.create_task(self._keep_consumer_name(name, lease), name="consumer-lease")
        keeper.add_done_callback(self._task_ended)
        self._extra.append(keeper)
        return name

    async def _keep_consumer_name(self, name: str, lease: str) -> None:
        """Renews the name's lease until the workers stop; if another instance holds it (ours expired while
        the shared state was unreachable), this one stops rather than share the name."""
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop_workers.wait(), CONSUMER_LEASE_RENEW_S)
            if self._stop_workers.is_set():
                return
            try:
                # acquire, not renew: once the shared state lost its data the name is free and taken again.
                held = await self.shared.acquire_lease(lease, self._holder, CONSUMER_LEASE_TTL_MS)
            except Exception as exc:  # the shared state is down for now: keep trying while the lease lasts
                log.warning("cannot renew the lease of consumer name %r: %s", name, exc)
                continue
            if not held:
                raise ConfigError(f"SUPERVISOR_CONSUMER_NAME: {name!r} was taken by another instance")

    def _task_ended(self, task: asyncio.Task[None]) -> None:
        """A long-running part ended: normal at shutdown, a loud error otherwise (it must not go unseen)."""
        if task.cancelled() or (self._stop_intake.is_set() and task.exception() is None):
            return
        error = task.exception()
        log.critical("supervisor task %s ended unexpectedly: %r", task.get_name(), error)
        self.failed.set()

    async def _sink(self, raw: bytes, origin: str) -> None:
        queued = self.pipeline.stats.queued
        await self.fills.on_raw(raw, origin)
        if self.pipeline.stats.queued > queued:
            # Only once this batch queued jobs: a leader's fill also brings CTF transfers that queue
            # nothing, and a crash after those would test nothing.
            faultpoint("after_queue")

    async def holding_of(self, proxy: str, token_id: int) -> int:
        """`proxy`'s balance of outcome token `token_id` now (the CTF's `balanceOf`, base units)."""
        data = "0x" + balance_of_1155(proxy, token_id).hex()
        reply = await self.rpc.call(
            "eth_call", [{"to": self.deployment.contracts.ctf, "data": data}, "latest"]
        )
        return int(str(reply), 16)

    def following_proxies(self, leader: str) -> list[str]:
        """The Proxies of every config that follows `leader` (paused ones too: they still hold what was
        copied)."""
        leader = leader.lower()
        return sorted({c.proxy.lower() for c in self.sync.configs.values() if c.leader.lower() == leader})

    def percent_proxies(self) -> list[str]:
        """Proxies whose configs size by percent of balance: the balances fan-out needs."""
        return [c.proxy for c in self.sync.configs.values() if c.enabled and c.mode == "percent"]

    async def _pending_sink(self, fills: list[PendingFill]) -> None:
        """Pending fills pre-warm the market's quote and join their fill's identity: under act-on-log they
        make no copy (the log does), under act-on-first the first sighting of a fill copies it."""
        self.sightings.saw_pending([f.signal for f in fills])
        await self.fills.on_pending(fills)

    async def _feed_sink(self, trades: list[ActivityTrade]) -> None:
        """Feed trades make no copy either (no log index, no order hash: the log releases it): they
        pre-warm the market's quote and stamp the feed's first sighting of the fill."""
        signals = [t.signal for t in trades]
        self.feed_sightings.saw_pending(signals)
        await self.fills.on_feed(signals)

    def _pipeline_event(self, kind: str, data: dict[str, Any]) -> None:
        if kind == "signal":
            signal = data["signal"]
            self.sightings.saw_log(signal)
            self.feed_sightings.saw_log(signal)
            self.fills.observe_log(signal)
        if self.on_event is not None:
            self.on_event(kind, data)

    def _fill_event(self, kind: str, data: dict[str, Any]) -> None:
        """The fill intake's events: a log row it took in under act-on-first (what the pipeline reports
        under act-on-log), a fill its log confirmed, a fill no log confirmed in time."""
        if kind == "signal":
            self._pipeline_event(kind, data)
            return
        if kind == "fill":
            fill = data["fill"]
            leads: dict[str, int] = data["leads"]
            # A lead belongs to the leader's fill, not to each copy of it: one line per fill, whatever the
            # number of followers (each copy's own line comes from the pipeline when it is done).
            if leads:
                maker, token_id, _ = fill.group
                log.info(
                    "%s's fill of token %s in 0x%s: first seen by %s; %s",
                    maker,
                    short_token_id(token_id),
                    bytes(fill.log.tx_hash).hex(),
                    fill.first_source,
                    ", ".join(
                        f"seen {_SOURCE_NAMES[k]} {ms} ms before the log" for k, ms in sorted(leads.items())
                    ),
                )
        if self.on_event is not None:
            self.on_event(kind, data)

    async def _confirm_window(self) -> None:
        """Moves the fills' confirmation window with the chain's head (the detector's newest header) and
        settles the fills seen early that no log confirmed within it."""
        while not self._stop_intake.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop_intake.wait(), CONFIRM_WINDOW_TICK_S)
            try:
                self.fills.at_block(self.detector.stats.last_head)
                await self.fills.expire()
            except Exception:  # the store blinked: the fills stay due and the next tick tries again
                log.exception("settling unconfirmed fills failed; retrying")

    def _leaders_changed(self, decoder: LogDecoder, leaders: list[str]) -> None:
        decoder.set_leaders(leaders)
        if self.mempool is not None:
            self.mempool.decoder.set_leaders(leaders)
        if self.feed is not None:
            self.feed.parser.set_leaders(leaders)
        if hasattr(self, "detector"):
            self.detector.resubscribe()

    async def wait_connected(self, timeout_s: float = 30.0) -> None:
        await asyncio.wait_for(self.detector.connected.wait(), timeout_s)

    async def stop(self) -> None:
        """Stops intake, lets executions in flight finish, persists, closes. Queued jobs stay PENDING."""
        self._stop_intake.set()
        intake = [t for t in self._tasks if t.get_name() != "workers"]
        workers = [t for t in self._tasks if t.get_name() == "workers"]
        for task in intake:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        if hasattr(self, "fills") and self.fills.prewarm is not None:
            await self.fills.prewarm.settle()  # nothing of a pre-warm may run on a closed RPC
        self._stop_workers.set()
        for task in [*workers, *self._extra]:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        await self._resources.aclose()
