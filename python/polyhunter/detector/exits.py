"""Leaders' exits followed: a leader's merge makes its followers' Proxies merge their matched YES + NO.

The decoder turns a tracked leader's `PositionsMerge` / `PayoutRedemption` (the CTF's, or an adapter's when
the leader went through one) into a `LeaderExit`, never into a SELL signal (docs/seams.md "Leaders'
exits"). What follows:

- **merge**: every Proxy that follows the leader merges, in the same condition, what it holds of both
  outcomes (the redeemer cuts the amount to each Proxy's holdings; a Proxy short of either outcome merges
  nothing). The leader's transaction hash and log index are the merge's `ref`, so a replayed log (a backfill
  after a restart) merges nothing twice.
- **redeem**: the condition resolved; the redeemer's resolution watch redeems every holding Proxy. Here it
  is only counted and logged.
- **removed** (a reorg retracted the leader's exit): counted and logged. A merge already made stays made:
  it turned the Proxy's own matched pairs into the collateral they are always worth, so nothing is lost.

A merge is awaited in the intake, so the detector's checkpoint passes an exit only once its merges were
sent or refused: a crash in between replays the log, and the `ref` keeps it to one merge.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from polyhunter._core import (
    TOPIC_ADAPTER_PAYOUT_REDEMPTION,
    TOPIC_ADAPTER_POSITIONS_MERGE,
    TOPIC_PAYOUT_REDEMPTION,
    TOPIC_POSITIONS_MERGE,
    LeaderExit,
)
from polyhunter.detector.filters import LEADERS_PER_FILTER, LogFilter, topic_of

log = logging.getLogger(__name__)

ALL_MATCHED = 2**256 - 1
"""The amount asked of each Proxy: everything it holds of both outcomes (the redeemer cuts it)."""


class Merger(Protocol):
    """What the exit follower needs of the redeemer (`polyhunter.execution.redeem.Redeemer`)."""

    async def merge(
        self, proxies_amounts: Sequence[tuple[str, int]], condition_id: str, *, ref: str
    ) -> Sequence[Any]: ...


def exit_filters(
    *,
    ctf: str,
    adapters: Sequence[str],
    leaders: Sequence[str] | None,
    chunk: int = LEADERS_PER_FILTER,
) -> list[LogFilter]:
    """The filters that catch every merge and redemption of `leaders` (None: everyone's): the CTF's
    events and the adapters' (an adapter merges and redeems in its own name; only its event names the
    leader), each on topic 1 = the leader."""
    ctf_topics = (TOPIC_POSITIONS_MERGE, TOPIC_PAYOUT_REDEMPTION)
    adapter_topics = (TOPIC_ADAPTER_POSITIONS_MERGE, TOPIC_ADAPTER_PAYOUT_REDEMPTION)
    adapter_addrs = tuple(sorted({a.lower() for a in adapters}))
    groups: list[tuple[str, ...] | None]
    if leaders is None:
        groups = [None]
    else:
        topics = sorted({topic_of(a) for a in leaders})
        groups = [tuple(topics[i : i + chunk]) for i in range(0, len(topics), chunk)]
    out: list[LogFilter] = []
    for group in groups:
        out.append(LogFilter((ctf.lower(),), (ctf_topics, group)))
        if adapter_addrs:
            out.append(LogFilter(adapter_addrs, (adapter_topics, group)))
    return out


@dataclass
class ExitStats:
    merges: int = 0
    """Leaders' merges seen (live, once each)."""
    redemptions: int = 0
    """Leaders' redemptions seen (live, once each)."""
    proxies_asked: int = 0
    """Proxies asked to merge after a leader's merge."""
    merged: int = 0
    """Merges the redeemer made or recorded for those requests."""
    retracted: int = 0
    """Exits a reorg retracted."""
    failed: int = 0
    """Leaders' merges whose followers' merge raised (logged; resolution merges matched pairs anyway)."""


def exit_ref(exit_: LeaderExit) -> str:
    """The idempotency reference of what an exit causes: its transaction hash and log index."""
    return f"0x{exit_.tx_hash.hex()}:{exit_.log_index}"


class ExitFollower:
    """Follows leaders' exits: merges through the redeemer, redemptions left to its resolution watch."""

    def __init__(self, merger: Merger | None, proxies_of: Callable[[str], Iterable[str]]) -> None:
        """`proxies_of(leader)`: the Proxies following `leader` (lower-case addresses). Without a `merger`
        (an engine that sends no transactions) exits are only counted and logged."""
        self.merger = merger
        self.proxies_of = proxies_of
        self.stats = ExitStats()

    async def on_exits(self, exits: Sequence[LeaderExit]) -> None:
        """The decoder's exits of one batch, in log order."""
        for exit_ in exits:
            where = f"tx 0x{exit_.tx_hash.hex()} log {exit_.log_index}"
            condition = "0x" + exit_.condition_id.hex()
            if exit_.removed:
                self.stats.retracted += 1
                log.warning(
                    "leader %s's %s of condition %s retracted by a reorg (%s); merges it caused stay",
                    exit_.leader,
                    exit_.kind,
                    condition,
                    where,
                )
                continue
            if exit_.kind == "redeem":
                self.stats.redemptions += 1
                log.info(
                    "leader %s redeemed condition %s for %d (%s): not a SELL; the redeemer redeems the "
                    "followers' positions at resolution",
                    exit_.leader,
                    condition,
                    exit_.amount,
                    where,
                )
                continue
            self.stats.merges += 1
            proxies = sorted({p.lower() for p in self.proxies_of(exit_.leader)})
            log.info(
                "leader %s merged %d of condition %s (%s): not a SELL; %d following Proxies merge their "
                "matched positions",
                exit_.leader,
                exit_.amount,
                condition,
                where,
                len(proxies),
            )
            if not proxies or self.merger is None:
                continue
            self.stats.proxies_asked += len(proxies)
            try:
                done = await self.merger.merge(
                    [(p, ALL_MATCHED) for p in proxies], condition, ref=exit_ref(exit_)
                )
            except Exception:
                # The positions stay in the Proxies; resolution merges matched pairs before redeeming.
                self.stats.failed += 1
                log.exception("following leader %s's merge of %s failed (%s)", exit_.leader, condition, where)
                continue
            self.stats.merged += len(done)
