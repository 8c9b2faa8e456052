"""The supervisor's detection sources beside the chain's logs: which ones run, the attribution addresses the
log decoder is built with, and the pending-transaction sightings that measure how early a fill was seen.

Exactly-once under `SUPERVISOR_SOURCES=logs,mempool`: only the log makes copies (the issue's
`SUPERVISOR_ACT_ON=log`). A pending fill's signal has no log index, so its dedup key differs from the
log's; handing it to the pipeline would copy the fill twice. Pending fills therefore only pre-warm the
market's quote and stamp a first sighting per (transaction, maker, token, side), which the log's signal
later turns into a detection lead in milliseconds.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Final

from polyhunter._core import Signal
from polyhunter.chain import polygon
from polyhunter.chain.deployment import Deployment
from polyhunter.settings import POLYGON_CHAIN_ID, Settings

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
    """The sources to run: `SUPERVISOR_SOURCES`, else every source whose endpoint exists (logs always, mempool
    with a websocket URL, feed with a feed URL). `feed` asked for without a feed URL: one warning, left out."""
    chosen = settings.supervisor_sources
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

    Keyed on (transaction, maker, token, side): a re-settled match has a new transaction and counts as not
    seen pending, which understates the lead rather than inventing one."""

    limit: int = 100_000
    stats: LeadStats = field(default_factory=LeadStats)
    _first_ns: OrderedDict[SightingKey, int] = field(default_factory=OrderedDict, init=False, repr=False)
    _leads: OrderedDict[SightingKey, int] = field(default_factory=OrderedDict, init=False, repr=False)

    def saw_pending(self, signals: Iterable[Signal]) -> None:
        """Stamps the first sighting of each pending fill's signal (`PendingFill.signal`)."""
        for s in signals:
            key = sighting_key(s.tx_hash, s.leader, s.token_id, s.side)
            self.stats.pending += 1
            if key not in self._first_ns:
                self._first_ns[key] = s.seen_at_ns
                self._bound(self._first_ns)

    def saw_log(self, signal: Signal) -> int | None:
        """The lead in ms of the pending sighting over this log signal, or None when it was not seen
        pending. Both stamps are the Rust decoders' wall clock (`seen_at_ns`)."""
        if not signal.price_den:
            # A CTF transfer (no price) is never what a matchOrders order becomes: only OrderFilled rows join.
            return None
        key = sighting_key(signal.tx_hash, signal.leader, signal.token_id, signal.side)
        first = self._first_ns.pop(key, None)
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

    def _bound(self, table: OrderedDict[SightingKey, int]) -> None:
        while len(table) > self.limit:
            table.popitem(last=False)
