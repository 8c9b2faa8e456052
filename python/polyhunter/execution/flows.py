"""The copy flows: funds moved by the Executor around one trade on a `Venue`, each step journaled first.

- Standard BUY: pull collateral from the Proxies → buy on the venue → push the tokens to the Proxies.
- Standard SELL: pull tokens (never more than held; the caller cuts) → sell → push the collateral.
- Smart Buffer BUY: the worker fronts the buy from its own float → push the tokens → a DebtRecord.
One leg per Proxy; several legs of one signal (same token, side and price) go through the Executor's batch
calls and one venue order. The order asks for what the legs would move as single copies: tokens =
`tokens_for_usd(usd, price)` for a BUY, collateral = `usd_for_tokens(tokens, price)` for a SELL. What the
venue fills is split among the legs pro rata to what each asked (exactly its ask for a complete fill), and
what a partial fill left untraded goes back to each Proxy it came from.

The venue's outcome decides the rest (venues.py): a refusal before the pull is SKIPPED with nothing moved;
a refusal after it, or a definitive failure, returns the pulled funds at once (step RETURNED) and is SKIPPED
or FAILED; an unknown outcome is left to recovery, which asks the venue and the chain and then finishes the
flow or returns the funds, so a Proxy never ends short.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass

from polyhunter.errors import ChainError, ExecutionError, InvalidInputError
from polyhunter.execution import calls
from polyhunter.execution.base import (
    PRICE_SCALE,
    RELINQUISHED,
    UNCONFIRMED,
    ExecutionResult,
    JobJournal,
    JobRelinquished,
    tokens_for_usd,
    usd_for_tokens,
)
from polyhunter.execution.faults import faultpoint
from polyhunter.execution.fleet import LeaseLost, OperatorWallet
from polyhunter.execution.sender import SendFailed, TxReverted, TxSender
from polyhunter.execution.venues import (
    Failed,
    Fill,
    Order,
    OrderKind,
    Refusal,
    Refused,
    TradeOutcome,
    Venue,
    split_pro_rata,
)
from polyhunter.models import CopyJob, Side, Step, TradeStatus
from polyhunter.report.quality import receipt_gas_wei, split_gas

# Gas limits ~1.5x what these calls use on the local contracts (pull ~83k cold, push ~71k; a batch adds
# ~45k per Proxy). Blocks are packed by limit, not use: tight limits let more copies per block.
GAS_SINGLE = 130_000
GAS_BATCH_BASE = 60_000
GAS_BATCH_PER_PROXY = 75_000


def batch_gas(n: int) -> int:
    return GAS_SINGLE if n == 1 else GAS_BATCH_BASE + GAS_BATCH_PER_PROXY * n


@dataclass(frozen=True, slots=True)
class Leg:
    """One job's part of a flow: `amount` is the USD to spend (BUY) or the tokens to sell (SELL), already
    cut to what the Proxy holds."""

    job: CopyJob
    journal: JobJournal
    amount: int

    @property
    def proxy(self) -> str:
        return self.job.proxy


class BatchPullReverted(ExecutionError):
    """A batched pull reverted as a whole (one Proxy refused): nothing moved, run the legs one by one."""


@dataclass(frozen=True, slots=True)
class Custody:
    """Where the funds live between trades: the Executor moving them between Proxies and workers, and the
    collateral and outcome-token (CTF) contracts."""

    executor: str
    collateral: str
    ctf: str


def leg_amounts(side: str, amount: int, price_ppm: int) -> tuple[int, int]:
    """(collateral, tokens) a leg moves at `price_ppm`."""
    if side == "BUY":
        return amount, tokens_for_usd(amount, price_ppm)
    return usd_for_tokens(amount, price_ppm), amount


class Flows:
    """Runs flows with a `TxSender` for the Executor's moves and a `Venue` for the trade."""

    def __init__(
        self, sender: TxSender, venue: Venue, custody: Custody, *, kind: OrderKind = OrderKind.FOK
    ) -> None:
        self.sender = sender
        self.venue = venue
        self.custody = custody
        self.kind = kind

    async def standard(
        self, wallet: OperatorWallet, legs: Sequence[Leg], token_id: int, side: str, price_ppm: int
    ) -> list[ExecutionResult]:
        """Pull → trade → push for one or several legs (batch calls when several)."""
        c, s = self.custody, self.sender
        journals = [leg.journal for leg in legs]
        proxies = [leg.proxy for leg in legs]
        amounts = [leg_amounts(side, leg.amount, price_ppm) for leg in legs]
        usds = [a[0] for a in amounts]
        tokens = [a[1] for a in amounts]
        n = len(legs)
        order = Order(token_id, _side(side), sum(tokens), sum(usds), price_ppm, self.kind)
        refused = await self.venue.admit(order)
        if refused is not None:  # nothing pulled yet
            return [ExecutionResult(TradeStatus.SKIPPED, refused.reason.value, worker=wallet.address)] * n
        at = funds_at(self.venue, wallet)
        if side == "BUY":
            pull = (
                calls.pull_erc20(proxies, c.collateral, usds)
                if at is None
                else calls.pull_erc20_to(proxies, c.collateral, usds, at)
            )
        else:
            pull = (
                calls.pull_erc1155(proxies, c.ctf, token_id, tokens)
                if at is None
                else calls.pull_erc1155_to(proxies, c.ctf, token_id, tokens, at)
            )
        pulled = usds if side == "BUY" else tokens
        hashes: list[bytes] = []

        def failed(reason: str) -> list[ExecutionResult]:
            return [ExecutionResult(TradeStatus.FAILED, reason, tuple(hashes), worker=wallet.address)] * n

        try:
            sent = await s.send(wallet, Step.PULLED, c.executor, pull, journals, gas=batch_gas(n))
        except (TxReverted, JobRelinquished) as exc:
            if n > 1:  # one leg refused: the others go one by one, and the refused one does nothing
                raise BatchPullReverted(str(exc)) from exc
            if isinstance(exc, JobRelinquished):
                return [ExecutionResult(TradeStatus.PENDING, f"{RELINQUISHED}: {exc}")]
            return failed(f"pull: {exc}")
        except (SendFailed, LeaseLost, ChainError) as exc:
            return failed(_exc_reason("pull", exc))
        hashes.append(sent.tx_hash)
        gas = receipt_gas_wei(sent.receipt)
        faultpoint("after_pull")
        outcome = await self._trade(wallet, order, journals, legs, tokens, usds)
        if isinstance(outcome, Failed) and outcome.unknown:
            return failed(_reason("fill", outcome.detail, unknown=True))  # recovery asks the venue
        if not isinstance(outcome, Fill):
            # Pulled, certainly not traded: the funds go back before the job is called failed or skipped.
            try:
                sent = await s.send(
                    wallet, Step.RETURNED, c.executor, self._give_back(side, proxies, token_id, pulled, at),
                    journals, gas=batch_gas(n),
                )  # fmt: skip
            except (TxReverted, SendFailed, LeaseLost, ChainError) as again:
                return failed(_exc_reason("return", again, force_unconfirmed=True))
            hashes.append(sent.tx_hash)
            if isinstance(outcome, Refused):
                return [
                    ExecutionResult(
                        TradeStatus.SKIPPED, outcome.reason.value, tuple(hashes), worker=wallet.address
                    )
                ] * n
            return failed(f"fill: {outcome.detail}; funds returned")
        fill = outcome
        hashes.extend(fill.tx_hashes)
        beyond = _beyond_order(order, fill)
        if beyond:  # a venue defect: what it moved is left to an operator, never guessed at
            return failed(f"{UNCONFIRMED}: fill: {beyond}")
        # Each leg gets its share of the order, pro rata to what it asked; exact for a complete fill.
        shares = split_pro_rata(fill.shares, tokens)
        gross = split_pro_rata(fill.collateral, usds)
        moved = split_pro_rata(fill.spent(order.side), usds)
        if side == "BUY":
            push = _push(c.ctf, proxies, shares, token_id, source=at)
            back = _push(
                c.collateral, proxies, [p - m for p, m in zip(pulled, moved, strict=True)], source=at
            )
        else:
            push = _push(c.collateral, proxies, moved, source=at)
            back = _push(
                c.ctf, proxies, [p - m for p, m in zip(pulled, shares, strict=True)], token_id, source=at
            )
        try:
            if push is not None:
                sent = await s.send(
                    wallet, Step.PUSHED, c.executor, push[0], journals, gas=batch_gas(push[1]),
                    fault="after_broadcast",
                )  # fmt: skip
                hashes.append(sent.tx_hash)
                gas += receipt_gas_wei(sent.receipt)
        except (TxReverted, SendFailed, LeaseLost, ChainError) as exc:
            # Traded: what was bought sits with the worker; recovery pushes it.
            return failed(_exc_reason("push", exc, force_unconfirmed=True))
        if back is not None:  # a partial fill: what was not traded goes home
            try:
                sent = await s.send(
                    wallet, Step.RETURNED, c.executor, back[0], journals, gas=batch_gas(back[1])
                )
            except (TxReverted, SendFailed, LeaseLost, ChainError) as exc:
                return failed(_exc_reason("return", exc, force_unconfirmed=True))
            hashes.append(sent.tx_hash)
            gas += receipt_gas_wei(sent.receipt)
        unfilled = Refusal.FOK_NOT_FILLED if self.kind is OrderKind.FOK else Refusal.FAK_NOT_FILLED
        # Each leg's fee is what its moved collateral differs from its gross by; the batch's gas is split
        # equally between its legs (`report.quality.split_gas`).
        return [
            ExecutionResult(
                TradeStatus.EXECUTED,
                None,
                tuple(hashes),
                fill_price_ppm=usd * PRICE_SCALE // tok,
                fill_size=tok,
                worker=wallet.address,
                gas_wei=leg_gas,
                fee=abs(paid - usd),
            )
            if tok
            else ExecutionResult(TradeStatus.SKIPPED, unfilled.value, tuple(hashes), worker=wallet.address)
            for usd, tok, paid, leg_gas in zip(gross, shares, moved, split_gas(gas, n), strict=True)
        ]

    async def _trade(
        self,
        wallet: OperatorWallet,
        order: Order,
        journals: Sequence[JobJournal],
        legs: Sequence[Leg],
        tokens: Sequence[int],
        usds: Sequence[int],
    ) -> TradeOutcome:
        """The venue's trade; a venue that journals its legs' weights (the CLOB, so that recovery can split
        an interrupted coalesced order as this flow would) is given them."""
        if getattr(self.venue, "journals_legs", False):
            shares = [(leg.job.key, t, u) for leg, t, u in zip(legs, tokens, usds, strict=True)]
            return await self.venue.trade(wallet, order, journals, shares)  # type: ignore[call-arg]
        return await self.venue.trade(wallet, order, journals)

    def _give_back(
        self, side: str, proxies: Sequence[str], token_id: int, pulled: Sequence[int], at: str | None
    ) -> bytes:
        c = self.custody
        if at is not None:
            if side == "BUY":
                return calls.push_erc20_from(proxies, c.collateral, pulled, at)
            return calls.push_erc1155_from(proxies, c.ctf, token_id, pulled, at)
        if side == "BUY":
            return calls.push_erc20(proxies, c.collateral, pulled)
        return calls.push_erc1155(proxies, c.ctf, token_id, pulled)

    async def buffered(
        self, wallet: OperatorWallet, leg: Leg, token_id: int, price_ppm: int
    ) -> ExecutionResult:
        """Smart Buffer BUY: the worker buys with its own float, pushes the tokens, records the debt."""
        c, s = self.custody, self.sender
        usd, tokens = leg_amounts("BUY", leg.amount, price_ppm)
        journals = [leg.journal]
        order = Order(token_id, "BUY", tokens, usd, price_ppm, self.kind)
        refused = await self.venue.admit(order)
        if refused is not None:
            return ExecutionResult(TradeStatus.SKIPPED, refused.reason.value, worker=wallet.address)
        try:
            outcome = await self.venue.trade(wallet, order, journals)
        except JobRelinquished as exc:
            return ExecutionResult(TradeStatus.PENDING, f"{RELINQUISHED}: {exc}")
        if isinstance(outcome, Refused):  # the worker's own float never left it
            return ExecutionResult(TradeStatus.SKIPPED, outcome.reason.value, worker=wallet.address)
        if isinstance(outcome, Failed):
            return ExecutionResult(
                TradeStatus.FAILED,
                _reason("fill", outcome.detail, unknown=outcome.unknown),
                worker=wallet.address,
            )
        fill = outcome
        hashes = list(fill.tx_hashes)
        beyond = _beyond_order(order, fill)
        if beyond or fill.shares == 0:
            return ExecutionResult(
                TradeStatus.FAILED,
                f"{UNCONFIRMED}: fill: {beyond or 'no shares'}",
                tuple(hashes),
                worker=wallet.address,
            )
        debt = buffered_debt(fill)
        push = calls.push_erc1155_with_debt(
            leg.proxy,
            c.ctf,
            token_id,
            fill.shares,
            c.collateral,
            debt,
            calls.chain_debt_id(leg.job.key),
            source=funds_at(self.venue, wallet),
        )
        try:
            sent = await s.send(
                wallet,
                Step.PUSHED,
                c.executor,
                push,
                journals,
                gas=GAS_SINGLE,
                fault="after_broadcast",
            )
        except (TxReverted, SendFailed, LeaseLost, ChainError) as exc:
            return ExecutionResult(
                TradeStatus.FAILED,
                _exc_reason("push", exc, force_unconfirmed=True),
                tuple(hashes),
                worker=wallet.address,
            )
        hashes.append(sent.tx_hash)
        await leg.journal.add_debt(leg.proxy, wallet.address, debt)
        return ExecutionResult(
            TradeStatus.EXECUTED,
            None,
            tuple(hashes),
            fill_price_ppm=fill.collateral * PRICE_SCALE // fill.shares,
            fill_size=fill.shares,
            worker=wallet.address,
            gas_wei=receipt_gas_wei(sent.receipt),
            fee=fill.fee,
        )

    async def singles(
        self, wallet: OperatorWallet, legs: Sequence[Leg], token_id: int, side: str, price_ppm: int
    ) -> list[ExecutionResult]:
        """Each leg on its own (after a batch pull reverted), pipelined on one wallet."""
        out = await asyncio.gather(*(self.standard(wallet, [leg], token_id, side, price_ppm) for leg in legs))
        return [r[0] for r in out]


