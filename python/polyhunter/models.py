"""The records the state layer keeps: copy configs, copy jobs, trade records, debts (docs/seams.md shapes).

Amounts are integer base units (6 decimals), prices and multipliers ppm, percentages bps, addresses
lower-case `0x` strings, token ids `int`, timestamps integer milliseconds since the epoch.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, fields
from enum import StrEnum
from typing import Any, Literal

from polyhunter import fastjson
from polyhunter._core import keccak256
from polyhunter.errors import DecodeError

Side = Literal["BUY", "SELL"]
SizingMode = Literal["fixed", "ratio", "percent", "tiered"]
MinSizePolicy = Literal["skip", "bump"]
SIDES: tuple[Side, ...] = ("BUY", "SELL")
SIZING_MODES: tuple[SizingMode, ...] = ("fixed", "ratio", "percent", "tiered")


def now_ms() -> int:
    """Wall-clock milliseconds since the epoch: the one clock of every stored timestamp."""
    return time.time_ns() // 1_000_000


class TradeStatus(StrEnum):
    """A copy trade's status: PENDING → EXECUTED | FAILED | SKIPPED (reason) | CANCELLED."""

    PENDING = "PENDING"
    EXECUTED = "EXECUTED"
    FAILED = "FAILED"
    SKIPPED = "SKIPPED"
    CANCELLED = "CANCELLED"


class SkipReason(StrEnum):
    """Why a copy was SKIPPED: short snake_case codes (docs/seams.md)."""

    QUEUE_FULL = "queue_full"
    NO_PRICE = "no_price"
    SLIPPAGE = "slippage"
    DAILY_CAP = "daily_cap"
    WALLET_DAILY_CAP = "wallet_daily_cap"
    MAX_TRADE = "max_trade"
    NOT_ALLOWLISTED = "not_allowlisted"
    BELOW_MIN_SIZE = "below_min_size"
    FILTERED = "filtered"
    DRY_RUN = "dry_run"
    WORKER_CAP = "worker_cap"  # no fleet worker has room under the Executor's hourly cap
    # What a venue answers that is not a fault (execution.venues.Refusal; docs/seams.md).
    FOK_NOT_FILLED = "fok_not_filled"
    FAK_NOT_FILLED = "fak_not_filled"
    VENUE_FAILED = "venue_failed"
    VENUE_UNAVAILABLE = "venue_unavailable"
    MARKET_CLOSED = "market_closed"


class Step(StrEnum):
    """A journaled step of an execution; its transaction hash is stored before broadcast."""

    PULLED = "PULLED"
    FILLED = "FILLED"
    ORDER_POSTED = "ORDER_POSTED"  # a venue's posted order (the CLOB): its hash, journaled before posting
    PUSHED = "PUSHED"
    RETURNED = "RETURNED"
    REPAID = "REPAID"


class DebtStatus(StrEnum):
    OPEN = "OPEN"
    REPAID = "REPAID"


Tier = tuple[int, int | None, int]
"""(min_leader_usd, max_leader_usd or None, multiplier_ppm)."""


@dataclass(frozen=True, slots=True)
class CopyConfig:
    """A follower's rule for copying one leader; `config_id` 0 means not stored yet."""

    follower: str
    proxy: str
    leader: str
    mode: SizingMode
    fixed_usd: int = 0
    ratio_ppm: int = 0
    percent_bps: int = 0
    tiers: tuple[Tier, ...] = ()
    token_allow: frozenset[int] = frozenset()
    token_deny: frozenset[int] = frozenset()
    side_filter: Side | None = None
    min_leader_usd: int | None = None
    max_leader_usd: int | None = None
    min_price_ppm: int | None = None
    max_price_ppm: int | None = None
    max_per_trade_usd: int | None = None
    min_size_policy: MinSizePolicy = "skip"
    enabled: bool = True
    updated_at: int = 0
    config_id: int = 0

    def to_json(self) -> dict[str, Any]:
        """A JSON-safe dict: token ids as decimal strings (uint256 does not fit a JSON number)."""
        return {
            "config_id": self.config_id,
            "follower": self.follower,
            "proxy": self.proxy,
            "leader": self.leader,
            "mode": self.mode,
            "fixed_usd": self.fixed_usd,
            "ratio_ppm": self.ratio_ppm,
            "percent_bps": self.percent_bps,
            "tiers": [list(t) for t in self.tiers],
            "token_allow": sorted(str(t) for t in self.token_allow),
            "token_deny": sorted(str(t) for t in self.token_deny),
            "side_filter": self.side_filter,
            "min_leader_usd": self.min_leader_usd,
            "max_leader_usd": self.max_leader_usd,
            "min_price_ppm": self.min_price_ppm,
            "max_price_ppm": self.max_price_ppm,
            "max_per_trade_usd": self.max_per_trade_usd,
            "min_size_policy": self.min_size_policy,
            "enabled": self.enabled,
            "updated_at": self.updated_at,
        }


