"""The store of record's interface (docs/seams.md) and what its back ends share.

Hot-path writes (`insert_pending`, `record_tx`, `record_order`, `mark`) are group-committed: the await returns
only after the transaction holding the write has committed, so a caller may act on chain right after.
Everything else is a plain transaction. Timestamps are integer ms since the epoch
(`polyhunter.models.now_ms`).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Protocol

from polyhunter import fastjson
from polyhunter.errors import ConfigError, InvalidInputError, StoreError
from polyhunter.models import (
    ConfigChanges,
    CopyConfig,
    CopyJob,
    CopyQuality,
    DebtRecord,
    DebtStatus,
    JournalEntry,
    Step,
    TradeRecord,
    TradeStatus,
    now_ms,
)
from polyhunter.store.group_commit import GroupCommitter

FINAL_STATUSES = frozenset(
    {TradeStatus.EXECUTED, TradeStatus.FAILED, TradeStatus.SKIPPED, TradeStatus.CANCELLED}
)


@dataclass(frozen=True, slots=True)
class InsertPending:
    jobs: Sequence[CopyJob]
    expires_at: int
    skipped: dict[bytes, str] | None = None
    """Keys inserted straight as SKIPPED, with their reasons (a refused copy is never PENDING)."""
    intake: str = ""
    """The intake attempt inserting these rows (stored with them): when the batch is retried after a COMMIT
    whose reply was lost, rows already stored under the same token are reported inserted, not replays."""
    claimer: str | None = None
    """When set, the PENDING rows are inserted claimed by this worker (one attempt counted): the instance
    that will run them from its own queue needs no second write to claim them (docs/seams.md)."""
    rows: Sequence[tuple[Any, ...]] | None = None
    """The jobs' rows already made, in `INSERT_COLUMNS` order and the order of `jobs` (`Intents.rows`)."""


@dataclass(frozen=True, slots=True)
class RecordTx:
    key: bytes
    step: str
    wallet: str
    nonce: int
    tx_hash: bytes
    claimer: str | None = None
    """When set: journal only if the record is PENDING and unclaimed or `claimer`'s (the claim is refreshed in
    the same transaction), so that a job claimed away from a slow worker is never sent by both."""
    payload: bytes = b""
    """The exact bytes of a posted order (`ORDER_POSTED`); empty for a transaction."""


@dataclass(frozen=True, slots=True)
class Mark:
    key: bytes
    status: TradeStatus
    reason: str | None
    txs: tuple[bytes, ...]
    expect: frozenset[TradeStatus]
    copy_size: int | None
    copy_price_ppm: int | None
    slippage_bps: int | None
    worker: str | None
    quality: CopyQuality | None = None
    """Stored (`copy_quality`) in the same transaction when, and only when, the mark moves."""


@dataclass(frozen=True, slots=True)
class MarkMany:
    """Several marks in one operation (a batch of executions, or a queue's refusals): one future, one
    statement per kind in the transaction; results in order."""

    marks: tuple[Mark, ...]


@dataclass(frozen=True, slots=True)
class Claim:
    keys: tuple[bytes, ...]
    claimer: str
    claimed_at: int
    stale_before: int
    max_attempts: int | None = None
    """A job already claimed this many times is dead-lettered instead of claimed again (None: no limit)."""


@dataclass(frozen=True, slots=True)
class ClaimOutcome:
    runnable: set[bytes]
    """Claimed now: this worker may run them."""
    dead: set[bytes]
    """Dead-lettered now: claimed `max_attempts` times already (a poison job); never queued again."""


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """A job dead-lettered in the store of record, with its record as it is now."""

    key: bytes
    attempts: int
    reason: str
    dead_at: int
    record: TradeRecord


Op = InsertPending | RecordTx | Mark | MarkMany | Claim
MarkIndex = int | tuple[int, int]
"""Where a mark's result goes: an op's index, or (op index, position) inside a `MarkMany`."""


class Row(Protocol):
    """A result row of either driver (sqlite3 tuple, asyncpg Record): indexable by column position."""

    def __getitem__(self, index: int, /) -> Any: ...


TRADE_COLUMNS = (
    "key, config_id, follower, proxy, leader, token_id, side, amount, limit_price_ppm, tx_hash, log_index, "
    "sub_index, leader_size, leader_price_ppm, block_number, status, reason, reorged, copy_size, "
    "copy_price_ppm, slippage_bps, worker, tx_hashes, created_at, updated_at, expires_at"
)
CONFIG_COLUMNS = (
    "config_id, follower, proxy, leader, mode, fixed_usd, ratio_ppm, percent_bps, tiers, token_allow, "
    "token_deny, side_filter, min_leader_usd, max_leader_usd, min_price_ppm, max_price_ppm, "
    "max_per_trade_usd, min_size_policy, enabled, updated_at"
)
DEAD_LETTER_REASON = "delivery_limit"
DROPPED_REASON = "dead_letter_dropped"
NOT_DEAD = "NOT EXISTS (SELECT 1 FROM dead_letters d WHERE d.key = t.key)"
"""SQL: the record aliased `t` is not dead-lettered."""
NOT_JOURNALED = "NOT EXISTS (SELECT 1 FROM trade_journal j WHERE j.key = t.key)"
# `{}` is the dialect's placeholder for the `created_at` bound.
DAILY_NOTIONAL_SQL = (
    "SELECT follower, SUM(CASE WHEN side = 'BUY' THEN amount ELSE amount * limit_price_ppm / 1000000 END) "
    "FROM copy_trades WHERE created_at >= {} AND (status IN ('PENDING', 'EXECUTED') "
    # A failure whose outcome on chain is unknown keeps its reservation (recovery may find it executed).
    "OR (status = 'FAILED' AND reason LIKE 'unconfirmed%')) GROUP BY follower"
)
DEBT_COLUMNS = "debt_id, proxy, worker, amount, trade_key, status, created_at, repaid_at, repay_tx"
QUALITY_COLUMNS = (
    "key, follower, leader, token_id, side, leader_price_ppm, leader_size, fill_price_ppm, fill_size, "
    "slippage_bps, delay_ms, delay_from, source, gas_wei, fee, filled_at"
)


