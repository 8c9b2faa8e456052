"""The supervisor's detection sources beside the chain's logs: which ones run, the attribution addresses the
log decoder is built with, and the intake that turns every source's sightings into copies exactly once per
fill (`SUPERVISOR_ACT_ON`, docs/seams.md "Fill identity").

Under `log` (the default) only the log makes copies, under its own dedup key, as before: pending orders and
feed frames pre-warm the copy (the market's quote; with a `Prewarmer`, the balances, the caps' view and the
CLOB orders signed ahead, which the log's jobs take) and are joined to the log's row to measure their lead.
Under `first` the earliest sighting of a fill is copied under the fill's key (`detector.fills.fill_key`), so
the log that follows is recognised as the same fill and only confirms it, or tops the copy up when it carries
more; the fill's key is the one its aliases in the shared state name (`SharedState.claim_fill_key`), so
replicas and a restarted instance agree on it. In both modes a fill seen early with no log within
`SUPERVISOR_PENDING_CONFIRM_BLOCKS` is counted, and the copies it caused are flagged `unconfirmed_source` by
their keys (those not started are cancelled; a log after the window revives them).

`PendingSightings` (the first lead measurement, keyed on the transaction, then the order hash) is kept for the
demo's output.
"""

from __future__ import annotations

import logging
from collections import Counter, OrderedDict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final, NamedTuple

from polyhunter._core import Signal
from polyhunter.chain import polygon
from polyhunter.chain.deployment import Deployment
from polyhunter.detector.fills import LOG as LOG_KIND
from polyhunter.detector.fills import MEMPOOL as MEMPOOL_KIND
from polyhunter.detector.fills import (
    Fill,
    FillLedger,
    amount_alias,
    group_alias,
    group_of,
    kind_of,
    logged_alias,
    order_alias,
    row_alias,
    row_id,
    taker_alias,
    top_up_key,
    tx_alias,
)
from polyhunter.detector.mempool import PendingFill
from polyhunter.errors import DecodeError
from polyhunter.models import copy_key, now_ms
from polyhunter.settings import POLYGON_CHAIN_ID, Settings
from polyhunter.supervisor.pipeline import KeyedSignal, Pipeline

if TYPE_CHECKING:
    from polyhunter.supervisor.prewarm import Prewarmer

log = logging.getLogger(__name__)

LOGS: Final = "logs"
MEMPOOL: Final = "mempool"
FEED: Final = "feed"

_DEPLOYMENT_NON_TRADING = (
    "neg_risk_adapter",
    "collateral_adapter",
    "neg_risk_collateral_adapter",
    "onramp",
    "offramp",
)
"""The deployment's fields that name Polymarket's plumbing (polygon.DECODER_ROLES["non_trading"])."""


def non_trading_addresses(deployment: Deployment) -> list[str]:
    """The addresses whose CTF transfers are splits, merges, conversions or redemptions, never trades: the
    deployment's adapters and ramps, and on Polygon every published candidate of the production table."""
    found: list[str] = []
    for name in _DEPLOYMENT_NON_TRADING:
        address = getattr(deployment.contracts, name)
        if address:
            found.append(address.lower())
    if deployment.chain_id == POLYGON_CHAIN_ID:
        found += polygon.decoder_addresses()["non_trading"]
    return list(dict.fromkeys(found))


def enabled_sources(settings: Settings, ws_url: str | None, feed_url: str | None = None) -> frozenset[str]:
    """The sources to run: `SUPERVISOR_SOURCES`, else every source whose endpoint exists (logs always,
    mempool with a websocket URL, feed with a feed URL). `feed` asked for without a feed URL: one warning,
    left out."""
    chosen: Sequence[str] | None = settings.supervisor_sources
    if chosen is None:
        chosen = [LOGS, *([MEMPOOL] if ws_url else []), *([FEED] if feed_url else [])]
    if FEED in chosen and not feed_url:
        chosen = [s for s in chosen if s != FEED]
        log.warning(
            "SUPERVISOR_SOURCES: feed has no URL on this chain (set SUPERVISOR_FEED_URL); running %s",
            ",".join(sorted(set(chosen))),
        )
    return frozenset(chosen)


SightingKey = tuple[bytes, str, int, str]


def sighting_key(tx_hash: bytes, leader: str, token_id: int, side: str) -> SightingKey:
    return (bytes(tx_hash), leader.lower(), token_id, side)


