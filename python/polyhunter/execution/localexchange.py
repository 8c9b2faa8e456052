"""LocalExchangeVenue: the venue protocol on our LocalExchange (local chains only).

The trade is one `fill` transaction the worker sends (journaled as FILLED before broadcast): it buys or
sells exactly the order's shares for exactly its collateral against the maker's inventory, or reverts. So a
fill is always complete, at the order's price, with no fee, and its reference is the transaction hash. It
never refuses before the pull (no minimum, no market state), and its quote is the one the engine was given
(none by default). Recovery resolves a journaled fill from the chain.
"""

from __future__ import annotations

from collections.abc import Sequence

from polyhunter.chain.aiorpc import AsyncRpc
from polyhunter.errors import ChainError
from polyhunter.execution import calls
from polyhunter.execution.base import JobJournal
from polyhunter.execution.fleet import LeaseLost, OperatorWallet
from polyhunter.execution.onchain import journaled_tx_state
from polyhunter.execution.preflight import QuoteSource
from polyhunter.execution.sender import SendFailed, TxReverted, TxSender
from polyhunter.execution.venues import Failed, Fill, Order, Refused, Settlement, TradeOutcome
from polyhunter.models import JournalEntry, Side, Step

# ~1.5x what a fill uses on LocalExchange (~121k): blocks are packed by gas limit, not use.
GAS_FILL = 200_000


class LocalExchangeVenue:
    """Trades on LocalExchange against `maker`'s inventory with the worker's own transaction."""

    name = "local-exchange"
    trade_step: str = Step.FILLED

    def __init__(
        self, sender: TxSender, rpc: AsyncRpc, exchange: str, maker: str, quotes: QuoteSource | None = None
    ) -> None:
        self.sender = sender
        self.rpc = rpc
        self.exchange = exchange
        self.maker = maker
        self.quotes = quotes

    async def quote(self, token_id: int, side: Side) -> int | None:
        return None if self.quotes is None else await self.quotes.quote(token_id, side)

    async def admit(self, order: Order) -> Refused | None:
        return None

    async def trade(
        self, wallet: OperatorWallet, order: Order, journals: Sequence[JobJournal]
    ) -> TradeOutcome:
        side = calls.SIDE_BUY if order.side == "BUY" else calls.SIDE_SELL
        data = calls.fill(self.maker, side, order.token_id, order.shares, order.collateral)
        try:
            sent = await self.sender.send(
                wallet, self.trade_step, self.exchange, data, journals, gas=GAS_FILL
            )
        except TxReverted as exc:
            return Failed(str(exc))
        except SendFailed as exc:
            return Failed(str(exc), unknown=exc.unconfirmed)
        except (LeaseLost, ChainError) as exc:
            return Failed(str(exc), unknown=True)
        return Fill(order.shares, order.collateral, 0, sent.tx_hash, (sent.tx_hash,))

    async def resolve(self, entry: JournalEntry, nonces: dict[str, int]) -> Settlement:
        return Settlement(await journaled_tx_state(self.rpc, entry, nonces), entry.tx_hash)