def quality_row(q: CopyQuality) -> tuple[Any, ...]:
    """A `CopyQuality` in `QUALITY_COLUMNS` order (addresses lower-case, the token id decimal text)."""
    return (
        q.key,
        q.follower.lower(),
        q.leader.lower(),
        str(q.token_id),
        q.side,
        q.leader_price_ppm,
        q.leader_size,
        q.fill_price_ppm,
        q.fill_size,
        q.slippage_bps,
        q.delay_ms,
        q.delay_from,
        q.source,
        q.gas_wei,
        q.fee,
        q.filled_at,
    )


def quality_from_row(row: Row) -> CopyQuality:
    return CopyQuality(
        key=bytes(row[0]),
        follower=row[1],
        leader=row[2],
        token_id=int(row[3]),
        side=row[4],
        leader_price_ppm=_opt(row[5]),
        leader_size=int(row[6]),
        fill_price_ppm=int(row[7]),
        fill_size=int(row[8]),
        slippage_bps=_opt(row[9]),
        delay_ms=_opt(row[10]),
        delay_from=row[11],
        source=row[12],
        gas_wei=int(row[13]),
        fee=int(row[14]),
        filled_at=int(row[15]),
    )


def period_filters(
    since_ms: int, until_ms: int, follower: str | None, leader: str | None, column: str
) -> tuple[list[str], list[Any]]:
    """WHERE clauses (with `{}` for the dialect's placeholder) and parameters for a period query."""
    clauses = [f"{column} >= {{}}", f"{column} < {{}}"]
    params: list[Any] = [since_ms, until_ms]
    if follower is not None:
        clauses.append("follower = {}")
        params.append(follower.lower())
    if leader is not None:
        clauses.append("leader = {}")
        params.append(leader.lower())
    return clauses, params


def tx_bytes(tx_hash: bytes | str) -> bytes:
    """A tx hash as 32 bytes, from bytes or `0x` hex."""
    try:
        raw = bytes.fromhex(tx_hash.removeprefix("0x")) if isinstance(tx_hash, str) else bytes(tx_hash)
    except (ValueError, TypeError) as exc:
        raise InvalidInputError(f"a tx hash is 32 bytes of hex: {exc}") from None
    if len(raw) != 32:
        raise InvalidInputError(f"a tx hash is 32 bytes, got {len(raw)}")
    return raw


def job_row(
    job: CopyJob,
    now: int,
    expires_at: int,
    status: TradeStatus = TradeStatus.PENDING,
    reason: str | None = None,
) -> tuple[Any, ...]:
    """The insert row of a new trade (PENDING, or SKIPPED with its reason), in `NEW_TRADE_COLUMNS` order."""
    return (
        job.key,
        job.config_id,
        job.follower,
        job.proxy,
        job.leader,
        str(job.token_id),
        job.side,
        job.amount,
        job.limit_price_ppm,
        job.tx_hash,
        job.log_index,
        job.sub_index,
        job.leader_size,
        job.leader_price_ppm,
        job.block_number,
        status.value,
        reason,
        now,
        now,
        expires_at,
    )


PENDING_ONLY = frozenset({TradeStatus.PENDING})


def mark_op(
    key: bytes,
    status: TradeStatus,
    reason: str | None = None,
    txs: Sequence[bytes | str] = (),
    *,
    expect: Iterable[TradeStatus] = PENDING_ONLY,
    copy_size: int | None = None,
    copy_price_ppm: int | None = None,
    slippage_bps: int | None = None,
    worker: str | None = None,
    quality: CopyQuality | None = None,
) -> Mark:
    """One `Store.mark` as an operation (for `Store.mark_many`); arguments as `mark`'s."""
    return Mark(
        key,
        TradeStatus(status),
        reason,
        tuple(tx_bytes(t) for t in txs) if txs else (),
        expect if isinstance(expect, frozenset) else frozenset(TradeStatus(s) for s in expect),
        copy_size,
        copy_price_ppm,
        slippage_bps,
        None if worker is None else worker.lower(),
        quality,
    )


def moved_quality(
    marks: Sequence[tuple[MarkIndex, Mark]], outcome: dict[MarkIndex, bool]
) -> list[tuple[Any, ...]]:
    """The `copy_quality` rows of the marks that moved (`QUALITY_COLUMNS` order)."""
    return [quality_row(m.quality) for where, m in marks if m.quality is not None and outcome.get(where)]


