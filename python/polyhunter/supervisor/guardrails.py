"""Guardrails on each copy: max trade, execution allowlist, global and wallet daily caps before it is queued;
the Executor's per-worker hourly cap when its worker is checked out (`WorkerCaps`).

Caps are reserved atomically in the shared state (Lua on Redis), so instances racing can never exceed them,
and released when a copy does not happen. Daily caps are per UTC day and count BUY and SELL notional alike.

A cap's refusal is remembered for `refusal_ttl_ms` (`SUPERVISOR_GUARDRAIL_CACHE_TTL_MS`): meanwhile a copy at
least as large against the same counter is refused without a round trip to the shared state. Usage only grows
between releases, so the cache can refuse a copy that a release would have let through, never admit one.
An early sighting of a leader's fill warms that cache (`warm`): it reads the usage of the counters its copies
would reserve against, without reserving, and remembers the refusals they would meet, so that the log's jobs
are refused without a round trip; admitted jobs still reserve atomically when the log comes.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import time
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from polyhunter._core import keccak256
from polyhunter.chain.aiorpc import AsyncRpc, RpcError
from polyhunter.errors import ChainError, ExecutionError
from polyhunter.models import CopyJob, SkipReason
from polyhunter.shared.base import Reservation, SharedState

if TYPE_CHECKING:
    from polyhunter.settings import Settings

log = logging.getLogger(__name__)

PRICE_SCALE = 1_000_000


def notional_usd(job: CopyJob) -> int:
    """The copy's collateral value in base units: the USD spent (BUY) or tokens × limit price (SELL)."""
    return job.amount if job.side == "BUY" else job.amount * job.limit_price_ppm // PRICE_SCALE


def utc_day(now: dt.datetime | None = None) -> str:
    return (now or dt.datetime.now(dt.UTC)).strftime("%Y-%m-%d")