@dataclass
class LeadStats:
    """Pending sightings and the leads they gave over the log (what `polyhunter supervisor` reports)."""

    pending: int = 0
    """Pending fills taken (one per watched order in an operator's matchOrders)."""
    confirmed: int = 0
    """Logged fills that had been seen pending first."""
    logged_only: int = 0
    """Logged fills (with a price: OrderFilled rows) that no pending sighting preceded."""
    last_lead_ms: int | None = None
    max_lead_ms: int = 0
    total_lead_ms: int = 0

    @property
    def coverage_ppm(self) -> int:
        """The share of logged fills first seen pending, in ppm (0 before any logged fill)."""
        seen = self.confirmed + self.logged_only
        return self.confirmed * 1_000_000 // seen if seen else 0


@dataclass
class PendingSightings:
    """First pending sighting per fill, joined to the fill's log signal to measure the detection lead.

    Keyed on (transaction, maker, token, side), then on the order hash that both the pending order and the
    `OrderFilled` row name: a match re-settled in a new transaction is still the order seen pending."""

    limit: int = 100_000
    stats: LeadStats = field(default_factory=LeadStats)
    _first_ns: OrderedDict[SightingKey, int] = field(default_factory=OrderedDict, init=False, repr=False)
    _first_by_order: OrderedDict[bytes, int] = field(default_factory=OrderedDict, init=False, repr=False)
    _leads: OrderedDict[SightingKey, int] = field(default_factory=OrderedDict, init=False, repr=False)

    def saw_pending(self, signals: Iterable[Signal]) -> None:
        """Stamps the first sighting of each pending fill's signal (`PendingFill.signal`)."""
        for s in signals:
            key = sighting_key(s.tx_hash, s.leader, s.token_id, s.side)
            self.stats.pending += 1
            if key not in self._first_ns:
                self._first_ns[key] = s.seen_at_ns
                self._bound(self._first_ns)
            if s.order_hash is not None and s.order_hash not in self._first_by_order:
                self._first_by_order[s.order_hash] = s.seen_at_ns
                self._bound(self._first_by_order)

    def saw_log(self, signal: Signal) -> int | None:
        """The lead in ms of the pending sighting over this log signal, or None when it was not seen
        pending. Both stamps are the Rust decoders' wall clock (`seen_at_ns`)."""
        if not signal.price_den:
            # A CTF transfer (no price) is never what a matchOrders order becomes: only OrderFilled rows join.
            return None
        key = sighting_key(signal.tx_hash, signal.leader, signal.token_id, signal.side)
        first = self._first_ns.pop(key, None)
        by_order = None if signal.order_hash is None else self._first_by_order.pop(signal.order_hash, None)
        if first is None:
            first = by_order
        if first is None:
            if key not in self._leads:
                self.stats.logged_only += 1
            return self._leads.get(key)
        lead_ms = max(0, signal.seen_at_ns - first) // 1_000_000
        self.stats.confirmed += 1
        self.stats.last_lead_ms = lead_ms
        self.stats.max_lead_ms = max(self.stats.max_lead_ms, lead_ms)
        self.stats.total_lead_ms += lead_ms
        self._leads[key] = lead_ms
        self._bound(self._leads)
        return lead_ms

    def lead_ms(self, tx_hash: bytes, leader: str, token_id: int, side: str) -> int | None:
        """The recorded lead of a fill already logged (None when it was not seen pending)."""
        return self._leads.get(sighting_key(tx_hash, leader, token_id, side))

    def _bound(self, table: OrderedDict[SightingKey, int] | OrderedDict[bytes, int]) -> None:
        while len(table) > self.limit:
            table.popitem(last=False)


_SCAN_BATCH = 1000

FILL_ALIAS_TTL_MS: Final = 3_600_000
"""How long the shared state keeps a fill's aliases (`SharedState.claim_fill_key`): far longer than any
confirmation window, so a replica or a restarted instance that sees the fill later adopts its key. Also how
far back a restarted instance looks for copies whose fill nobody confirmed."""

SOURCE_CONFIRMED: Final = "source_confirmed"
"""The flag of a copy made from a sighting without a log whose fill a log did confirm: what tells a restarted
instance's scan (`FillIntake.expire`) that its fill is settled."""

UNCONFIRMED_SOURCE: Final = "unconfirmed_source"
"""The flag of a copy whose fill was seen pending or in the feed and got no log in time (docs/seams.md)."""