def trade_from_row(row: Row, journal: Iterable[JournalEntry] = ()) -> TradeRecord:
    hashes = tuple(bytes.fromhex(h) for h in str(row[22]).split(",") if h)
    return TradeRecord(
        key=bytes(row[0]),
        config_id=int(row[1]),
        follower=row[2],
        proxy=row[3],
        leader=row[4],
        token_id=int(row[5]),
        side=row[6],
        amount=int(row[7]),
        limit_price_ppm=int(row[8]),
        tx_hash=bytes(row[9]),
        log_index=int(row[10]),
        sub_index=int(row[11]),
        leader_size=int(row[12]),
        leader_price_ppm=None if row[13] is None else int(row[13]),
        block_number=int(row[14]),
        status=TradeStatus(row[15]),
        reason=row[16],
        reorged=bool(row[17]),
        copy_size=None if row[18] is None else int(row[18]),
        copy_price_ppm=None if row[19] is None else int(row[19]),
        slippage_bps=None if row[20] is None else int(row[20]),
        worker=row[21],
        tx_hashes=hashes,
        created_at=int(row[23]),
        updated_at=int(row[24]),
        expires_at=int(row[25]),
        journal=tuple(journal),
    )


JOURNAL_COLUMNS = "step, wallet, nonce, tx_hash, recorded_at, payload"


def journal_from_row(row: Row) -> JournalEntry:
    """A row of `JOURNAL_COLUMNS`."""
    return JournalEntry(
        step=row[0],
        wallet=row[1],
        nonce=int(row[2]),
        tx_hash=bytes(row[3]),
        recorded_at=int(row[4]),
        payload=bytes(row[5]),
    )


def journaled_orders(journal: Sequence[tuple[int, RecordTx]], results: Sequence[Any]) -> list[RecordTx]:
    """The batch's posted orders that were journaled (not refused by their claim), to check after insert."""
    return [op for index, op in journal if op.payload and results[index]]


def check_payloads(orders: Sequence[RecordTx], stored: dict[tuple[bytes, bytes], bytes]) -> None:
    """Refuse an order journaled again under its hash with other bytes (`stored`: (key, hash) → the bytes
    read back after the insert): only the first bytes may ever be posted, so a second body is a bug upstream
    (a re-signed order is a second order) and fails its write, its batch retried without it."""
    for op in orders:
        if stored.get((op.key, op.tx_hash)) != op.payload:
            raise StoreError(
                f"order 0x{op.tx_hash.hex()} of job {op.key.hex()} is already journaled with other bytes: "
                "only the journaled bytes may be posted"
            )


def config_values(cfg: CopyConfig) -> tuple[Any, ...]:
    """`CONFIG_COLUMNS` without config_id and updated_at."""
    return (
        cfg.follower,
        cfg.proxy,
        cfg.leader,
        cfg.mode,
        cfg.fixed_usd,
        cfg.ratio_ppm,
        cfg.percent_bps,
        fastjson.dumps([list(t) for t in cfg.tiers]).decode(),
        fastjson.dumps(sorted(str(t) for t in cfg.token_allow)).decode(),
        fastjson.dumps(sorted(str(t) for t in cfg.token_deny)).decode(),
        cfg.side_filter,
        cfg.min_leader_usd,
        cfg.max_leader_usd,
        cfg.min_price_ppm,
        cfg.max_price_ppm,
        cfg.max_per_trade_usd,
        cfg.min_size_policy,
        int(cfg.enabled),
    )


def _opt(value: Any) -> int | None:
    return None if value is None else int(value)


def config_from_row(row: Row) -> CopyConfig:
    return CopyConfig(
        config_id=int(row[0]),
        follower=row[1],
        proxy=row[2],
        leader=row[3],
        mode=row[4],
        fixed_usd=int(row[5]),
        ratio_ppm=int(row[6]),
        percent_bps=int(row[7]),
        tiers=tuple((int(a), _opt(b), int(m)) for a, b, m in fastjson.loads(row[8])),
        token_allow=frozenset(int(t) for t in fastjson.loads(row[9])),
        token_deny=frozenset(int(t) for t in fastjson.loads(row[10])),
        side_filter=row[11],
        min_leader_usd=_opt(row[12]),
        max_leader_usd=_opt(row[13]),
        min_price_ppm=_opt(row[14]),
        max_price_ppm=_opt(row[15]),
        max_per_trade_usd=_opt(row[16]),
        min_size_policy=row[17],
        enabled=bool(row[18]),
        updated_at=int(row[19]),
    )


def changes_from_rows(rows: Sequence[Row], since: int) -> ConfigChanges:
    """`configs_changed_since` from rows of `CONFIG_COLUMNS, removed_at`: a row that does not parse (written
    around the constraints, or by an older version) goes to `invalid` instead of failing every other one."""
    changed: list[CopyConfig] = []
    removed: list[int] = []
    invalid: list[tuple[int, str]] = []
    for row in rows:
        if row[20] is not None:
            removed.append(int(row[0]))
            continue
        try:
            changed.append(config_from_row(row))
        except (ValueError, TypeError, KeyError) as exc:
            invalid.append((int(row[0]), f"{type(exc).__name__}: {exc}"))
    as_of = max([since, *(int(r[19]) for r in rows)])
    return ConfigChanges(changed=changed, removed=removed, as_of=as_of, invalid=invalid)