@dataclass(frozen=True)
class Guardrails:
    """The guardrails' caps (README, Configuration); None means no cap."""

    max_trade_usd: int | None = None
    daily_cap_usd: int | None = None
    wallet_daily_cap_usd: int | None = None
    allowlist: Collection[str] = ()
    refusal_ttl_ms: int = 0
    """How long a cap's refusal is remembered (0: every copy asks the shared state)."""
    clock: Callable[[], float] = field(default=time.monotonic, compare=False, repr=False)
    _refused: dict[str, tuple[float, int, str]] = field(default_factory=dict, compare=False, repr=False)
    """counter -> (remembered until, smallest amount refused, skip reason)."""
    _usage: dict[str, tuple[float, int]] = field(default_factory=dict, compare=False, repr=False)
    """counter -> (read at, usage read) by `warm`: what it last saw of each counter."""

    @classmethod
    def from_settings(cls, settings: Settings) -> Guardrails:
        """The caps and the refusal cache the settings configure."""
        return cls(
            max_trade_usd=settings.copy_trading_max_trade_usd,
            daily_cap_usd=settings.copy_trading_daily_cap_usd,
            wallet_daily_cap_usd=settings.copy_trading_wallet_daily_cap_usd,
            allowlist=frozenset(settings.copy_trading_execution_allowlist),
            refusal_ttl_ms=settings.supervisor_guardrail_cache_ttl_ms,
        )

    def reservations(self, job: CopyJob, day: str) -> list[Reservation]:
        usd = notional_usd(job)
        out: list[Reservation] = []
        if self.daily_cap_usd is not None:
            out.append(Reservation(f"daily:{day}", usd, self.daily_cap_usd, SkipReason.DAILY_CAP.value))
        if self.wallet_daily_cap_usd is not None:
            out.append(
                Reservation(
                    f"wallet:{day}:{job.follower}",
                    usd,
                    self.wallet_daily_cap_usd,
                    SkipReason.WALLET_DAILY_CAP.value,
                )
            )
        return out

    def static_check(self, job: CopyJob) -> str | None:
        """The skip reason of a check that needs no shared state, or None."""
        if self.allowlist and job.follower not in self.allowlist and job.proxy not in self.allowlist:
            return SkipReason.NOT_ALLOWLISTED.value
        if self.max_trade_usd is not None and notional_usd(job) > self.max_trade_usd:
            return SkipReason.MAX_TRADE.value
        return None

    async def admit(
        self, shared: SharedState, job: CopyJob, day: str
    ) -> tuple[str | None, list[Reservation]]:
        """(None, reservations held) when the job may go on, else (skip reason, [])."""
        reason = self.static_check(job)
        if reason is not None:
            return reason, []
        reservations = self.reservations(job, day)
        if not reservations:
            return None, []
        remembered = self._remembered_refusal(reservations)
        if remembered is not None:
            return remembered, []
        refused = await shared.reserve(reservations)
        if refused is not None:
            self._remember(reservations, refused)
            return refused, []
        return None, reservations

    async def warm(self, shared: SharedState, jobs: Iterable[CopyJob], day: str) -> int:
        """Reads (never reserves) the counters that `jobs` would reserve against, records their usage and
        remembers, for `refusal_ttl_ms`, the refusal each job would meet now; the number of counters read.
        Nothing is held, so nothing needs releasing if the jobs never come."""
        wanted: dict[str, Reservation] = {}
        per_job: list[list[Reservation]] = []
        for job in jobs:
            if self.static_check(job) is not None:
                continue
            reservations = self.reservations(job, day)
            per_job.append(reservations)
            for r in reservations:
                wanted.setdefault(r.counter, r)
        if not wanted:
            return 0
        names = list(wanted)
        values = await asyncio.gather(*(shared.counter(name) for name in names))
        now = self.clock()
        used = dict(zip(names, values, strict=True))
        for name, value in used.items():
            self._usage[name] = (now, value)
        for reservations in per_job:
            over = next(
                (r for r in reservations if r.cap is not None and used[r.counter] + r.amount > r.cap), None
            )
            if over is not None:
                self._remember(reservations, over.reason)
        return len(names)

    def usage(self, counter: str) -> int | None:
        """What `warm` last read of `counter` (None: never read, or longer ago than `refusal_ttl_ms`)."""
        seen = self._usage.get(counter)
        if seen is None or self.clock() - seen[0] >= self.refusal_ttl_ms / 1000:
            return None
        return seen[1]

    def _remembered_refusal(self, reservations: list[Reservation]) -> str | None:
        if not self._refused:
            return None
        now = self.clock()
        for r in reservations:
            entry = self._refused.get(r.counter)
            if entry is None:
                continue
            until, smallest, reason = entry
            if now >= until:
                del self._refused[r.counter]
            elif r.amount >= smallest:
                return reason
        return None

    def _remember(self, reservations: list[Reservation], reason: str) -> None:
        if self.refusal_ttl_ms <= 0:
            return
        # reserve() names the first cap that refused by its reason: that reservation's counter is full.
        for r in reservations:
            if r.reason == reason:
                until = self.clock() + self.refusal_ttl_ms / 1000
                previous = self._refused.get(r.counter)
                smallest = r.amount if previous is None else min(previous[1], r.amount)
                self._refused[r.counter] = (until, smallest, reason)
                return


# --------------------------------------------------------------------------------------------- worker cap

WORKER_CAP = keccak256(b"workerCap(address)")[:4]
WORKER_PULLED_IN_WINDOW = keccak256(b"workerPulledInWindow(address)")[:4]
FEE_BPS = keccak256(b"feeBps()")[:4]
BPS = 10_000


class WorkerCapReached(ExecutionError):
    """No fleet worker has room under its hourly cap for a copy: it is SKIPPED `worker_cap`, nothing sent."""


@dataclass
class _Usage:
    cap: int | None = None
    """None: the Executor has no cap for it (an Executor without caps, or not read yet)."""
    on_chain: int = 0
    """`workerPulledInWindow` at the last read."""
    in_flight: int = 0
    """Reserved by flows running now (their pull may or may not be mined)."""
    settled: list[tuple[int, int]] = field(default_factory=list)
    """(sequence, value) of flows ended since the last read: counted until a read asked after they ended."""

    def used(self) -> int:
        return self.on_chain + self.in_flight + sum(v for _, v in self.settled)


