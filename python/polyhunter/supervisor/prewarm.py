"""What an early sighting of a leader's fill prepares for its copies before the log: the balances they are
sized on, the guardrails' view of their caps and, on the CLOB, their orders signed (docs/seams.md, "What is
pre-warmed under log").

A pending order or a feed frame seen before its log (`FillIntake.on_early`) starts one pre-warm per fill,
in the background so that the source is never held up:
1. the collateral balances of the percent-mode Proxies following the leader are read again (`BalanceBook`),
   so the log's fan-out sizes on them;
2. the fan-out is run on the sighting (its size and price) and the counters its copies would reserve
   against are read, not reserved (`Guardrails.warm`): nothing is held, nothing needs releasing;
3. with a venue that can sign ahead (`ClobVenue.presign`), each copy's order (and the coalesced order of
   all of them) is signed for the wallets that may trade it and kept in the venue's bounded cache.
When the fill's log comes (`logged`), the jobs it makes are bound to those orders by their keys; a job whose
order is the very one signed ahead posts it instead of signing again. A fill whose window passes with no
log (`drop`), or a head past the window (`expire`), takes its orders out of the cache unposted.
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from polyhunter._core import Signal
from polyhunter.errors import ChainError
from polyhunter.execution.flows import leg_amounts
from polyhunter.execution.presigned import PresignedOrders
from polyhunter.execution.venues import Order, OrderKind
from polyhunter.models import CopyJob, Side, copy_key
from polyhunter.supervisor.balances import BalanceBook
from polyhunter.supervisor.guardrails import utc_day
from polyhunter.supervisor.pipeline import Pipeline, job_of

log = logging.getLogger(__name__)

MAX_SINGLES = 16
"""Past this many copies of one fill, only their coalesced order is signed ahead, not each copy's own."""
MAX_WALLETS = 8
"""At most this many wallets sign ahead for one order (the least busy: those `checkout` picks first)."""
PARALLEL = 8
"""Pre-warms running at once; the others wait their turn."""
MAX_WAITING = 1_000
"""Past this many pre-warms started and not finished, a new sighting is not pre-warmed (a burst must not pile
up reads that its logs will have overtaken): counted `skipped`."""


class Presigner(Protocol):
    """A venue that signs orders ahead (`ClobVenue`)."""

    presigned: PresignedOrders

    async def presign(
        self, fill: bytes, configs: Sequence[int], wallet: Any, order: Order, until_block: int
    ) -> bool: ...


@dataclass
class PrewarmStats:
    sightings: int = 0
    """Fills seen early that were pre-warmed."""
    balance_refreshes: int = 0
    """Balance reads made for them (one per fill with percent-mode followers)."""
    caps_warmed: int = 0
    """Guardrail counters read for them."""
    presigned: int = 0
    """Orders signed ahead."""
    bound: int = 0
    """Jobs of a log bound to the orders signed ahead for their fill."""
    failed: int = 0
    """Pre-warms that failed (logged; the log's jobs then do everything themselves)."""
    skipped: int = 0
    """Sightings not pre-warmed because too many pre-warms were waiting (`MAX_WAITING`)."""


@dataclass
class _Warm:
    configs: list[int] | None = None
    """The configs whose copies were pre-warmed (None: not known yet)."""
    log_key: bytes | None = None
    """The dedup key of the fill's log, once it came."""


