"""The settlement worker: one `matchOrders` transaction per match, sent by the operator, one at a time so
the operator's nonces stay in order; the trades' lifecycle follows the receipts.

MATCHED -> (broadcast: the hash is on the trade) -> MINED after a successful receipt -> CONFIRMED once
`confirmations` blocks hold it (1 = at once). A failed attempt turns the trades RETRYING and the match is
sent again in a new transaction, up to `settle_retries` times, then FAILED.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from decimal import Decimal
from typing import Any, Protocol

from web3.exceptions import ContractLogicError

from polyhunter.errors import ChainError
from polyhunter.localpoly.engine import MatchEngine, Settlement
from polyhunter.localpoly.feed import FeedTrade
from polyhunter.localpoly.onchain import TransactionDropped, match_orders_calldata
from polyhunter.localpoly.orders import UNIT
from polyhunter.localpoly.trades import CONFIRMED, FAILED, MINED, RETRYING, Trade
from polyhunter.localpoly.world import ClobWorld

log = logging.getLogger(__name__)

_RECEIPT_POLL_S = 0.05
_CONFIRM_POLL_S = 0.1
#: How long the confirmation loop waits after a failed read of the chain head before trying again.
_CONFIRM_RETRY_S = 0.5


def _report_death(task: asyncio.Task[None]) -> None:
    """A worker task must never end quietly: every later match (and `idle`) would wait for ever."""
    if not task.cancelled() and task.exception() is not None:
        log.error("%s died", task.get_name(), exc_info=task.exception())


class TradeSink(Protocol):
    """Where filled orders are announced (the activity feed's `publish`)."""

    def publish(self, trade: FeedTrade) -> None: ...


class SettlementWorker:
    """Consumes the engine's settlement queue."""

    def __init__(self, engine: MatchEngine, world: ClobWorld, feed: TradeSink | None = None) -> None:
        self.engine = engine
        self.world = world
        self.feed = feed
        self._operator = world.operator()
        self._task: asyncio.Task[None] | None = None
        self._confirm_task: asyncio.Task[None] | None = None
        self._to_confirm: list[tuple[int, list[Trade]]] = []
        self._wake = asyncio.Event()
        self._confirmed = asyncio.Event()
        self._confirmed.set()

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="clob-settlement")
        self._confirm_task = asyncio.create_task(self._confirm_loop(), name="clob-confirm")
        for task in (self._task, self._confirm_task):
            task.add_done_callback(_report_death)

    async def stop(self) -> None:
        for task in (self._task, self._confirm_task):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task

    async def _run(self) -> None:
        while True:
            settlement = await self.engine.settlements.get()
            try:
                ok = await self._settle(settlement)
            except asyncio.CancelledError:
                raise
            except Exception:  # a worker that dies would strand every later match
                log.exception("settlement of %d trade(s) failed unexpectedly", len(settlement.trades))
                ok = False
                for trade in settlement.trades:
                    trade.set_status(FAILED)
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

    async def idle(self) -> None:
        """Returns once every queued match is settled (or failed) and every mined one is CONFIRMED.
        Raises `RuntimeError` when the worker is not running (never started, stopped, or dead): nothing
        would ever settle, and waiting would hang the caller for ever."""
        await self._until(self.engine.settlements.join())
        await self._until(self._confirmed.wait())

    async def _until(self, waiting: Any) -> None:
        tasks = [t for t in (self._task, self._confirm_task) if t is not None]
        wait = asyncio.ensure_future(waiting)
        try:
            if len(tasks) < 2 or any(t.done() for t in tasks):
                raise RuntimeError("the settlement worker is not running")
            await asyncio.wait([wait, *tasks], return_when=asyncio.FIRST_COMPLETED)
            if not wait.done():
                raise RuntimeError("the settlement worker stopped; see the log for why")
        finally:
            wait.cancel()

    async def _settle(self, s: Settlement) -> bool:
        settings = self.engine.settings
        calldata = match_orders_calldata(
            bytes.fromhex(s.market.condition_id[2:]),
            s.taker.signed,
            [f.maker.signed for f in s.fills],
            s.taker_fill,
            [f.maker_fill for f in s.fills],
            s.taker_fee,
            [0 for _ in s.fills],
        )
        while True:
            s.attempts += 1
            starve = self.engine.settings.fail_next_settlements > 0
            if starve:
                self._consume_failure_switch()
            status = 0
            try:
                tx_hash = await self.engine.chain.send(self._operator, s.exchange, calldata, starve=starve)
            except (ContractLogicError, ChainError) as exc:
                log.warning("matchOrders refused before broadcast: %s", exc)
            else:
                first = not s.trades[0].transaction_hash
                for trade in s.trades:
                    trade.transaction_hash = tx_hash
                if first:
                    self._publish(s, tx_hash)
                try:
                    status, block = await self.engine.chain.wait_receipt(tx_hash, _RECEIPT_POLL_S)
                except TransactionDropped as exc:
                    # A dropped attempt is a failed one: the next goes out with a fresh nonce.
                    log.warning("matchOrders attempt %d lost: %s", s.attempts, exc)
                    status, block = 0, 0
                if status == 1:
                    for trade in s.trades:
                        trade.block_number = block
                        trade.set_status(MINED)
                    if settings.confirmations <= 1:
                        for trade in s.trades:
                            trade.set_status(CONFIRMED)
                    else:
                        self._to_confirm.append((block + settings.confirmations - 1, list(s.trades)))
                        self._confirmed.clear()
                        self._wake.set()
                    return True
            if s.attempts > self.engine.settings.settle_retries:
                for trade in s.trades:
                    trade.set_status(FAILED)
                return False
            for trade in s.trades:
                trade.set_status(RETRYING)

    def _consume_failure_switch(self) -> None:
        self.engine.settings.fail_next_settlements -= 1

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
