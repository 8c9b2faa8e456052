"""Redeems resolved markets into the Proxies holding them, and merges matched YES + NO, through the Executor.

The watcher reads the CTF's `ConditionResolution` logs (the NegRiskAdapter resolves its questions through
the same CTF, so neg-risk markets come with them) from a checkpoint. For each resolved condition, the
Proxies that bought one of its tokens (the store's EXECUTED BUY copies) are read on chain: those still
holding both outcomes merge the matched amount, then every holder redeems the rest. Which collateral a
position is over (and so what it pays: pUSD, or USDC.e for USDC.e and unwrapped neg-risk positions) is
derived from its position id, which commits to it (`keccak256(collateral ‖ collection id)`).

Each batch is one Executor transaction (`redeemBatch` / `mergeBatch`, all or nothing) for one (kind,
condition, collateral). Rows are written PENDING first, every hash is journaled before its broadcast, and the
payouts come from the Executor's own events in the receipt; a crash between broadcast and bookkeeping is
settled by `recover` from the journal and the chain (mined → the events' payouts; reverted or void → FAILED,
retried by the next resolution pass). A redemption that pays 0 (a losing position) is CLOSED.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from eth_abi.abi import decode

from polyhunter.chain.adapters import wrapped_collateral_address
from polyhunter.chain.ctf import binary_token_ids
from polyhunter.errors import ChainError, ExecutionError, InvalidInputError
from polyhunter.execution import calls
from polyhunter.execution.localchain import LocalChainEngine
from polyhunter.execution.onchain import OK, PENDING, journaled_tx_state
from polyhunter.execution.sender import SendFailed, TxReverted
from polyhunter.models import DebtRecord, JournalEntry, now_ms
from polyhunter.shared.base import SharedState
from polyhunter.store.base import Store
from polyhunter.store.redemptions import Redemption, RedemptionKind, Redemptions

log = logging.getLogger(__name__)

#: Test-only crash point: after the redemption's broadcast, before its outcome is recorded.
FAULT_AFTER_BROADCAST = "redeem-after-broadcast"
STEP_REDEEMED, STEP_MERGED = "REDEEMED", "MERGED"
RESOLUTION_REF = "resolution"
# A CTF redemption with its payout transfer costs ~60-90k gas per Proxy; unwrapping neg-risk collateral adds
# ~40k. Generous limits: a redemption that runs out of gas would only be retried.
GAS_BASE = 100_000
GAS_PER_PROXY = 200_000
# How far back a first start looks for resolutions, and the widest log range asked at once.
LOOKBACK_BLOCKS = 50_000
LOG_RANGE = 5_000


def _hex32(value: bytes | str, what: str) -> bytes:
    raw = bytes.fromhex(value.removeprefix("0x")) if isinstance(value, str) else value
    if len(raw) != 32:
        raise InvalidInputError(f"{what} must be 32 bytes: {value!r}")
    return raw


@dataclass(frozen=True, slots=True)
class Position:
    """What positions of a condition may be over: `collateral`, paying `paid_token` into the Proxy."""

    collateral: str
    paid_token: str
    yes: int
    no: int


@dataclass
class RedeemStats:
    redeemed: int = 0
    closed: int = 0
    merged: int = 0
    failed: int = 0
    recovered: int = 0
    resolutions: int = 0
    passes: int = 0


class _BatchJournal:
    """Journals each hash of a batch's transaction under every row of the batch, in one store write."""

    def __init__(self, redemptions: Redemptions, keys: Sequence[bytes]) -> None:
        self.redemptions, self.keys = redemptions, list(keys)

    async def record_tx(self, step: str, wallet: str, nonce: int, tx_hash: bytes | str) -> None:
        raw = tx_hash if isinstance(tx_hash, bytes) else bytes.fromhex(tx_hash.removeprefix("0x"))
        await self.redemptions.record_tx(self.keys, wallet, nonce, raw)

    async def record_order(self, wallet: str, order_hash: bytes, body: bytes) -> None:
        raise ExecutionError("a redemption posts no order")

    async def add_debt(self, proxy: str, worker: str, amount: int) -> DebtRecord:
        raise ExecutionError("a redemption records no debt")


