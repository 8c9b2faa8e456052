"""Sending one transaction of a flow: nonce, fees, Rust signing, journal before broadcast, failover, retries.

`TxSender.send` returns only with the receipt of the hash that mined (any replacement may be it), or raises:
`TxReverted` (mined, status 0), `SendFailed` (after `COPY_TRADING_MAX_RETRY_ATTEMPTS` with every reason, or
with `unconfirmed=True` when the outcome could not be learnt in time), `LeaseLost`.

How the node's answers are read: "already known" for our own bytes means it has them (sent); "nonce too
low" means sent if our hash has a receipt, else another transaction took the nonce and we re-sign under a
new one; a transport failure retries the same bytes (idempotent) on the next endpoint. A nonce reserved but
never broadcast, or whose fate stayed unknown, is filled with a no-op self-transfer priced to replace ours,
so later nonces of the wallet are never stuck behind a hole and a maybe-sent transaction cannot mine late.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from dataclasses import dataclass
from typing import Any

from polyhunter._core import Eip1559Tx, SignedTx
from polyhunter.chain.aiorpc import AsyncRpc, RpcError
from polyhunter.errors import ChainError, ExecutionError
from polyhunter.execution.base import JobJournal
from polyhunter.execution.faults import faultpoint
from polyhunter.execution.fees import Fees, bump_fees
from polyhunter.execution.fleet import OperatorWallet
from polyhunter.execution.txmonitor import NonceTaken, Receipt, TxMonitor, classify_send_error

log = logging.getLogger(__name__)

SELF_TRANSFER_GAS = 21_000


class TxReverted(ExecutionError):
    """The transaction mined and reverted."""

    def __init__(self, step: str, tx_hash: bytes) -> None:
        self.step, self.tx_hash = step, tx_hash
        super().__init__(f"{step} transaction 0x{tx_hash.hex()} reverted")


class SendFailed(ExecutionError):
    """A transaction could not be sent (or confirmed) within the retry budget; `reasons` say why."""

    def __init__(self, step: str, reasons: Sequence[str], *, unconfirmed: bool = False) -> None:
        self.step, self.reasons, self.unconfirmed = step, list(reasons), unconfirmed
        prefix = "unconfirmed: " if unconfirmed else ""
        super().__init__(f"{prefix}{step}: {'; '.join(reasons) or 'no attempt made'}")


@dataclass(frozen=True, slots=True)
class Sent:
    tx_hash: bytes
    receipt: Receipt


class FeeOracle:
    """Fee fields for a first send: max fee = 2 × the latest base fee + tip (survives several full blocks
    of base-fee growth), never above the cap; refreshed at most every `ttl_s`."""

    def __init__(
        self, rpc: AsyncRpc, tip_wei: int, max_fee_cap: int | None = None, ttl_s: float = 1.0
    ) -> None:
        self.rpc, self.tip_wei, self.max_fee_cap, self.ttl_s = rpc, tip_wei, max_fee_cap, ttl_s
        self._at = 0.0
        self._fees = Fees(0, 0)

    def invalidate(self) -> None:
        self._at = 0.0

    async def current(self) -> Fees:
        if time.monotonic() - self._at > self.ttl_s:
            block = await self.rpc.call("eth_getBlockByNumber", ["latest", False])
            base = int(block.get("baseFeePerGas", "0x0"), 16)
            max_fee = 2 * base + self.tip_wei
            if self.max_fee_cap is not None:
                max_fee = min(max_fee, self.max_fee_cap)
            self._fees = Fees(max_fee, min(self.tip_wei, max_fee))
            self._at = time.monotonic()
        return self._fees


NoFunds = Callable[[OperatorWallet], Awaitable[bool]]
"""Refuels a wallet that ran out of gas; True when it now has gas."""


class TxSender:
    """Sends a flow's transactions from fleet wallets and waits for them through the TxMonitor."""

    def __init__(
        self,
        rpc: AsyncRpc,
        chain_id: int,
        monitor: TxMonitor,
        fees: FeeOracle,
        *,
        max_retries: int = 3,
        retry_backoff_s: float = 0.25,
        confirm_timeout_s: float = 300.0,
        on_no_funds: NoFunds | None = None,
    ) -> None:
        self.rpc = rpc
        self.chain_id = chain_id
        self.monitor = monitor
        self.fees = fees
        self.max_retries = max_retries
        self.retry_backoff_s = retry_backoff_s
        self.confirm_timeout_s = confirm_timeout_s
        self.on_no_funds = on_no_funds
        self.sent = 0
        self.gap_fills = 0
        self._background: set[asyncio.Task[None]] = set()

    async def resync(self, wallet: OperatorWallet) -> None:
        """Aligns the wallet's allocator with the chain and fills any hole it finds."""
        mined = int(await self.rpc.call("eth_getTransactionCount", [wallet.address, "latest"]), 16)
        pending = int(await self.rpc.call("eth_getTransactionCount", [wallet.address, "pending"]), 16)
        wallet.nonces.resync(mined, pending)
        for nonce in wallet.nonces.gaps():
            self._spawn(self.fill_gap(wallet, nonce))

    async def send(
        self,
        wallet: OperatorWallet,
        step: str,
        to: str,
        data: bytes,
        journals: Sequence[JobJournal],
        *,
        gas: int,
        value: int = 0,
        fault: str | None = None,
    ) -> Sent:
        """Sends `data` to `to` from `wallet` as journaled `step` and waits until it mines."""
        reasons: list[str] = []
        nonce: int | None = None
        floor: Fees | None = None
        for _attempt in range(self.max_retries + 1):
            wallet.check_lease()
            if nonce is None:
                nonce = wallet.nonces.reserve()
            try:
                fees = await self.fees.current()
            except ChainError as exc:
                reasons.append(f"fees: {exc}")
                await asyncio.sleep(self.retry_backoff_s)
                continue
            fees = fees.at_least(floor)
            tx = self._tx(nonce, fees, gas, to, value, data)
            signed = wallet.signer.sign_transaction(tx)
            try:
                # Durable before broadcast: recovery can always tell what may be on chain.
                await _journal(journals, step, wallet, nonce, signed.hash)
                wallet.check_lease()
            except BaseException:
                self._abandon(wallet, nonce)
                raise
            outcome, detail = await self._broadcast(signed)
            if outcome == "sent":
                self.sent += 1
                if fault is not None:
                    faultpoint(fault)
                return await self._confirm(wallet, step, tx, signed, journals, reasons)
            reasons.append(detail)
            if outcome == "nonce_low":
                receipt = await self._receipt(signed.hash)
                if receipt is not None:  # ours, already mined
                    return self._result(step, signed.hash, receipt)
                await self.resync(wallet)
                nonce = None  # another transaction took it: not ours to fill
            elif outcome == "underpriced":
                await self.resync(wallet)
                nonce = None
            elif outcome == "funds":
                if self.on_no_funds is None or not await self.on_no_funds(wallet):
                    break
            elif outcome == "unknown":
                # Never answered: the bytes may be in a pool. Watch them, and let a filler settle the nonce.
                self._spawn(self.fill_gap(wallet, nonce, over=fees))
                return await self._confirm(wallet, step, tx, signed, journals, reasons, after_filler=True)
            else:
                # e.g. "max fee below base fee": the same nonce again, with fees raised past the refused ones.
                self.fees.invalidate()
                floor = bump_fees(fees, cap=self.fees.max_fee_cap) or fees
            await asyncio.sleep(self.retry_backoff_s)
        if nonce is not None:
            self._abandon(wallet, nonce)
        raise SendFailed(step, reasons)

    def _tx(self, nonce: int, fees: Fees, gas: int, to: str, value: int, data: bytes) -> Eip1559Tx:
        return Eip1559Tx(
            chain_id=self.chain_id,
            nonce=nonce,
            max_fee_per_gas=fees.max_fee,
            max_priority_fee_per_gas=fees.tip,
            gas=gas,
            to=to,
            value=value,
            data=data,
        )

    async def _confirm(
        self,
        wallet: OperatorWallet,
        step: str,
        tx: Eip1559Tx,
        signed: SignedTx,
        journals: Sequence[JobJournal],
        reasons: list[str],
        *,
        after_filler: bool = False,
    ) -> Sent:
        future = self.monitor.track(wallet, tx, signed, _on_replace(journals, step, wallet))
        try:
            receipt = await asyncio.wait_for(asyncio.shield(future), self.confirm_timeout_s)
        except TimeoutError:
            reasons.append(f"not mined within {self.confirm_timeout_s:.0f}s")
            raise SendFailed(step, reasons, unconfirmed=True) from None
        except NonceTaken as exc:
            reasons.append(str(exc))
            raise SendFailed(step, reasons) from None
        tx_hash = bytes.fromhex(str(receipt["transactionHash"]).removeprefix("0x"))
        if (
            after_filler
            and int(receipt.get("gasUsed", "0x0"), 16) == SELF_TRANSFER_GAS
            and tx_hash != signed.hash
        ):
            raise SendFailed(step, reasons)  # the filler took the nonce: our transaction never happened
        return self._result(step, tx_hash, receipt)

    @staticmethod
    def _result(step: str, tx_hash: bytes, receipt: Receipt) -> Sent:
        if int(receipt["status"], 16) != 1:
            raise TxReverted(step, tx_hash)
        return Sent(tx_hash, receipt)

    async def _receipt(self, tx_hash: bytes) -> Receipt | None:
        try:
            receipt = await self.rpc.call("eth_getTransactionReceipt", ["0x" + tx_hash.hex()])
        except ChainError:
            return None
        return dict(receipt) if receipt else None

    async def _broadcast(self, signed: SignedTx) -> tuple[str, str]:
        """Sends the same bytes up to `max_retries + 1` times over transport failures (AsyncRpc fails over
        between endpoints); returns the outcome and the last reason."""
        detail = ""
        for attempt in range(self.max_retries + 1):
            try:
                await self.rpc.call("eth_sendRawTransaction", ["0x" + signed.raw.hex()])
                return "sent", ""
            except RpcError as exc:
                kind = classify_send_error(exc.message)
                if kind == "known":
                    return "sent", ""  # our very bytes: confirmed by the receipt the monitor waits for
                return kind, f"{kind}: {exc.message}"
            except ChainError as exc:
                detail = f"transport: {exc}"
                if attempt < self.max_retries:
                    await asyncio.sleep(self.retry_backoff_s * (attempt + 1))
        return "unknown", detail

    def _abandon(self, wallet: OperatorWallet, nonce: int) -> None:
        wallet.nonces.abandon(nonce)
        self._spawn(self.fill_gap(wallet, nonce))

    async def close(self) -> None:
        """Cancels gap fills still running (the engine is stopping)."""
        for task in list(self._background):
            task.cancel()
        await asyncio.gather(*self._background, return_exceptions=True)

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(work)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def fill_gap(self, wallet: OperatorWallet, nonce: int, over: Fees | None = None) -> None:
        """A no-op self-transfer under `nonce`, priced above `over` (ours, which it must replace)."""
        if not wallet.may_send():
            return
        try:
            fees = (await self.fees.current()).at_least(None if over is None else bump_fees(over, cap=None))
            tx = self._tx(nonce, fees, SELF_TRANSFER_GAS, wallet.address, 0, b"")
            signed = wallet.signer.sign_transaction(tx)
            outcome, detail = await self._broadcast(signed)
        except ChainError as exc:
            log.warning("gap fill of nonce %d of %s failed: %s", nonce, wallet.address, exc)
            return
        if outcome in ("sent", "unknown"):
            self.gap_fills += 1
            log.info("nonce %d of %s filled with a self-transfer", nonce, wallet.address)
            self.monitor.track(wallet, tx, signed, None)
        elif outcome == "nonce_low":
            wallet.nonces.done(nonce)
        else:
            log.warning("gap fill of nonce %d of %s refused: %s", nonce, wallet.address, detail)


async def _journal(
    journals: Sequence[JobJournal], step: str, wallet: OperatorWallet, nonce: int, h: bytes
) -> None:
    if len(journals) == 1:
        await journals[0].record_tx(step, wallet.address, nonce, h)
    elif journals:
        await asyncio.gather(*(j.record_tx(step, wallet.address, nonce, h) for j in journals))


def _on_replace(
    journals: Sequence[JobJournal], step: str, wallet: OperatorWallet
) -> Callable[[int, bytes], Awaitable[None]]:
    async def record(nonce: int, tx_hash: bytes) -> None:
        await _journal(journals, step, wallet, nonce, tx_hash)

    return record