def config_refused(exc: Exception, config: CopyConfig | None = None) -> InvalidInputError:
    """The typed error for a config row the store's rules (migration 5) refuse."""
    text = str(exc)
    if "copy_configs_pair" in text or "UNIQUE" in text.upper():
        who = f"follower {config.follower} already has" if config is not None else "there is already"
        leader = f" leader {config.leader}" if config is not None else " this leader"
        return InvalidInputError(
            f"{who} a copy rule for{leader}: one rule per pair (`polyhunter follow edit` changes it)"
        )
    return InvalidInputError(f"the store refuses this copy config (copy_configs_valid): {text}")


def debt_from_row(row: Row) -> DebtRecord:
    return DebtRecord(
        debt_id=int(row[0]),
        proxy=row[1],
        worker=row[2],
        amount=int(row[3]),
        trade_key=None if row[4] is None else bytes(row[4]),
        status=DebtStatus(row[5]),
        created_at=int(row[6]),
        repaid_at=_opt(row[7]),
        repay_tx=None if row[8] is None else bytes(row[8]),
    )


def plan_marks(
    marks: Sequence[tuple[MarkIndex, Mark]], current: dict[bytes, str], now: int
) -> tuple[dict[MarkIndex, bool], list[tuple[Any, ...]]]:
    """Which marks apply, in order, given each key's status now; returns results by index and UPDATE rows.

    An UPDATE row is (status, reason, tx_hashes or None, copy_size, copy_price_ppm, slippage_bps, worker,
    updated_at, key); None fields keep the stored value.
    """
    results: dict[MarkIndex, bool] = {}
    updates: list[tuple[Any, ...]] = []
    for index, mark in marks:
        status = current.get(mark.key)
        if status is None or status not in mark.expect:
            results[index] = False
            continue
        current[mark.key] = mark.status.value
        results[index] = True
        txs = ",".join(h.hex() for h in mark.txs) if mark.txs else None
        updates.append(
            (
                mark.status.value,
                mark.reason,
                txs,
                mark.copy_size,
                mark.copy_price_ppm,
                mark.slippage_bps,
                mark.worker,
                now,
                mark.key,
            )
        )
    return results, updates


DEFERRED = "deferred"
FULL_SYNC = "full"
INTAKE_SYNCS = (DEFERRED, FULL_SYNC)
"""`POLYHUNTER_INTAKE_SYNC`: how a transaction holding only new rows (PENDING prewrites, SKIPPED refusals) is
made durable (docs/seams.md "Running a job exactly once"). `deferred`: written through to the operating system
at commit (it survives any crash of the process) and flushed to disk by the next commit that journals,
marks, claims or checkpoints, which every step that moves money or passes a log is. `full`: flushed at its
own commit."""


def deferrable(ops: Sequence[Op]) -> bool:
    """True when a batch only inserts rows: nothing in it is irrevocable until a later, flushed commit."""
    return all(isinstance(op, InsertPending) for op in ops)


def split_ops(
    ops: Sequence[Op],
) -> tuple[
    list[tuple[int, InsertPending]],
    list[tuple[int, RecordTx]],
    list[tuple[MarkIndex, Mark]],
    list[tuple[int, Claim]],
]:
    """The batch's operations by kind; a back end applies inserts, journal, marks, then claims (so that a
    claim sees the marks and journal entries of its own batch). A `MarkMany`'s marks are listed one by one,
    in order, indexed (op index, position)."""
    inserts: list[tuple[int, InsertPending]] = []
    journal: list[tuple[int, RecordTx]] = []
    marks: list[tuple[MarkIndex, Mark]] = []
    claims: list[tuple[int, Claim]] = []
    for i, op in enumerate(ops):
        if isinstance(op, InsertPending):
            inserts.append((i, op))
        elif isinstance(op, RecordTx):
            journal.append((i, op))
        elif isinstance(op, Mark):
            marks.append((i, op))
        elif isinstance(op, MarkMany):
            marks.extend(((i, j), m) for j, m in enumerate(op.marks))
        else:
            claims.append((i, op))
    return inserts, journal, marks, claims


def place_marks(results: list[Any], ops: Sequence[Op], outcome: dict[MarkIndex, bool]) -> None:
    """Writes `plan_marks`'s outcome into the batch's results (a `MarkMany` gets a list of booleans)."""
    for index, op in enumerate(ops):
        if isinstance(op, MarkMany):
            results[index] = [False] * len(op.marks)
    for where, moved in outcome.items():
        if isinstance(where, tuple):
            results[where[0]][where[1]] = moved
        else:
            results[where] = moved


def new_rows(
    inserts: Sequence[tuple[int, InsertPending]], existing: set[bytes], now: int, with_intake: bool = True
) -> list[tuple[Any, ...]]:
    """The rows to insert: jobs whose key is neither stored nor earlier in the batch (first one wins); in
    `NEW_TRADE_COLUMNS` order, then the intake token when `with_intake` and the claim (`INSERT_COLUMNS`)."""
    rows: list[tuple[Any, ...]] = []
    seen = set(existing)
    for _, op in inserts:
        if op.rows is not None and with_intake:
            for row in op.rows:
                if row[0] not in seen:
                    seen.add(row[0])
                    rows.append(row)
            continue
        for job in op.jobs:
            if job.key not in seen:
                seen.add(job.key)
                reason = op.skipped.get(job.key) if op.skipped else None
                status = TradeStatus.PENDING if reason is None else TradeStatus.SKIPPED
                row = job_row(job, now, op.expires_at, status, reason)
                if reason is None and op.claimer is not None:
                    claim: tuple[Any, ...] = (op.claimer, now, 1)
                else:
                    claim = _UNCLAIMED
                rows.append((*row, op.intake or None, *claim) if with_intake else (*row, *claim[:2]))
    return rows