class Redeemer:
    """Redemptions and merges of the Proxies' positions, from the engine's fleet (docs/seams.md)."""

    def __init__(
        self,
        engine: LocalChainEngine,
        store: Store,
        *,
        shared: SharedState | None = None,
        poll_s: float = 15.0,
        batch: int = 50,
        start_block: int | None = None,
        min_age_ms: int = 30_000,
    ) -> None:
        if batch < 1:
            raise InvalidInputError(f"a redemption batch holds at least one Proxy: {batch}")
        self.engine = engine
        self.store = store
        self.redemptions = Redemptions(store)
        self.shared = shared
        self.poll_s = poll_s
        self.batch = batch
        self.start_block = start_block
        self.min_age_ms = min_age_ms
        self.stats = RedeemStats()
        c = engine.deployment.contracts
        self.executor, self.ctf = engine.custody.executor, engine.custody.ctf
        positions = [(engine.custody.collateral.lower(), engine.custody.collateral.lower())]
        if c.usdce:
            positions.append((c.usdce.lower(), c.usdce.lower()))
            if c.neg_risk_adapter:
                positions.append((wrapped_collateral_address(c.neg_risk_adapter), c.usdce.lower()))
        self.collaterals = tuple(positions)
        self._inflight: set[bytes] = set()

    @property
    def checkpoint_source(self) -> str:
        return f"redeemer:{self.engine.deployment.chain_id}:{self.ctf.lower()}"

    # ----------------------------------------------------------------- reading

    def positions(self, condition_id: bytes | str) -> list[Position]:
        """The condition's (YES, NO) ids over each collateral positions may be over."""
        condition = _hex32(condition_id, "condition id")
        return [Position(c, paid, *binary_token_ids(c, condition)) for c, paid in self.collaterals]

    async def _call(self, to: str, data: bytes) -> bytes:
        reply = await self.engine.rpc.call("eth_call", [{"to": to, "data": "0x" + data.hex()}, "latest"])
        return bytes.fromhex(str(reply).removeprefix("0x"))

    async def _balance(self, proxy: str, token_id: int) -> int:
        return int.from_bytes(await self._call(self.ctf, calls.balance_of_1155(proxy, token_id)) or b"\0")

    async def _registered(self, proxy: str) -> bool:
        return any(await self._call(self.executor, calls.proxy_owner(proxy)))

    async def holdings(self, condition_id: bytes | str) -> dict[tuple[str, str], tuple[int, int]]:
        """(proxy, collateral) → (YES, NO) held now, for every registered Proxy the store saw buy a token of
        the condition and that still holds some."""
        found: dict[tuple[str, str], tuple[int, int]] = {}
        for position in self.positions(condition_id):
            buyers = await self.redemptions.holders([position.yes, position.no])
            for proxy in sorted(buyers):
                yes, no = await self._balance(proxy, position.yes), await self._balance(proxy, position.no)
                if (yes or no) and await self._registered(proxy):
                    found[(proxy, position.collateral)] = (yes, no)
                elif yes or no:
                    log.warning("Proxy %s holds condition positions but the Executor does not know it", proxy)
        return found

    def _paid_token(self, collateral: str) -> str:
        return next(paid for c, paid in self.collaterals if c == collateral)

    # ----------------------------------------------------------------- acting

    async def on_resolution(self, condition_id: bytes | str) -> list[Redemption]:
        """Merges each holder's matched YES + NO, then redeems what every holder has left."""
        condition = "0x" + _hex32(condition_id, "condition id").hex()
        holdings = await self.holdings(condition)
        done: list[Redemption] = []
        by_collateral: dict[str, list[tuple[str, int, int]]] = {}
        for (proxy, collateral), (yes, no) in holdings.items():
            by_collateral.setdefault(collateral, []).append((proxy, yes, no))
        for collateral, held in by_collateral.items():
            merges = [(p, min(y, n)) for p, y, n in held if min(y, n) > 0]
            if merges:
                done += await self._run("MERGE", RESOLUTION_REF, condition, collateral, merges)
            rest = [(p, y + n - 2 * min(y, n)) for p, y, n in held if y + n - 2 * min(y, n) > 0]
            if rest:
                done += await self._run("REDEEM", RESOLUTION_REF, condition, collateral, rest)
        return done

    async def redeem(
        self, condition_id: bytes | str, proxies: Sequence[str] | None = None
    ) -> list[Redemption]:
        """Redeems all positions of a resolved condition held by `proxies` (default: every holder)."""
        condition = "0x" + _hex32(condition_id, "condition id").hex()
        wanted = None if proxies is None else {p.lower() for p in proxies}
        by_collateral: dict[str, list[tuple[str, int]]] = {}
        for (proxy, collateral), (yes, no) in (await self.holdings(condition)).items():
            if wanted is None or proxy in wanted:
                by_collateral.setdefault(collateral, []).append((proxy, yes + no))
        done: list[Redemption] = []
        for collateral, held in by_collateral.items():
            done += await self._run("REDEEM", RESOLUTION_REF, condition, collateral, held)
        return done

    async def merge(
        self, proxies_amounts: Sequence[tuple[str, int]], condition_id: bytes | str, *, ref: str
    ) -> list[Redemption]:
        """Merges `amount` YES + NO of the condition in each Proxy, cut to what it holds of both (a Proxy
        holding none of either is left out); once per (ref, proxy, condition)."""
        if not ref:
            raise InvalidInputError("a merge needs a ref (e.g. the leader's merge transaction hash)")
        condition = "0x" + _hex32(condition_id, "condition id").hex()
        for proxy, amount in proxies_amounts:
            if isinstance(amount, bool) or not isinstance(amount, int) or amount <= 0:
                raise InvalidInputError(f"merge amount for {proxy} must be a positive integer: {amount!r}")
        asked = {p.lower(): a for p, a in proxies_amounts}
        by_collateral: dict[str, list[tuple[str, int]]] = {}
        for position in self.positions(condition):
            for proxy, amount in asked.items():
                yes, no = await self._balance(proxy, position.yes), await self._balance(proxy, position.no)
                cut = min(amount, yes, no)
                if cut > 0:
                    by_collateral.setdefault(position.collateral, []).append((proxy, cut))
        done: list[Redemption] = []
        for collateral, legs in by_collateral.items():
            done += await self._run("MERGE", ref, condition, collateral, legs)
        return done

    async def _run(
        self, kind: RedemptionKind, ref: str, condition: str, collateral: str, legs: Sequence[tuple[str, int]]
    ) -> list[Redemption]:
        done: list[Redemption] = []
        for start in range(0, len(legs), self.batch):
            done += await self._send(kind, ref, condition, collateral, legs[start : start + self.batch])
        return done

    async def _send(
        self, kind: RedemptionKind, ref: str, condition: str, collateral: str, legs: Sequence[tuple[str, int]]
    ) -> list[Redemption]:
        paid_token = self._paid_token(collateral)
        rows: list[Redemption] = []
        for proxy, amount in legs:
            row = await self.redemptions.add(kind, ref, proxy, condition, collateral, paid_token, amount)
            if row is not None:
                rows.append(row)
        if not rows:
            return []
        keys = [r.key for r in rows]
        self._inflight.update(keys)
        try:
            condition_raw = _hex32(condition, "condition id")
            proxies = [r.proxy for r in rows]
            data = (
                calls.redeem_batch(proxies, self.ctf, collateral, condition_raw)
                if kind == "REDEEM"
                else calls.merge_batch(proxies, self.ctf, collateral, condition_raw, [r.amount for r in rows])
            )
            wallet = await self.engine.checkout()
            try:
                sent = await self.engine.sender.send(
                    wallet,
                    STEP_REDEEMED if kind == "REDEEM" else STEP_MERGED,
                    self.executor,
                    data,
                    [_BatchJournal(self.redemptions, keys)],
                    gas=GAS_BASE + GAS_PER_PROXY * len(rows),
                    fault=FAULT_AFTER_BROADCAST,
                )
            finally:
                await self.engine.checkin(wallet)
        except TxReverted as exc:
            log.warning("%s of %s for %d Proxies reverted: %s", kind, condition, len(rows), exc)
            await self.redemptions.fail(keys, "reverted")
            self.stats.failed += len(rows)
            return [r for r in (await self._reread(keys)) if r is not None]
        except (SendFailed, ExecutionError, ChainError) as exc:
            # Maybe on chain (a hash journaled): recovery asks the chain; never sent: FAILED at once.
            log.warning("%s of %s for %d Proxies not confirmed: %s", kind, condition, len(rows), exc)
            await self._settle(rows)
            return [r for r in (await self._reread(keys)) if r is not None]
        finally:
            self._inflight.difference_update(keys)
        await self._finish(rows, sent.receipt, sent.tx_hash)
        return [r for r in (await self._reread(keys)) if r is not None]

    async def _reread(self, keys: Sequence[bytes]) -> list[Redemption | None]:
        return [await self.redemptions.get(k) for k in keys]

    def _outcomes(self, rows: Sequence[Redemption], receipt: dict[str, Any]) -> list[tuple[bytes, int]]:
        """Each row's payout from the Executor's `ProxyRedeemed` / `ProxyMerged` events in `receipt`."""
        paid: dict[tuple[str, str, str, str], int] = {}
        for entry in receipt.get("logs", []):
            if str(entry.get("address", "")).lower() != self.executor.lower():
                continue
            topics = [bytes.fromhex(str(t).removeprefix("0x")) for t in entry.get("topics", [])]
            if len(topics) != 4 or topics[0] not in (calls.PROXY_REDEEMED_TOPIC, calls.PROXY_MERGED_TOPIC):
                continue
            kind = "REDEEM" if topics[0] == calls.PROXY_REDEEMED_TOPIC else "MERGE"
            value, _worker = decode(
                ["uint256", "address"], bytes.fromhex(str(entry["data"]).removeprefix("0x"))
            )
            proxy, collateral = "0x" + topics[1][12:].hex(), "0x" + topics[3][12:].hex()
            paid[(kind, proxy, "0x" + topics[2].hex(), collateral)] = int(value)
        return [
            (r.key, paid[(r.kind, r.proxy, r.condition_id, r.collateral)])
            for r in rows
            if (r.kind, r.proxy, r.condition_id, r.collateral) in paid
        ]

    async def _finish(self, rows: Sequence[Redemption], receipt: dict[str, Any], tx_hash: bytes) -> None:
        outcomes = self._outcomes(rows, receipt)
        if len(outcomes) != len(rows):
            raise ChainError(f"transaction 0x{tx_hash.hex()} has no Executor event for some redemptions")
        await self.redemptions.finish(outcomes, tx_hash)
        for row, (_key, value) in zip(rows, outcomes, strict=True):
            if row.kind == "MERGE":
                self.stats.merged += 1
            elif value:
                self.stats.redeemed += 1
            else:
                self.stats.closed += 1
            log.info(
                "%s %s of %s for %s: %d %s (tx 0x%s)",
                row.kind.lower(),
                row.collateral,
                row.condition_id,
                row.proxy,
                value,
                row.paid_token,
                tx_hash.hex(),
            )

    # ---------------------------------------------------------------- recovery

    async def _settle(self, rows: Sequence[Redemption]) -> int:
        """Settles PENDING rows from their journal and the chain; how many moved."""
        moved = 0
        counts: dict[str, int] = {}
        for row in rows:
            journal = await self.redemptions.journal(row.key)
            if not journal:
                if now_ms() - row.updated_at >= self.min_age_ms or row.key in self._inflight:
                    moved += await self.redemptions.fail([row.key], "never sent")
                continue
            states = []
            mined: tuple[bytes, dict[str, Any]] | None = None
            for tx_hash, wallet, nonce in journal:
                entry = JournalEntry(STEP_REDEEMED, wallet, nonce, tx_hash, 0)
                state = await journaled_tx_state(self.engine.rpc, entry, counts)
                states.append(state)
                if state == OK:
                    receipt = await self.engine.rpc.call("eth_getTransactionReceipt", ["0x" + tx_hash.hex()])
                    mined = (tx_hash, receipt)
            if mined is not None:
                outcomes = self._outcomes([row], mined[1])
                if outcomes:
                    moved += await self.redemptions.finish(outcomes, mined[0])
                    continue
            if PENDING in states:
                continue  # may still mine
            moved += await self.redemptions.fail([row.key], "not mined")
        return moved

    async def recover(self) -> int:
        """Settles every PENDING row no send here is running (a crash between broadcast and record)."""
        rows = [r for r in await self.redemptions.find("PENDING") if r.key not in self._inflight]
        moved = await self._settle(rows)
        self.stats.recovered += moved
        return moved

    # ---------------------------------------------------------------- watching

    async def _resolved_since(self, start: int, end: int) -> list[bytes]:
        conditions: list[bytes] = []
        for low in range(start, end + 1, LOG_RANGE):
            high = min(end, low + LOG_RANGE - 1)
            logs = await self.engine.rpc.call(
                "eth_getLogs",
                [
                    {
                        "address": self.ctf,
                        "fromBlock": hex(low),
                        "toBlock": hex(high),
                        "topics": ["0x" + calls.CONDITION_RESOLUTION_TOPIC.hex()],
                    }
                ],
            )
            for entry in logs:
                condition = bytes.fromhex(str(entry["topics"][1]).removeprefix("0x"))
                if condition not in conditions:
                    conditions.append(condition)
        return conditions

    async def scan(self) -> int:
        """One pass: the resolutions since the checkpoint redeemed, then the checkpoint moved past them;
        returns how many conditions resolved."""
        latest = int(await self.engine.rpc.call("eth_blockNumber", []), 16)
        saved = await self.store.get_checkpoint(self.checkpoint_source)
        if saved is not None:
            start = saved + 1
        elif self.start_block is not None:
            start = self.start_block
        else:
            start = max(0, latest - LOOKBACK_BLOCKS)
        if start > latest:
            return 0
        conditions = await self._resolved_since(start, latest)
        for condition in conditions:
            await self.on_resolution(condition)
        # The checkpoint is past them: resolutions whose redemption never reached the chain are retried here
        # (a reverted one is not: it would revert again until someone looks).
        retry = {
            r.condition_id
            for r in await self.redemptions.find("FAILED")
            if r.ref == RESOLUTION_REF and r.reason != "reverted"
        }
        for condition_id in sorted(retry):
            await self.on_resolution(condition_id)
        self.stats.resolutions += len(conditions)
        await self.store.set_checkpoint(self.checkpoint_source, latest)
        return len(conditions)

    async def run(self, stop: asyncio.Event, *, watch: bool = True) -> None:
        """Until `stop`: every `poll_s`, settles interrupted redemptions and (with `watch`) redeems new
        resolutions; with a shared state, only the holder of the redeemer's lease acts."""
        name = f"redeemer:{self.engine.deployment.chain_id}"
        while not stop.is_set():
            try:
                mine = self.shared is None or await self.shared.acquire_lease(
                    name, self.engine.leases.holder, int(self.poll_s * 3000)
                )
                if mine:
                    await self.recover()
                    if watch:
                        await self.scan()
                    self.stats.passes += 1
            except Exception:
                log.exception("redeemer pass failed; next pass in %.1fs", self.poll_s)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self.poll_s)
