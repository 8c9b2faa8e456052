"""Guardrails on each copy before it is queued: max trade, execution allowlist, global and wallet daily caps.

Caps are reserved atomically in the shared state (Lua on Redis), so instances racing can never exceed them,
and released when a copy does not happen. Daily caps are per UTC day and count BUY and SELL notional alike.

A cap's refusal is remembered for `refusal_ttl_ms` (`SUPERVISOR_GUARDRAIL_CACHE_TTL_MS`): meanwhile a copy at
least as large against the same counter is refused without a round trip to the shared state. Usage only grows
between releases, so the cache can refuse a copy that a release would have let through, never admit one.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from polyhunter.models import CopyJob, SkipReason
from polyhunter.shared.base import Reservation, SharedState

if TYPE_CHECKING:
    from polyhunter.settings import Settings

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
