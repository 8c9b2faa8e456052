"""The SQLite store (aiosqlite, WAL): the default with no configuration, a file under `$POLYHUNTER_HOME`.

One writer connection (group commits and other writes take turns under a lock, each in `BEGIN IMMEDIATE`, so
several processes on one file serialize) and one reader connection (WAL lets it read committed data while a
write is in progress). `synchronous=FULL`: a commit is on disk when the caller's await returns (one holding
only new rows is written through and made durable by the next: `POLYHUNTER_INTAKE_SYNC`). The WAL is
checkpointed by a thread of its own (`polyhunter.store.wal`).
"""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time
from collections.abc import AsyncIterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiosqlite

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
    DEFERRED,
    DROPPED_REASON,
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
    InsertPending,
    Mark,
    MarkIndex,
    Op,
    Store,
    changes_from_rows,
    check_dead_letter,
    check_payloads,
    config_from_row,
    config_refused,
    config_values,
    debt_from_row,
    deferrable,
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
from polyhunter.store.migrations import MIGRATIONS, SQLITE_VERSION_TABLE
from polyhunter.store.wal import SAFETY_PAGES, WalCheckpointer

_CHUNK = 900  # stay far below SQLite's bound on host parameters per statement
BUSY_TIMEOUT_MS = 30_000
"""How long a write waits for another process's write lock (a CLI command, a second instance)."""
INLINE_IDLE_S = 0.010
"""A batch arriving this long after the last commit ended may be committed on the loop's thread; sooner, the
store is busy (commits follow each other, a group-commit window apart) and the committer's thread writes."""
INLINE_MAX_ROWS = 250
"""The most new rows committed on the loop's thread (SQLite takes about a millisecond per 100 of them)."""


class _Locked(Exception):
    """Another connection holds the write lock, and this transaction was not to wait for it."""


# A bigger page cache keeps the key indexes' pages in memory (they are hit at random). Checkpoints run on a
# thread of their own (`WalCheckpointer`); a commit checkpoints by itself only past the safety valve.
_PRAGMAS = (
    "journal_mode=WAL",
    "synchronous=FULL",
    f"busy_timeout={BUSY_TIMEOUT_MS}",
    "cache_size=-32768",
    f"wal_autocheckpoint={SAFETY_PAGES}",
    # A WAL that grew while a long reader held frames back is cut back to this when it is next reset.
    "journal_size_limit=67108864",
)


def _insert_sql(columns: str) -> str:
    return f"INSERT INTO copy_trades ({columns}) VALUES ({', '.join('?' for _ in columns.split(','))})"


_INSERT_TRADE = _insert_sql(INSERT_COLUMNS)
_INSERT_TRADE_V3 = _insert_sql(INSERT_COLUMNS_V3)
_UPDATE_MARK = (
    "UPDATE copy_trades SET status = ?, reason = ?, tx_hashes = COALESCE(?, tx_hashes), "
    "copy_size = COALESCE(?, copy_size), copy_price_ppm = COALESCE(?, copy_price_ppm), "
    "slippage_bps = COALESCE(?, slippage_bps), worker = COALESCE(?, worker), updated_at = ? WHERE key = ?"
)
# A mark applied only from an expected status (one or two of them, the second may repeat the first).
_UPDATE_MARK_IF = _UPDATE_MARK + " AND status IN (?, ?)"
_INSERT_QUALITY = (
    f"INSERT INTO copy_quality ({QUALITY_COLUMNS}) "
    f"VALUES ({', '.join('?' * len(QUALITY_COLUMNS.split(',')))}) ON CONFLICT DO NOTHING"
)
_INSERT_JOURNAL = (
    "INSERT INTO trade_journal (key, step, wallet, nonce, tx_hash, recorded_at, payload) "
    "VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING"
)
_HOLD_CLAIM = (
    "UPDATE copy_trades SET claimed_by = ?, claimed_at = ? WHERE key = ? AND status = 'PENDING' "
    "AND (claimed_by IS NULL OR claimed_by = ?) RETURNING key"
)