_UNCLAIMED = (None, None, 0)
NEW_TRADE_COLUMNS = (
    "key, config_id, follower, proxy, leader, token_id, side, amount, limit_price_ppm, tx_hash, log_index, "
    "sub_index, leader_size, leader_price_ppm, block_number, status, reason, created_at, updated_at, "
    "expires_at"
)
"""`TRADE_COLUMNS` but those a new trade holds at their defaults (`reorged` 0, no fill, no worker, no
transaction hashes): a value bound per row and column is what an insert of many rows spends most on."""
INSERT_COLUMNS = NEW_TRADE_COLUMNS + ", intake, claimed_by, claimed_at, attempts"
"""`NEW_TRADE_COLUMNS`, the intake token and the claim a row is inserted with (`new_rows`)."""
INSERT_COLUMNS_V3 = NEW_TRADE_COLUMNS + ", claimed_by, claimed_at"


def own_retries(inserts: Sequence[tuple[int, InsertPending]], inserted: set[bytes]) -> dict[str, list[bytes]]:
    """Intake token → PENDING-insert keys not inserted now: a retried batch whose first COMMIT did land
    finds them stored under its own token (the caller looks), which makes them its own, not replays."""
    out: dict[str, list[bytes]] = {}
    for _, op in inserts:
        if op.intake and not op.skipped:
            missing = [j.key for j in op.jobs if j.key not in inserted]
            if missing:
                out.setdefault(op.intake, []).extend(missing)
    return out


def revivable(
    inserts: Sequence[tuple[int, InsertPending]], inserted: set[bytes]
) -> list[tuple[str | None, list[bytes], int]]:
    """PENDING-insert keys that were not inserted (they exist), by claimer, with the latest expiry asked: a
    row that a reorg CANCELLED comes back to PENDING when its log is mined again (same tx, log index, sub
    index), claimed as the insert would have claimed it."""
    groups: dict[str | None, tuple[list[bytes], list[int]]] = {}
    for _, op in inserts:
        if op.skipped:
            continue
        keys = [j.key for j in op.jobs if j.key not in inserted]
        if keys:
            group = groups.setdefault(op.claimer, ([], []))
            group[0].extend(keys)
            group[1].append(op.expires_at)
    return [(claimer, keys, max(expiries)) for claimer, (keys, expiries) in groups.items()]


UNSETTLED_UNLOGGED = (
    "SELECT key FROM copy_trades t WHERE log_index = -1 AND created_at >= {0} AND created_at < {1} "
    "AND NOT EXISTS (SELECT 1 FROM copy_flags f WHERE f.key = t.key "
    "AND f.flag IN ('unconfirmed_source', 'source_confirmed')) ORDER BY created_at, key LIMIT {2}"
)
"""Placeholders: since, until, limit (`Store.unsettled_unlogged`)."""

REVIVE_WHERE = "status = 'CANCELLED' AND reason IN ('reorged', 'unconfirmed_source')"
"""Copies that come back when inserted again (a replay): cancelled by a reorg whose log is mined again, or
because their fill's log came after the confirmation window (their `copy_flags` rows are kept)."""
REVIVE_SET = (
    "status = 'PENDING', reason = NULL, reorged = 0, claimed_by = {2}, claimed_at = {3}, "
    "attempts = attempts + {4}, updated_at = {0}, expires_at = {1}"
)
"""Placeholders: updated_at, expires_at, claimed_by, claimed_at (both NULL for no claim), attempts added."""


def insert_results(
    inserts: Sequence[tuple[int, InsertPending]], inserted: set[bytes]
) -> dict[int, set[bytes]]:
    """Each insert op's keys that this batch actually inserted (a key inserted once is credited once)."""
    results: dict[int, set[bytes]] = {}
    credited: set[bytes] = set()
    for index, op in inserts:
        mine = set()
        for job in op.jobs:
            if job.key in inserted and job.key not in credited:
                credited.add(job.key)
                mine.add(job.key)
        results[index] = mine
    return results


def check_dead_letter(key: bytes, record: TradeRecord | None, dead: bool, action: str) -> None:
    """Refuse `retry`/`drop` of `key` unless it is a dead letter the action applies to (see `Store`)."""
    name = f"job {key.hex()}"
    if record is None or not dead:
        raise InvalidInputError(f"{name} is not in the dead-letter list")
    if record.journal and record.status is TradeStatus.PENDING:
        raise InvalidInputError(
            f"{name} has {len(record.journal)} journaled transaction(s): recovery settles it from the chain"
        )
    if action == "retry" and record.status is not TradeStatus.PENDING:
        raise InvalidInputError(f"{name} is {record.status.value}: nothing to retry (drop it from the list)")


