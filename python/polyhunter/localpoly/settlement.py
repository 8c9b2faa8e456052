"""The settlement worker: the operator's `matchOrders` transactions, pipelined as Polymarket's operator
does, and the trades' lifecycle following each one's own receipt.

Every match becomes one transaction. They are broadcast in match order with consecutive nonces, without
waiting for earlier receipts (at most `MAX_IN_FLIGHT` matches at a time), so one block holds many of them.
MATCHED -> (broadcast: the hash is on the trade, the feed publishes) -> MINED when its receipt succeeds ->
CONFIRMED once `confirmations` blocks hold it (1 = at once). A failed attempt (a revert, a refusal before
broadcast, a transaction the node dropped) turns the trades RETRYING and the match goes out again, up to
`settle_retries` times, then FAILED (the engine re-validates the makers).

Why pipelining keeps matches that share an order or a maker's balance correct: the exchange checks order
status and balances when each transaction executes, in nonce order, which is match order. The engine took
each match's share of a maker order out of its remainder and reserved the amounts it moves (`pending_out`)
when it matched, and it never counts what a settlement brings in before that settlement is released; so every
in-flight match only spends what was set aside for it, whatever its predecessors do. For the same reason a
retried match may go out after later ones (with a fresh nonce) without invalidating them.

Nonces: the worker keeps the operator's next nonce. A reverted transaction uses up its nonce; one the node
dropped does not, and leaves a hole that holds back every later nonce (anvil also forgets those later ones):
each dropped attempt is sent again at its own nonce, and a hole its match can no longer fill (it would
revert, or it has no retries left) is filled with a 0-value transfer. A nonce that something else used is
resynced from the chain: the match goes out again at a fresh one.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Protocol

from web3.exceptions import ContractLogicError

from polyhunter.errors import ChainError
from polyhunter.localpoly.engine import MatchEngine, Settlement
from polyhunter.localpoly.feed import FeedTrade
from polyhunter.localpoly.onchain import match_orders_calldata
from polyhunter.localpoly.orders import UNIT
from polyhunter.localpoly.trades import CONFIRMED, FAILED, MINED, RETRYING, Trade
from polyhunter.localpoly.world import ClobWorld

log = logging.getLogger(__name__)

#: Matches broadcast and not yet final at once; the next waits for a slot.
MAX_IN_FLIGHT = 64
_RECEIPT_POLL_S = 0.05
_CONFIRM_POLL_S = 0.1
#: How long the confirmation loop waits after a failed read of the chain head before trying again.
_CONFIRM_RETRY_S = 0.5


def _report_death(task: asyncio.Task[None]) -> None:
    """A worker task must never end quietly: every later match (and `idle`) would wait for ever."""
    if not task.cancelled() and task.exception() is not None:
        log.error("%s died", task.get_name(), exc_info=task.exception())


@dataclass(eq=False)
class _Attempt:
    """One broadcast `matchOrders` of a match."""

    settlement: Settlement
    nonce: int
    tx_hash: str


class TradeSink(Protocol):
    """Where filled orders are announced (the activity feed's `publish`)."""

    def publish(self, trade: FeedTrade) -> None: ...


class SettlementWorker:
    """Consumes the engine's settlement queue: broadcasts, watches receipts, releases, confirms."""

    def __init__(self, engine: MatchEngine, world: ClobWorld, feed: TradeSink | None = None) -> None:
        self.engine = engine
        self.world = world
        self.feed = feed
        self._operator = world.operator()
        self._tasks: list[asyncio.Task[None]] = []
        self._to_confirm: list[tuple[int, list[Trade]]] = []
        self._wake = asyncio.Event()
        self._confirmed = asyncio.Event()
        self._confirmed.set()
        self._slots = asyncio.Semaphore(MAX_IN_FLIGHT)
        #: (match, nonce to reuse or None for the next one), in sending order; holes go first.
        self._outbox: deque[tuple[Settlement, int | None]] = deque()
        self._outbox_ready = asyncio.Event()
        self._in_flight: dict[int, _Attempt] = {}  # by nonce
        self._in_flight_ready = asyncio.Event()
        self._finished: asyncio.Queue[tuple[Settlement, bool]] = asyncio.Queue()
        self._next_nonce: int | None = None
        self._calldata: dict[int, bytes] = {}

    def start(self) -> None:
        loops = {
            "clob-settlement-intake": self._intake,
            "clob-settlement": self._send_loop,
            "clob-receipts": self._receipt_loop,
            "clob-release": self._release_loop,
            "clob-confirm": self._confirm_loop,
        }
        self._tasks = [asyncio.create_task(fn(), name=name) for name, fn in loops.items()]
        for task in self._tasks:
            task.add_done_callback(_report_death)

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def idle(self) -> None:
        """Returns once every queued match is settled (or failed) and every mined one is CONFIRMED.
        Raises `RuntimeError` when the worker is not running (never started, stopped, or dead): nothing
        would ever settle, and waiting would hang the caller for ever."""
        await self._until(self.engine.settlements.join())
        await self._until(self._confirmed.wait())

    async def _until(self, waiting: Any) -> None:
        tasks = list(self._tasks)
        wait = asyncio.ensure_future(waiting)
        try:
            if not tasks or any(t.done() for t in tasks):
                raise RuntimeError("the settlement worker is not running")
            await asyncio.wait([wait, *tasks], return_when=asyncio.FIRST_COMPLETED)
            if not wait.done():
                raise RuntimeError("the settlement worker stopped; see the log for why")
        finally:
            wait.cancel()

    # ------------------------------------------------------------------ intake and broadcast

    async def _intake(self) -> None:
        while True:
            settlement = await self.engine.settlements.get()
            await self._slots.acquire()  # released when the match is final
            self._queue(settlement, None)

    def _queue(self, s: Settlement, nonce: int | None) -> None:
        if nonce is None:
            self._outbox.append((s, None))
        else:
            # A hole holds back every later nonce: fill it before anything new goes out.
            self._outbox.appendleft((s, nonce))
        self._outbox_ready.set()

    async def _send_loop(self) -> None:
        while True:
            if not self._outbox:
                self._outbox_ready.clear()
                await self._outbox_ready.wait()
                continue
            s, nonce = self._outbox.popleft()
            try:
                await self._broadcast(s, nonce)
            except asyncio.CancelledError:
                raise
            except Exception:  # a worker that dies would strand every later match
                log.exception("settlement of %d trade(s) failed unexpectedly", len(s.trades))
                for trade in s.trades:
                    trade.set_status(FAILED)
                self._finish(s, False)

    def _calldata_of(self, s: Settlement) -> bytes:
        data = self._calldata.get(id(s))
        if data is None:
            data = match_orders_calldata(
                bytes.fromhex(s.market.condition_id[2:]),
                s.taker.signed,
                [f.maker.signed for f in s.fills],
                s.taker_fill,
                [f.maker_fill for f in s.fills],
                s.taker_fee,
                [0 for _ in s.fills],
            )
            self._calldata[id(s)] = data
        return data

    async def _broadcast(self, s: Settlement, hole: int | None) -> None:
        """One attempt of `s`: at the nonce of a hole it must fill, else at the next nonce."""
        s.attempts += 1
        starve = self.engine.settings.fail_next_settlements > 0
        if starve:
            self._consume_failure_switch()
        if self._next_nonce is None:
            self._next_nonce = await self.engine.chain.nonce(self._operator.address, "pending")
        nonce = self._next_nonce if hole is None else hole
        try:
            tx_hash = await self.engine.chain.send_at(
                self._operator, s.exchange, self._calldata_of(s), nonce, starve=starve, tip_wei=s.attempts
            )
        except (ContractLogicError, ChainError) as exc:
            log.warning("matchOrders refused before broadcast: %s", exc)
            if hole is not None:
                await self._fill_hole(hole, s.attempts)
            elif not isinstance(exc, ContractLogicError):
                await self._resync()  # e.g. "nonce too low": another sender used the operator's key
            self._attempt_failed(s)
            return
        if hole is None:
            self._next_nonce = nonce + 1
        first = not s.trades[0].transaction_hash
        for trade in s.trades:
            trade.transaction_hash = tx_hash
        if first:
            self._publish(s, tx_hash)
        self._in_flight[nonce] = _Attempt(s, nonce, tx_hash)
        self._in_flight_ready.set()

    async def _fill_hole(self, nonce: int, tip_wei: int) -> None:
        try:
            tx_hash = await self.engine.chain.fill_nonce(self._operator, nonce, tip_wei=tip_wei)
        except (ContractLogicError, ChainError) as exc:
            # Every later nonce would wait behind the hole: start again from what the chain says.
            log.warning("filling nonce %d failed, resyncing from the chain: %s", nonce, exc)
            await self._resync()
            return
        log.info("nonce %d filled by %s", nonce, tx_hash)

    async def _resync(self) -> None:
        """The next nonce from the chain's pending count, never below one of ours still in flight (a hole
        under them is the receipt loop's to fill)."""
        try:
            pending = await self.engine.chain.nonce(self._operator.address, "pending")
        except ChainError as exc:
            log.warning("reading the operator's nonce failed: %s", exc)
            self._next_nonce = None  # read again before the next broadcast
            return
        ours = max(self._in_flight, default=-1) + 1
        self._next_nonce = max(pending, ours, self._next_nonce or 0)

    def _attempt_failed(self, s: Settlement) -> None:
        """After a failed attempt: FAILED when no retry is left, else RETRYING and queued again."""
        if s.attempts > self.engine.settings.settle_retries:
            for trade in s.trades:
                trade.set_status(FAILED)
            self._finish(s, False)
            return
        for trade in s.trades:
            trade.set_status(RETRYING)
        self._queue(s, None)

    def _consume_failure_switch(self) -> None:
        self.engine.settings.fail_next_settlements -= 1

    # ------------------------------------------------------------------ receipts

    async def _receipt_loop(self) -> None:
        while True:
            if not self._in_flight:
                self._in_flight_ready.clear()
                await self._in_flight_ready.wait()
                continue
            try:
                await self._check_receipts()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # a node that blips must not strand every match in flight
                log.warning("settlement receipts: reading the chain failed, retrying: %s", exc)
            await asyncio.sleep(_RECEIPT_POLL_S)

    async def _check_receipts(self) -> None:
        chain = self.engine.chain
        mined_nonce = await chain.nonce(self._operator.address, "latest")
        attempts = sorted(self._in_flight.values(), key=lambda a: a.nonce)
        done = [a for a in attempts if a.nonce < mined_nonce]
        receipts = await asyncio.gather(*(chain.receipt(a.tx_hash) for a in done))
        for attempt, receipt in zip(done, receipts, strict=True):
            del self._in_flight[attempt.nonce]
            if receipt is None:
                # Its nonce went to another transaction: the match goes out again at a fresh one.
                log.warning("matchOrders %s lost its nonce %d", attempt.tx_hash, attempt.nonce)
                self._attempt_failed(attempt.settlement)
            elif receipt[0] == 1:
                self._mined(attempt.settlement, receipt[1])
            else:
                log.warning("matchOrders %s reverted in block %d", attempt.tx_hash, receipt[1])
                self._attempt_failed(attempt.settlement)
        pending = [a for a in attempts if a.nonce >= mined_nonce]
        # Two reads a pass, not one per transaction: anvil forgets every later transaction with a dropped
        # one, so the highest shows a drop at once; a node that keeps them queued behind the hole shows it
        # when the hole becomes the lowest pending nonce. When either end is gone, look at them all.
        if not pending:
            return
        ends = await asyncio.gather(chain.known(pending[0].tx_hash), chain.known(pending[-1].tx_hash))
        if all(ends):
            return
        known = await asyncio.gather(*(chain.known(a.tx_hash) for a in pending))
        for attempt, held in zip(pending, known, strict=True):
            if held:
                continue
            # Mined since the nonce was read: the next pass reads its receipt.
            if await chain.receipt(attempt.tx_hash) is not None:
                continue
            log.warning("matchOrders %s (nonce %d) was dropped by the node", attempt.tx_hash, attempt.nonce)
            del self._in_flight[attempt.nonce]
            s = attempt.settlement
            if s.attempts > self.engine.settings.settle_retries:
                await self._fill_hole(attempt.nonce, s.attempts + 1)
                self._attempt_failed(s)
            else:
                for trade in s.trades:
                    trade.set_status(RETRYING)
                self._queue(s, attempt.nonce)

    def _mined(self, s: Settlement, block: int) -> None:
        confirmations = self.engine.settings.confirmations
        for trade in s.trades:
            trade.block_number = block
            trade.set_status(MINED)
        if confirmations <= 1:
            for trade in s.trades:
                trade.set_status(CONFIRMED)
        else:
            self._to_confirm.append((block + confirmations - 1, list(s.trades)))
            self._confirmed.clear()
            self._wake.set()
        self._finish(s, True)

    # ------------------------------------------------------------------ release

    def _finish(self, s: Settlement, ok: bool) -> None:
        self._calldata.pop(id(s), None)
        self._slots.release()
        self._finished.put_nowait((s, ok))

    async def _release_loop(self) -> None:
        """Releases final matches one at a time, in the order they became final: listeners (the market
        maker's refill) never run concurrently, and a slow one does not hold back broadcasting."""
        while True:
            settlement, ok = await self._finished.get()
            try:
                try:
                    await self.engine.settled(settlement, ok)
                except Exception:  # a dead worker would leave every later match (and `idle`) waiting
                    log.exception("releasing a settlement failed")
                for listener in self.engine.listeners:
                    try:
                        await listener(settlement, ok)
                    except Exception:
                        log.exception("settlement listener failed")
            finally:
                self.engine.settlements.task_done()

    # ------------------------------------------------------------------ confirmations

    async def _confirm_loop(self) -> None:
        while True:
            if not self._to_confirm:
                self._wake.clear()
                await self._wake.wait()
            try:
                head = await self.engine.chain.block_number()
            except Exception as exc:  # a node that blips must not strand every trade short of CONFIRMED
                log.warning("confirmations: reading the chain head failed, retrying: %s", exc)
                await asyncio.sleep(_CONFIRM_RETRY_S)
                continue
            still: list[tuple[int, list[Trade]]] = []
            for target, trades in self._to_confirm:
                if head >= target:
                    for trade in trades:
                        trade.set_status(CONFIRMED)
                else:
                    still.append((target, trades))
            self._to_confirm = still
            if not still:
                self._confirmed.set()
            else:
                await asyncio.sleep(_CONFIRM_POLL_S)

    def _publish(self, s: Settlement, tx_hash: str) -> None:
        if self.feed is None:
            return
        now = int(time.time())
        market = s.market
        for fill, trade in zip(s.fills, s.trades, strict=True):
            # MINT and MERGE makers trade the other outcome, at their own price.
            for order, price in ((s.taker, fill.price), (fill.maker, fill.maker.price)):
                outcome, index = market.outcome(order.token_id)
                try:
                    self.feed.publish(
                        FeedTrade(
                            proxy_wallet=order.maker,
                            side=order.side,
                            asset=str(order.token_id),
                            condition_id=market.condition_id,
                            size=Decimal(trade.shares) / UNIT,
                            price=Decimal(price.numerator) / Decimal(price.denominator),
                            timestamp=now,
                            transaction_hash=tx_hash,
                            outcome=outcome,
                            outcome_index=index,
                            slug=market.slug,
                        )
                    )
                except Exception:
                    log.exception("activity feed refused a trade")
