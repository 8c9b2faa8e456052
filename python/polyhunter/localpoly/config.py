"""Settings of the local CLOB: precision rules, modes, switches for tests, and the market maker's ladder.

Every field has a production-like default; tests flip fields at start or live through the admin endpoint
(`/_local/settings`). Prices and sizes are `Decimal`, never floats.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, fields, replace
from decimal import Decimal
from typing import Any, Literal

from polyhunter.errors import ConfigError

#: The chain ids of Polygon mainnet and Amoy: the local CLOB never settles there.
REFUSED_CHAIN_IDS = frozenset({137, 80002})

_ADDRESS = re.compile(r"0x[0-9a-f]{40}")

TradingMode = Literal["normal", "cancel_only", "disabled", "post_only"]

#: Production's documented per-endpoint limits (requests per 10 s) where they are published; the
#: unlisted endpoints share the general limit.
DEFAULT_RATE_LIMITS: dict[str, int] = {
    "POST /order": 3500,
    "POST /orders": 1000,
    "DELETE /order": 3000,
    "DELETE /orders": 1000,
    "DELETE /cancel-all": 250,
    "DELETE /cancel-market-orders": 1000,
    "GET /book": 1500,
    "POST /books": 500,
    "GET /price": 1500,
    "GET /midpoint": 1500,
    "GET /data/orders": 500,
    "GET /data/trades": 500,
    "GET /balance-allowance": 200,
    "*": 9000,
}


@dataclass
class MarketMakerSettings:
    """The market maker's ladder: `levels` resting GTC orders per side and token, `size` shares each,
    one tick apart around `mid` (per token id, default `default_mid`)."""

    enabled: bool = True
    levels: int = 3
    size: Decimal = Decimal("100")
    default_mid: Decimal = Decimal("0.50")
    mids: dict[int, Decimal] = field(default_factory=dict)
    #: Ticks between the mid and the first level on each side (1 = best bid mid-tick, best ask mid+tick).
    offset_ticks: int = 1


@dataclass
class ClobSettings:
    """What the local CLOB enforces and which production behaviours it plays."""

    # --- precision rules (production has changed them; both shapes are switchable)
    buy_maker_decimals: int = 2  # collateral of a BUY (USDC amount)
    buy_taker_decimals: int = 4  # shares of a BUY
    sell_maker_decimals: int = 2  # shares of a SELL
    sell_taker_decimals: int = 4  # collateral of a SELL
    #: Decimal caps apply to market orders (FOK/FAK) by default; limit orders only when switched on.
    enforce_market_decimals: bool = True
    enforce_limit_decimals: bool = False
    exact_tick_ratio: bool = True
    min_marketable_buy_usd: Decimal = Decimal("1")
    max_batch: int = 15
    max_body_bytes: int = 256 * 1024
    max_clock_skew_s: int = 300
    #: A GTD order leaves the book this long before its stated expiration (production's security threshold).
    gtd_security_s: int = 60
    #: A GTD order must expire at least this long after it is posted (production's docs: 3 minutes).
    gtd_min_lifetime_s: int = 180

    # --- who may trade
    eoa_allowlist: frozenset[str] = frozenset()
    allow_plain_eoa_makers: bool = False

    # --- settlement and lifecycle
    confirmations: int = 1
    settle_retries: int = 2
    #: Settlements that will fail on chain before the next one succeeds (MATCHED -> RETRYING -> FAILED).
    #: (A `matchOrders` pending in the mempool is the node's mode, not ours: anvil's `--block-time` or
    #: `evm_setAutomine false`; the worker waits for the receipt while the node holds the transaction.)
    fail_next_settlements: int = 0
    #: Maker fills per `matchOrders` transaction (0: one transaction per match). Production settles a large
    #: match in several transactions ("buckets", each trade's `bucket_index`); a taker order's fills then
    #: arrive as several `OrderFilled` rows in several blocks, and a follower must wait for all of them.
    settle_bucket_makers: int = 0

    # --- modes and faults
    trading_mode: TradingMode = "normal"
    retry_after_s: int = 5
    restart_until: float = 0.0  # unix time; before it every request answers 425
    timeout_next_posts: int = 0  # the next N POST /order place the order then answer 500 "order timed out"
    #: The next N POST /orders place only their first `timeout_batch_placed` orders (in the order sent),
    #: then answer 500 "order timed out": a batch that dies mid-way, the rest of it never placed.
    timeout_next_batches: int = 0
    timeout_batch_placed: int = 0
    rate_limits: dict[str, int] | None = None  # None = off; DEFAULT_RATE_LIMITS = production's
    rate_window_s: float = 10.0

    market_maker: MarketMakerSettings = field(default_factory=MarketMakerSettings)

    def updated(self, changes: dict[str, Any]) -> ClobSettings:
        """A copy with `changes` applied (names checked, values coerced to the field's type)."""
        known = {f.name: f for f in fields(self)}
        coerced: dict[str, Any] = {}
        for name, value in changes.items():
            if name not in known or name == "market_maker":
                raise ConfigError(f"unknown CLOB setting: {name!r}")
            current = getattr(self, name)
            coerced[name] = _coerce(name, current, value)
        return replace(self, **coerced)


def _addresses(value: Any) -> frozenset[str]:
    """An address list from one address, a comma-separated string of them, or a list; lower-cased."""
    items = value.split(",") if isinstance(value, str) else list(value)
    out: set[str] = set()
    for item in items:
        text = str(item).strip().lower()
        if not text and isinstance(value, str):
            continue  # "a,,b" or a trailing comma
        if not _ADDRESS.fullmatch(text):
            raise ValueError(f"{text!r} is not a 0x-prefixed 20-byte address")
        out.add(text)
    return frozenset(out)


def _coerce(name: str, current: Any, value: Any) -> Any:
    try:
        if isinstance(current, bool):
            if not isinstance(value, bool):
                raise TypeError("expected a boolean")
            return value
        if isinstance(current, int):
            if isinstance(value, bool) or not isinstance(value, int):
                raise TypeError("expected an integer")
            return value
        if isinstance(current, float):
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise TypeError("expected a number")
            return float(value)
        if isinstance(current, Decimal):
            return Decimal(str(value))
        if isinstance(current, frozenset):
            return _addresses(value)
        if name == "trading_mode":
            if value not in ("normal", "cancel_only", "disabled", "post_only"):
                raise ValueError(f"unknown trading mode {value!r}")
            return value
        if name == "rate_limits":
            if value is None:
                return None
            if value == "production":
                return dict(DEFAULT_RATE_LIMITS)
            return {str(k): int(v) for k, v in dict(value).items()}
        return value
    except (TypeError, ValueError, ArithmeticError) as exc:
        raise ConfigError(f"CLOB setting {name}: {exc}") from None
