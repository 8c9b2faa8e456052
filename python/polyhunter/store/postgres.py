"""The PostgreSQL store (asyncpg), used when `DATABASE_URL` is set: several instances share it.

Group commits insert with one `INSERT … SELECT FROM unnest(…) ON CONFLICT DO NOTHING RETURNING key` (so racing
processes each learn exactly the keys they inserted) and lock the rows they mark with `FOR UPDATE`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import asyncpg

from polyhunter.errors import StoreError
from polyhunter.models import (
    ConfigChanges,
    CopyConfig,
    CopyQuality,
    DebtRecord,
    DebtStatus,
    TradeRecord,
    TradeStatus,
    now_ms,
)
from polyhunter.store.base import (
    CONFIG_COLUMNS,
    DAILY_NOTIONAL_SQL,
    DEAD_LETTER_REASON,
    DEBT_COLUMNS,
    DROPPED_REASON,
    FULL_SYNC,
    INSERT_COLUMNS,
    INSERT_COLUMNS_V3,
    JOURNAL_COLUMNS,
    NOT_DEAD,
    NOT_JOURNALED,
    QUALITY_COLUMNS,
    REVIVE_SET,
    REVIVE_WHERE,
    TRADE_COLUMNS,
    UNSETTLED_UNLOGGED,
    ClaimOutcome,
    DeadLetter,
    Op,
    Store,
    changes_from_rows,
    check_dead_letter,
    check_payloads,
    config_from_row,
    config_refused,
    config_values,
    debt_from_row,
    insert_results,
    journal_from_row,
    journaled_orders,
    moved_quality,
    new_rows,
    own_retries,
    period_filters,
    place_marks,
    plan_marks,
    quality_from_row,
    quality_row,
    revivable,
    split_ops,
    trade_from_row,
    tx_bytes,
)
from polyhunter.store.migrations import MIGRATIONS, POSTGRES_VERSION_TABLE

# The types of `NEW_TRADE_COLUMNS`.
_TRADE_TYPES = [
    *("bytea", "bigint", "text", "text", "text", "text", "text", "bigint", "bigint", "bytea", "bigint"),
    *("bigint", "bigint", "bigint", "bigint", "text", "text", "bigint", "bigint", "bigint"),
]
_INSERT_TRADES = (
    f"INSERT INTO copy_trades ({INSERT_COLUMNS}) SELECT * FROM unnest("
    + ", ".join(f"${i + 1}::{t}[]" for i, t in enumerate([*_TRADE_TYPES, "text", "text", "bigint", "bigint"]))
    + ") ON CONFLICT (key) DO NOTHING RETURNING key"
)
_INSERT_TRADES_V3 = (
    f"INSERT INTO copy_trades ({INSERT_COLUMNS_V3}) SELECT * FROM unnest("
    + ", ".join(f"${i + 1}::{t}[]" for i, t in enumerate([*_TRADE_TYPES, "text", "bigint"]))
    + ") ON CONFLICT (key) DO NOTHING RETURNING key"
)
_REVIVE = (
    f"UPDATE copy_trades SET {REVIVE_SET.format('$2', '$3', '$4::text', '$5::bigint', '$6')} "
    f"WHERE key = ANY($1::bytea[]) AND {REVIVE_WHERE} RETURNING key"
)
_OWN_ROWS = "SELECT key FROM copy_trades WHERE key = ANY($1::bytea[]) AND intake = $2 AND status = 'PENDING'"
_CLAIMABLE = (
    "t.key = ANY($1::bytea[]) AND t.status = 'PENDING' "
    "AND (t.claimed_by IS NULL OR t.claimed_by = $2 OR t.claimed_at <= $4) "
    f"AND {NOT_JOURNALED} AND {NOT_DEAD}"
)
_UPDATE_MARK = (
    "UPDATE copy_trades SET status = $1, reason = $2, tx_hashes = COALESCE($3, tx_hashes), "
    "copy_size = COALESCE($4, copy_size), copy_price_ppm = COALESCE($5, copy_price_ppm), "
    "slippage_bps = COALESCE($6, slippage_bps), worker = COALESCE($7, worker), updated_at = $8 WHERE key = $9"
)
_INSERT_QUALITY = (
    f"INSERT INTO copy_quality ({QUALITY_COLUMNS}) VALUES "
    f"({', '.join(f'${n}' for n in range(1, len(QUALITY_COLUMNS.split(',')) + 1))}) ON CONFLICT DO NOTHING"
)
_INSERT_JOURNAL = (
    "INSERT INTO trade_journal (key, step, wallet, nonce, tx_hash, recorded_at, payload) "
    "VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING"
)
_HOLD_CLAIM = (
    "UPDATE copy_trades SET claimed_by = $1, claimed_at = $2 WHERE key = $3 AND status = 'PENDING' "
    "AND (claimed_by IS NULL OR claimed_by = $1) RETURNING key"
)
_MIGRATION_LOCK = 0x706F6C7968756E74  # "polyhunt": one advisory lock key for every polyhunter migration


class PostgresStore(Store):
    """The store of record in PostgreSQL."""

    backend = "postgres"

    def __init__(
        self,
        url: str,
        group_commit_ms: float = 2.0,
        max_batch: int = 5000,
        pool_size: int = 4,
        *,
        intake_sync: str = FULL_SYNC,
    ) -> None:
        # Every commit is synchronous here, whatever `intake_sync` says: an asynchronous commit is lost when
        # the database server crashes while this process goes on trusting it (and checkpointing past it).
        super().__init__(group_commit_ms, max_batch, intake_sync=FULL_SYNC)
        del intake_sync
        self.url = url
        self._pool_size = pool_size
        self._pool: asyncpg.Pool | None = None

    async def _connect(self) -> None:
        try:
            self._pool = await asyncpg.create_pool(
                self.url, min_size=1, max_size=self._pool_size, command_timeout=60, timeout=10
            )
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, TimeoutError) as exc:
            raise StoreError(f"cannot connect to PostgreSQL: {type(exc).__name__}: {exc}") from None

    async def _disconnect(self) -> None:
        if self._pool is not None:
            await self._pool.close()
            self._pool = None

    @property
    def pool(self) -> asyncpg.Pool:
        if self._pool is None:
            raise StoreError("the store is not open")
        return self._pool

    # Migrations.
    async def migrate(self) -> list[int]:
        applied: list[int] = []
        async with self.pool.acquire() as conn, conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock($1)", _MIGRATION_LOCK)
            await conn.execute(POSTGRES_VERSION_TABLE)
            done = {int(r[0]) for r in await conn.fetch("SELECT version FROM schema_migrations")}
            for migration in MIGRATIONS:
                if migration.version in done:
                    continue
                for statement in migration.postgres:
                    await conn.execute(statement)
                await conn.execute(
                    "INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)",
                    migration.version,
                    migration.name,
                    now_ms(),
                )
                applied.append(migration.version)
        return applied

    async def schema_version(self) -> int:
        return int(await self.pool.fetchval("SELECT COALESCE(MAX(version), 0) FROM schema_migrations"))

    # Group commit.
    async def _apply_batch(self, ops: Sequence[Op]) -> list[Any]:
        inserts, journal, marks, claims = split_ops(ops)
        results: list[Any] = [None] * len(ops)
        now = now_ms()
        async with self.pool.acquire() as conn, conn.transaction():
            if inserts:
                rows = new_rows(inserts, set(), now, self._intake_column)
                columns = [list(col) for col in zip(*rows, strict=True)]
                sql = _INSERT_TRADES if self._intake_column else _INSERT_TRADES_V3
                inserted = {bytes(r[0]) for r in await conn.fetch(sql, *columns)}
                for intake, missing in own_retries(inserts, inserted).items():
                    inserted.update(bytes(r[0]) for r in await conn.fetch(_OWN_ROWS, missing, intake))
                for claimer, stored, expires_at in revivable(inserts, inserted):
                    revived = await conn.fetch(
                        _REVIVE,
                        sorted(set(stored)),
                        now,
                        expires_at,
                        claimer,
                        None if claimer is None else now,
                        int(claimer is not None),
                    )
                    inserted.update(bytes(r[0]) for r in revived)
                for index, keys in insert_results(inserts, inserted).items():
                    results[index] = keys
            if journal:
                rows = []
                # Rows locked in key order, as marks and claims lock them: no deadlock between instances.
                for index, op in sorted(journal, key=lambda item: item[1].key):
                    if op.claimer is not None:
                        # The row lock taken here orders this against a competing claim of the same record.
                        held = await conn.fetchrow(_HOLD_CLAIM, op.claimer, now, op.key)
                        results[index] = held is not None
                    else:
                        results[index] = True
                    if results[index]:
                        rows.append((op.key, op.step, op.wallet, op.nonce, op.tx_hash, now, op.payload))
                await conn.executemany(_INSERT_JOURNAL, rows)
                orders = journaled_orders(journal, results)
                if orders:
                    # Read after the insert: a racing instance's conflicting row is committed and visible by
                    # now (the insert waited for it), so differing bytes are never missed.
                    found = await conn.fetch(
                        "SELECT j.key, j.tx_hash, j.payload FROM trade_journal j "
                        "JOIN unnest($1::bytea[], $2::bytea[]) AS o(key, tx_hash) "
                        "ON j.key = o.key AND j.tx_hash = o.tx_hash",
                        [op.key for op in orders],
                        [op.tx_hash for op in orders],
                    )
                    check_payloads(orders, {(bytes(r[0]), bytes(r[1])): bytes(r[2]) for r in found})
            if marks:
                locked = sorted({op.key for _, op in marks})  # one lock order for every process: no deadlock
                current = {
                    bytes(r[0]): str(r[1])
                    for r in await conn.fetch(
                        "SELECT key, status FROM copy_trades WHERE key = ANY($1::bytea[]) "
                        "ORDER BY key FOR UPDATE",
                        locked,
                    )
                }
                outcome, updates = plan_marks(marks, current, now)
                if updates:
                    await conn.executemany(_UPDATE_MARK, updates)
                place_marks(results, ops, outcome)
                quality = moved_quality(marks, outcome)
                if quality:
                    await conn.executemany(_INSERT_QUALITY, quality)
            for index, claim in claims:
                # Rows locked in key order first, as marks do: two processes never deadlock.
                await conn.fetch(
                    "SELECT key FROM copy_trades WHERE key = ANY($1::bytea[]) ORDER BY key FOR UPDATE",
                    sorted(set(claim.keys)),
                )
                dead: set[bytes] = set()
                if claim.max_attempts is not None:
                    # A job claimed `max_attempts` times already is dead-lettered by the claim that would
                    # have been one more, in the same transaction: no window where it runs again.
                    buried = await conn.fetch(
                        "INSERT INTO dead_letters (key, attempts, reason, dead_at) "
                        f"SELECT t.key, t.attempts, $5, $3 FROM copy_trades t WHERE {_CLAIMABLE} "
                        "AND t.attempts >= $6 ON CONFLICT (key) DO NOTHING RETURNING key",
                        list(claim.keys),
                        claim.claimer,
                        claim.claimed_at,
                        claim.stale_before,
                        DEAD_LETTER_REASON,
                        claim.max_attempts,
                    )
                    dead = {bytes(r[0]) for r in buried}
                claimed = await conn.fetch(
                    "UPDATE copy_trades t SET claimed_by = $2, claimed_at = $3, attempts = t.attempts + 1 "
                    f"WHERE {_CLAIMABLE} RETURNING key",
                    list(claim.keys),
                    claim.claimer,
                    claim.claimed_at,
                    claim.stale_before,
                )
                results[index] = ClaimOutcome({bytes(r[0]) for r in claimed}, dead)
        return results

    # Trades.
    async def _journal(self, key: bytes) -> list[Any]:
        rows = await self.pool.fetch(
            f"SELECT {JOURNAL_COLUMNS} FROM trade_journal WHERE key = $1 ORDER BY recorded_at, seq",
            key,
        )
        return [journal_from_row(r) for r in rows]

    async def get_trade(self, key: bytes) -> TradeRecord | None:
        row = await self.pool.fetchrow(f"SELECT {TRADE_COLUMNS} FROM copy_trades WHERE key = $1", key)
        return trade_from_row(row, await self._journal(key)) if row is not None else None

    async def list_trades(
        self, status: TradeStatus | None = None, follower: str | None = None, limit: int = 100
    ) -> list[TradeRecord]:
        rows = await self.pool.fetch(
            f"SELECT {TRADE_COLUMNS} FROM copy_trades WHERE ($1::text IS NULL OR status = $1) "
            "AND ($2::text IS NULL OR follower = $2) ORDER BY created_at DESC, key LIMIT $3",
            None if status is None else str(status),
            None if follower is None else follower.lower(),
            limit,
        )
        return [trade_from_row(r) for r in rows]

    async def stale_pending(self, now: int, limit: int = 1000) -> list[TradeRecord]:
        rows = await self.pool.fetch(
            f"SELECT {TRADE_COLUMNS} FROM copy_trades t WHERE status = 'PENDING' AND expires_at < $1 "
            f"AND ({NOT_DEAD} OR NOT {NOT_JOURNALED}) "
            "ORDER BY expires_at LIMIT $2",
            now,
            limit,
        )
        return [trade_from_row(r, await self._journal(bytes(r[0]))) for r in rows]

    async def daily_notional(self, since_ms: int) -> dict[str, int]:
        rows = await self.pool.fetch(
            DAILY_NOTIONAL_SQL.format("$1"),
            since_ms,
        )
        return {str(r[0]): int(r[1]) for r in rows}

    async def count_trades(self, status: TradeStatus | None = None) -> int:
        if status is None:
            value = await self.pool.fetchval("SELECT COUNT(*) FROM copy_trades")
        else:
            value = await self.pool.fetchval(
                "SELECT COUNT(*) FROM copy_trades WHERE status = $1", TradeStatus(status).value
            )
        return int(value)

    async def executable(self, keys: Sequence[bytes]) -> set[bytes]:
        if not keys:
            return set()
        rows = await self.pool.fetch(
            "SELECT key FROM copy_trades t WHERE key = ANY($1::bytea[]) AND status = 'PENDING' "
            "AND NOT EXISTS (SELECT 1 FROM trade_journal j WHERE j.key = t.key)",
            list(keys),
        )
        return {bytes(r[0]) for r in rows}

    async def unbroadcast_pending(self, limit: int = 10_000) -> list[TradeRecord]:
        rows = await self.pool.fetch(
            f"SELECT {TRADE_COLUMNS} FROM copy_trades t WHERE status = 'PENDING' AND {NOT_JOURNALED} "
            f"AND {NOT_DEAD} ORDER BY created_at LIMIT $1",
            limit,
        )
        return [trade_from_row(r) for r in rows]

    async def inserted_by(self, keys: Sequence[bytes], intake: str) -> set[bytes]:
        return {bytes(r[0]) for r in await self.pool.fetch(_OWN_ROWS, list(keys), intake)}

    # Dead letters.
    async def dead_letters(self, limit: int = 100) -> list[DeadLetter]:
        rows = await self.pool.fetch(
            "SELECT key, attempts, reason, dead_at FROM dead_letters ORDER BY dead_at, key LIMIT $1", limit
        )
        out = []
        for key, attempts, reason, dead_at in rows:
            record = await self.get_trade(bytes(key))
            if record is not None:
                out.append(DeadLetter(bytes(key), int(attempts), str(reason), int(dead_at), record))
        return out

    async def count_dead_letters(self) -> int:
        return int(await self.pool.fetchval("SELECT COUNT(*) FROM dead_letters"))

    async def _locked(self, conn: Any, key: bytes) -> tuple[TradeRecord | None, bool]:
        """The record (locked, as claims and journal writes lock it) and whether it is dead-lettered."""
        row = await conn.fetchrow(f"SELECT {TRADE_COLUMNS} FROM copy_trades WHERE key = $1 FOR UPDATE", key)
        if row is None:
            return None, False
        journal = await conn.fetch(
            f"SELECT {JOURNAL_COLUMNS} FROM trade_journal WHERE key = $1 ORDER BY recorded_at, seq", key
        )
        dead = await conn.fetchval("SELECT 1 FROM dead_letters WHERE key = $1", key)
        return trade_from_row(row, [journal_from_row(r) for r in journal]), dead is not None

    async def retry_dead_letter(self, key: bytes, expires_at: int) -> TradeRecord:
        async with self.pool.acquire() as conn, conn.transaction():
            record, dead = await self._locked(conn, key)
            check_dead_letter(key, record, dead, "retry")
            await conn.execute("DELETE FROM dead_letters WHERE key = $1", key)
            await conn.execute(
                "UPDATE copy_trades SET attempts = 0, claimed_by = NULL, claimed_at = NULL, expires_at = $1, "
                "updated_at = $2 WHERE key = $3",
                expires_at,
                now_ms(),
                key,
            )
        record = await self.get_trade(key)
        assert record is not None
        return record

    async def drop_dead_letter(self, key: bytes) -> tuple[TradeRecord, bool]:
        async with self.pool.acquire() as conn, conn.transaction():
            record, dead = await self._locked(conn, key)
            check_dead_letter(key, record, dead, "drop")
            assert record is not None
            failed = record.status is TradeStatus.PENDING
            if failed:
                await conn.execute(
                    "UPDATE copy_trades SET status = 'FAILED', reason = $1, updated_at = $2 WHERE key = $3",
                    DROPPED_REASON,
                    now_ms(),
                    key,
                )
            await conn.execute("DELETE FROM dead_letters WHERE key = $1", key)
        record = await self.get_trade(key)
        assert record is not None
        return record, failed

    async def journaled_txs(self, tx_hashes: Sequence[bytes]) -> set[bytes]:
        wanted = list(dict.fromkeys(bytes(h) for h in tx_hashes))
        if not wanted:
            return set()
        rows = await self.pool.fetch(
            "SELECT tx_hash FROM trade_journal WHERE tx_hash = ANY($1::bytea[]) "
            "UNION SELECT repay_tx FROM debts WHERE repay_tx = ANY($1::bytea[])",
            wanted,
        )
        return {bytes(r[0]) for r in rows}

    async def flag_reorged(self, tx_hash: bytes | str, log_index: int, sub_index: int = 0) -> list[bytes]:
        rows = await self.pool.fetch(
            "UPDATE copy_trades SET reorged = 1, updated_at = $1 "
            "WHERE tx_hash = $2 AND log_index = $3 AND sub_index = $4 RETURNING key",
            now_ms(),
            tx_bytes(tx_hash),
            log_index,
            sub_index,
        )
        return [bytes(r[0]) for r in rows]

    async def flag_copies(
        self, tx_hash: bytes | str, log_index: int, sub_index: int, flag: str
    ) -> list[bytes]:
        rows = await self.pool.fetch(
            "WITH found AS (SELECT key FROM copy_trades "
            "WHERE tx_hash = $1 AND log_index = $2 AND sub_index = $3), "
            "flagged AS (INSERT INTO copy_flags (key, flag, flagged_at) SELECT key, $4, $5 FROM found "
            "ON CONFLICT DO NOTHING) SELECT key FROM found",
            tx_bytes(tx_hash),
            log_index,
            sub_index,
            flag,
            now_ms(),
        )
        return [bytes(r[0]) for r in rows]

    async def flag_keys(self, keys: Sequence[bytes], flag: str) -> list[bytes]:
        wanted = list(dict.fromkeys(bytes(k) for k in keys))
        rows = await self.pool.fetch(
            "WITH found AS (SELECT key FROM copy_trades WHERE key = ANY($1::bytea[])), "
            "flagged AS (INSERT INTO copy_flags (key, flag, flagged_at) SELECT key, $2, $3 FROM found "
            "ON CONFLICT DO NOTHING) SELECT key FROM found",
            wanted,
            flag,
            now_ms(),
        )
        found = {bytes(r[0]) for r in rows}
        return [key for key in wanted if key in found]

    async def unsettled_unlogged(self, since_ms: int, until_ms: int, limit: int = 1000) -> list[bytes]:
        rows = await self.pool.fetch(UNSETTLED_UNLOGGED.format("$1", "$2", "$3"), since_ms, until_ms, limit)
        return [bytes(r[0]) for r in rows]

    async def flags_of(self, key: bytes) -> set[str]:
        rows = await self.pool.fetch("SELECT flag FROM copy_flags WHERE key = $1", key)
        return {str(r[0]) for r in rows}

    # Copy quality and reports.
    async def record_quality(self, rows: Sequence[CopyQuality]) -> int:
        if not rows:
            return 0
        inserted = 0
        async with self.pool.acquire() as conn, conn.transaction():
            for q in rows:
                status = await conn.execute(
                    _INSERT_QUALITY,
                    *quality_row(q),
                )
                inserted += int(str(status).split()[-1])
        return inserted

    async def quality_between(
        self, since_ms: int, until_ms: int, follower: str | None = None, leader: str | None = None
    ) -> list[CopyQuality]:
        clauses, params = period_filters(since_ms, until_ms, follower, leader, "filled_at")
        where = " AND ".join(clauses).format(*(f"${n}" for n in range(1, len(params) + 1)))
        rows = await self.pool.fetch(
            f"SELECT {QUALITY_COLUMNS} FROM copy_quality WHERE {where} ORDER BY filled_at, key", *params
        )
        return [quality_from_row(r) for r in rows]

    async def trades_between(
        self, since_ms: int, until_ms: int, follower: str | None = None, leader: str | None = None
    ) -> list[TradeRecord]:
        clauses, params = period_filters(since_ms, until_ms, follower, leader, "created_at")
        where = " AND ".join(clauses).format(*(f"${n}" for n in range(1, len(params) + 1)))
        rows = await self.pool.fetch(
            f"SELECT {TRADE_COLUMNS} FROM copy_trades WHERE {where} ORDER BY created_at, key", *params
        )
        return [trade_from_row(r) for r in rows]

    # Configs.
    async def add_config(self, config: CopyConfig) -> CopyConfig:
        now = now_ms()
        try:
            row = await self.pool.fetchrow(
                f"INSERT INTO copy_configs ({CONFIG_COLUMNS.removeprefix('config_id, ')}, created_at) "
                f"VALUES ({', '.join(f'${i}' for i in range(1, 21))}) RETURNING {CONFIG_COLUMNS}",
                *config_values(config),
                now,
                now,
            )
        except asyncpg.IntegrityConstraintViolationError as exc:
            raise config_refused(exc, config) from None
        assert row is not None
        return config_from_row(row)

    async def update_config(self, config: CopyConfig) -> CopyConfig | None:
        columns = CONFIG_COLUMNS.removeprefix("config_id, ").removesuffix(", updated_at").split(", ")
        sets = ", ".join(f"{c} = ${i}" for i, c in enumerate(columns, start=1))
        n = len(columns)
        try:
            row = await self.pool.fetchrow(
                f"UPDATE copy_configs SET {sets}, updated_at = ${n + 1} "
                f"WHERE config_id = ${n + 2} AND removed_at IS NULL RETURNING {CONFIG_COLUMNS}",
                *config_values(config),
                now_ms(),
                config.config_id,
            )
        except asyncpg.IntegrityConstraintViolationError as exc:
            raise config_refused(exc, config) from None
        return config_from_row(row) if row is not None else None

    async def get_config(self, config_id: int) -> CopyConfig | None:
        row = await self.pool.fetchrow(
            f"SELECT {CONFIG_COLUMNS} FROM copy_configs WHERE config_id = $1 AND removed_at IS NULL",
            config_id,
        )
        return config_from_row(row) if row is not None else None

    async def list_configs(
        self, follower: str | None = None, leader: str | None = None, enabled_only: bool = False
    ) -> list[CopyConfig]:
        rows = await self.pool.fetch(
            f"SELECT {CONFIG_COLUMNS} FROM copy_configs WHERE removed_at IS NULL "
            "AND ($1::text IS NULL OR follower = $1) AND ($2::text IS NULL OR leader = $2) "
            "AND (NOT $3 OR enabled = 1) ORDER BY config_id",
            None if follower is None else follower.lower(),
            None if leader is None else leader.lower(),
            enabled_only,
        )
        return [config_from_row(r) for r in rows]

    async def set_enabled(self, config_id: int, enabled: bool) -> CopyConfig | None:
        try:
            row = await self.pool.fetchrow(
                "UPDATE copy_configs SET enabled = $1, updated_at = $2 "
                f"WHERE config_id = $3 AND removed_at IS NULL RETURNING {CONFIG_COLUMNS}",
                int(enabled),
                now_ms(),
                config_id,
            )
        except asyncpg.IntegrityConstraintViolationError as exc:
            raise config_refused(exc) from None
        return config_from_row(row) if row is not None else None

    async def remove_config(self, config_id: int) -> bool:
        now = now_ms()
        status = await self.pool.execute(
            "UPDATE copy_configs SET removed_at = $1, updated_at = $1, enabled = 0 "
            "WHERE config_id = $2 AND removed_at IS NULL",
            now,
            config_id,
        )
        return str(status).split()[-1] != "0"

    async def configs_changed_since(self, since: int) -> ConfigChanges:
        rows = await self.pool.fetch(
            f"SELECT {CONFIG_COLUMNS}, removed_at FROM copy_configs "
            "WHERE updated_at >= $1 ORDER BY config_id",
            since,
        )
        return changes_from_rows(rows, since)

    # Chain identity.
    async def chain_identity(self) -> tuple[int, str] | None:
        row = await self.pool.fetchrow("SELECT chain_id, genesis_hash FROM chain_identity WHERE only_row = 1")
        return (int(row[0]), str(row[1])) if row is not None else None

    async def set_chain_identity(self, chain_id: int, genesis_hash: str) -> None:
        await self.pool.execute(
            "INSERT INTO chain_identity (only_row, chain_id, genesis_hash, recorded_at) "
            "VALUES (1, $1, $2, $3) "
            "ON CONFLICT (only_row) DO UPDATE SET chain_id = excluded.chain_id, "
            "genesis_hash = excluded.genesis_hash, recorded_at = excluded.recorded_at",
            chain_id,
            genesis_hash.lower(),
            now_ms(),
        )

    # Checkpoints.
    async def get_checkpoint(self, source: str) -> int | None:
        value = await self.pool.fetchval("SELECT block FROM checkpoints WHERE source = $1", source)
        return None if value is None else int(value)

    async def set_checkpoint(self, source: str, block: int) -> None:
        await self.pool.execute(
            "INSERT INTO checkpoints (source, block, updated_at) VALUES ($1, $2, $3) "
            "ON CONFLICT (source) DO UPDATE SET block = excluded.block, updated_at = excluded.updated_at",
            source,
            block,
            now_ms(),
        )

    # Debts.
    async def add_debt(self, debt: DebtRecord) -> DebtRecord:
        row = await self.pool.fetchrow(
            "INSERT INTO debts (proxy, worker, amount, trade_key, status, created_at) "
            f"VALUES ($1, $2, $3, $4, 'OPEN', $5) RETURNING {DEBT_COLUMNS}",
            debt.proxy.lower(),
            debt.worker.lower(),
            debt.amount,
            debt.trade_key,
            now_ms(),
        )
        assert row is not None
        return debt_from_row(row)

    async def list_debts(
        self, status: DebtStatus | None = None, proxy: str | None = None
    ) -> list[DebtRecord]:
        rows = await self.pool.fetch(
            f"SELECT {DEBT_COLUMNS} FROM debts WHERE ($1::text IS NULL OR status = $1) "
            "AND ($2::text IS NULL OR proxy = $2) ORDER BY debt_id",
            None if status is None else str(status),
            None if proxy is None else proxy.lower(),
        )
        return [debt_from_row(r) for r in rows]

    async def reassign_debt(self, debt_id: int, worker: str) -> bool:
        status = await self.pool.execute(
            "UPDATE debts SET worker = $1 WHERE debt_id = $2 AND status = 'OPEN'", worker.lower(), debt_id
        )
        return str(status).split()[-1] != "0"

    async def mark_debt_repaid(self, debt_id: int, repay_tx: bytes | str) -> bool:
        status = await self.pool.execute(
            "UPDATE debts SET status = 'REPAID', repaid_at = $1, repay_tx = $2 "
            "WHERE debt_id = $3 AND status = 'OPEN'",
            now_ms(),
            tx_bytes(repay_tx),
            debt_id,
        )
        return str(status).split()[-1] != "0"

    # Daily usage.
    async def add_usage(self, day: str, scope: str, amount: int) -> int:
        value = await self.pool.fetchval(
            "INSERT INTO guardrail_usage (day, scope, amount) VALUES ($1, $2, $3) ON CONFLICT (day, scope) "
            "DO UPDATE SET amount = guardrail_usage.amount + excluded.amount RETURNING amount",
            day,
            scope,
            amount,
        )
        return int(value)

    async def get_usage(self, day: str, scope: str) -> int:
        value = await self.pool.fetchval(
            "SELECT amount FROM guardrail_usage WHERE day = $1 AND scope = $2", day, scope
        )
        return 0 if value is None else int(value)