class Store(ABC):
    """The store of record: copy configs, copy trades and their journal, debts, checkpoints, daily usage."""

    backend: str = ""
    commits_in_caller = False
    """Whether an idle store's lone write is committed in its caller's task (`GroupCommitter(in_caller=)`):
    for a back end whose `_apply_batch` a cancelled caller cannot cut short once it started."""

    def __init__(
        self, group_commit_ms: float = 2.0, max_batch: int = 5000, *, intake_sync: str = DEFERRED
    ) -> None:
        if intake_sync not in INTAKE_SYNCS:
            raise ConfigError(f"intake sync must be one of {', '.join(INTAKE_SYNCS)}, not {intake_sync!r}")
        self._committer = GroupCommitter(
            self._apply_batch, group_commit_ms / 1000, max_batch, in_caller=self.commits_in_caller
        )
        self.intake_sync = intake_sync
        self._intake_column = True
        """False on a schema older than v4 (only a test builds one): inserts then carry no intake token."""

    # Life cycle.
    async def open(self) -> None:
        """Connect, apply the missing migrations, start the group committer."""
        await self._connect()
        try:
            await self.migrate()
            self._intake_column = await self.schema_version() >= 4
        except StoreError:
            raise
        except Exception as exc:
            raise StoreError(f"schema migration failed: {type(exc).__name__}: {exc}") from exc
        self._committer.start()

    async def close(self) -> None:
        """Commit what was submitted, then disconnect. Idempotent."""
        await self._committer.close()
        await self._disconnect()

    async def __aenter__(self) -> Store:
        await self.open()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    @property
    def commit_count(self) -> int:
        """Transactions the group committer has committed (for tests and metrics)."""
        return self._committer.batches

    # Hot path, group-committed.
    async def insert_pending(
        self,
        jobs: Sequence[CopyJob],
        expires_at: int,
        intake: str = "",
        *,
        claimer: str | None = None,
        rows: Sequence[tuple[Any, ...]] | None = None,
    ) -> set[bytes]:
        """Prewrite PENDING records; returns the keys actually inserted (a key already stored is not).

        `intake` (unique per call) is stored with the rows: a key already stored under the same token was
        inserted by this call's own earlier attempt (a COMMIT whose reply was lost, retried) and counts as
        inserted; `inserted_by` finds them after a call that raised. With `claimer`, every key returned is
        claimed by it (as `claim` would, one attempt counted) in the same transaction. `rows`, when given,
        are the jobs' rows already made (`Intents.rows` with the same intake, expiry and claimer)."""
        if not jobs:
            return set()
        op = InsertPending(tuple(jobs), expires_at, None, intake, claimer, rows)
        result: set[bytes] = await self._committer.submit(op)
        return result

    async def insert_skipped(self, refused: Sequence[tuple[CopyJob, str]]) -> set[bytes]:
        """Record refused copies straight as SKIPPED(reason); returns the keys actually inserted."""
        if not refused:
            return set()
        result: set[bytes] = await self._committer.submit(
            InsertPending(tuple(j for j, _ in refused), now_ms(), {j.key: r for j, r in refused})
        )
        return result

    async def record_tx(
        self,
        key: bytes,
        step: str,
        wallet: str,
        nonce: int,
        tx_hash: bytes | str,
        *,
        claimer: str | None = None,
    ) -> bool:
        """Journal a signed transaction of job `key`; durable when this returns, so broadcast after it.

        With `claimer` (a worker's first transaction of a job) it journals only while the record is PENDING
        and unclaimed or `claimer`'s, atomically with that check; False means nothing was journaled and
        nothing may be sent."""
        op = RecordTx(key, str(step), wallet.lower(), nonce, tx_bytes(tx_hash), claimer)
        result: bool = await self._committer.submit(op)
        return result

    async def record_order(
        self, key: bytes, wallet: str, order_hash: bytes, body: bytes, *, claimer: str | None = None
    ) -> bool:
        """Journal a signed order of job `key` as `Step.ORDER_POSTED` (its hash, nonce -1, the exact bytes to
        post); durable when this returns, so post after it. `claimer` and the result are `record_tx`'s.

        Journaling the same hash again is one entry; with other bytes it is a `StoreError`, nothing stored.
        """
        if not isinstance(body, bytes | bytearray | memoryview) or not body:
            raise InvalidInputError("an order's journaled body is its non-empty signed bytes")
        op = RecordTx(
            key, Step.ORDER_POSTED.value, wallet.lower(), -1, tx_bytes(order_hash), claimer, bytes(body)
        )
        result: bool = await self._committer.submit(op)
        return result

    async def mark(
        self,
        key: bytes,
        status: TradeStatus,
        reason: str | None = None,
        txs: Sequence[bytes | str] = (),
        *,
        expect: Iterable[TradeStatus] = (TradeStatus.PENDING,),
        copy_size: int | None = None,
        copy_price_ppm: int | None = None,
        slippage_bps: int | None = None,
        worker: str | None = None,
        quality: CopyQuality | None = None,
    ) -> bool:
        """Move `key` to `status` if its status is one of `expect` (default: PENDING); True if it moved.

        `txs` (the final tx hashes) and the outcome fields replace the stored ones when given; `quality` is
        stored with the move, in the same transaction (nothing when the record does not move).
        """
        op = mark_op(
            key,
            status,
            reason,
            txs,
            expect=expect,
            copy_size=copy_size,
            copy_price_ppm=copy_price_ppm,
            slippage_bps=slippage_bps,
            worker=worker,
            quality=quality,
        )
        result: bool = await self._committer.submit(op)
        return result

    async def mark_many(self, marks: Sequence[Mark]) -> list[bool]:
        """Several `mark`s (built with `mark_op`) in one group-committed operation, applied in order;
        returns whether each moved."""
        if not marks:
            return []
        result: list[bool] = await self._committer.submit(MarkMany(tuple(marks)))
        return result

    async def claim(self, keys: Sequence[bytes], claimer: str, stale_ms: int) -> set[bytes]:
        """Claims for `claimer` those of `keys` that may run now; returns them. Group-committed.

        A key is claimed when its record is PENDING, nothing is journaled for it, it is not dead-lettered,
        and it is unclaimed, already `claimer`'s, or claimed `stale_ms` or more ago (its claimer died
        before sending anything). Two workers never both claim one key within `stale_ms`, whichever instance
        they run in. Each claim counts one attempt of the job.
        """
        return (await self.claim_jobs(keys, claimer, stale_ms)).runnable

    async def claim_jobs(
        self, keys: Sequence[bytes], claimer: str, stale_ms: int, max_attempts: int | None = None
    ) -> ClaimOutcome:
        """`claim`, and a claimable job already claimed `max_attempts` times is dead-lettered instead (in
        the same transaction): it stays PENDING, holding its guardrail reservation, but no scan queues it
        and no claim takes it until `retry_dead_letter`."""
        if not keys:
            return ClaimOutcome(set(), set())
        now = now_ms()
        result: ClaimOutcome = await self._committer.submit(
            Claim(tuple(keys), claimer, now, now - stale_ms, max_attempts)
        )
        return result

    # Back-end parts.
    @abstractmethod
    async def _connect(self) -> None: ...

    @abstractmethod
    async def _disconnect(self) -> None: ...

    @abstractmethod
    async def migrate(self) -> list[int]:
        """Apply the missing migrations; returns the versions applied now (empty when up to date)."""

    @abstractmethod
    async def schema_version(self) -> int: ...

    @abstractmethod
    async def _apply_batch(self, ops: Sequence[Op]) -> list[Any]: ...

    # Trades.
    @abstractmethod
    async def get_trade(self, key: bytes) -> TradeRecord | None:
        """The record with its journal, or None."""

    @abstractmethod
    async def list_trades(
        self, status: TradeStatus | None = None, follower: str | None = None, limit: int = 100
    ) -> list[TradeRecord]:
        """Newest first (without journal)."""

    @abstractmethod
    async def daily_notional(self, since_ms: int) -> dict[str, int]:
        """Follower → collateral notional (base units) of copies created since `since_ms` that hold
        their guardrail reservation (PENDING, EXECUTED, or FAILED `unconfirmed…`): BUY amounts, SELL tokens
        × limit price, each rounded down. Seeds the caps after a restart (memory) or a loss (Redis)."""

    @abstractmethod
    async def count_trades(self, status: TradeStatus | None = None) -> int:
        """How many records have `status` (all records when None)."""

    @abstractmethod
    async def executable(self, keys: Sequence[bytes]) -> set[bytes]:
        """Those of `keys` whose record is PENDING with nothing journaled: safe to execute now.

        A worker asks before executing a delivery, so that a redelivered, cancelled or already broadcast
        job never executes twice; one query for a whole batch of deliveries.
        """

    @abstractmethod
    async def stale_pending(self, now: int, limit: int = 1000) -> list[TradeRecord]:
        """PENDING records whose `expires_at` is past `now`, with their journal (for recovery); a dead
        letter with nothing journaled is not stale (it waits for the operator, `retry` or `drop`)."""

    @abstractmethod
    async def unbroadcast_pending(self, limit: int = 10_000) -> list[TradeRecord]:
        """PENDING records with no journaled transaction and not dead-lettered: safe to queue again."""

    @abstractmethod
    async def inserted_by(self, keys: Sequence[bytes], intake: str) -> set[bytes]:
        """Those of `keys` stored PENDING by the intake attempt `intake` (after an insert whose outcome
        is unknown: a COMMIT whose reply was lost)."""

    # Dead letters.
    @abstractmethod
    async def dead_letters(self, limit: int = 100) -> list[DeadLetter]:
        """Dead-lettered jobs, oldest first, with their records."""

    @abstractmethod
    async def count_dead_letters(self) -> int:
        """How many jobs are dead-lettered now (a gauge for metrics)."""

    @abstractmethod
    async def retry_dead_letter(self, key: bytes, expires_at: int) -> TradeRecord:
        """Take a dead-lettered job out of the list to be queued again (by the next scan of PENDING jobs
        never broadcast), its attempts reset and its expiry moved to `expires_at`. Only a PENDING job with
        nothing journaled; anything else is an `InvalidInputError` saying why."""

    @abstractmethod
    async def drop_dead_letter(self, key: bytes) -> tuple[TradeRecord, bool]:
        """Remove a job from the list: a PENDING one with nothing journaled becomes FAILED
        (`dead_letter_dropped`) and the second value is True (its guardrail reservation may be released);
        a job already final just leaves the list. A job with a journal is refused (`InvalidInputError`):
        recovery settles it from the chain."""

    @abstractmethod
    async def journaled_txs(self, tx_hashes: Sequence[bytes]) -> set[bytes]:
        """Those of `tx_hashes` that polyhunter sent: in some job's journal or a debt's repayment. The
        Executor watch asks it of every pull and repayment it sees (a leaked worker key's are not)."""

    # Copy quality and reports (`polyhunter.report`).
    @abstractmethod
    async def record_quality(self, rows: Sequence[CopyQuality]) -> int:
        """Store the quality of EXECUTED copies (one row per copy key; a key already stored keeps its first
        row); returns how many were stored now."""

    @abstractmethod
    async def quality_between(
        self, since_ms: int, until_ms: int, follower: str | None = None, leader: str | None = None
    ) -> list[CopyQuality]:
        """Quality rows with `since_ms <= filled_at < until_ms`, oldest first (then by key)."""

    @abstractmethod
    async def trades_between(
        self, since_ms: int, until_ms: int, follower: str | None = None, leader: str | None = None
    ) -> list[TradeRecord]:
        """Copy records with `since_ms <= created_at < until_ms`, oldest first (then by key), no journal."""

    @abstractmethod
    async def flag_reorged(self, tx_hash: bytes | str, log_index: int, sub_index: int = 0) -> list[bytes]:
        """Set `reorged` on every copy of the retracted signal; returns their keys."""

    @abstractmethod
    async def flag_copies(
        self, tx_hash: bytes | str, log_index: int, sub_index: int, flag: str
    ) -> list[bytes]:
        """Flag `flag` (e.g. `unconfirmed_source`) every copy made from the sighting (tx, log index, sub
        index); returns their keys. Flagging twice is one flag."""

    @abstractmethod
    async def flag_keys(self, keys: Sequence[bytes], flag: str) -> list[bytes]:
        """Flag `flag` the copies of `keys` that exist (unknown keys are skipped); returns those, in the order
        of `keys`. Flagging twice is one flag."""

    @abstractmethod
    async def unsettled_unlogged(self, since_ms: int, until_ms: int, limit: int = 1000) -> list[bytes]:
        """Keys of copies made from a sighting without a log (log index -1) with `since_ms <= created_at <
        until_ms` that carry neither `unconfirmed_source` nor `source_confirmed`, oldest first: after a
        restart, the copies whose fill's confirmation nobody is waiting for any more."""

    @abstractmethod
    async def flags_of(self, key: bytes) -> set[str]:
        """The flags of one copy (empty when none or unknown)."""

    # Configs.
    @abstractmethod
    async def add_config(self, config: CopyConfig) -> CopyConfig:
        """Store a new config; returns it with its `config_id` and `updated_at`."""

    @abstractmethod
    async def update_config(self, config: CopyConfig) -> CopyConfig | None:
        """Replace the rule of active config `config.config_id` (its enabled flag included); None if absent.
        A rule the store's checks refuse, or a pair taken by another config, is an `InvalidInputError`."""

    @abstractmethod
    async def get_config(self, config_id: int) -> CopyConfig | None: ...

    @abstractmethod
    async def list_configs(
        self, follower: str | None = None, leader: str | None = None, enabled_only: bool = False
    ) -> list[CopyConfig]: ...

    @abstractmethod
    async def set_enabled(self, config_id: int, enabled: bool) -> CopyConfig | None:
        """Pause or resume; None if no such config."""

    @abstractmethod
    async def remove_config(self, config_id: int) -> bool:
        """Remove (kept as a tombstone so `configs_changed_since` reports it); False if absent."""

    @abstractmethod
    async def configs_changed_since(self, since: int) -> ConfigChanges:
        """Configs with `updated_at >= since` and ids removed since then (for incremental refresh)."""

    # The chain this store's ledger belongs to (`polyhunter.store.identity`).
    @abstractmethod
    async def chain_identity(self) -> tuple[int, str] | None:
        """(chain id, genesis block hash) recorded for this store, or None before the first binding."""

    @abstractmethod
    async def set_chain_identity(self, chain_id: int, genesis_hash: str) -> None: ...

    # Checkpoints.
    @abstractmethod
    async def get_checkpoint(self, source: str) -> int | None: ...

    @abstractmethod
    async def set_checkpoint(self, source: str, block: int) -> None: ...

    # Debts.
    @abstractmethod
    async def add_debt(self, debt: DebtRecord) -> DebtRecord: ...

    @abstractmethod
    async def list_debts(
        self, status: DebtStatus | None = None, proxy: str | None = None
    ) -> list[DebtRecord]: ...

    @abstractmethod
    async def reassign_debt(self, debt_id: int, worker: str) -> bool:
        """An OPEN debt now owed to `worker` (a fleet rotation moved it on chain); False if not OPEN."""

    @abstractmethod
    async def mark_debt_repaid(self, debt_id: int, repay_tx: bytes | str) -> bool:
        """OPEN → REPAID; False if not OPEN."""

    # Daily guardrail usage (survives restarts; the shared counters are the live ones).
    @abstractmethod
    async def add_usage(self, day: str, scope: str, amount: int) -> int:
        """Add `amount` (negative to release) to the usage of `scope` on UTC `day`; returns the new total."""

    @abstractmethod
    async def get_usage(self, day: str, scope: str) -> int: ...


class StoreJournal:
    """The `JobJournal` of one job, backed by the store (docs/seams.md: `execute(job, journal)`)."""

    def __init__(self, store: Store, key: bytes) -> None:
        self.store = store
        self.key = key

    async def record_tx(self, step: str, wallet: str, nonce: int, tx_hash: bytes | str) -> None:
        """Durable before broadcast."""
        await self.store.record_tx(self.key, step, wallet, nonce, tx_hash)

    async def record_order(self, wallet: str, order_hash: bytes, body: bytes) -> None:
        """Durable before posting."""
        await self.store.record_order(self.key, wallet, order_hash, body)

    async def add_debt(self, proxy: str, worker: str, amount: int) -> DebtRecord:
        return await self.store.add_debt(
            DebtRecord(proxy=proxy, worker=worker, amount=amount, trade_key=self.key)
        )