class SqliteStore(Store):
    """The store of record in one SQLite file."""

    backend = "sqlite"
    # A transaction on the loop's thread is synchronous and one on the committer's is shielded: a caller
    # cancelled while it waits never cuts one short (only one still waiting for `_write_lock` is not made).
    commits_in_caller = True

    def __init__(
        self,
        path: Path | str,
        group_commit_ms: float = 2.0,
        max_batch: int = 5000,
        *,
        intake_sync: str = DEFERRED,
    ) -> None:
        super().__init__(group_commit_ms, max_batch, intake_sync=intake_sync)
        self._synchronous = "FULL"
        """The committer connection's `synchronous` now (it changes only between transactions)."""
        self._waits = True
        """Whether the committer connection waits for another writer's lock (`busy_timeout`) now."""
        self._last_commit = 0.0
        """When the last group commit ended (monotonic)."""
        self._in_thread: Future[list[Any]] | None = None
        """The last transaction handed to the committer's thread (it runs them in order, none cancelled)."""
        self.path = Path(path)
        self._writer: aiosqlite.Connection | None = None
        self._reader: aiosqlite.Connection | None = None
        self._write_lock = asyncio.Lock()
        # The group commit's own connection and thread: a whole batch is one call into that thread.
        self._committer_conn: sqlite3.Connection | None = None
        self._committer_thread: ThreadPoolExecutor | None = None
        self.checkpointer: WalCheckpointer | None = None

    async def _open_connection(self) -> aiosqlite.Connection:
        conn = await aiosqlite.connect(self.path, isolation_level=None)
        try:
            for pragma in _PRAGMAS:
                # An unclosed cursor would pin the connection's read snapshot: close each one.
                async with conn.execute(f"PRAGMA {pragma}") as cursor:
                    await cursor.fetchall()
        except BaseException:
            # The connection's worker thread is not a daemon: left open, it keeps the process alive after
            # the error is reported (a corrupt file fails here).
            await _close(conn)
            raise
        return conn

    async def open(self) -> None:
        """Connect and migrate; on any failure both connections are closed before the error propagates."""
        try:
            await super().open()
        except BaseException:
            # `async with` never reaches __aexit__ when open fails, and a caller that only reports the error
            # would leave the connections' non-daemon threads running.
            await self._disconnect()
            raise

    async def _connect(self) -> None:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._writer = await self._open_connection()
            self._reader = await self._open_connection()
            self._committer_thread = ThreadPoolExecutor(1, thread_name_prefix="sqlite-group-commit")
            loop = asyncio.get_running_loop()
            self._committer_conn = await loop.run_in_executor(self._committer_thread, self._open_sync)
            self.checkpointer = WalCheckpointer(self.path, _PRAGMAS)
            # On the committer's thread: the loop's default executor would leave a thread of its own behind.
            await loop.run_in_executor(self._committer_thread, self.checkpointer.start)
        except BaseException as exc:
            await self._disconnect()
            if isinstance(exc, (OSError, sqlite3.Error)):
                raise StoreError(f"cannot open the SQLite store at {self.path}: {exc}") from None
            raise

    def _open_sync(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        try:
            # The group commit's statement journals (a batch of marks is one savepoint) in memory, not in
            # temporary files; the readers keep the default, so that a report's large sort may spill to disk.
            for pragma in (*_PRAGMAS, "temp_store=MEMORY"):
                conn.execute(f"PRAGMA {pragma}").fetchall()
        except BaseException:
            conn.close()
            raise
        return conn

    async def _disconnect(self) -> None:
        checkpointer, self.checkpointer = self.checkpointer, None
        if checkpointer is not None:
            if self._committer_thread is not None:
                await asyncio.get_running_loop().run_in_executor(self._committer_thread, checkpointer.stop)
            else:
                checkpointer.stop()
        for conn in (self._writer, self._reader):
            if conn is not None:
                await _close(conn)
        self._writer = self._reader = None
        thread, committer = self._committer_thread, self._committer_conn
        self._committer_thread, self._committer_conn = None, None
        if thread is not None:
            if committer is not None:
                await asyncio.get_running_loop().run_in_executor(thread, committer.close)
            thread.shutdown(wait=True)

    @asynccontextmanager
    async def _write(self) -> AsyncIterator[aiosqlite.Connection]:
        """One write transaction on the writer connection, `BEGIN IMMEDIATE` … COMMIT (ROLLBACK on error)."""
        if self._writer is None:
            raise StoreError("the store is not open")
        async with self._write_lock:
            conn = self._writer
            await conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
                await conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:
                    await conn.execute("ROLLBACK")
                raise

    async def _read(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        if self._reader is None:
            raise StoreError("the store is not open")
        # One call into the connection's thread: a cursor left between two calls could be reset by another
        # task's statement on this shared connection.
        return list(await self._reader.execute_fetchall(sql, params))

    # Migrations.
    async def migrate(self) -> list[int]:
        applied: list[int] = []
        async with self._write() as conn:
            await conn.execute(SQLITE_VERSION_TABLE)
            async with conn.execute("SELECT version FROM schema_migrations") as cursor:
                done = {int(row[0]) for row in await cursor.fetchall()}
            for migration in MIGRATIONS:
                if migration.version in done:
                    continue
                for statement in migration.sqlite:
                    await conn.execute(statement)
                await conn.execute(
                    "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)",
                    (migration.version, migration.name, now_ms()),
                )
                applied.append(migration.version)
        return applied

    async def schema_version(self) -> int:
        rows = await self._read("SELECT COALESCE(MAX(version), 0) FROM schema_migrations")
        return int(rows[0][0])

    # Group commit.
    async def _apply_batch(self, ops: Sequence[Op]) -> list[Any]:
        """The whole batch in one call into the group-commit thread: one hand-off per transaction, not one
        per statement (each would wait its turn on a busy event loop while the write lock is held)."""
        if self._committer_conn is None or self._committer_thread is None:
            raise StoreError("the store is not open")
        async with self._write_lock:
            try:
                if self._here(ops):
                    try:
                        return self._apply_in_thread(ops, wait=False)
                    except _Locked:
                        pass  # another process writes: the committer's thread waits for its lock
                # Shielded: a caller cancelled while it waits never cancels the transaction (it is committed
                # as when the committer's task waited for it), so the thread runs every transaction handed to
                # it, in order, and `_here` knows from the last one when the connection is free again.
                done = self._committer_thread.submit(self._apply_in_thread, ops)
                self._in_thread = done
                return await asyncio.shield(asyncio.wrap_future(done))
            finally:
                self._last_commit = time.monotonic()

    def _here(self, ops: Sequence[Op]) -> bool:
        """Whether this batch is committed on the event loop's thread rather than the committer's: a
        leader's fill arriving while the store is idle is written where its rows were made, without the two
        thread hand-offs (about 0.3 ms of the fill's hand-off) and with the rows still in this core's cache.

        Only a batch that cannot block: new rows alone (committed without a flush under the deferred intake
        sync), at most `INLINE_MAX_ROWS` of them (about a millisecond), with the WAL far from the size at
        which a commit checkpoints by itself, and never waiting for another writer's lock (`_Locked`: the
        thread takes it over). Under load (a commit ended less than `INLINE_IDLE_S` ago) every batch goes to
        the thread, so that the loop goes on taking fills in while SQLite writes on the other core."""
        if self.intake_sync != DEFERRED or not deferrable(ops):
            return False
        if self._in_thread is not None and not self._in_thread.done():
            return False  # the connection is the committer thread's until its transaction ends
        if time.monotonic() - self._last_commit < INLINE_IDLE_S:
            return False
        checkpointer = self.checkpointer
        if checkpointer is None or checkpointer.wal_frames > SAFETY_PAGES // 2:
            return False
        rows = 0
        for op in ops:
            assert isinstance(op, InsertPending)
            rows += len(op.jobs)
        return rows <= INLINE_MAX_ROWS

    def _apply_in_thread(self, ops: Sequence[Op], wait: bool = True) -> list[Any]:
        """One transaction for the batch, on the committer's thread (or, `wait` false, on the loop's: then
        another writer's lock raises `_Locked` at once, before anything is written)."""
        conn = self._committer_conn
        if conn is None:
            raise StoreError("the store is not open")
        # New rows alone are written through at commit, not flushed: WAL frames are appended in order, so the
        # next flushed commit (a journal entry before any transaction or order is sent, a mark, a claim, a
        # checkpoint, on any connection) makes them durable too.
        synchronous = "NORMAL" if self.intake_sync == DEFERRED and deferrable(ops) else "FULL"
        if synchronous != self._synchronous:
            conn.execute(f"PRAGMA synchronous={synchronous}")
            self._synchronous = synchronous
        if wait != self._waits:
            conn.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS if wait else 0}")
            self._waits = wait
        try:
            conn.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as exc:
            # The primary code: SQLITE_BUSY_RECOVERY and the like are another writer's lock too.
            if not wait and exc.sqlite_errorcode & 0xFF in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED):
                raise _Locked from None
            raise
        try:
            results = self._apply_sync(conn, ops)
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        return results

    def _apply_sync(self, conn: sqlite3.Connection, ops: Sequence[Op]) -> list[Any]:
        inserts, journal, marks, claims = split_ops(ops)
        results: list[Any] = [None] * len(ops)
        now = now_ms()
        if inserts:
            fresh = _insert_new(conn, new_rows(inserts, set(), now, self._intake_column), self._intake_column)
            for intake, missing in own_retries(inserts, fresh).items():
                fresh |= _own_rows(conn, missing, intake)
            for claimer, stored, expires_at in revivable(inserts, fresh):
                held = [claimer, None if claimer is None else now, int(claimer is not None)]
                for start in range(0, len(stored), _CHUNK):
                    chunk = stored[start : start + _CHUNK]
                    placeholders = ", ".join("?" * len(chunk))
                    sql = (
                        f"UPDATE copy_trades SET {REVIVE_SET.format('?', '?', '?', '?', '?')} "
                        f"WHERE key IN ({placeholders}) AND {REVIVE_WHERE} RETURNING key"
                    )
                    # `?` binds in the order of REVIVE_SET's text: the claim first.
                    found = conn.execute(sql, [*held, now, expires_at, *chunk]).fetchall()
                    fresh.update(bytes(row[0]) for row in found)
            for index, inserted in insert_results(inserts, fresh).items():
                results[index] = inserted
        if journal:
            journal_rows = []
            for index, op in journal:
                if op.claimer is not None:
                    held_now = conn.execute(_HOLD_CLAIM, (op.claimer, now, op.key, op.claimer)).fetchone()
                    results[index] = held_now is not None
                else:
                    results[index] = True
                if results[index]:
                    journal_rows.append((op.key, op.step, op.wallet, op.nonce, op.tx_hash, now, op.payload))
            conn.executemany(_INSERT_JOURNAL, journal_rows)
            orders = journaled_orders(journal, results)
            if orders:
                kept: dict[tuple[bytes, bytes], bytes] = {}
                for op in orders:
                    found_one = conn.execute(
                        "SELECT payload FROM trade_journal WHERE key = ? AND tx_hash = ?",
                        (op.key, op.tx_hash),
                    ).fetchone()
                    if found_one is not None:
                        kept[(op.key, op.tx_hash)] = bytes(found_one[0])
                check_payloads(orders, kept)
        if marks:
            moved_all = _mark_all(conn, marks, now)
            if moved_all is not None:
                outcome = moved_all
            else:
                current = _statuses(conn, list({op.key for _, op in marks}))
                outcome, updates = plan_marks(marks, current, now)
                conn.executemany(_UPDATE_MARK, updates)
            place_marks(results, ops, outcome)
            quality = moved_quality(marks, outcome)
            if quality:
                conn.executemany(_INSERT_QUALITY, quality)
        for index, claim in claims:
            won: set[bytes] = set()
            dead: set[bytes] = set()
            limit = -1 if claim.max_attempts is None else claim.max_attempts
            for start in range(0, len(claim.keys), _CHUNK):
                chunk = list(claim.keys[start : start + _CHUNK])
                # `+t.status`: without statistics SQLite would walk the status index (every PENDING row)
                # instead of looking the keys up.
                claimable = (
                    f"t.key IN ({', '.join('?' * len(chunk))}) AND +t.status = 'PENDING' "
                    "AND (t.claimed_by IS NULL OR t.claimed_by = ? OR t.claimed_at <= ?) "
                    f"AND {NOT_JOURNALED} AND {NOT_DEAD}"
                )
                params = [*chunk, claim.claimer, claim.stale_before]
                if limit >= 0:
                    # A job claimed `limit` times already is dead-lettered by the claim that would have
                    # been one more, in the same transaction: no window where it runs again.
                    buried = conn.execute(
                        "INSERT INTO dead_letters (key, attempts, reason, dead_at) "
                        f"SELECT t.key, t.attempts, ?, ? FROM copy_trades t WHERE {claimable} "
                        "AND t.attempts >= ? RETURNING key",
                        [DEAD_LETTER_REASON, claim.claimed_at, *params, limit],
                    ).fetchall()
                    dead.update(bytes(row[0]) for row in buried)
                sql = (
                    "UPDATE copy_trades AS t SET claimed_by = ?, claimed_at = ?, "
                    f"attempts = t.attempts + 1 WHERE {claimable} RETURNING key"
                )
                claimed = conn.execute(sql, [claim.claimer, claim.claimed_at, *params]).fetchall()
                won.update(bytes(row[0]) for row in claimed)
            results[index] = ClaimOutcome(won, dead)
        return results

    # Trades.
    async def _journal(self, key: bytes) -> list[Any]:
        rows = await self._read(
            f"SELECT {JOURNAL_COLUMNS} FROM trade_journal WHERE key = ? ORDER BY recorded_at, rowid",
            (key,),
        )
        return [journal_from_row(r) for r in rows]

    async def get_trade(self, key: bytes) -> TradeRecord | None:
        rows = await self._read(f"SELECT {TRADE_COLUMNS} FROM copy_trades WHERE key = ?", (key,))
        return trade_from_row(rows[0], await self._journal(key)) if rows else None

    async def list_trades(
        self, status: TradeStatus | None = None, follower: str | None = None, limit: int = 100
    ) -> list[TradeRecord]:
        where, params = _trade_filters(status, follower)
        rows = await self._read(
            f"SELECT {TRADE_COLUMNS} FROM copy_trades{where} ORDER BY created_at DESC, key LIMIT ?",
            (*params, limit),
        )
        return [trade_from_row(r) for r in rows]

    async def stale_pending(self, now: int, limit: int = 1000) -> list[TradeRecord]:
        rows = await self._read(
            f"SELECT {TRADE_COLUMNS} FROM copy_trades t WHERE status = 'PENDING' AND expires_at < ? "
            f"AND ({NOT_DEAD} OR NOT {NOT_JOURNALED}) "
            "ORDER BY expires_at LIMIT ?",
            (now, limit),
        )
        return [trade_from_row(r, await self._journal(bytes(r[0]))) for r in rows]

    async def daily_notional(self, since_ms: int) -> dict[str, int]:
        rows = await self._read(
            DAILY_NOTIONAL_SQL.format("?"),
            (since_ms,),
        )
        return {str(r[0]): int(r[1]) for r in rows}

    async def count_trades(self, status: TradeStatus | None = None) -> int:
        if status is None:
            rows = await self._read("SELECT COUNT(*) FROM copy_trades")
        else:
            rows = await self._read(
                "SELECT COUNT(*) FROM copy_trades WHERE status = ?", (TradeStatus(status).value,)
            )
        return int(rows[0][0])

    async def executable(self, keys: Sequence[bytes]) -> set[bytes]:
        out: set[bytes] = set()
        for start in range(0, len(keys), 500):
            chunk = list(keys[start : start + 500])
            marks = ",".join("?" * len(chunk))
            rows = await self._read(
                f"SELECT key FROM copy_trades t WHERE key IN ({marks}) AND status = 'PENDING' AND NOT EXISTS "
                "(SELECT 1 FROM trade_journal j WHERE j.key = t.key)",
                chunk,
            )
            out.update(bytes(r[0]) for r in rows)
        return out

    async def unbroadcast_pending(self, limit: int = 10_000) -> list[TradeRecord]:
        rows = await self._read(
            f"SELECT {TRADE_COLUMNS} FROM copy_trades t WHERE status = 'PENDING' AND {NOT_JOURNALED} "
            f"AND {NOT_DEAD} ORDER BY created_at LIMIT ?",
            (limit,),
        )
        return [trade_from_row(r) for r in rows]

    async def inserted_by(self, keys: Sequence[bytes], intake: str) -> set[bytes]:
        found: set[bytes] = set()
        for start in range(0, len(keys), _CHUNK):
            chunk = list(keys[start : start + _CHUNK])
            rows = await self._read(
                f"SELECT key FROM copy_trades WHERE key IN ({', '.join('?' * len(chunk))}) "
                "AND intake = ? AND status = 'PENDING'",
                [*chunk, intake],
            )
            found.update(bytes(r[0]) for r in rows)
        return found

    # Dead letters.
    async def dead_letters(self, limit: int = 100) -> list[DeadLetter]:
        rows = await self._read(
            "SELECT key, attempts, reason, dead_at FROM dead_letters ORDER BY dead_at, key LIMIT ?", (limit,)
        )
        out = []
        for key, attempts, reason, dead_at in rows:
            record = await self.get_trade(bytes(key))
            if record is not None:
                out.append(DeadLetter(bytes(key), int(attempts), str(reason), int(dead_at), record))
        return out

    async def count_dead_letters(self) -> int:
        rows = await self._read("SELECT COUNT(*) FROM dead_letters")
        return int(rows[0][0])

    @staticmethod
    async def _dead(conn: aiosqlite.Connection, key: bytes) -> bool:
        async with conn.execute("SELECT 1 FROM dead_letters WHERE key = ?", (key,)) as cursor:
            return await cursor.fetchone() is not None

    async def retry_dead_letter(self, key: bytes, expires_at: int) -> TradeRecord:
        async with self._write() as conn:
            # Read inside the write transaction: a worker cannot journal it between the check and the change.
            check_dead_letter(key, await self._record(conn, key), await self._dead(conn, key), "retry")
            await conn.execute("DELETE FROM dead_letters WHERE key = ?", (key,))
            await conn.execute(
                "UPDATE copy_trades SET attempts = 0, claimed_by = NULL, claimed_at = NULL, expires_at = ?, "
                "updated_at = ? WHERE key = ?",
                (expires_at, now_ms(), key),
            )
        record = await self.get_trade(key)
        assert record is not None
        return record

    async def drop_dead_letter(self, key: bytes) -> tuple[TradeRecord, bool]:
        async with self._write() as conn:
            record = await self._record(conn, key)
            check_dead_letter(key, record, await self._dead(conn, key), "drop")
            assert record is not None
            failed = record.status is TradeStatus.PENDING
            if failed:
                await conn.execute(
                    "UPDATE copy_trades SET status = 'FAILED', reason = ?, updated_at = ? WHERE key = ?",
                    (DROPPED_REASON, now_ms(), key),
                )
            await conn.execute("DELETE FROM dead_letters WHERE key = ?", (key,))
        record = await self.get_trade(key)
        assert record is not None
        return record, failed

    @staticmethod
    async def _record(conn: aiosqlite.Connection, key: bytes) -> TradeRecord | None:
        async with conn.execute(f"SELECT {TRADE_COLUMNS} FROM copy_trades WHERE key = ?", (key,)) as cursor:
            row = await cursor.fetchone()
        if row is None:
            return None
        async with conn.execute(
            f"SELECT {JOURNAL_COLUMNS} FROM trade_journal WHERE key = ? ORDER BY recorded_at, rowid", (key,)
        ) as cursor:
            journal = [journal_from_row(r) for r in await cursor.fetchall()]
        return trade_from_row(row, journal)

    async def journaled_txs(self, tx_hashes: Sequence[bytes]) -> set[bytes]:
        wanted = list(dict.fromkeys(bytes(h) for h in tx_hashes))
        found: set[bytes] = set()
        for start in range(0, len(wanted), 500):  # SQLite's bound on host parameters
            chunk = wanted[start : start + 500]
            marks = ", ".join("?" * len(chunk))
            rows = await self._read(
                f"SELECT tx_hash FROM trade_journal WHERE tx_hash IN ({marks}) "
                f"UNION SELECT repay_tx FROM debts WHERE repay_tx IN ({marks})",
                (*chunk, *chunk),
            )
            found.update(bytes(r[0]) for r in rows)
        return found

    async def flag_reorged(self, tx_hash: bytes | str, log_index: int, sub_index: int = 0) -> list[bytes]:
        async with (
            self._write() as conn,
            conn.execute(
                "UPDATE copy_trades SET reorged = 1, updated_at = ? "
                "WHERE tx_hash = ? AND log_index = ? AND sub_index = ? RETURNING key",
                (now_ms(), tx_bytes(tx_hash), log_index, sub_index),
            ) as cursor,
        ):
            return [bytes(r[0]) for r in await cursor.fetchall()]

    async def flag_copies(
        self, tx_hash: bytes | str, log_index: int, sub_index: int, flag: str
    ) -> list[bytes]:
        async with self._write() as conn:
            cursor = await conn.execute(
                "SELECT key FROM copy_trades WHERE tx_hash = ? AND log_index = ? AND sub_index = ?",
                (tx_bytes(tx_hash), log_index, sub_index),
            )
            keys = [bytes(r[0]) for r in await cursor.fetchall()]
            await cursor.close()
            await conn.executemany(
                "INSERT INTO copy_flags (key, flag, flagged_at) VALUES (?, ?, ?) ON CONFLICT DO NOTHING",
                [(key, flag, now_ms()) for key in keys],
            )
        return keys

    async def flag_keys(self, keys: Sequence[bytes], flag: str) -> list[bytes]:
        wanted = list(dict.fromkeys(bytes(k) for k in keys))
        found: set[bytes] = set()
        async with self._write() as conn:
            for start in range(0, len(wanted), _CHUNK):
                chunk = wanted[start : start + _CHUNK]
                cursor = await conn.execute(
                    f"SELECT key FROM copy_trades WHERE key IN ({', '.join('?' * len(chunk))})", chunk
                )
                found.update(bytes(r[0]) for r in await cursor.fetchall())
                await cursor.close()
            now = now_ms()
            await conn.executemany(
                "INSERT INTO copy_flags (key, flag, flagged_at) VALUES (?, ?, ?) ON CONFLICT DO NOTHING",
                [(key, flag, now) for key in wanted if key in found],
            )
        return [key for key in wanted if key in found]

    async def unsettled_unlogged(self, since_ms: int, until_ms: int, limit: int = 1000) -> list[bytes]:
        rows = await self._read(UNSETTLED_UNLOGGED.format("?", "?", "?"), (since_ms, until_ms, limit))
        return [bytes(r[0]) for r in rows]

    async def flags_of(self, key: bytes) -> set[str]:
        return {str(r[0]) for r in await self._read("SELECT flag FROM copy_flags WHERE key = ?", (key,))}

    # Copy quality and reports.
    async def record_quality(self, rows: Sequence[CopyQuality]) -> int:
        if not rows:
            return 0
        async with self._write() as conn:
            before = conn.total_changes
            await conn.executemany(_INSERT_QUALITY, [quality_row(q) for q in rows])
            return conn.total_changes - before

    async def quality_between(
        self, since_ms: int, until_ms: int, follower: str | None = None, leader: str | None = None
    ) -> list[CopyQuality]:
        clauses, params = period_filters(since_ms, until_ms, follower, leader, "filled_at")
        where = " AND ".join(clauses).replace("{}", "?")
        rows = await self._read(
            f"SELECT {QUALITY_COLUMNS} FROM copy_quality WHERE {where} ORDER BY filled_at, key", params
        )
        return [quality_from_row(r) for r in rows]

    async def trades_between(
        self, since_ms: int, until_ms: int, follower: str | None = None, leader: str | None = None
    ) -> list[TradeRecord]:
        clauses, params = period_filters(since_ms, until_ms, follower, leader, "created_at")
        where = " AND ".join(clauses).replace("{}", "?")
        rows = await self._read(
            f"SELECT {TRADE_COLUMNS} FROM copy_trades WHERE {where} ORDER BY created_at, key", params
        )
        return [trade_from_row(r) for r in rows]

    # Configs.
    async def add_config(self, config: CopyConfig) -> CopyConfig:
        now = now_ms()
        try:
            async with self._write() as conn:
                cursor = await conn.execute(
                    f"INSERT INTO copy_configs ({CONFIG_COLUMNS.removeprefix('config_id, ')}, created_at) "
                    f"VALUES ({', '.join('?' * 20)})",
                    (*config_values(config), now, now),
                )
                config_id = cursor.lastrowid
                await cursor.close()
        except sqlite3.IntegrityError as exc:
            raise config_refused(exc, config) from None
        stored = await self.get_config(int(config_id or 0))
        assert stored is not None
        return stored

    async def update_config(self, config: CopyConfig) -> CopyConfig | None:
        columns = CONFIG_COLUMNS.removeprefix("config_id, ").removesuffix(", updated_at").split(", ")
        try:
            async with self._write() as conn:
                await conn.execute(
                    f"UPDATE copy_configs SET {', '.join(f'{c} = ?' for c in columns)}, updated_at = ? "
                    "WHERE config_id = ? AND removed_at IS NULL",
                    (*config_values(config), now_ms(), config.config_id),
                )
        except sqlite3.IntegrityError as exc:
            raise config_refused(exc, config) from None
        return await self.get_config(config.config_id)

    async def get_config(self, config_id: int) -> CopyConfig | None:
        rows = await self._read(
            f"SELECT {CONFIG_COLUMNS} FROM copy_configs WHERE config_id = ? AND removed_at IS NULL",
            (config_id,),
        )
        return config_from_row(rows[0]) if rows else None

    async def list_configs(
        self, follower: str | None = None, leader: str | None = None, enabled_only: bool = False
    ) -> list[CopyConfig]:
        clauses, params = ["removed_at IS NULL"], []
        if follower is not None:
            clauses.append("follower = ?")
            params.append(follower.lower())
        if leader is not None:
            clauses.append("leader = ?")
            params.append(leader.lower())
        if enabled_only:
            clauses.append("enabled = 1")
        rows = await self._read(
            f"SELECT {CONFIG_COLUMNS} FROM copy_configs WHERE {' AND '.join(clauses)} ORDER BY config_id",
            params,
        )
        return [config_from_row(r) for r in rows]

    async def set_enabled(self, config_id: int, enabled: bool) -> CopyConfig | None:
        try:
            async with self._write() as conn:
                await conn.execute(
                    "UPDATE copy_configs SET enabled = ?, updated_at = ? "
                    "WHERE config_id = ? AND removed_at IS NULL",
                    (int(enabled), now_ms(), config_id),
                )
        except sqlite3.IntegrityError as exc:
            raise config_refused(exc) from None
        return await self.get_config(config_id)

    async def remove_config(self, config_id: int) -> bool:
        now = now_ms()
        async with self._write() as conn:
            cursor = await conn.execute(
                "UPDATE copy_configs SET removed_at = ?, updated_at = ?, enabled = 0 "
                "WHERE config_id = ? AND removed_at IS NULL",
                (now, now, config_id),
            )
            removed = cursor.rowcount > 0
            await cursor.close()
        return removed

    async def configs_changed_since(self, since: int) -> ConfigChanges:
        rows = await self._read(
            f"SELECT {CONFIG_COLUMNS}, removed_at FROM copy_configs WHERE updated_at >= ? ORDER BY config_id",
            (since,),
        )
        return changes_from_rows(rows, since)

    # Chain identity.
    async def chain_identity(self) -> tuple[int, str] | None:
        rows = await self._read("SELECT chain_id, genesis_hash FROM chain_identity WHERE only_row = 1")
        return (int(rows[0][0]), str(rows[0][1])) if rows else None

    async def set_chain_identity(self, chain_id: int, genesis_hash: str) -> None:
        async with self._write() as conn:
            await conn.execute(
                "INSERT INTO chain_identity (only_row, chain_id, genesis_hash, recorded_at) "
                "VALUES (1, ?, ?, ?) "
                "ON CONFLICT (only_row) DO UPDATE SET chain_id = excluded.chain_id, "
                "genesis_hash = excluded.genesis_hash, recorded_at = excluded.recorded_at",
                (chain_id, genesis_hash.lower(), now_ms()),
            )

    # Checkpoints.
    async def get_checkpoint(self, source: str) -> int | None:
        rows = await self._read("SELECT block FROM checkpoints WHERE source = ?", (source,))
        return int(rows[0][0]) if rows else None

    async def set_checkpoint(self, source: str, block: int) -> None:
        async with self._write() as conn:
            await conn.execute(
                "INSERT INTO checkpoints (source, block, updated_at) VALUES (?, ?, ?) "
                "ON CONFLICT (source) DO UPDATE SET block = excluded.block, updated_at = excluded.updated_at",
                (source, block, now_ms()),
            )

    # Debts.
    async def add_debt(self, debt: DebtRecord) -> DebtRecord:
        now = now_ms()
        async with (
            self._write() as conn,
            conn.execute(
                "INSERT INTO debts (proxy, worker, amount, trade_key, status, created_at) "
                f"VALUES (?, ?, ?, ?, 'OPEN', ?) RETURNING {DEBT_COLUMNS}",
                (debt.proxy.lower(), debt.worker.lower(), debt.amount, debt.trade_key, now),
            ) as cursor,
        ):
            row = await cursor.fetchone()
        assert row is not None
        return debt_from_row(row)

    async def list_debts(
        self, status: DebtStatus | None = None, proxy: str | None = None
    ) -> list[DebtRecord]:
        clauses, params = ["1 = 1"], []
        if status is not None:
            clauses.append("status = ?")
            params.append(str(status))
        if proxy is not None:
            clauses.append("proxy = ?")
            params.append(proxy.lower())
        rows = await self._read(
            f"SELECT {DEBT_COLUMNS} FROM debts WHERE {' AND '.join(clauses)} ORDER BY debt_id", params
        )
        return [debt_from_row(r) for r in rows]

    async def reassign_debt(self, debt_id: int, worker: str) -> bool:
        async with self._write() as conn:
            cursor = await conn.execute(
                "UPDATE debts SET worker = ? WHERE debt_id = ? AND status = 'OPEN'", (worker.lower(), debt_id)
            )
            moved = cursor.rowcount > 0
            await cursor.close()
        return moved

    async def mark_debt_repaid(self, debt_id: int, repay_tx: bytes | str) -> bool:
        async with self._write() as conn:
            cursor = await conn.execute(
                "UPDATE debts SET status = 'REPAID', repaid_at = ?, repay_tx = ? "
                "WHERE debt_id = ? AND status = 'OPEN'",
                (now_ms(), tx_bytes(repay_tx), debt_id),
            )
            moved = cursor.rowcount > 0
            await cursor.close()
        return moved

    # Daily usage.
    async def add_usage(self, day: str, scope: str, amount: int) -> int:
        async with (
            self._write() as conn,
            conn.execute(
                "INSERT INTO guardrail_usage (day, scope, amount) VALUES (?, ?, ?) "
                "ON CONFLICT (day, scope) DO UPDATE SET amount = amount + excluded.amount RETURNING amount",
                (day, scope, amount),
            ) as cursor,
        ):
            row = await cursor.fetchone()
        assert row is not None
        return int(row[0])

    async def get_usage(self, day: str, scope: str) -> int:
        rows = await self._read(
            "SELECT amount FROM guardrail_usage WHERE day = ? AND scope = ?", (day, scope)
        )
        return int(rows[0][0]) if rows else 0


