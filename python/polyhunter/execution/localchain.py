"""The on-chain execution engine: Executor pull → venue fill → Executor push, signed in Rust, journaled.

`execute(job, journal)` (the seam of docs/seams.md) runs preflight (Proxy address by CREATE2, cached
balances and quote, slippage bound, a mutex per Proxy), then a flow (`flows.py`) on a fleet wallet. Many
jobs share a wallet at once (up to `COPY_TRADING_MAX_INFLIGHT_PER_WALLET`), each holding its own nonces
from the wallet's allocator; with 1 this is the earlier supervisor's one-job-per-wallet model. Jobs of one
signal (same token, side and price) arriving within `COPY_TRADING_COALESCE_MS` go through the Executor's
batch calls together. The flows trade through the `Venue` protocol (venues.py): LocalExchange by default
(local chains), or the venue given to the engine (`venue=`, built on the engine's sender).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from polyhunter._core import Signer
from polyhunter.chain.aiorpc import AsyncRpc
from polyhunter.chain.deployment import Deployment
from polyhunter.errors import ChainError, ConfigError, ExecutionError
from polyhunter.execution.base import PRICE_SCALE, UNCONFIRMED, ExecutionResult, JobJournal
from polyhunter.execution.fleet import OperatorWallet, WalletLeases, check_fleet
from polyhunter.execution.flows import BatchPullReverted, Custody, Flows, Leg, leg_amounts
from polyhunter.execution.localexchange import LocalExchangeVenue
from polyhunter.execution.preflight import Preflight, QuoteSource, beyond_slippage
from polyhunter.execution.refuel import Refueler
from polyhunter.execution.sender import FeeOracle, TxSender
from polyhunter.execution.txmonitor import TxMonitor
from polyhunter.execution.venues import OrderKind, Venue
from polyhunter.models import CopyJob, SkipReason, TradeStatus
from polyhunter.settings import Settings
from polyhunter.shared.base import SharedState
from polyhunter.supervisor.guardrails import WorkerCapReached, WorkerCaps

log = logging.getLogger(__name__)

GWEI = 10**9


class NoWallet(ExecutionError):
    """No operator wallet could be checked out for a job: nothing was sent for it."""


@dataclass(frozen=True)
class EngineConfig:
    """The engine's knobs (settings `COPY_TRADING_*`, see settings.py)."""

    max_inflight_per_wallet: int = 16
    tip_wei: int = 30 * GWEI
    max_fee_cap_wei: int = 1000 * GWEI
    bump_factor_ppm: int = 1_200_000
    replace_after_s: float = 15.0
    stall_s: float = 4.0
    poll_s: float = 0.2
    confirm_timeout_s: float = 300.0
    max_retries: int = 3
    retry_backoff_s: float = 0.25
    max_slippage_bps: int = 500
    smart_buffer: bool = False
    buffer_usd: int = 50_000_000
    coalesce_ms: int = 5
    max_batch: int = 50
    lease_ms: int = 30_000
    order_kind: OrderKind = OrderKind.FOK
    min_gas_wei: int = 10**15
    refuel_below_wei: int = 10**17
    refuel_amount_wei: int = 10**18
    refuel_interval_s: float = 60.0

    @classmethod
    def from_settings(cls, s: Settings) -> EngineConfig:
        return cls(
            max_inflight_per_wallet=s.copy_trading_max_inflight_per_wallet,
            tip_wei=s.copy_trading_priority_fee_gwei * GWEI,
            max_fee_cap_wei=s.copy_trading_max_fee_gwei * GWEI,
            bump_factor_ppm=s.copy_trading_fee_bump_ppm,
            replace_after_s=s.copy_trading_tx_replace_after_ms / 1000,
            stall_s=s.copy_trading_tx_stall_ms / 1000,
            poll_s=s.copy_trading_tx_poll_ms / 1000,
            confirm_timeout_s=s.copy_trading_confirm_timeout_ms / 1000,
            max_retries=s.copy_trading_max_retry_attempts,
            retry_backoff_s=s.copy_trading_retry_backoff_ms / 1000,
            max_slippage_bps=s.copy_trading_max_slippage_bps,
            smart_buffer=s.copy_trading_smart_buffer,
            buffer_usd=s.copy_trading_buffer_usd,
            coalesce_ms=s.copy_trading_coalesce_ms,
            max_batch=s.copy_trading_max_batch,
            lease_ms=s.copy_trading_wallet_lease_ms,
            order_kind=OrderKind(s.copy_trading_order_type),
            min_gas_wei=s.copy_trading_min_gas_wei,
            refuel_below_wei=s.copy_trading_refuel_below_wei,
            refuel_amount_wei=s.copy_trading_refuel_amount_wei,
            refuel_interval_s=s.copy_trading_refuel_interval_ms / 1000,
        )


