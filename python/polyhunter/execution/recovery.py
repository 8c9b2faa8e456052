"""Recovery loops: each safe to run on several instances at once.

- **stale**: PENDING past `expires_at` → FAILED if nothing of it is on chain, else reconciled from the chain.
- **reconcile**: PENDING records with a journal that no execution here is running (a crash between broadcast
  and bookkeeping), and FAILED records whose outcome was `unconfirmed`: the chain (the Executor's moves) and
  the venue (`Venue.resolve`, the trade) say how far the flow got; an interrupted flow is finished
  (traded → push) or undone (pulled, not traded → funds back to the Proxy).
- **debts**: OPEN DebtRecords repaid from their Proxy (batched per creditor) where the Proxy can pay → REPAID.
  The Executor pays at most what it recorded when the tokens were pushed, under `calls.chain_debt_key` (the
  trade's id hashed with the worker that pushed: the journal's PUSHED wallet, which a rotation does not
  change), so each debt is checked against `debtOpen` first: one the chain never recorded is left OPEN with
  a warning instead of making the whole batch revert, and only what is still open is paid (any worker may
  repay part of it). A creditor's batch holds no more than its hourly cap's room.

Safety across instances: a record moves only from the status it was read in (`mark(expect=…)`), a
transaction is sent only from a wallet this instance holds the lease of (the journal names the wallet, which
holds the funds in question), and debts are repaid under one shared lease. Amounts come from the job and the
pull's calldata, never from memory.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from eth_abi.abi import decode

from polyhunter.errors import ChainError, DecodeError, ExecutionError
from polyhunter.execution import calls
from polyhunter.execution.base import PRICE_SCALE, UNCONFIRMED, ExecutionResult
from polyhunter.execution.clobvenue import Envelope, leg_fill
from polyhunter.execution.fleet import OperatorWallet
from polyhunter.execution.flows import GAS_SINGLE, batch_gas, buffered_debt, funds_at, leg_amounts
from polyhunter.execution.localchain import LocalChainEngine
from polyhunter.execution.onchain import OK, PENDING, REVERTED, VOID, journaled_tx_state
from polyhunter.execution.venues import Fill
from polyhunter.models import (
    DebtRecord,
    DebtStatus,
    JournalEntry,
    Side,
    Step,
    TradeRecord,
    TradeStatus,
    now_ms,
)
from polyhunter.report.quality import copy_quality
from polyhunter.shared.base import SharedState
from polyhunter.store.base import Store, StoreJournal

log = logging.getLogger(__name__)


@dataclass
class RecoveryStats:
    expired: int = 0
    reconciled: int = 0
    completed: int = 0
    returned: int = 0
    debts_repaid: int = 0


class Recovery:
    """The engine's recovery loops over the store of record."""

    def __init__(
        self,
        engine: LocalChainEngine,
        store: Store,
        *,
        shared: SharedState | None = None,
        stale_scan_s: float = 120.0,
        reconcile_s: float = 60.0,
        debt_repay_s: float = 300.0,
        min_age_ms: int = 30_000,
    ) -> None:
        self.engine = engine
        self.store = store
        self.shared = shared
        self.stale_scan_s = stale_scan_s
        self.reconcile_s = reconcile_s
        self.debt_repay_s = debt_repay_s
        self.min_age_ms = min_age_ms
        self.stats = RecoveryStats()

    # ------------------------------------------------------------------- loops

    async def run(self, stop: asyncio.Event) -> None:
        """All loops until `stop`; one reconciliation pass first (a restart's interrupted flows)."""
        await self._guard(self.reconcile_pending(min_age_ms=0))
        loops = [
            asyncio.create_task(self._every(stop, self.stale_scan_s, self.expire_stale)),
            asyncio.create_task(self._every(stop, self.reconcile_s, self.reconcile)),
            asyncio.create_task(self._every(stop, self.debt_repay_s, self.repay_debts)),
        ]
        await stop.wait()
        for task in loops:
            task.cancel()
        await asyncio.gather(*loops, return_exceptions=True)

    async def _every(self, stop: asyncio.Event, interval_s: float, work: Any) -> None:
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), interval_s)
            if not stop.is_set():
                await self._guard(work())

    @staticmethod
    async def _guard(work: Any) -> None:
        try:
            await work
        except Exception:  # a failed pass is retried at the next interval
            log.exception("recovery pass failed")

    # ------------------------------------------------------------------ passes

    async def expire_stale(self, now: int | None = None) -> int:
        """PENDING past `expires_at`: FAILED when nothing was journaled, else reconciled from the chain."""
        done = 0
        for record in await self.store.stale_pending(now if now is not None else now_ms()):
            if record.key in self.engine.in_flight:
                continue
            if not record.journal:
                if await self.store.mark(record.key, TradeStatus.FAILED, "expired: never broadcast"):
                    self.stats.expired += 1
                    done += 1
            elif await self.recover(record):
                done += 1
        return done

    async def reconcile(self) -> int:
        return await self.reconcile_pending(self.min_age_ms) + await self.reconcile_failed()

    async def reconcile_pending(self, min_age_ms: int) -> int:
        """PENDING records with a journal, older than `min_age_ms`, not executing here."""
        horizon = now_ms() - min_age_ms
        done = 0
        for record in await self.store.stale_pending(2**63 - 1):  # every PENDING record
            if record.journal and record.created_at <= horizon and record.key not in self.engine.in_flight:
                done += await self.recover(record)
        return done

    async def reconcile_failed(self, limit: int = 1000) -> int:
        """FAILED records whose outcome was unknown when they were marked."""
        done = 0
        for listed in await self.store.list_trades(TradeStatus.FAILED, limit=limit):
            if not (listed.reason or "").startswith(UNCONFIRMED):
                continue
            record = await self.store.get_trade(listed.key)
            if record is not None and record.key not in self.engine.in_flight:
                done += await self.recover(record, expect=TradeStatus.FAILED)
        return done

    # ------------------------------------------------------------ one record

    async def _entry_state(self, entry: JournalEntry, mined_counts: dict[str, int]) -> tuple[str, bytes]:
        """The Executor's moves are read from the chain; the trade is the venue's to answer for."""
        if entry.step == self.engine.venue.trade_step:
            settled = await self.engine.venue.resolve(entry, mined_counts)
            return settled.state, settled.reference
        return await journaled_tx_state(self.engine.rpc, entry, mined_counts), entry.tx_hash

    async def _steps(self, record: TradeRecord) -> dict[str, tuple[str, bytes | None]]:
        """Each journaled step's state: ok if any of its hashes mined fine, pending while one may still."""
        mined_counts: dict[str, int] = {}
        states: dict[str, list[tuple[str, bytes]]] = defaultdict(list)
        for entry in record.journal:
            states[entry.step].append(await self._entry_state(entry, mined_counts))
        out: dict[str, tuple[str, bytes | None]] = {}
        for step, found in states.items():
            for wanted in (OK, PENDING, REVERTED, VOID):
                hit = next((h for s, h in found if s == wanted), None)
                if hit is not None:
                    out[step] = (wanted, hit)
                    break
        return out

    async def recover(self, record: TradeRecord, expect: TradeStatus = TradeStatus.PENDING) -> bool:
        """Brings one record in line with the chain; False when it cannot be decided (yet) here."""
        try:
            steps = await self._steps(record)
        except ChainError as exc:
            log.warning("recovery of %s: chain unreachable: %s", record.key.hex(), exc)
            return False
        if any(state == PENDING for state, _ in steps.values()):
            return False  # a transaction of it may still mine: decide once it has
        ok = {step: h for step, (state, h) in steps.items() if state == OK and h is not None}
        wallets = {e.wallet for e in record.journal}
        wallet = self.engine.by_address.get(next(iter(wallets))) if len(wallets) == 1 else None
        trade = self.engine.venue.trade_step
        hashes = [ok[s] for s in (Step.PULLED, trade, Step.PUSHED, Step.RETURNED) if s in ok]
        key = record.key
        try:
            amounts = await self._amounts(record, ok)
        except (ChainError, DecodeError) as exc:
            log.warning("recovery of %s: cannot read the pull: %s", key.hex(), exc)
            return False
        usd, tokens = amounts
        buffered = trade in ok and not any(e.step == Step.PULLED for e in record.journal)
        at = funds_at(self.engine.venue, wallet) if wallet is not None else None
        if trade in ok:
            # A venue that fills at its own amounts (the CLOB) is read for what it moved; the rest of the
            # pull goes back. Else the fill was exactly the leg's amounts.
            filled = await self._venue_fill(record, ok.get(Step.PULLED))
            back = 0
            debt = min(usd, tokens) if filled is None or filled is False else buffered_debt(filled)
            if filled is not None:
                if filled is False:
                    return False  # traded in a coalesced order: its split is left to an operator
                if record.side == "BUY":
                    push_amount, back = filled.shares, usd - filled.spent("BUY")
                else:
                    push_amount, back = filled.spent("SELL"), tokens - filled.shares
                usd, tokens = filled.collateral, filled.shares
                if back < 0:
                    log.warning("recovery of %s: the fill moved more than the pull", key.hex())
                    return False
            else:
                push_amount = tokens if record.side == "BUY" else usd
            if Step.PUSHED not in ok and push_amount > 0:
                if wallet is None or not wallet.may_send():
                    return False  # the wallet holding the goods belongs to another instance now
                if buffered:  # the push records the debt on chain, as the flow's own push would have
                    c = self.engine.custody
                    data = calls.push_erc1155_with_debt(
                        record.proxy,
                        c.ctf,
                        record.token_id,
                        push_amount,
                        c.collateral,
                        min(debt, push_amount),
                        calls.chain_debt_id(key),
                        source=at,
                    )
                else:
                    side: Side = "BUY" if record.side == "BUY" else "SELL"
                    data = self._move(record, side, push_amount, at, True)
                sent = await self._send(wallet, record, Step.PUSHED, data)
                if sent is None:
                    return False
                hashes.append(sent)
                self.stats.completed += 1
            if back > 0 and Step.RETURNED not in ok:
                if wallet is None or not wallet.may_send():
                    return False
                data = self._move(record, record.side, back, at, False)
                sent = await self._send(wallet, record, Step.RETURNED, data)
                if sent is None:
                    return False
                hashes.append(sent)
            if buffered:
                await self._ensure_debt(record, debt)
            price = usd * PRICE_SCALE // tokens if tokens else None
            # Settled from the chain: which source saw the leader's fill, and when, is not known here.
            settled = ExecutionResult(TradeStatus.EXECUTED, fill_price_ppm=price, fill_size=tokens)
            moved = await self.store.mark(
                key,
                TradeStatus.EXECUTED,
                None,
                hashes,
                expect=(expect,),
                copy_size=tokens,
                copy_price_ppm=price,
                slippage_bps=settled.slippage_bps(record.to_job()),
                worker=next(iter(wallets)),
                quality=copy_quality(record.to_job(), settled, filled_at=now_ms(), source=""),
            )
        elif Step.PULLED in ok:
            reason = "recovered: pulled, not filled; funds returned"
            if Step.RETURNED not in ok:
                if wallet is None or not wallet.may_send():
                    return False
                data = self._move(record, record.side, usd if record.side == "BUY" else tokens, at, False)
                sent = await self._send(wallet, record, Step.RETURNED, data)
                if sent is None:
                    return False
                hashes.append(sent)
                self.stats.returned += 1
            moved = await self.store.mark(key, TradeStatus.FAILED, reason, hashes, expect=(expect,))
        else:
            if expect is TradeStatus.FAILED:
                reason = (record.reason or "").removeprefix(
                    f"{UNCONFIRMED}: "
                ) + " (confirmed: nothing mined)"
            else:
                reason = "recovered: nothing of it mined"
            moved = await self.store.mark(key, TradeStatus.FAILED, reason, hashes, expect=(expect,))
        if moved:
            self.stats.reconciled += 1
            log.info("recovered %s from the chain (steps mined: %s)", key.hex(), sorted(ok))
        return moved

    def _move(self, record: TradeRecord, side: str, amount: int, source: str | None, goods: bool) -> bytes:
        """A push to the record's Proxy from the worker or its trading wallet (`source`): what the trade
        bought (`goods`: a BUY's tokens, a SELL's collateral) or what it did not use (the pull's asset)."""
        c = self.engine.custody
        erc20 = (side == "BUY") != goods
        proxies = [record.proxy]
        if erc20:
            if source is not None:
                return calls.push_erc20_from(proxies, c.collateral, [amount], source)
            return calls.push_erc20(proxies, c.collateral, [amount])
        if source is not None:
            return calls.push_erc1155_from(proxies, c.ctf, record.token_id, [amount], source)
        return calls.push_erc1155(proxies, c.ctf, record.token_id, [amount])

    async def _venue_fill(
        self, record: TradeRecord, mined_pull: bytes | None
    ) -> Fill | Literal[False] | None:
        """What the venue's order moved for this record (None: the venue fills at the leg's amounts; False:
        the order served several legs, so this record alone cannot say its share). Whether the order was
        coalesced comes from the legs journaled with it, else from the pull that mined (`mined_pull`): the
        first PULLED entry may be an attempt that was dropped."""
        fill_of = getattr(self.engine.venue, "fill_of", None)
        if fill_of is None:
            return None
        entries = [e for e in record.journal if e.step == self.engine.venue.trade_step]
        if not entries:
            return None
        for entry in reversed(entries):
            fill = await fill_of(entry)
            if not isinstance(fill, Fill):
                continue
            envelope = Envelope.decode(entry.payload)
            if envelope.legs:
                batched = len(envelope.legs) > 1
            else:
                batched = mined_pull is not None and await self._batched(mined_pull)
            if not batched:
                return fill
            # A coalesced order: this record's share, split as the flow would have split it, from the
            # legs journaled with the order (an order journaled without them cannot say: an operator's).
            side: Side = "BUY" if record.side == "BUY" else "SELL"
            share = leg_fill(fill, side, envelope.legs, record.key) if envelope.legs else None
            return share if share is not None else False
        return None

    async def _batched(self, tx_hash: bytes) -> bool:
        tx = await self.engine.rpc.call("eth_getTransactionByHash", ["0x" + tx_hash.hex()])
        data = bytes.fromhex(str((tx or {}).get("input", "0x")).removeprefix("0x"))
        return data[:4] in _BATCH_PULLS

    async def _amounts(self, record: TradeRecord, ok: dict[str, bytes]) -> tuple[int, int]:
        """(collateral, tokens) of the record's leg: a BUY's from the job; a SELL's tokens from the pull's
        calldata (the engine may have cut the job to the holding)."""
        price = record.limit_price_ppm
        if record.side == "BUY" or Step.PULLED not in ok:
            return leg_amounts(record.side, record.amount, price)
        tx = await self.engine.rpc.call("eth_getTransactionByHash", ["0x" + ok[Step.PULLED].hex()])
        if tx is None:
            raise DecodeError("the mined pull is not served by the node")
        tokens = calls.decode_pull(bytes.fromhex(str(tx["input"]).removeprefix("0x")), record.proxy)
        return leg_amounts("SELL", tokens, price)

    async def _send(
        self, wallet: OperatorWallet, record: TradeRecord, step: str, data: bytes
    ) -> bytes | None:
        try:
            sent = await self.engine.sender.send(
                wallet,
                step,
                self.engine.custody.executor,
                data,
                [StoreJournal(self.store, record.key)],
                gas=GAS_SINGLE,
            )
        except (ExecutionError, ChainError) as exc:
            log.warning("recovery of %s: %s failed: %s", record.key.hex(), step, exc)
            return None
        return sent.tx_hash

    async def _ensure_debt(self, record: TradeRecord, usd: int) -> None:
        """The store's row of a buffered trade's debt, with the amount the chain recorded when it has it."""
        debts = await self.store.list_debts(proxy=record.proxy)
        if not any(d.trade_key == record.key for d in debts):
            worker = record.journal[0].wallet
            recorded = await self._debt_open(calls.chain_debt_key(record.key, _recorder(record, worker)))
            await StoreJournal(self.store, record.key).add_debt(record.proxy, worker, recorded or usd)

    async def _cap_room(self, creditor: str) -> int | None:
        """What Proxies may still send `creditor` this hour (its cap's room); None without the views."""
        words = []
        for data in (calls.worker_cap(creditor), calls.worker_pulled_in_window(creditor)):
            try:
                reply = await self.engine.rpc.call(
                    "eth_call", [{"to": self.engine.custody.executor, "data": "0x" + data.hex()}, "latest"]
                )
                words.append(int(str(reply), 16))
            except (ChainError, ValueError):
                return None
        cap, used = words
        return max(0, cap - used)

    async def _chain_debt_id(self, debt: DebtRecord) -> bytes:
        """The Executor's key of a stored debt: its trade's id hashed with the worker that pushed (a row
        without a trade key was never recorded by a push)."""
        if debt.trade_key is None:
            return calls.debt_id_bytes(debt.debt_id)
        trade = await self.store.get_trade(debt.trade_key)
        return calls.chain_debt_key(debt.trade_key, _recorder(trade, debt.worker))

    async def _debt_open(self, debt_id: bytes) -> int:
        reply = await self.engine.rpc.call(
            "eth_call",
            [{"to": self.engine.custody.executor, "data": "0x" + calls.debt_open(debt_id).hex()}, "latest"],
        )
        return int(str(reply), 16)

    # ------------------------------------------------------------------- debts

    async def repay_debts(self) -> int:
        """Repays OPEN debts where the Proxy can pay, one batched transaction per creditor."""
        if self.shared is not None:
            name = f"recovery:debts:{self.engine.deployment.chain_id}"
            if not await self.shared.acquire_lease(
                name, self.engine.leases.holder, int(self.debt_repay_s * 2000)
            ):
                return 0
        debts = await self.store.list_debts(DebtStatus.OPEN)
        by_creditor: dict[str, list[DebtRecord]] = defaultdict(list)
        for debt in debts:
            by_creditor[debt.worker].append(debt)
        repaid = 0
        for creditor, owed in by_creditor.items():
            repaid += await self._repay(creditor, owed)
        return repaid

    async def _already_repaid(self, proxy: str, creditor: str) -> dict[bytes, bytes]:
        """chain debt id → repayment tx hash, from the Executor's DebtRepaid / DebtRepaidTo events (a
        repayment whose bookkeeping was lost is not paid twice)."""
        logs = await self.engine.rpc.call(
            "eth_getLogs",
            [
                {
                    "address": self.engine.custody.executor,
                    "fromBlock": "0x0",
                    "toBlock": "latest",
                    "topics": [
                        ["0x" + calls.DEBT_REPAID_TOPIC.hex(), "0x" + calls.DEBT_REPAID_TO_TOPIC.hex()],
                        _topic(proxy),
                        _topic(creditor),
                    ],
                }
            ],
        )
        out: dict[bytes, bytes] = {}
        for entry in logs or []:
            # Both events start with (amount, fee, debtId, worker); DebtRepaidTo adds `to`.
            data = bytes.fromhex(entry["data"].removeprefix("0x"))[: 4 * 32]
            _amount, _fee, debt_id, _worker = decode(["uint256", "uint256", "bytes32", "address"], data)
            out[bytes(debt_id)] = bytes.fromhex(entry["transactionHash"].removeprefix("0x"))
        return out

    async def _repay(self, creditor: str, owed: Sequence[DebtRecord]) -> int:
        engine = self.engine
        payable: list[tuple[DebtRecord, int, bytes]] = []
        need: dict[str, int] = defaultdict(int)
        # The batch is charged to the creditor's hourly cap and reverts whole: fill it up to the room only.
        room = await self._cap_room(creditor)
        for debt in owed:
            chain_id = await self._chain_debt_id(debt)
            open_on_chain = await self._debt_open(chain_id)
            if open_on_chain == 0:
                done = await self._already_repaid(debt.proxy, creditor)
                if chain_id in done:  # paid in full: by us (bookkeeping lost) or by another worker
                    await self.store.mark_debt_repaid(debt.debt_id, done[chain_id])
                    continue
                log.warning(
                    "debt %d (%s owed %d to %s): the Executor never recorded it; not repaid",
                    debt.debt_id,
                    debt.proxy,
                    debt.amount,
                    creditor,
                )
                continue
            # Another worker may have paid part of it (any worker may repay): pay only what is still open.
            amount = min(debt.amount, open_on_chain)
            charge = engine.caps.pull_value("BUY", [amount])
            if room is not None and charge > room:
                continue
            engine.preflight.forget(debt.proxy, None)
            balance = await engine.preflight.balance(debt.proxy)
            remaining = int(
                await engine.rpc.call(
                    "eth_call", [{"to": debt.proxy, "data": "0x" + calls.REMAINING_TODAY.hex()}, "latest"]
                ),
                16,
            )
            if need[debt.proxy] + amount <= min(balance, remaining):
                need[debt.proxy] += amount
                payable.append((debt, amount, chain_id))
                if room is not None:
                    room -= charge
        if not payable:
            return 0
        wallet = await engine.checkout()
        try:
            # The payee is where the flow fronted from: the worker, or its trading wallet.
            operator = engine.by_address.get(creditor)
            to = funds_at(engine.venue, operator) if operator is not None else None
            args = (
                [d.proxy for d, _, _ in payable],
                engine.custody.collateral,
                [amount for _, amount, _ in payable],
                creditor,
            )
            ids = [key for _, _, key in payable]
            data = (
                calls.repay_debt_batch(*args, ids)
                if to is None
                else calls.repay_debt_batch_to(*args, to, ids)
            )
            journals = [
                StoreJournal(self.store, d.trade_key) for d, _, _ in payable if d.trade_key is not None
            ]
            sent = await engine.sender.send(
                wallet, Step.REPAID, engine.custody.executor, data, journals, gas=batch_gas(len(payable))
            )
        except (ExecutionError, ChainError) as exc:
            log.warning("repaying %d debts to %s failed: %s", len(payable), creditor, exc)
            return 0
        finally:
            await engine.checkin(wallet)
        for debt, _, _ in payable:
            await self.store.mark_debt_repaid(debt.debt_id, sent.tx_hash)
            engine.preflight.forget(debt.proxy, None)
        self.stats.debts_repaid += len(payable)
        log.info("repaid %d debts to %s in tx 0x%s", len(payable), creditor, sent.tx_hash.hex())
        return len(payable)


_BATCH_PULLS = frozenset(
    {calls.PULL_ERC20_BATCH, calls.PULL_ERC1155_BATCH, calls.PULL_ERC20_BATCH_TO, calls.PULL_ERC1155_BATCH_TO}
)


def _recorder(record: TradeRecord | None, fallback: str) -> str:
    """The worker whose push recorded a trade's debt: the last PUSHED entry's wallet (`fallback` without)."""
    pushed = [e.wallet for e in record.journal if e.step == Step.PUSHED] if record is not None else []
    return pushed[-1] if pushed else fallback


def _topic(address: str) -> str:
    return "0x" + calls.address_arg(address).hex()