def _trade_filters(status: TradeStatus | None, follower: str | None) -> tuple[str, list[Any]]:
    clauses: list[str] = []
    params: list[Any] = []
    if status is not None:
        clauses.append("status = ?")
        params.append(str(status))
    if follower is not None:
        clauses.append("follower = ?")
        params.append(follower.lower())
    return (" WHERE " + " AND ".join(clauses) if clauses else ""), params


def _keys_where(conn: sqlite3.Connection, select: str, keys: list[bytes], *extra: Any) -> list[Any]:
    """Rows of `select` (whose WHERE has `key IN ({})`, then `extra`'s placeholders) over `keys`."""
    found: list[Any] = []
    for start in range(0, len(keys), _CHUNK):
        chunk = keys[start : start + _CHUNK]
        found += conn.execute(select.format(", ".join("?" * len(chunk))), [*chunk, *extra]).fetchall()
    return found


def _own_rows(conn: sqlite3.Connection, keys: list[bytes], intake: str) -> set[bytes]:
    sql = "SELECT key FROM copy_trades WHERE key IN ({}) AND intake = ? AND status = 'PENDING'"
    return {bytes(row[0]) for row in _keys_where(conn, sql, keys, intake)}


def _existing_keys(conn: sqlite3.Connection, keys: list[bytes]) -> set[bytes]:
    return {bytes(row[0]) for row in _keys_where(conn, "SELECT key FROM copy_trades WHERE key IN ({})", keys)}