@dataclass
class _Batch:
    token_id: int
    side: str
    price: int
    legs: list[tuple[Leg, asyncio.Future[ExecutionResult]]] = field(default_factory=list)
    proxies: set[str] = field(default_factory=set)
    closed: bool = False


class LocalChainEngine:
    """Executes copies on chain with the operator fleet, trading on a `Venue` (LocalExchange by default)."""

    name = "local-chain"

    def __init__(
        self,
        rpc: AsyncRpc,
        deployment: Deployment,
        fleet: Sequence[Signer],
        *,
        config: EngineConfig | None = None,
        shared: SharedState | None = None,
        quotes: QuoteSource | None = None,
        funder: Signer | None = None,
        lease_holder: str | None = None,
        venue: Callable[[TxSender], Venue] | None = None,
    ) -> None:
        if not fleet:
            raise ExecutionError("the local-chain engine needs at least one operator wallet")
        exchange = deployment.contracts.local_exchange
        if venue is None and not exchange:
            raise ExecutionError("the deployment has no LocalExchange (local chains only)")
        cfg = config or EngineConfig()
        self.config = cfg
        self.rpc = rpc
        self.deployment = deployment
        c = deployment.contracts
        self.custody = Custody(c.executor, c.collateral, c.ctf)
        self.wallets = [OperatorWallet(s) for s in fleet]
        self.by_address = {w.address: w for w in self.wallets}
        self.monitor = TxMonitor(
            rpc,
            poll_s=cfg.poll_s,
            replace_after_s=cfg.replace_after_s,
            stall_s=cfg.stall_s,
            bump_factor_ppm=cfg.bump_factor_ppm,
            max_fee_cap=cfg.max_fee_cap_wei,
        )
        self.fees = FeeOracle(rpc, cfg.tip_wei, cfg.max_fee_cap_wei)
        self.refueler = (
            Refueler(
                rpc,
                deployment.chain_id,
                funder,
                self.wallets,
                cfg.refuel_below_wei,
                cfg.refuel_amount_wei,
                self.fees,
                cfg.refuel_interval_s,
                self.monitor,
            )
            if funder is not None
            else None
        )
        self.sender = TxSender(
            rpc,
            deployment.chain_id,
            self.monitor,
            self.fees,
            max_retries=cfg.max_retries,
            retry_backoff_s=cfg.retry_backoff_s,
            confirm_timeout_s=cfg.confirm_timeout_s,
            on_no_funds=self.refueler.refuel if self.refueler is not None else None,
        )
        if venue is not None:
            self.venue: Venue = venue(self.sender)
        else:
            assert exchange  # checked above
            self.venue = LocalExchangeVenue(self.sender, rpc, exchange, deployment.accounts.owner, quotes)
        if cfg.smart_buffer and getattr(self.venue, "signature_type", 0) == 3:
            # The buffer check reads the worker's own pUSD, but a type-3 order spends its deposit wallet's:
            # a fronted buy would spend float the check never saw. Refused at start, not mid-trade.
            raise ConfigError(
                "COPY_TRADING_SMART_BUFFER is not supported with CLOB_SIGNATURE_TYPE=3 (deposit wallets): "
                "turn the Smart Buffer off or trade with signature type 0"
            )
        self.flows = Flows(self.sender, self.venue, self.custody, kind=cfg.order_kind)
        self.preflight = Preflight(
            rpc,
            collateral=c.collateral,
            ctf=c.ctf,
            proxy_factory=c.proxy_factory,
            proxy_init_code_hash=deployment.proxy_init_code_hash,
            quotes=self.venue,
        )
        self.leases = WalletLeases(
            shared, self.wallets, chain_id=deployment.chain_id, ttl_ms=cfg.lease_ms, holder=lease_holder
        )
        self.in_flight: set[bytes] = set()
        """Keys of jobs executing here now: recovery leaves them alone."""
        self._free = asyncio.Condition()
        self._rotation = itertools.count()
        self._batches: dict[tuple[int, str, int], _Batch] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._resyncs: set[asyncio.Task[None]] = set()
        self.batches_run = 0
        self.caps = WorkerCaps()
        """The Executor's per-worker hourly caps, mirrored: a copy over them is SKIPPED `worker_cap`."""

    @property
    def sent(self) -> int:
        return self.sender.sent

    async def start(self) -> None:
        """Takes the wallets' leases, syncs nonces, checks authorisation and gas (`Fleet: k/N ready`)."""
        await self.leases.acquire_all()
        owned = [w for w in self.wallets if w.owned]
        if self.refueler is not None:
            await self.refueler.check_all()
        await check_fleet(self.rpc, self.custody.executor, owned, self.config.min_gas_wei)
        await asyncio.gather(*(self.sender.resync(w) for w in owned))
        for wallet in owned:
            wallet.synced = True
        await self.caps.sync(self.rpc, self.custody.executor, [w.address for w in owned])
        starting = getattr(self.venue, "start", None)
        if starting is not None:  # a venue with per-wallet sessions (the CLOB's API keys, derived by L1)
            await starting(self.wallets)
        self.monitor.start()
        self.leases.start(self._gained)
        self.caps.start(self.rpc, self.custody.executor, lambda: [w.address for w in self.wallets if w.owned])
        if self.refueler is not None:
            self.refueler.start()

    async def _gained(self, wallets: list[OperatorWallet]) -> None:
        for wallet in wallets:
            if not await self._resync_gained(wallet):
                task = asyncio.create_task(self._retry_resync(wallet), name=f"resync-{wallet.address}")
                self._resyncs.add(task)
                task.add_done_callback(self._resyncs.discard)
        with contextlib.suppress(ChainError):
            await self.caps.sync(self.rpc, self.custody.executor, [w.address for w in wallets])
        async with self._free:
            self._free.notify_all()

    async def _resync_gained(self, wallet: OperatorWallet) -> bool:
        """Aligns a newly owned wallet's nonces with the chain; only then may `checkout` hand it out."""
        try:
            await self.sender.resync(wallet)
        except ChainError as exc:
            log.warning(
                "wallet %s: nonce resync after taking its lease failed, kept out of use: %s",
                wallet.address,
                exc,
            )
            return False
        wallet.synced = True
        return True

    async def _retry_resync(self, wallet: OperatorWallet) -> None:
        while wallet.owned and not wallet.synced:
            await asyncio.sleep(1.0)
            if wallet.owned and await self._resync_gained(wallet):
                async with self._free:
                    self._free.notify_all()

    async def close(self) -> None:
        for task in list(self._resyncs):  # retries of a resync: nothing of them is in flight to wait for
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(Exception, asyncio.CancelledError):
                await task
        if self.refueler is not None:
            await self.refueler.close()
            await self.refueler.sender.close()
        await self.sender.close()
        closing = getattr(self.venue, "close", None)
        if closing is not None:
            await closing()
        await self.leases.close()
        await self.caps.close()
        await self.monitor.close()

    # ----------------------------------------------------------------- wallets

    async def checkout(self, timeout_s: float | None = None, value: int = 0) -> OperatorWallet:
        """The least busy wallet this instance owns, below the in-flight cap, with room for pulling `value`
        under its hourly cap (taken until `checkin`); waits for one. `WorkerCapReached` at once when no
        ready wallet has the room, busy or not.

        While this instance owns no wallet at all (another instance holds their leases, or a crashed one's
        have not lapsed yet) it waits at most two lease TTLs, long enough for an abandoned lease to expire
        and be taken, and then gives up: the job fails with nothing sent."""
        now = time.monotonic()
        deadline = now + (timeout_s if timeout_s is not None else self.config.confirm_timeout_s)
        unowned_deadline = min(deadline, now + 2 * self.config.lease_ms / 1000)
        async with self._free:
            while True:
                roomy = [
                    w
                    for w in self.wallets
                    if w.ready and w.synced and w.may_send() and self.caps.fits(w.address, value)
                ]
                if not roomy and any(w.ready and w.synced and w.may_send() for w in self.wallets):
                    raise WorkerCapReached(f"no fleet worker has room to pull {value} under its hourly cap")
                usable = [w for w in roomy if w.jobs < self.config.max_inflight_per_wallet]
                if not any(w.may_send() for w in self.wallets) and time.monotonic() >= unowned_deadline:
                    raise NoWallet("no operator wallet: this instance holds no wallet's lease")
                if usable:
                    turn = next(self._rotation)
                    wallet = min(
                        usable, key=lambda w: (w.jobs, (self.wallets.index(w) - turn) % len(self.wallets))
                    )
                    wallet.jobs += 1
                    self.caps.take(wallet.address, value)
                    return wallet
                left = deadline - time.monotonic()
                if left <= 0:
                    raise NoWallet("no operator wallet available (none owned, ready, or below its cap)")
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._free.wait(), min(left, 0.5))

    async def checkin(self, wallet: OperatorWallet, value: int = 0) -> None:
        """Gives the wallet back; `value` is what its `checkout` took under the worker's cap."""
        self.caps.give_back(wallet.address, value)
        async with self._free:
            wallet.jobs -= 1
            self._free.notify()

    # ------------------------------------------------------------------ execute

    async def execute(self, job: CopyJob, journal: JobJournal) -> ExecutionResult:
        price = job.limit_price_ppm
        if price <= 0 or price >= PRICE_SCALE:
            return ExecutionResult(TradeStatus.SKIPPED, SkipReason.NO_PRICE.value)
        if job.proxy.lower() != self.preflight.proxy_of(job.follower):
            return ExecutionResult(
                TradeStatus.FAILED, f"proxy_mismatch: {job.proxy} is not {job.follower}'s Proxy"
            )
        try:
            quote = await self.preflight.quote(job.token_id, job.side)
        except ChainError as exc:
            return ExecutionResult(TradeStatus.FAILED, f"quote: {exc}")
        if quote is not None and beyond_slippage(job.side, quote, price, self.config.max_slippage_bps):
            return ExecutionResult(TradeStatus.SKIPPED, SkipReason.SLIPPAGE.value)
        token = None if job.side == "BUY" else job.token_id
        self.in_flight.add(job.key)
        try:
            async with self.preflight.lock(job.proxy):
                held = await self.preflight.balance(job.proxy, token)
                amount = job.amount if job.side == "BUY" else min(job.amount, held)
                usd, tokens = leg_amounts(job.side, amount, price)
                if usd == 0 or tokens == 0:
                    return ExecutionResult(TradeStatus.SKIPPED, SkipReason.BELOW_MIN_SIZE.value)
                if job.side == "BUY" and held < amount:
                    return ExecutionResult(
                        TradeStatus.FAILED, f"insufficient_balance: Proxy holds {held}, needs {amount}"
                    )
                self.preflight.spend(job.proxy, token, amount)
            leg = Leg(job, journal, amount)
            result = await self._run(leg)
            if result.status is not TradeStatus.EXECUTED:
                self.preflight.forget(job.proxy, token)
            return result
        except ChainError as exc:
            self.preflight.forget(job.proxy, token)
            return ExecutionResult(TradeStatus.FAILED, f"preflight: {exc}")
        except WorkerCapReached:  # nothing was sent
            self.preflight.forget(job.proxy, token)
            return ExecutionResult(TradeStatus.SKIPPED, SkipReason.WORKER_CAP.value)
        except NoWallet as exc:  # nothing was sent
            self.preflight.forget(job.proxy, token)
            return ExecutionResult(TradeStatus.FAILED, f"no_wallet: {exc}")
        finally:
            self.in_flight.discard(job.key)

    async def _run(self, leg: Leg) -> ExecutionResult:
        job = leg.job
        if job.side == "BUY" and self.config.smart_buffer:
            result = await self._buffered(leg)
            if result is not None:
                return result
        if self.config.coalesce_ms <= 0:
            return await self._single(leg)
        return await self._coalesce(leg)

    async def _single(self, leg: Leg) -> ExecutionResult:
        job = leg.job
        value = self.caps.pull_value(job.side, [leg.amount])
        wallet = await self.checkout(value=value)
        try:
            return (await self.flows.standard(wallet, [leg], job.token_id, job.side, job.limit_price_ppm))[0]
        finally:
            await self.checkin(wallet, value)

    async def _single_answer(self, leg: Leg) -> ExecutionResult:
        """`_single` for a leg of a batch no worker had room for as a whole: every outcome an answer."""
        try:
            return await self._single(leg)
        except WorkerCapReached:
            return ExecutionResult(TradeStatus.SKIPPED, SkipReason.WORKER_CAP.value)
        except NoWallet as exc:
            return ExecutionResult(TradeStatus.FAILED, f"no_wallet: {exc}")

    async def _buffered(self, leg: Leg) -> ExecutionResult | None:
        """Fronts the buy from a worker's float if it stays above the buffer; None: use the standard flow."""
        wallet = await self.checkout()
        try:
            async with self.preflight.lock(wallet.address):
                float_usd = await self.preflight.balance(wallet.address) - wallet.reserved_float
                if float_usd - leg.amount < self.config.buffer_usd:
                    return None
                wallet.reserved_float += leg.amount
            try:
                return await self.flows.buffered(wallet, leg, leg.job.token_id, leg.job.limit_price_ppm)
            finally:
                wallet.reserved_float -= leg.amount
                self.preflight.forget(wallet.address, None)
        finally:
            await self.checkin(wallet)

    # ------------------------------------------------------------- coalescing

    async def _coalesce(self, leg: Leg) -> ExecutionResult:
        job = leg.job
        key = (job.token_id, job.side, job.limit_price_ppm)
        batch = self._batches.get(key)
        if batch is not None and job.proxy in batch.proxies:
            self._flush(key, batch)  # one leg per Proxy in a batch: recovery reads amounts per Proxy
            batch = None
        if batch is None:
            batch = _Batch(job.token_id, job.side, job.limit_price_ppm)
            self._batches[key] = batch
            asyncio.get_running_loop().call_later(self.config.coalesce_ms / 1000, self._flush, key, batch)
        future: asyncio.Future[ExecutionResult] = asyncio.get_running_loop().create_future()
        batch.legs.append((leg, future))
        batch.proxies.add(job.proxy)
        if len(batch.legs) >= self.config.max_batch:
            self._flush(key, batch)
        return await future

    def _flush(self, key: tuple[int, str, int], batch: _Batch) -> None:
        if batch.closed:
            return
        batch.closed = True
        if self._batches.get(key) is batch:
            del self._batches[key]
        task = asyncio.create_task(self._run_batch(batch))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _run_batch(self, batch: _Batch) -> None:
        legs = [leg for leg, _ in batch.legs]
        value = self.caps.pull_value(batch.side, [leg.amount for leg in legs])
        try:
            try:
                wallet = await self.checkout(value=value)
            except WorkerCapReached:
                # Too much for one worker's hour as a batch: each leg alone may still fit some worker.
                if len(legs) == 1:
                    results = [ExecutionResult(TradeStatus.SKIPPED, SkipReason.WORKER_CAP.value)]
                else:
                    results = list(await asyncio.gather(*(self._single_answer(leg) for leg in legs)))
                self._answer(batch, results)
                return
            except NoWallet as exc:  # nothing was sent
                results = [ExecutionResult(TradeStatus.FAILED, f"no_wallet: {exc}")] * len(legs)
                self._answer(batch, results)
                return
            try:
                try:
                    results = await self.flows.standard(wallet, legs, batch.token_id, batch.side, batch.price)
                    if len(legs) > 1:
                        self.batches_run += 1
                except BatchPullReverted:
                    log.info("batch of %d: pull reverted as a whole; running the legs one by one", len(legs))
                    results = await self.flows.singles(wallet, legs, batch.token_id, batch.side, batch.price)
            finally:
                await self.checkin(wallet, value)
        except Exception as exc:  # every waiter gets an answer, whatever happened
            log.exception("batch of %d failed", len(legs))
            results = [ExecutionResult(TradeStatus.FAILED, f"{UNCONFIRMED}: engine: {exc}")] * len(legs)
        self._answer(batch, results)

    @staticmethod
    def _answer(batch: _Batch, results: Sequence[ExecutionResult]) -> None:
        for (_, future), result in zip(batch.legs, results, strict=True):
            if not future.done():
                future.set_result(result)