class WorkerCaps:
    """The Executor's cap on what each worker may pull per rolling hour, mirrored so that a copy that would
    take its worker over is SKIPPED `worker_cap` before anything is sent, instead of reverting on chain.

    The chain's `workerPulledInWindow` is the truth, read at start and every `sync_s`; between reads, each
    flow's pull is reserved when its wallet is checked out (`take`) and stays counted after it ends
    (`give_back`) until a read asked after its end has seen it mined or not. So the local view is never below
    the chain's (apart from pulls made outside polyhunter, which the Executor watch reports), and at worst
    refuses a copy the chain would have taken for one sync interval. Values are what the contract charges
    (`pull_value`): collateral with the Executor's fee on top, outcome tokens at $1 a share."""

    def __init__(self, sync_s: float = 20.0) -> None:
        self.sync_s = sync_s
        self.fee_bps = 0
        self._usage: dict[str, _Usage] = {}
        self._seq = 0
        self._task: asyncio.Task[None] | None = None

    def pull_value(self, side: str, amounts: Iterable[int]) -> int:
        """What pulling `amounts` (collateral for a BUY, tokens for a SELL) counts against a worker's cap."""
        if side == "BUY":
            return sum(a + a * self.fee_bps // BPS for a in amounts)
        return sum(amounts)

    def cap(self, worker: str) -> int | None:
        usage = self._usage.get(worker.lower())
        return None if usage is None else usage.cap

    def used(self, worker: str) -> int:
        usage = self._usage.get(worker.lower())
        return 0 if usage is None else usage.used()

    def room(self, worker: str) -> int | None:
        """What `worker` may still pull now; None when it has no cap."""
        usage = self._usage.get(worker.lower())
        if usage is None or usage.cap is None:
            return None
        return max(0, usage.cap - usage.used())

    def fits(self, worker: str, value: int) -> bool:
        """The contract's own rule: `pulled_in_window + value <= cap`."""
        room = self.room(worker)
        return room is None or value <= room

    def take(self, worker: str, value: int) -> None:
        if value > 0:
            self._usage.setdefault(worker.lower(), _Usage()).in_flight += value

    def give_back(self, worker: str, value: int) -> None:
        """The flow that took `value` ended (its pull mined, reverted or never sent)."""
        if value <= 0:
            return
        usage = self._usage.setdefault(worker.lower(), _Usage())
        usage.in_flight = max(0, usage.in_flight - value)
        self._seq += 1
        usage.settled.append((self._seq, value))

    async def sync(self, rpc: AsyncRpc, executor: str, workers: Iterable[str]) -> None:
        """Reads the Executor's fee and each worker's cap and usage; an Executor without caps leaves them
        uncapped. A worker whose read fails keeps its previous view."""
        fee = await _call_uint(rpc, executor, FEE_BPS)
        if fee is not None:
            self.fee_bps = fee
        for worker in workers:
            key = worker.lower()
            mark = self._seq
            try:
                cap = await _call_uint(rpc, executor, WORKER_CAP + _address_word(key))
                pulled = await _call_uint(rpc, executor, WORKER_PULLED_IN_WINDOW + _address_word(key))
            except ChainError as exc:
                log.warning("worker caps: cannot read %s's cap, keeping the last view: %s", key, exc)
                continue
            usage = self._usage.setdefault(key, _Usage())
            usage.cap = cap
            usage.on_chain = pulled or 0
            # Ended before this read was asked: the chain's figure already holds it (or it never moved).
            usage.settled = [(seq, v) for seq, v in usage.settled if seq > mark]

    def start(self, rpc: AsyncRpc, executor: str, workers: Callable[[], Iterable[str]]) -> None:
        """Reads again every `sync_s` (windows roll, the owner changes caps) until `close`."""
        if self._task is None and self.sync_s > 0:
            self._task = asyncio.create_task(self._run(rpc, executor, workers), name="worker-caps")

    async def _run(self, rpc: AsyncRpc, executor: str, workers: Callable[[], Iterable[str]]) -> None:
        while True:
            await asyncio.sleep(self.sync_s)
            try:
                await self.sync(rpc, executor, workers())
            except ChainError as exc:
                log.warning("worker caps: reading the Executor failed, keeping the last view: %s", exc)
            except Exception:  # the loop must outlive a surprise: a frozen view would skip every copy
                log.exception("worker caps: reading the Executor failed, keeping the last view")

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None


def _address_word(address: str) -> bytes:
    return bytes(12) + bytes.fromhex(address.removeprefix("0x"))


async def _call_uint(rpc: AsyncRpc, to: str, data: bytes) -> int | None:
    """A view returning one uint256, or None when the contract has no such function (it reverts, or an
    account without code answers nothing)."""
    try:
        raw = await rpc.call("eth_call", [{"to": to, "data": "0x" + data.hex()}, "latest"])
    except RpcError as exc:
        if exc.code == 3 or "revert" in exc.message.lower():
            return None
        raise
    body = str(raw).removeprefix("0x")
    if len(body) < 64:
        return None
    return int(body[:64], 16)