def _statuses(conn: sqlite3.Connection, keys: list[bytes]) -> dict[bytes, str]:
    sql = "SELECT key, status FROM copy_trades WHERE key IN ({})"
    return {bytes(row[0]): str(row[1]) for row in _keys_where(conn, sql, keys)}


def _insert_new(conn: sqlite3.Connection, rows: list[tuple[Any, ...]], with_intake: bool) -> set[bytes]:
    """Inserts those of `rows` whose key is not stored yet; returns their keys. One statement, with no
    savepoint (a savepoint makes SQLite copy every page the insert changes to a statement journal: half a
    millisecond of a 100-row insert): a stored key is skipped by `ON CONFLICT (key) DO NOTHING`, any other
    constraint fails the statement. When the change count says fewer went in (a replay), the rows this
    statement added are the ones past the table's last rowid before it (a new row's rowid is the largest
    plus one, in a table that never reached the largest rowid there is)."""
    if not rows:
        return set()
    sql = (_INSERT_TRADE if with_intake else _INSERT_TRADE_V3) + " ON CONFLICT (key) DO NOTHING"
    last = conn.execute("SELECT max(rowid) FROM copy_trades").fetchone()[0] or 0
    if last >= _MAX_ROWID:
        # SQLite picks new rowids at random past this point: the stored keys are looked up first instead.
        existing = _existing_keys(conn, list({row[0] for row in rows}))
        rows = [row for row in rows if row[0] not in existing]
        conn.executemany(sql, rows)
        return {row[0] for row in rows}
    before = conn.total_changes
    conn.executemany(sql, rows)
    if conn.total_changes - before == len(rows):
        return {row[0] for row in rows}
    return {bytes(row[0]) for row in conn.execute("SELECT key FROM copy_trades WHERE rowid > ?", (last,))}


