"""The capacity model of the earlier supervisor: how many instances a user base needs.

copies/day = users × copies per user per day; copies/s = copies/day ÷ 86,400; followers per leader =
users × follows per user ÷ leaders; leader trades/s = copies/s ÷ followers per leader; per-instance
throughput = executions in flight ÷ execution latency; instances = copies/s ÷ per-instance throughput;
with headroom h: ceil(instances) × h. Exact fractions throughout, rounded only for display.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction

from polyhunter.errors import InvalidInputError

SECONDS_PER_DAY = 86_400


@dataclass(frozen=True)
class LoadParams:
    users: int = 10_000
    follows_per_user: int = 10
    copies_per_user_day: int = 5_000
    leaders: int = 1_000
    exec_latency_ms: int = 1_000
    workers: int = 20
    headroom: int = 2

    def __post_init__(self) -> None:
        for name in (
            "users",
            "follows_per_user",
            "copies_per_user_day",
            "leaders",
            "exec_latency_ms",
            "workers",
        ):
            if getattr(self, name) <= 0:
                raise InvalidInputError(f"{name} must be positive, got {getattr(self, name)}")
        if self.headroom < 1:
            raise InvalidInputError(f"headroom must be at least 1, got {self.headroom}")


@dataclass(frozen=True)
class LoadModel:
    copies_per_day: Fraction
    copies_per_s: Fraction
    followers_per_leader: Fraction
    leader_trades_per_s: Fraction
    per_instance_per_s: Fraction
    instances: Fraction
    instances_ceil: int
    instances_with_headroom: int
    headroom: int


def model(params: LoadParams, *, per_instance_per_s: Fraction | None = None) -> LoadModel:
    """Evaluates the model; `per_instance_per_s` replaces workers ÷ latency with a measured throughput."""
    copies_per_day = Fraction(params.users * params.copies_per_user_day)
    copies_per_s = copies_per_day / SECONDS_PER_DAY
    followers = Fraction(params.users * params.follows_per_user, params.leaders)
    per_instance = (
        per_instance_per_s
        if per_instance_per_s is not None
        else Fraction(params.workers * 1000, params.exec_latency_ms)
    )
    if per_instance <= 0:
        raise InvalidInputError(f"per-instance throughput must be positive, got {float(per_instance)}")
    instances = copies_per_s / per_instance
    ceil = math.ceil(instances)
    return LoadModel(
        copies_per_day=copies_per_day,
        copies_per_s=copies_per_s,
        followers_per_leader=followers,
        leader_trades_per_s=copies_per_s / followers,
        per_instance_per_s=per_instance,
        instances=instances,
        instances_ceil=ceil,
        instances_with_headroom=ceil * params.headroom,
        headroom=params.headroom,
    )


def fmt(value: Fraction, places: int) -> str:
    """`value` rounded half-up to `places` decimals, with thousands separators."""
    quantum = Decimal(1).scaleb(-places)
    exact = Decimal(value.numerator) / Decimal(value.denominator)
    return f"{exact.quantize(quantum, rounding=ROUND_HALF_UP):,}"