def _side(side: str) -> Side:
    if side not in ("BUY", "SELL"):
        raise InvalidInputError(f"side must be BUY or SELL, got {side!r}")
    return "BUY" if side == "BUY" else "SELL"


def buffered_debt(fill: Fill) -> int:
    """What a Proxy owes the worker that fronted `fill` (a BUY): what the worker paid, at most one unit per
    share, the most the Executor records for the shares pushed (a share is worth at most $1, so only a fee
    at a price near $1 could go past it, and that sliver is the worker's)."""
    return min(fill.spent("BUY"), fill.shares)


def funds_at(venue: Venue, wallet: OperatorWallet) -> str | None:
    """The worker's trading wallet when the venue trades from one (the CLOB's deposit wallet), else None:
    the worker itself holds a trade's funds."""
    at = getattr(venue, "funds_at", None)
    if at is None:
        return None
    address = str(at(wallet)).lower()
    return None if address == wallet.address.lower() else address


def _push(
    token: str,
    proxies: Sequence[str],
    amounts: Sequence[int],
    token_id: int | None = None,
    *,
    source: str | None = None,
) -> tuple[bytes, int] | None:
    """A push of the non-zero `amounts` (ERC-1155 when `token_id` is given) and how many Proxies it pays,
    from the worker or, given `source`, from its registered trading wallet."""
    paid = [(p, a) for p, a in zip(proxies, amounts, strict=True) if a > 0]
    if not paid:
        return None
    to, values = [p for p, _ in paid], [a for _, a in paid]
    if source is not None:
        data = (
            calls.push_erc20_from(to, token, values, source)
            if token_id is None
            else calls.push_erc1155_from(to, token, token_id, values, source)
        )
    else:
        data = (
            calls.push_erc20(to, token, values)
            if token_id is None
            else calls.push_erc1155(to, token, token_id, values)
        )
    return data, len(paid)


