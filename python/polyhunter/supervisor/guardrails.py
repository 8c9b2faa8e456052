"""Guardrails on each copy before it is queued: max trade, execution allowlist, global and wallet daily caps.

Caps are reserved atomically in the shared state (Lua on Redis), so instances racing can never exceed them,
and released when a copy does not happen. Daily caps are per UTC day and count BUY and SELL notional alike.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection
from dataclasses import dataclass

from polyhunter.models import CopyJob, SkipReason
from polyhunter.shared.base import Reservation, SharedState

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
        refused = await shared.reserve(reservations)
        if refused is not None:
            return refused, []
        return None, reservations
