"""The store's redemptions and merges of Proxies' positions (migration 8), on SQLite and PostgreSQL alike.

A row is one Proxy's redemption (or merge) of one condition's positions over one collateral, keyed by
`redemption_key(kind, ref, proxy, condition, collateral)`: the same key is never run twice while its row
is PENDING, DONE or CLOSED, and runs again only from FAILED (`add` takes it back). Every transaction hash
sent for a row is journaled (`redemption_journal`) before its broadcast, so that recovery can ask the chain
about each.
Statuses: PENDING (sent or about to be), DONE (paid), CLOSED (a losing position: paid 0), FAILED (nothing of
it happened on chain).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from polyhunter._core import keccak256
from polyhunter.errors import InvalidInputError, StoreError
from polyhunter.models import now_ms
from polyhunter.store.base import Store

RedemptionKind = Literal["REDEEM", "MERGE"]
PENDING, DONE, CLOSED, FAILED = "PENDING", "DONE", "CLOSED", "FAILED"
_STATUSES = (PENDING, DONE, CLOSED, FAILED)
_COLUMNS = (
    "key, kind, ref, proxy, condition_id, collateral, paid_token, amount, payout, status, tx_hash, reason, "
    "created_at, updated_at"
)


@dataclass(frozen=True, slots=True)
class Redemption:
    """One Proxy's redemption or merge of one condition's positions over `collateral` (lower-case 0x hex);
    `amount` the tokens redeemed (YES + NO) or merged (of each), `payout` base units of `paid_token` (None
    until known), `tx_hash` the transaction that mined it."""

    key: bytes
    kind: str
    ref: str
    proxy: str
    condition_id: str
    collateral: str
    paid_token: str
    amount: int
    payout: int | None
    status: str
    tx_hash: bytes | None
    reason: str | None
    created_at: int
    updated_at: int

    def to_json(self) -> dict[str, Any]:
        return {
            "key": "0x" + self.key.hex(),
            "kind": self.kind,
            "ref": self.ref,
            "proxy": self.proxy,
            "condition_id": self.condition_id,
            "collateral": self.collateral,
            "paid_token": self.paid_token,
            "amount": self.amount,
            "payout": self.payout,
            "status": self.status,
            "tx_hash": None if self.tx_hash is None else "0x" + self.tx_hash.hex(),
            "reason": self.reason,
        }


def redemption_key(kind: str, ref: str, proxy: str, condition_id: str, collateral: str) -> bytes:
    """The row's identity: keccak256 of its parts, addresses and ids lower-case."""
    if kind not in ("REDEEM", "MERGE"):
        raise InvalidInputError(f"redemption kind must be REDEEM or MERGE: {kind!r}")
    parts = (kind, ref, proxy.lower(), condition_id.lower(), collateral.lower())
    return keccak256("|".join(parts).encode())


def _row(row: Any) -> Redemption:
    return Redemption(
        key=bytes(row[0]),
        kind=str(row[1]),
        ref=str(row[2]),
        proxy=str(row[3]),
        condition_id=str(row[4]),
        collateral=str(row[5]),
        paid_token=str(row[6]),
        amount=int(row[7]),
        payout=None if row[8] is None else int(row[8]),
        status=str(row[9]),
        tx_hash=None if row[10] is None else bytes(row[10]),
        reason=None if row[11] is None else str(row[11]),
        created_at=int(row[12]),
        updated_at=int(row[13]),
    )


def _dollar(sql: str) -> str:
    """`?` placeholders as PostgreSQL's `$1, $2, …`."""
    parts = sql.split("?")
    return "".join(p + (f"${i + 1}" if i < len(parts) - 1 else "") for i, p in enumerate(parts))