def _beyond_order(order: Order, fill: Fill) -> str | None:
    """Why `fill` moved more than `order` allowed (None: it did not)."""
    if min(fill.shares, fill.collateral, fill.fee) < 0:
        return f"negative amounts in {fill}"
    if order.side == "BUY" and fill.spent("BUY") > order.collateral:
        return f"spent {fill.spent('BUY')} of {order.collateral} collateral"
    if order.side == "SELL" and (fill.shares > order.shares or fill.fee > fill.collateral):
        return f"sold {fill.shares} of {order.shares} shares for {fill.collateral} with fee {fill.fee}"
    return None


def _unknown(exc: BaseException) -> bool:
    return isinstance(exc, LeaseLost | ChainError) or (isinstance(exc, SendFailed) and exc.unconfirmed)


def _exc_reason(step: str, exc: BaseException, *, force_unconfirmed: bool = False) -> str:
    return _reason(step, str(exc), unknown=force_unconfirmed or _unknown(exc))


def _reason(step: str, detail: str, *, unknown: bool) -> str:
    """`step: detail`, prefixed `unconfirmed:` (once) when the step's effect is not known."""
    if detail.startswith(UNCONFIRMED):
        return f"{UNCONFIRMED}: {step}: {detail.removeprefix(UNCONFIRMED + ': ')}"
    if unknown:
        return f"{UNCONFIRMED}: {step}: {detail}"
    return f"{step}: {detail}"
