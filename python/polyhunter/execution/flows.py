"""The on-chain copy flows, each step journaled before broadcast (DESIGN.md §1 step 7).

- Standard BUY: pull collateral from the Proxies → buy on the venue → push the tokens to the Proxies.
- Standard SELL: pull tokens (never more than held; the caller cuts) → sell → push the collateral.
- Smart Buffer BUY: the worker fronts the buy from its own float → push the tokens → a DebtRecord.
One leg per Proxy; several legs of one signal (same token, side and price) go through the Executor's batch
calls in three transactions in all. Amounts per leg are what a single copy would move: tokens =
`tokens_for_usd(usd, price)` for a BUY, collateral = `usd_for_tokens(tokens, price)` for a SELL, so recovery
recomputes them from the job and the pull's calldata.

A definitive failure after the pull (the fill reverted, or never happened) returns the pulled funds at once
(step RETURNED). An unknown outcome (not confirmed in time, lease lost) is left to recovery, which reads the
chain: it finishes the flow or returns the funds, so a Proxy never ends short.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass

from polyhunter.errors import ChainError, ExecutionError
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
from polyhunter.models import CopyJob, Step, TradeStatus

# Gas limits ~1.5x what these calls use on the local contracts (pull ~83k cold, fill ~121k, push ~71k; a
# batch adds ~45k per Proxy). Blocks are packed by limit, not use: tight limits let more copies per block.
GAS_SINGLE = 130_000
GAS_FILL = 200_000
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
class Venue:
    """Where the flows trade and what they move: the Executor, the venue (LocalExchange) and its maker."""

    executor: str
    exchange: str
    maker: str
    collateral: str
    ctf: str


def leg_amounts(side: str, amount: int, price_ppm: int) -> tuple[int, int]:
    """(collateral, tokens) a leg moves at `price_ppm`."""
    if side == "BUY":
        return amount, tokens_for_usd(amount, price_ppm)
    return usd_for_tokens(amount, price_ppm), amount


class Flows:
    """Runs flows with a `TxSender` on the venue."""

    def __init__(self, sender: TxSender, venue: Venue) -> None:
        self.sender = sender
        self.venue = venue

    async def standard(
        self, wallet: OperatorWallet, legs: Sequence[Leg], token_id: int, side: str, price_ppm: int
    ) -> list[ExecutionResult]:
        """Pull → fill → push for one or several legs (batch calls when several)."""
        v, s = self.venue, self.sender
        journals = [leg.journal for leg in legs]
        proxies = [leg.proxy for leg in legs]
        amounts = [leg_amounts(side, leg.amount, price_ppm) for leg in legs]
        usds = [a[0] for a in amounts]
        tokens = [a[1] for a in amounts]
        n = len(legs)
        if side == "BUY":
            pull = calls.pull_erc20(proxies, v.collateral, usds)
            fill = calls.fill(v.maker, calls.SIDE_BUY, token_id, sum(tokens), sum(usds))
            push = calls.push_erc1155(proxies, v.ctf, token_id, tokens)
            give_back = calls.push_erc20(proxies, v.collateral, usds)
        else:
            pull = calls.pull_erc1155(proxies, v.ctf, token_id, tokens)
            fill = calls.fill(v.maker, calls.SIDE_SELL, token_id, sum(tokens), sum(usds))
            push = calls.push_erc20(proxies, v.collateral, usds)
            give_back = calls.push_erc1155(proxies, v.ctf, token_id, tokens)
        hashes: list[bytes] = []

        def results(status: TradeStatus, reason: str | None) -> list[ExecutionResult]:
            executed = status is TradeStatus.EXECUTED
            return [
                ExecutionResult(
                    status,
                    reason,
                    tuple(hashes),
                    fill_price_ppm=usd * PRICE_SCALE // tok if executed and tok else None,
                    fill_size=tok if executed else None,
                    worker=wallet.address,
                )
                for usd, tok in zip(usds, tokens, strict=True)
            ]

        try:
            sent = await s.send(wallet, Step.PULLED, v.executor, pull, journals, gas=batch_gas(n))
        except (TxReverted, JobRelinquished) as exc:
            if n > 1:  # one leg refused: the others go one by one, and the refused one does nothing
                raise BatchPullReverted(str(exc)) from exc
            if isinstance(exc, JobRelinquished):
                return [ExecutionResult(TradeStatus.PENDING, f"{RELINQUISHED}: {exc}")]
            return results(TradeStatus.FAILED, f"pull: {exc}")
        except (SendFailed, LeaseLost, ChainError) as exc:
            return results(TradeStatus.FAILED, _reason("pull", exc))
        hashes.append(sent.tx_hash)
        faultpoint("after_pull")
        try:
            sent = await s.send(wallet, Step.FILLED, v.exchange, fill, journals, gas=GAS_FILL)
        except (TxReverted, SendFailed, LeaseLost, ChainError) as exc:
            if _unknown(exc):
                return results(TradeStatus.FAILED, _reason("fill", exc))
            # Pulled, certainly not filled: the funds go back before the job is called failed.
            try:
                sent = await s.send(wallet, Step.RETURNED, v.executor, give_back, journals, gas=batch_gas(n))
            except (TxReverted, SendFailed, LeaseLost, ChainError) as again:
                return results(TradeStatus.FAILED, _reason("return", again, force_unconfirmed=True))
            hashes.append(sent.tx_hash)
            return results(TradeStatus.FAILED, f"fill: {exc}; funds returned")
        hashes.append(sent.tx_hash)
        try:
            sent = await s.send(
                wallet, Step.PUSHED, v.executor, push, journals, gas=batch_gas(n), fault="after_broadcast"
            )
        except (TxReverted, SendFailed, LeaseLost, ChainError) as exc:
            # Filled: what was bought sits with the worker; recovery pushes it.
            return results(TradeStatus.FAILED, _reason("push", exc, force_unconfirmed=True))
        hashes.append(sent.tx_hash)
        return results(TradeStatus.EXECUTED, None)

    async def buffered(
        self, wallet: OperatorWallet, leg: Leg, token_id: int, price_ppm: int
    ) -> ExecutionResult:
        """Smart Buffer BUY: the worker buys with its own float, pushes the tokens, records the debt."""
        v, s = self.venue, self.sender
        usd, tokens = leg_amounts("BUY", leg.amount, price_ppm)
        journals = [leg.journal]
        hashes: list[bytes] = []
        try:
            sent = await s.send(
                wallet,
                Step.FILLED,
                v.exchange,
                calls.fill(v.maker, calls.SIDE_BUY, token_id, tokens, usd),
                journals,
                gas=GAS_FILL,
            )
        except JobRelinquished as exc:
            return ExecutionResult(TradeStatus.PENDING, f"{RELINQUISHED}: {exc}")
        except (TxReverted, SendFailed, LeaseLost, ChainError) as exc:
            return ExecutionResult(TradeStatus.FAILED, _reason("fill", exc), worker=wallet.address)
        hashes.append(sent.tx_hash)
        try:
            sent = await s.send(
                wallet,
                Step.PUSHED,
                v.executor,
                calls.push_erc1155([leg.proxy], v.ctf, token_id, [tokens]),
                journals,
                gas=GAS_SINGLE,
                fault="after_broadcast",
            )
        except (TxReverted, SendFailed, LeaseLost, ChainError) as exc:
            return ExecutionResult(
                TradeStatus.FAILED,
                _reason("push", exc, force_unconfirmed=True),
                tuple(hashes),
                worker=wallet.address,
            )
        hashes.append(sent.tx_hash)
        await leg.journal.add_debt(leg.proxy, wallet.address, usd)
        return ExecutionResult(
            TradeStatus.EXECUTED,
            None,
            tuple(hashes),
            fill_price_ppm=usd * PRICE_SCALE // tokens,
            fill_size=tokens,
            worker=wallet.address,
        )

    async def singles(
        self, wallet: OperatorWallet, legs: Sequence[Leg], token_id: int, side: str, price_ppm: int
    ) -> list[ExecutionResult]:
        """Each leg on its own (after a batch pull reverted), pipelined on one wallet."""
        out = await asyncio.gather(*(self.standard(wallet, [leg], token_id, side, price_ppm) for leg in legs))
        return [r[0] for r in out]


def _unknown(exc: BaseException) -> bool:
    return isinstance(exc, LeaseLost | ChainError) or (isinstance(exc, SendFailed) and exc.unconfirmed)


def _reason(step: str, exc: BaseException, *, force_unconfirmed: bool = False) -> str:
    text = f"{step}: {exc}"
    if (force_unconfirmed or _unknown(exc)) and not str(exc).startswith(UNCONFIRMED):
        return f"{UNCONFIRMED}: {text}"
    if str(exc).startswith(UNCONFIRMED):
        return f"{UNCONFIRMED}: {step}: {str(exc).removeprefix(UNCONFIRMED + ': ')}"
    return text
