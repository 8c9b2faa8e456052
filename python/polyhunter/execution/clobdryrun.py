"""DRY_RUN on the CLOB venue: every copy's order built and signed as it would be posted, its hash recorded,
nothing posted, nothing pulled, nothing sent.

The order is what the live venue would sign at this moment: the market's tick, minimum and fee read from the
CLOB (public reads, no API key), the book walked to the worst price within the slippage bound, the amounts
built in Rust and signed by the worker's key for its deposit wallet (type 3) or itself (type 0). The copy is
SKIPPED `dry_run` with the order hash as its reference (`tx_hashes`), or SKIPPED with the refusal the live
venue would meet before posting (below the minimum, market closed, trading unavailable).
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Sequence

from polyhunter.errors import ConfigError
from polyhunter.execution.base import ExecutionResult, JobJournal
from polyhunter.execution.clobvenue import ClobVenue
from polyhunter.execution.fleet import OperatorWallet
from polyhunter.execution.flows import leg_amounts
from polyhunter.execution.venues import Order, OrderKind, Refused
from polyhunter.models import CopyJob, Side, SkipReason, TradeStatus
from polyhunter.units import format_usd
from polyhunter.venue import VenueError

log = logging.getLogger(__name__)


class ClobDryRunEngine:
    """Signs each copy's CLOB order with the next fleet wallet (round robin) and posts nothing."""

    name = "dry-run-clob"

    def __init__(self, venue: ClobVenue, wallets: Sequence[OperatorWallet], kind: OrderKind = OrderKind.FOK):
        usable: list[OperatorWallet] = []
        missing: list[str] = []
        for wallet in wallets:
            try:
                venue.funds_at(wallet)  # type 3 needs the worker's deposit wallet
            except ConfigError as exc:
                missing.append(str(exc))
            else:
                usable.append(wallet)
        if not usable:
            raise ConfigError(
                "DRY_RUN on the CLOB: no fleet wallet can sign" + (f" ({missing[0]})" if missing else "")
            )
        if missing:
            log.warning("DRY_RUN: %d fleet wallet(s) without a deposit wallet sign nothing", len(missing))
        self.venue = venue
        self.wallets = usable
        self.kind = kind
        self._next = itertools.cycle(self.wallets)
        self.count = 0
        self.signed: list[bytes] = []
        """The hashes of the orders signed, oldest first (bounded: the latest 1,000)."""

    async def execute(self, job: CopyJob, journal: JobJournal) -> ExecutionResult:
        self.count += 1
        wallet = next(self._next)
        collateral, shares = leg_amounts(job.side, job.amount, job.limit_price_ppm)
        side: Side = "BUY" if job.side == "BUY" else "SELL"
        order = Order(job.token_id, side, shares, collateral, job.limit_price_ppm, self.kind)
        try:
            refused = await self.venue.admit(order)
            if refused is not None:
                return _refused(refused, wallet)
            signed = await self.venue.sign(wallet, order)
        except VenueError as exc:
            log.info("dry run: venue unavailable for config %d: %s", job.config_id, exc)
            return ExecutionResult(
                TradeStatus.SKIPPED, SkipReason.VENUE_UNAVAILABLE.value, worker=wallet.address
            )
        if isinstance(signed, Refused):
            return _refused(signed, wallet)
        order_hash = signed.signed.hash
        self.signed.append(order_hash)
        del self.signed[:-1000]
        what = f"${format_usd(job.amount)}" if job.side == "BUY" else f"{format_usd(job.amount)} shares"
        log.info(
            "dry run: signed, not posted: order %s %s %s of token %s from %s (config %d)",
            "0x" + order_hash.hex(),
            job.side,
            what,
            job.token_id,
            self.venue.funds_at(wallet),
            job.config_id,
        )
        return ExecutionResult(
            TradeStatus.SKIPPED, SkipReason.DRY_RUN.value, tx_hashes=(order_hash,), worker=wallet.address
        )

    async def close(self) -> None:
        await self.venue.close()


def _refused(refused: Refused, wallet: OperatorWallet) -> ExecutionResult:
    log.info("dry run: the venue would refuse: %s (%s)", refused.reason.value, refused.detail)
    return ExecutionResult(TradeStatus.SKIPPED, refused.reason.value, worker=wallet.address)