#: Receives the intake's events: ("signal", {"signal"}) for a log row under `first` (the pipeline emits it
#: under `log`), ("fill", {"fill", "leads"}) when a log confirms a fill, ("unconfirmed", {"fill", "keys"}).
EventSink = Callable[[str, dict[str, Any]], None]


@dataclass
class SourceStats:
    """What the intake saw, by source kind (`mempool`, `activity`, `log`)."""

    signals: Counter[str] = field(default_factory=Counter)
    """Priced sightings taken in (repeats included)."""
    repeats: Counter[str] = field(default_factory=Counter)
    first_seen: Counter[str] = field(default_factory=Counter)
    """Logged fills by the source that saw them first."""
    logged: int = 0
    """Fills a log confirmed."""
    unconfirmed: Counter[str] = field(default_factory=Counter)
    """Fills that caused copies and got no log in time, by the source that saw them first."""
    expired: int = 0
    """Fills seen early that got no log in time (with or without copies)."""
    orphans: int = 0
    """Copies made before a restart from sightings no log confirmed, flagged by the restart's scan."""
    top_ups: int = 0

    @property
    def coverage_ppm(self) -> int:
        """The share of logged fills first seen pending, in ppm (0 before any logged fill)."""
        return self.first_seen[MEMPOOL_KIND] * 1_000_000 // self.logged if self.logged else 0


def _removed(signal: Signal) -> Signal:
    """The retraction of the copies made from `signal`: the same (tx, log index, sub index), `removed`."""
    return Signal(
        leader=signal.leader,
        token_id=signal.token_id,
        side=signal.side,
        size=signal.size,
        tx_hash=signal.tx_hash,
        log_index=signal.log_index,
        sub_index=signal.sub_index,
        price_num=signal.price_num,
        price_den=signal.price_den,
        usd=signal.usd,
        block_number=signal.block_number,
        block_hash=signal.block_hash,
        exchange=signal.exchange,
        source=signal.source,
        removed=True,
        seen_at_ns=signal.seen_at_ns,
        order_hash=signal.order_hash,
    )


class Early(NamedTuple):
    """A sighting before the log: a pending order (with its order hash, and whether it is the match's taker
    order) or a feed frame (neither)."""

    signal: Signal
    order_hash: bytes | None = None
    taker: bool = False