class Redemptions:
    """Reads and writes the redemption tables of an open `store` (SQLite or PostgreSQL)."""

    def __init__(self, store: Store) -> None:
        from polyhunter.store.postgres import PostgresStore
        from polyhunter.store.sqlite import SqliteStore

        if not isinstance(store, SqliteStore | PostgresStore):
            raise StoreError(f"redemptions need a SQLite or PostgreSQL store, not {type(store).__name__}")
        self.store = store
        self._pg = isinstance(store, PostgresStore)

    # ---------------------------------------------------------------- plumbing

    async def _execute(self, statements: Sequence[tuple[str, Sequence[Any]]]) -> list[int]:
        """Runs the statements in one transaction; the rows each changed."""
        from polyhunter.store.postgres import PostgresStore
        from polyhunter.store.sqlite import SqliteStore

        counts: list[int] = []
        if isinstance(self.store, PostgresStore):
            async with self.store.pool.acquire() as conn, conn.transaction():
                for sql, params in statements:
                    status = await conn.execute(_dollar(sql), *params)
                    counts.append(int(str(status).rsplit(" ", 1)[-1]))
            return counts
        assert isinstance(self.store, SqliteStore)
        async with self.store._write() as lite:
            for sql, params in statements:
                cursor = await lite.execute(sql, tuple(params))
                counts.append(cursor.rowcount)
                await cursor.close()
        return counts

    async def _fetch(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        from polyhunter.store.postgres import PostgresStore
        from polyhunter.store.sqlite import SqliteStore

        if isinstance(self.store, PostgresStore):
            return list(await self.store.pool.fetch(_dollar(sql), *params))
        assert isinstance(self.store, SqliteStore)
        return await self.store._read(sql, tuple(params))

    # ------------------------------------------------------------------ writes

    async def add(
        self,
        kind: RedemptionKind,
        ref: str,
        proxy: str,
        condition_id: str,
        collateral: str,
        paid_token: str,
        amount: int,
    ) -> Redemption | None:
        """A new PENDING row, or a FAILED one of the same key taken back to PENDING; None when the key is
        already PENDING, DONE or CLOSED (someone runs it, or it ran)."""
        if isinstance(amount, bool) or not isinstance(amount, int) or amount < 0:
            raise InvalidInputError(f"a redemption's amount must be a non-negative integer: {amount!r}")
        key = redemption_key(kind, ref, proxy, condition_id, collateral)
        now = now_ms()
        insert = (
            f"INSERT INTO redemptions ({_COLUMNS}) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, NULL, 'PENDING', NULL, NULL, ?, ?) "
            "ON CONFLICT (key) DO UPDATE SET status = 'PENDING', amount = excluded.amount, payout = NULL, "
            "tx_hash = NULL, reason = NULL, updated_at = excluded.updated_at "
            "WHERE redemptions.status = 'FAILED'"
        )
        params = (
            key,
            kind,
            ref,
            proxy.lower(),
            condition_id.lower(),
            collateral.lower(),
            paid_token.lower(),
            amount,
            now,
            now,
        )
        (changed,) = await self._execute([(insert, params)])
        if not changed:
            return None
        return await self.get(key)

    async def record_tx(self, keys: Sequence[bytes], wallet: str, nonce: int, tx_hash: bytes) -> None:
        """Journals a hash sent (or about to be) for each of `keys`; durable when this returns."""
        sql = (
            "INSERT INTO redemption_journal (key, tx_hash, wallet, nonce, recorded_at) "
            "VALUES (?, ?, ?, ?, ?) "
            "ON CONFLICT (key, tx_hash) DO NOTHING"
        )
        now = now_ms()
        await self._execute([(sql, (key, tx_hash, wallet.lower(), nonce, now)) for key in keys])

    async def finish(self, outcomes: Sequence[tuple[bytes, int]], tx_hash: bytes) -> int:
        """Each PENDING `(key, payout)` → DONE (CLOSED when a redemption paid 0), mined in `tx_hash`; how many
        moved."""
        sql = (
            "UPDATE redemptions SET "
            "status = CASE WHEN ? = 0 AND kind = 'REDEEM' THEN 'CLOSED' ELSE 'DONE' END, "
            "payout = ?, tx_hash = ?, updated_at = ? WHERE key = ? AND status = 'PENDING'"
        )
        now = now_ms()
        counts = await self._execute([(sql, (p, p, tx_hash, now, key)) for key, p in outcomes])
        return sum(counts)

    async def fail(self, keys: Sequence[bytes], reason: str) -> int:
        """PENDING rows → FAILED (nothing of them on chain); how many moved."""
        sql = (
            "UPDATE redemptions SET status = 'FAILED', reason = ?, updated_at = ? "
            "WHERE key = ? AND status = 'PENDING'"
        )
        now = now_ms()
        return sum(await self._execute([(sql, (reason, now, key)) for key in keys]))

    # ------------------------------------------------------------------- reads

    async def get(self, key: bytes) -> Redemption | None:
        rows = await self._fetch(f"SELECT {_COLUMNS} FROM redemptions WHERE key = ?", (key,))
        return _row(rows[0]) if rows else None

    async def find(self, status: str | None = None, proxy: str | None = None) -> list[Redemption]:
        """Rows oldest first, filtered by status and Proxy."""
        if status is not None and status not in _STATUSES:
            raise InvalidInputError(f"redemption status must be one of {_STATUSES}: {status!r}")
        where, params = [], []
        if status is not None:
            where.append("status = ?")
            params.append(status)
        if proxy is not None:
            where.append("proxy = ?")
            params.append(proxy.lower())
        clause = f" WHERE {' AND '.join(where)}" if where else ""
        rows = await self._fetch(
            f"SELECT {_COLUMNS} FROM redemptions{clause} ORDER BY created_at, key", params
        )
        return [_row(r) for r in rows]

    async def journal(self, key: bytes) -> list[tuple[bytes, str, int]]:
        """(tx_hash, wallet, nonce) of every hash journaled for `key`, oldest first."""
        rows = await self._fetch(
            "SELECT tx_hash, wallet, nonce FROM redemption_journal WHERE key = ? "
            "ORDER BY recorded_at, tx_hash",
            (key,),
        )
        return [(bytes(r[0]), str(r[1]), int(r[2])) for r in rows]

    async def holders(self, token_ids: Sequence[int]) -> dict[str, set[int]]:
        """Proxy → the ones of `token_ids` it bought (EXECUTED BUY copies): who may hold a condition's
        tokens."""
        if not token_ids:
            return {}
        marks = ", ".join("?" for _ in token_ids)
        rows = await self._fetch(
            f"SELECT DISTINCT proxy, token_id FROM copy_trades WHERE status = 'EXECUTED' AND side = 'BUY' "
            f"AND token_id IN ({marks})",
            [str(t) for t in token_ids],
        )
        found: dict[str, set[int]] = {}
        for proxy, token in rows:
            found.setdefault(str(proxy).lower(), set()).add(int(token))
        return found