@dataclass(frozen=True, slots=True)
class ConfigChanges:
    """What changed since a time: configs added or updated (incl. paused), and ids removed."""

    changed: list[CopyConfig]
    removed: list[int]
    as_of: int
    """The largest `updated_at` seen (or the `since` asked); pass it as the next `since`."""
    invalid: list[tuple[int, str]] = field(default_factory=list)
    """Rows that are not a config at all (config id, why): reported, never allowed to hide the others."""


def copy_key(dedup_key: bytes, config_id: int) -> bytes:
    """The idempotency key of a copy job: keccak256(dedup_key ‖ be64(config_id)) (docs/seams.md)."""
    return keccak256(dedup_key + config_id.to_bytes(8, "big"))


@dataclass(frozen=True, slots=True)
class CopyJob:
    """A copy intent plus its idempotency key: what is queued, prewritten PENDING and executed."""

    key: bytes
    config_id: int
    follower: str
    proxy: str
    leader: str
    token_id: int
    side: Side
    amount: int
    """Base units: USD to spend for a BUY, tokens to sell for a SELL."""
    limit_price_ppm: int
    tx_hash: bytes
    log_index: int
    sub_index: int = 0
    leader_size: int = 0
    leader_price_ppm: int | None = None
    block_number: int = 0

    def to_bytes(self) -> bytes:
        """The queue payload (compact JSON through orjson, exact for any int; no pickle)."""
        return fastjson.dumps(
            [
                self.key.hex(),
                self.config_id,
                self.follower,
                self.proxy,
                self.leader,
                str(self.token_id),
                self.side,
                self.amount,
                self.limit_price_ppm,
                self.tx_hash.hex(),
                self.log_index,
                self.sub_index,
                self.leader_size,
                self.leader_price_ppm,
                self.block_number,
            ]
        )

    @classmethod
    def from_bytes(cls, payload: bytes) -> CopyJob:
        try:
            v = fastjson.loads(payload)
            return cls(
                key=bytes.fromhex(v[0]),
                config_id=int(v[1]),
                follower=v[2],
                proxy=v[3],
                leader=v[4],
                token_id=int(v[5]),
                side=v[6],
                amount=int(v[7]),
                limit_price_ppm=int(v[8]),
                tx_hash=bytes.fromhex(v[9]),
                log_index=int(v[10]),
                sub_index=int(v[11]),
                leader_size=int(v[12]),
                leader_price_ppm=None if v[13] is None else int(v[13]),
                block_number=int(v[14]),
            )
        except (ValueError, TypeError, IndexError, KeyError) as exc:
            raise DecodeError(f"not a CopyJob payload: {exc}") from None


@dataclass(frozen=True, slots=True)
class JournalEntry:
    """One signed transaction or posted order of an execution, stored before it was broadcast or posted.

    An `ORDER_POSTED` entry has the order's hash as `tx_hash`, `nonce` -1 (no transaction) and as `payload`
    what the venue journaled: for the CLOB venue an envelope (`execution.clobvenue.Envelope`: the block it
    was signed at, each leg's share, then the exact bytes posted). A re-post after a 500, a timeout or a
    crash sends those bytes, never a re-signed order (a new salt or timestamp would be a second order).
    Transactions have an empty payload.
    """

    step: str
    wallet: str
    nonce: int
    tx_hash: bytes
    recorded_at: int
    payload: bytes = b""


