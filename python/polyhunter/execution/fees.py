"""EIP-1559 fee fields for first sends and replacements (the TxMonitor's bump rule).

A replacement under the same nonce must raise *both* `maxFeePerGas` and `maxPriorityFeePerGas` by at least
10 %: that is geth's txpool rule (`legacypool`, `PriceBump = 10`), which Polygon's bor inherits. anvil accepts
smaller bumps, so the rule is enforced here and unit-tested against `geth_accepts_replacement`.
"""

from __future__ import annotations

from dataclasses import dataclass

GETH_PRICE_BUMP_PCT = 10
PPM = 1_000_000


@dataclass(frozen=True, slots=True)
class Fees:
    """The two EIP-1559 fee fields of one transaction, in wei."""

    max_fee: int
    tip: int

    def at_least(self, floor: Fees | None) -> Fees:
        """Each field raised to `floor`'s where that is higher."""
        if floor is None:
            return self
        return Fees(max(self.max_fee, floor.max_fee), max(self.tip, floor.tip))


def geth_accepts_replacement(old: Fees, new: Fees, price_bump_pct: int = GETH_PRICE_BUMP_PCT) -> bool:
    """geth's rule for replacing a pooled transaction, field for field (core/txpool/legacypool/list.go)."""
    if old.max_fee >= new.max_fee or old.tip >= new.tip:
        return False
    threshold_fee = (100 + price_bump_pct) * old.max_fee // 100
    threshold_tip = (100 + price_bump_pct) * old.tip // 100
    return new.max_fee >= threshold_fee and new.tip >= threshold_tip


def _raised(value: int, factor_ppm: int) -> int:
    # At least +10 % rounded up, and at least +1 wei, so that tiny fees still strictly increase.
    by_factor = -(-value * factor_ppm // PPM)
    by_rule = -(-value * (100 + GETH_PRICE_BUMP_PCT) // 100)
    return max(by_factor, by_rule, value + 1)


def bump_fees(old: Fees, factor_ppm: int = 1_200_000, cap: int | None = None) -> Fees | None:
    """The replacement's fees: both fields × `factor_ppm` (never less than geth's +10 %), `max_fee` never
    above `cap`; None when the cap leaves no room for a bump geth would accept."""
    if factor_ppm < PPM:
        raise ValueError(f"a fee bump factor must be at least 1x, got {factor_ppm} ppm")
    tip = _raised(old.tip, factor_ppm)
    max_fee = _raised(old.max_fee, factor_ppm)
    if cap is not None:
        max_fee = min(max_fee, cap)
    # The tip is part of the max fee; a tip above it is refused by every node.
    tip = min(tip, max_fee)
    new = Fees(max_fee, tip)
    return new if geth_accepts_replacement(old, new) else None