_MAX_ROWID = 2**63 - 1


def _mark_all(
    conn: sqlite3.Connection, marks: Sequence[tuple[MarkIndex, Mark]], now: int
) -> dict[MarkIndex, bool] | None:
    """The common case of a batch's marks: every one moves (each row is in a status it expects). Applied in
    order, each only from its expected statuses; when the change count says all moved, that is the outcome.
    Otherwise (or for a mark expecting more than two statuses) nothing is kept and None says so: the caller
    plans them from the rows' statuses."""
    params: list[tuple[Any, ...]] = []
    for _, mark in marks:
        expected = sorted(s.value for s in mark.expect)
        if not 1 <= len(expected) <= 2:
            return None
        txs = ",".join(h.hex() for h in mark.txs) if mark.txs else None
        params.append(
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
                expected[0],
                expected[-1],
            )
        )
    conn.execute("SAVEPOINT all_marks")
    before = conn.total_changes
    conn.executemany(_UPDATE_MARK_IF, params)
    moved = conn.total_changes - before == len(params)
    if not moved:
        conn.execute("ROLLBACK TO all_marks")
    conn.execute("RELEASE all_marks")
    return {where: True for where, _ in marks} if moved else None


async def _close(conn: aiosqlite.Connection) -> None:
    """Closes an aiosqlite connection and waits for its (non-daemon) thread to end: the close returns once
    the thread answered, a moment before it exits."""
    await conn.close()
    thread = getattr(conn, "_thread", None)
    for _ in range(1000):
        if not isinstance(thread, threading.Thread) or not thread.is_alive():
            return
        await asyncio.sleep(0.001)