@dataclass(frozen=True, slots=True)
class TradeRecord:
    """A copy trade as stored: the job, its status, the execution's outcome and journal."""

    key: bytes
    config_id: int
    follower: str
    proxy: str
    leader: str
    token_id: int
    side: Side
    amount: int
    limit_price_ppm: int
    tx_hash: bytes
    log_index: int
    sub_index: int
    leader_size: int
    leader_price_ppm: int | None
    block_number: int
    status: TradeStatus
    reason: str | None
    reorged: bool
    copy_size: int | None
    copy_price_ppm: int | None
    slippage_bps: int | None
    worker: str | None
    tx_hashes: tuple[bytes, ...]
    created_at: int
    updated_at: int
    expires_at: int
    journal: tuple[JournalEntry, ...] = field(default=())

    def to_job(self) -> CopyJob:
        """The job again, e.g. to queue a PENDING record that was never broadcast."""
        return CopyJob(**{f.name: getattr(self, f.name) for f in fields(CopyJob)})

    def to_json(self) -> dict[str, Any]:
        return {
            "key": "0x" + self.key.hex(),
            "config_id": self.config_id,
            "follower": self.follower,
            "proxy": self.proxy,
            "leader": self.leader,
            "token_id": str(self.token_id),
            "side": self.side,
            "amount": self.amount,
            "limit_price_ppm": self.limit_price_ppm,
            "leader_tx_hash": "0x" + self.tx_hash.hex(),
            "log_index": self.log_index,
            "sub_index": self.sub_index,
            "leader_size": self.leader_size,
            "leader_price_ppm": self.leader_price_ppm,
            "block_number": self.block_number,
            "status": str(self.status),
            "reason": self.reason,
            "reorged": self.reorged,
            "copy_size": self.copy_size,
            "copy_price_ppm": self.copy_price_ppm,
            "slippage_bps": self.slippage_bps,
            "worker": self.worker,
            "tx_hashes": ["0x" + h.hex() for h in self.tx_hashes],
            "journal": [
                {"step": j.step, "wallet": j.wallet, "nonce": j.nonce, "tx_hash": "0x" + j.tx_hash.hex()}
                for j in self.journal
            ],
            "created_at": self.created_at,
            "updated_at": self.updated_at,
            "expires_at": self.expires_at,
        }


@dataclass(frozen=True, slots=True)
class DebtRecord:
    """Collateral a worker fronted for a Proxy (Smart Buffer): OPEN until reimbursed, then REPAID."""

    proxy: str
    worker: str
    amount: int
    trade_key: bytes | None = None
    status: DebtStatus = DebtStatus.OPEN
    debt_id: int = 0
    created_at: int = 0
    repaid_at: int | None = None
    repay_tx: bytes | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "debt_id": self.debt_id,
            "proxy": self.proxy,
            "worker": self.worker,
            "amount": self.amount,
            "trade_key": None if self.trade_key is None else "0x" + self.trade_key.hex(),
            "status": str(self.status),
            "created_at": self.created_at,
            "repaid_at": self.repaid_at,
            "repay_tx": None if self.repay_tx is None else "0x" + self.repay_tx.hex(),
        }


DelayFrom = Literal["first_seen", "block_time"]


@dataclass(frozen=True, slots=True)
class CopyQuality:
    """How close one EXECUTED copy came to its leader's fill (docs/seams.md "Copy quality").

    Prices ppm, sizes outcome-token base units, `fee` collateral base units, `gas_wei` this copy's share of
    its transaction's gas (wei of the chain's native token). `slippage_bps` is signed, positive = worse than
    the leader (`polyhunter.report.quality.slippage_bps`), None when the leader's price is unknown.
    `delay_ms` runs from the leader's fill as `delay_from` says (our first sighting of it, or its block's
    time) to `filled_at`, our outcome; `source` names the source that saw the fill first.
    """

    key: bytes
    follower: str
    leader: str
    token_id: int
    side: Side
    leader_price_ppm: int | None
    leader_size: int
    fill_price_ppm: int
    fill_size: int
    slippage_bps: int | None
    delay_ms: int | None
    delay_from: DelayFrom
    source: str
    gas_wei: int
    fee: int
    filled_at: int

    def to_json(self) -> dict[str, Any]:
        return {
            "key": "0x" + self.key.hex(),
            "follower": self.follower,
            "leader": self.leader,
            "token_id": str(self.token_id),
            "side": self.side,
            "leader_price_ppm": self.leader_price_ppm,
            "leader_size": self.leader_size,
            "fill_price_ppm": self.fill_price_ppm,
            "fill_size": self.fill_size,
            "slippage_bps": self.slippage_bps,
            "delay_ms": self.delay_ms,
            "delay_from": self.delay_from,
            "source": self.source,
            "gas_wei": self.gas_wei,
            "fee": self.fee,
            "filled_at": self.filled_at,
        }