@dataclass
class Prewarmer:
    """One per supervisor; `FillIntake` calls `sighted`, `logged`, `drop` and `expire`."""

    pipeline: Pipeline
    balances: BalanceBook | None = None
    percent_proxies: Callable[[str], Iterable[str]] = lambda _leader: ()
    """The Proxies of `leader`'s enabled percent-mode configs."""
    venue: Presigner | None = None
    wallets: Callable[[], Sequence[Any]] = lambda: ()
    """The operator wallets that may trade now (each with `address` and `jobs`)."""
    kind: OrderKind = OrderKind.FOK
    confirm_blocks: int = 20
    limit: int = 10_000
    stats: PrewarmStats = field(default_factory=PrewarmStats)
    _warm: OrderedDict[bytes, _Warm] = field(default_factory=OrderedDict, init=False, repr=False)
    _tasks: set[asyncio.Task[None]] = field(default_factory=set, init=False, repr=False)
    _gate: asyncio.Semaphore = field(
        default_factory=lambda: asyncio.Semaphore(PARALLEL), init=False, repr=False
    )

    def sighted(self, fill: bytes, signal: Signal, head: int) -> None:
        """The first early sighting of `fill`: its pre-warm starts in the background."""
        if fill in self._warm:
            return
        if len(self._tasks) >= MAX_WAITING:
            self.stats.skipped += 1
            return
        self._warm[fill] = _Warm()
        while len(self._warm) > self.limit:
            self._warm.popitem(last=False)
        task = asyncio.create_task(self._prewarm(fill, signal, head), name="prewarm")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def logged(self, fill: bytes, signal: Signal) -> None:
        """The fill's log: the jobs it makes (their keys follow from its dedup key) find their orders."""
        warm = self._warm.get(fill)
        if warm is None:
            return
        warm.log_key = signal.dedup_key
        self._bind(fill, warm)

    def drop(self, fill: bytes) -> None:
        """The fill's window passed without a log: what was signed for it goes, unposted."""
        self._warm.pop(fill, None)
        if self.venue is not None:
            self.venue.presigned.drop(fill)

    def expire(self, head: int) -> None:
        if self.venue is not None:
            self.venue.presigned.expire(head)

    async def settle(self) -> None:
        """Waits for the pre-warms in flight (tests and shutdown)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    def _bind(self, fill: bytes, warm: _Warm) -> None:
        if self.venue is None or warm.configs is None or warm.log_key is None:
            return
        copies = {copy_key(warm.log_key, c): c for c in warm.configs}
        self.venue.presigned.bind(fill, copies)
        self.stats.bound += len(copies)

    async def _prewarm(self, fill: bytes, signal: Signal, head: int) -> None:
        try:
            async with self._gate:
                await self._run(fill, signal, head)
        except (ChainError, OSError) as exc:
            self.stats.failed += 1
            log.warning("pre-warm of %s's fill in 0x%s failed: %s", signal.leader, signal.tx_hash.hex(), exc)
        except Exception:
            self.stats.failed += 1
            log.exception("pre-warm of %s's fill in 0x%s failed", signal.leader, signal.tx_hash.hex())

    async def _run(self, fill: bytes, signal: Signal, head: int) -> None:
        self.stats.sightings += 1
        proxies = list(self.percent_proxies(signal.leader))
        if proxies and self.balances is not None:
            await self.balances.refresh(proxies)
            self.stats.balance_refreshes += 1
        p = self.pipeline
        signals = p.market.priced([signal])
        balances = p.balances() if p.balances is not None else None
        intents = p.index.match(signals, balances, p.market.min_sizes(signals))
        jobs = [job_of(i, signal) for i in intents]
        warm = self._warm.get(fill)
        if warm is None or not jobs:
            return
        warm.configs = [j.config_id for j in jobs]
        self._bind(fill, warm)
        self.stats.caps_warmed += await p.guardrails.warm(p.shared, jobs, utc_day())
        admitted = [j for j in jobs if p.guardrails.static_check(j) is None]
        if self.venue is not None and admitted:
            await self._presign(fill, admitted, head + self.confirm_blocks)

    async def _presign(self, fill: bytes, jobs: list[CopyJob], until_block: int) -> None:
        """Each copy's own order and, when there are several of one price, their coalesced order."""
        assert self.venue is not None
        wallets = sorted(self.wallets(), key=lambda w: w.jobs)[:MAX_WALLETS]
        groups: list[list[CopyJob]] = [[j] for j in jobs] if len(jobs) <= MAX_SINGLES else []
        by_price: dict[int, list[CopyJob]] = {}
        for job in jobs:
            by_price.setdefault(job.limit_price_ppm, []).append(job)
        groups += [same for same in by_price.values() if len(same) > 1]
        for group in groups:
            order = self._order(group)
            if order is None:
                continue
            configs = [j.config_id for j in group]
            for wallet in wallets:
                if await self.venue.presign(fill, configs, wallet, order, until_block):
                    self.stats.presigned += 1

    def _order(self, jobs: list[CopyJob]) -> Order | None:
        """The order `Flows.standard` would trade for `jobs` (no SELL cut to a smaller holding assumed)."""
        first = jobs[0]
        if not first.limit_price_ppm or first.side not in ("BUY", "SELL"):
            return None
        amounts = [leg_amounts(first.side, j.amount, first.limit_price_ppm) for j in jobs]
        usd, tokens = sum(a[0] for a in amounts), sum(a[1] for a in amounts)
        side: Side = "BUY" if first.side == "BUY" else "SELL"
        return Order(first.token_id, side, tokens, usd, first.limit_price_ppm, self.kind)


def percent_followers(configs: Callable[[], Iterable[Any]]) -> Callable[[str], list[str]]:
    """`Prewarmer.percent_proxies` over the current configs (each with `leader`, `proxy`, `mode`,
    `enabled`)."""

    def of(leader: str) -> list[str]:
        leader = leader.lower()
        return sorted(
            {c.proxy for c in configs() if c.enabled and c.mode == "percent" and c.leader.lower() == leader}
        )

    return of


def for_engine(
    pipeline: Pipeline,
    engine: Any,
    *,
    balances: BalanceBook | None,
    percent_proxies: Callable[[str], Iterable[str]],
    confirm_blocks: int,
) -> Prewarmer:
    """The supervisor's pre-warmer: orders are signed ahead only by an engine that trades through flows on
    a venue that can sign ahead (the CLOB), for its wallets that may send now."""
    flows = getattr(engine, "flows", None)
    venue = getattr(flows, "venue", None)
    presigner: Presigner | None = venue if hasattr(venue, "presign") else None

    def wallets() -> list[Any]:
        return [w for w in getattr(engine, "wallets", ()) if w.ready and w.may_send()]

    return Prewarmer(
        pipeline,
        balances=balances,
        percent_proxies=percent_proxies,
        venue=presigner,
        wallets=wallets,
        kind=getattr(flows, "kind", OrderKind.FOK),
        confirm_blocks=confirm_blocks,
    )