class FillIntake:
    """Every source's sightings in, one copy per (fill, follower) out, whichever source comes first.

    Log rows come through `on_raw` / `on_logs` (the chain detector's sink), pending orders through
    `on_pending`, feed frames through `on_feed`; `at_block` moves the head the confirmation window counts
    in and `expire` settles the fills whose window passed. Unpriced CTF transfers are not fills of an
    exchange: they go to the pipeline under their own keys in both modes.
    """

    def __init__(
        self,
        pipeline: Pipeline,
        *,
        act_on: str = "log",
        confirm_blocks: int = 20,
        on_event: EventSink | None = None,
        ledger: FillLedger | None = None,
        alias_ttl_ms: int = FILL_ALIAS_TTL_MS,
    ) -> None:
        self.pipeline = pipeline
        self.alias_ttl_ms = alias_ttl_ms
        self.act_on = act_on
        self.confirm_blocks = confirm_blocks
        self.on_event = on_event
        self.ledger = ledger or FillLedger()
        self.prewarm: Prewarmer | None = None
        """Under `log`: what an early sighting prepares for its copies (balances, caps, signed orders)."""
        self.stats = SourceStats()
        self.head = 0
        self._started_ms = now_ms()
        self._start_head = 0
        self._restart_settled = False
        self._due: OrderedDict[bytes, Fill] = OrderedDict()
        """Fills past their window whose copies are still to be flagged (a failed store call keeps them)."""
        self._retrying: OrderedDict[bytes, Fill] = OrderedDict()
        """Fills whose early copies failed at intake (`Fill.retry`): replayed at the next tick or sighting."""

    @property
    def first(self) -> bool:
        return self.act_on == "first"

    def _emit(self, kind: str, **data: Any) -> None:
        if self.on_event is not None:
            self.on_event(kind, data)

    def at_block(self, block: int) -> None:
        self.head = max(self.head, block)
        if not self._start_head:
            self._start_head = block

    # -- logs ------------------------------------------------------------------------------------------
    async def on_raw(self, raw: bytes, origin: str) -> None:
        """The chain detector's sink: under `log` the pipeline's own; under `first` decoded here, then
        `on_logs`."""
        if not self.first:
            await self.pipeline.on_raw(raw, origin)
            return
        decoder = self.pipeline.decoder
        assert decoder is not None, "an intake fed raw bytes needs the pipeline's decoder"
        try:
            decoded = decoder.decode(raw)
        except DecodeError as exc:
            self.pipeline.stats.rejects += 1
            log.warning("rejected %s message: %s", origin, exc)
            return
        self.pipeline.stats.rejects += len(decoded.rejects)
        for reject in decoded.rejects:
            log.warning("rejected log #%d from %s: %s", reject.index, origin, reject.reason)
        if decoded.signals:
            await self.on_logs(decoded.signals, replay=origin == "backfill")
        await self.pipeline.on_exits(decoded.exits)

    async def on_logs(self, signals: Sequence[Signal], *, replay: bool = False) -> None:
        """Log signals under `first`: each priced row joins the ledger and makes, confirms or tops up its
        fill's copy; a removed row retracts the copies its fill caused, wherever they were made from."""
        # Priced live rows are counted here (they reach the pipeline keyed); the rest by the pipeline.
        self.pipeline.stats.signals += sum(1 for s in signals if s.price_den and not s.removed)
        plain: list[Signal] = []
        keyed: list[KeyedSignal] = []
        revived: list[KeyedSignal] = []
        retracted: list[Signal] = []
        retried: list[Fill] = []
        confirmed: list[tuple[Fill, Signal]] = []
        for s in signals:
            if s.block_number:
                self.at_block(s.block_number)
            if not s.price_den:
                plain.append(s)
            elif s.removed:
                retracted += self._retract(s)
            else:
                outcome = self.ledger.see(s, block=self.head)
                self._count(s, outcome.repeat)
                if not outcome.repeat:
                    self._emit("signal", signal=s)
                fill = outcome.fill
                if outcome.repeat:
                    if replay and fill.origins:
                        # A backfill after a restart: the store's idempotency key decides what is new.
                        revived += self._origins(fill)
                    continue
                await self._canonical(fill, s, LOG_KIND, s.order_hash, False)
                self._confirmed(fill)
                confirmed.append((fill, s))
                item = self._decide(fill, s)
                if fill.retry:
                    # Its early copies failed at intake: all of them again (with this row's top-up), as a
                    # replay, since the dedup caches hold their keys already.
                    fill.retry = False
                    retried.append(fill)
                    revived += self._origins(fill)
                    continue
                if outcome.revived or fill.unconfirmed:
                    # Mined again after a reorg, or logged after its window: the copies cancelled then
                    # (`reorged`, `unconfirmed_source`) come back, replayed for the store to revive.
                    fill.unconfirmed = False
                    revived += self._origins(fill)
                if item is not None:
                    keyed.append(item)
        try:
            if plain:
                await self.pipeline.on_signals(plain, replay=replay)
            if keyed:
                await self.pipeline.on_keyed(keyed, replay=replay)
            if revived:
                # One item per key (a fill both revived and retried lists its origins twice).
                await self.pipeline.on_keyed(list({i.key: i for i in revived}.values()), replay=True)
            if retracted:
                await self.pipeline.on_signals(retracted)
            if confirmed:
                await self._mark_confirmed(confirmed)
        except BaseException:
            # The detector backfills the rows (their repeats replay the origins); the retried fills are
            # also due again at the next tick.
            self._failed(retried)
            raise

    async def _mark_confirmed(self, fills: list[tuple[Fill, Signal]]) -> None:
        """Flags `source_confirmed` the copies of fills a log confirmed: those made here from sightings
        without a log, and those an instance made before a restart under the fill's key (and the top-ups
        to what the row or the fill carries). A failure is logged: the scan after a restart is then the only
        one to err (it would flag these copies `unconfirmed_source`)."""
        try:
            for fill, row in fills:
                keys = [fill.key, top_up_key(fill.key, row.size), top_up_key(fill.key, fill.tokens)]
                keys += [i.key for i in self._origins(fill)]
                configs = await self.pipeline.store.list_configs(leader=fill.group[0])
                candidates = [copy_key(k, c.config_id) for k in dict.fromkeys(keys) for c in configs]
                if candidates:
                    await self.pipeline.store.flag_keys(candidates, SOURCE_CONFIRMED)
        except Exception as exc:
            log.warning("copies of fills a log confirmed are not flagged %s: %s", SOURCE_CONFIRMED, exc)

    def observe_log(self, signal: Signal) -> None:
        """Under `log`: a fresh log row the pipeline took in (its "signal" event) joins the ledger, which
        measures the other sources' leads over it; its copies are the pipeline's own."""
        if self.first or not signal.price_den or signal.removed:
            return
        if signal.block_number:
            self.at_block(signal.block_number)
        outcome = self.ledger.see(signal, block=self.head)
        self._count(signal, outcome.repeat)
        if not outcome.repeat:
            if self.prewarm is not None:
                self.prewarm.logged(outcome.fill.key, signal)
            self._confirmed(outcome.fill)

    def _retract(self, signal: Signal) -> list[Signal]:
        fill = self.ledger.retract(signal, block=self.head)
        if fill is None or not fill.origins:
            return [signal]
        # One retraction per (tx, log index, sub index): what the store finds the copies by.
        distinct = {(bytes(o.tx_hash), o.log_index, o.sub_index): o for o in fill.origins}
        return [_removed(o) for o in distinct.values()]

    def _origins(self, fill: Fill) -> list[KeyedSignal]:
        """The keyed signals the fill's copies were made from (the first, then each top-up)."""
        if not fill.origins:
            return []
        items = [KeyedSignal(fill.origins[0], fill.key)]
        for before, after in zip(fill.origins, fill.origins[1:], strict=False):
            items.append(KeyedSignal(after, top_up_key(fill.key, after.size), copied=before))
        return items

    def _confirmed(self, fill: Fill) -> None:
        if fill.log is None:
            return
        self.stats.logged += 1
        self.stats.first_seen[fill.first_source] += 1
        leads = fill.leads_ms()
        self._emit("fill", fill=fill, leads=leads)

    # -- pending orders and feed frames -------------------------------------------------------------------
    async def on_pending(self, fills: Sequence[PendingFill]) -> None:
        """The mempool source's sink: each watched order of a pending `matchOrders`, with its order hash."""
        await self.on_early([Early(f.signal, f.order_hash, f.fill.is_taker) for f in fills])

    async def on_feed(self, signals: Sequence[Signal]) -> None:
        """The activity feed's sink: one signal per trade frame of a watched wallet (no order hash)."""
        await self.on_early([Early(s) for s in signals])

    async def on_early(self, sightings: Sequence[Early]) -> None:
        """Pending orders and feed frames: each joins the ledger; under `first` a new fill is copied at once
        and a known one topped up when this sighting carries more. Both modes pre-warm the tokens' quotes;
        under `log` a new fill also starts its `prewarm`."""
        made: list[tuple[Fill, KeyedSignal]] = []
        for s, order_hash, taker in sightings:
            if not s.price_den:
                continue  # no price, no fill to join or to size
            outcome = self.ledger.see(s, order_hash=order_hash, taker=taker, block=self.head)
            self._count(s, outcome.repeat)
            if self.first and not outcome.repeat and not outcome.late:
                await self._canonical(outcome.fill, s, kind_of(s), order_hash, taker)
                item = self._decide(outcome.fill, s)
                if item is not None:
                    made.append((outcome.fill, item))
            elif self.prewarm is not None and not self.first and not outcome.repeat and not outcome.late:
                self.prewarm.sighted(outcome.fill.key, s, self.head)
        self.pipeline.market.observe([s for s, _, _ in sightings])
        if made:
            await self._copy_early(made)

    async def _copy_early(self, made: list[tuple[Fill, KeyedSignal]]) -> None:
        """Hands early copies to the pipeline. When that fails, no source brings these sightings again (the
        mempool and the feed go on after a failing sink) and the log finds the fill copied: the fills are
        marked `retry`, and their copies are made again as a replay by the next tick (`expire`) or by their
        log, whichever first (the store's idempotency key keeps what was stored once)."""
        replays = [fill for fill, _ in made if fill.retry]
        for fill in replays:
            fill.retry = False  # replayed now: every origin, this sighting's included
        items = [item for fill, item in made if fill not in replays]
        again = list({i.key: i for fill in replays for i in self._origins(fill)}.values())
        try:
            if items:
                await self.pipeline.on_keyed(items)
            if again:
                await self.pipeline.on_keyed(again, replay=True)
        except BaseException:
            self._failed([fill for fill, _ in made])
            raise

    def _failed(self, fills: Iterable[Fill]) -> None:
        for fill in fills:
            fill.retry = True
            self._retrying[fill.key] = fill
            self._retrying.move_to_end(fill.key)
        while len(self._retrying) > self.ledger.limit:
            dropped = self._retrying.popitem(last=False)[1]
            dropped.retry = False
            log.error(
                "fill of %s in 0x%s: too many copies to retry; not retried",
                dropped.group[0],
                dropped.txs[0].hex(),
            )

    async def _retry_failed(self) -> None:
        """Replays the copies of fills whose intake failed; a fill whose window passed without a log is
        dropped (nothing of it was copied, and nothing is to be)."""
        while self._retrying:
            fill = self._retrying.popitem(last=False)[1]
            if not fill.retry:
                continue  # its log replayed it meanwhile
            fill.retry = False
            if fill.unconfirmed and fill.log is None:
                continue
            try:
                await self.pipeline.on_keyed(self._origins(fill), replay=True)
            except BaseException:
                self._failed([fill])
                raise

    def _count(self, signal: Signal, repeat: bool) -> None:
        kind = kind_of(signal)
        self.stats.signals[kind] += 1
        if repeat:
            self.stats.repeats[kind] += 1

    async def _canonical(
        self, fill: Fill, signal: Signal, kind: str, order_hash: bytes | None, taker: bool
    ) -> None:
        """Under `first`: makes the fill's key the one every replica (and this instance after a restart)
        uses, through the aliases that the shared state records for it (docs/seams.md, "One key across
        replicas"). A fill copied already keeps its key, unless a row shows that key is another row's."""
        tx, group = bytes(signal.tx_hash), group_of(signal)
        aliases = [tx_alias(tx, group, signal.size)]
        if order_hash is not None:
            aliases.insert(0, order_alias(order_hash, group, signal.size))
        if kind == MEMPOOL_KIND:
            # Only a taker order may carry fewer shares than its row or frame (a MINT): it alone looks
            # for the group's fill in its transaction, and marks itself for them to find.
            lookups = [group_alias(tx, group)] if taker else []
            notes = [taker_alias(tx, group)] if taker else []
        else:
            lookups, notes = [taker_alias(tx, group)], [group_alias(tx, group)]
        # Last, and kept only for a window: a recent fill of the group and amount in another transaction
        # (a re-settled match). Merging two fills this way errs safe: one row is one fill (below).
        recent = amount_alias(group, signal.size)
        lookups.append(recent)
        claim = self.pipeline.shared.claim_fill_key
        ttl = self.alias_ttl_ms
        try:
            if kind == LOG_KIND:
                row = row_id(signal, order_hash)
                aliases.insert(0, row_alias(row))
                # One row is one fill: a key already confirmed by another row is another fill's (an order
                # filled twice by equal amounts, two early sightings merged); this row is a fill of its own.
                found = await claim([], fill.key, ttl, lookups=[*aliases, *lookups])
                if await claim([logged_alias(found)], row, ttl) != row:
                    found = fill.natural
                    if await claim([logged_alias(found)], row, ttl) != row:
                        found = row  # both taken: a key of this row's own
                    if found != fill.key:
                        fill.origins.clear()  # what was copied under the old key was the other fill's
                        fill.copied = 0
                winner = await claim(aliases, found, ttl, notes=notes)
            else:
                winner = await claim(aliases, fill.key, ttl, lookups=lookups, notes=notes)
            await claim([], winner, self.pipeline.config.dedup_ttl_ms, notes=[recent])
        except Exception as exc:
            # Without the shared record this instance's own key stands (replicas may then differ).
            log.warning("fill of %s in 0x%s: its key is not shared: %s", group[0], tx.hex(), exc)
            return
        if winner != fill.key and (fill.origins or not self.ledger.rekey(fill, winner)):
            log.warning(
                "fill of %s in 0x%s: keeps key 0x%s, another replica's is 0x%s",
                group[0],
                tx.hex(),
                fill.key.hex(),
                winner.hex(),
            )

    def _decide(self, fill: Fill, signal: Signal) -> KeyedSignal | None:
        """Under `first`: the fill's first copy, or a top-up when `signal` carries more than was copied."""
        if not fill.origins:
            fill.origins.append(signal)
            fill.copied = signal.size
            return KeyedSignal(signal, fill.key, covers=(top_up_key(fill.key, signal.size),))
        if signal.size <= fill.copied:
            return None
        before = fill.origins[-1]
        fill.origins.append(signal)
        fill.copied = signal.size
        self.stats.top_ups += 1
        return KeyedSignal(signal, top_up_key(fill.key, signal.size), copied=before)

    # -- the confirmation window -------------------------------------------------------------------------
    async def expire(self) -> list[Fill]:
        """Fills seen early and not logged within `confirm_blocks` of the head: counted, their copies flagged
        `unconfirmed_source` (and cancelled where not started). Nothing else is done for them."""
        if not self.head:
            return []
        gone = self.ledger.expire(self.head, self.confirm_blocks)
        if self.prewarm is not None:
            for fill in gone:
                if fill.log is None:
                    self.prewarm.drop(fill.key)
            self.prewarm.expire(self.head)
        for fill in gone:
            self.stats.expired += 1
            # A fill seen only in a log a reorg removed is no early source's: the reorg flagged its copies.
            if fill.origins and fill.seen_ns:
                self._due[fill.key] = fill
        while len(self._due) > self.ledger.limit:
            dropped = self._due.popitem(last=False)[1]
            log.error(
                "fill of %s first seen in 0x%s: too many unconfirmed fills due; its copies are not "
                "flagged %s",
                dropped.group[0],
                dropped.txs[0].hex(),
                UNCONFIRMED_SOURCE,
            )
        # Failed copies are replayed (those of fills that just went unconfirmed are dropped); a failure there
        # must not hold up the flagging below, nor the reverse.
        error: Exception | None = None
        try:
            await self._retry_failed()
        except Exception as exc:
            error = exc
        # Settled one at a time and forgotten once settled: when the store fails, the rest stay due for the
        # next call (flagging and cancelling again is harmless), the failed one last so it blocks no other.
        while self._due:
            fill = next(iter(self._due.values()))
            if fill.log is None:
                try:
                    await self._settle_unconfirmed(fill)
                except BaseException:
                    self._due.move_to_end(fill.key)
                    raise
            del self._due[fill.key]
        if (
            self.first
            and not self._restart_settled
            and self._start_head
            and self.head - self._start_head >= self.confirm_blocks
        ):
            await self._settle_restart()
        if error is not None:
            raise error
        return gone

    async def _settle_restart(self) -> None:
        """Once a window has passed since this instance started: the copies made (by an instance before a
        restart) from sightings without a log, before this one started and within the alias horizon, that
        no log confirmed (`source_confirmed`) are flagged and cancelled as `unconfirmed_source`, like the
        fills this ledger sees expire. Their fills' windows have all passed by now."""
        since = self._started_ms - self.alias_ttl_ms
        while True:
            keys = await self.pipeline.store.unsettled_unlogged(since, self._started_ms, _SCAN_BATCH)
            found = await self.pipeline.unconfirmed([], "", UNCONFIRMED_SOURCE, copies=keys) if keys else []
            self.stats.orphans += len(found)
            if found:
                log.warning(
                    "%d copies made before this start from sightings no log confirmed: flagged %s",
                    len(found),
                    UNCONFIRMED_SOURCE,
                )
            if len(keys) < _SCAN_BATCH or not found:
                break
        self._restart_settled = True

    async def _settle_unconfirmed(self, fill: Fill) -> None:
        keys = await self.pipeline.unconfirmed(
            [i.key for i in self._origins(fill)], fill.group[0], UNCONFIRMED_SOURCE
        )
        self.stats.unconfirmed[fill.first_source] += 1
        log.warning(
            "fill of %s (token %d, %s %d) first seen by %s in 0x%s: no log within %d blocks; %d copies "
            "flagged %s",
            fill.group[0],
            fill.group[1],
            fill.group[2],
            fill.tokens,
            fill.first_source,
            fill.txs[0].hex(),
            self.confirm_blocks,
            len(keys),
            UNCONFIRMED_SOURCE,
        )
        self._emit("unconfirmed", fill=fill, keys=keys)

    def copy_origin(
        self, tx_hash: bytes, leader: str, token_id: int, side: str, log_index: int
    ) -> Fill | None:
        """The fill a copy made from a log row belongs to (for its first source and leads)."""
        return self.ledger.logged(tx_hash, leader, token_id, side, log_index)
