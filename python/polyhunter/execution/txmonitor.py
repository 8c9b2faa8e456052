"""TxMonitor: watches every transaction the engine sent until its nonce is consumed on chain.

It keeps every hash sent under a (wallet, nonce) — the first send and each replacement — because any of them
may be the one that mines. One `eth_getTransactionCount(latest)` per wallet per poll tells which nonces are
consumed; only those need receipts. A transaction still unmined `replace_after_s` after its last send is
either rebroadcast (the node no longer knows it: dropped) or replaced with both fee fields bumped (see
`fees.bump_fees`), each replacement journaled before broadcast. A wallet whose mined count has not moved for
`stall_s` while it has transactions in flight is checked at once for dropped ones (a pool may evict a
sender's later nonces when one of them does not fit a full block), which are rebroadcast in nonce order
without waiting for `replace_after_s`. A nonce consumed by none of our hashes (another sender took it)
fails its waiter with `NonceTaken`, so the caller re-sends under a new nonce.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from polyhunter._core import Eip1559Tx, SignedTx
from polyhunter.chain.aiorpc import AsyncRpc, RpcError
from polyhunter.errors import ChainError, ExecutionError
from polyhunter.execution.background import cancel
from polyhunter.execution.fees import Fees, bump_fees

if TYPE_CHECKING:
    from polyhunter.execution.fleet import OperatorWallet

log = logging.getLogger(__name__)

Receipt = dict[str, Any]
OnReplace = Callable[[int, bytes], Awaitable[None]]
"""Journals a replacement (nonce, new hash) durably before it is broadcast."""


class NonceTaken(ExecutionError):
    """The nonce was consumed on chain by a transaction that is none of ours: nothing of ours mined."""


@dataclass(frozen=True, slots=True)
class Attempt:
    tx_hash: bytes
    fees: Fees
    sent_at: float


@dataclass
class Tracked:
    """One nonce of one wallet in flight: the unsigned transaction and every hash sent for it."""

    wallet: OperatorWallet
    tx: Eip1559Tx
    signed: SignedTx
    on_replace: OnReplace | None
    future: asyncio.Future[Receipt]
    attempts: list[Attempt] = field(default_factory=list)
    last_sent: float = 0.0
    unexplained_polls: int = 0
    ladder: Fees | None = None
    """The fees last tried for a replacement (accepted or not)."""

    @property
    def nonce(self) -> int:
        return self.tx.nonce

    @property
    def hashes(self) -> list[bytes]:
        return [a.tx_hash for a in self.attempts]


def classify_send_error(message: str) -> str:
    """A node's refusal of `eth_sendRawTransaction`, by kind: `known` (it already has this very transaction),
    `nonce_low`, `underpriced` (a pooled one under this nonce pays more), `funds`, or `other`."""
    text = message.lower()
    if (
        "already known" in text
        or "already imported" in text
        or "alreadyknown" in text
        or "already exists" in text
    ):
        return "known"
    if "nonce too low" in text or "nonce is too low" in text or "oldnonce" in text:
        return "nonce_low"
    if "underpriced" in text or "replacement" in text:
        return "underpriced"
    if "insufficient funds" in text:
        return "funds"
    return "other"


class TxMonitor:
    """Tracks in-flight transactions per wallet; replaces stuck ones; resolves waiters with receipts."""

    def __init__(
        self,
        rpc: AsyncRpc,
        *,
        poll_s: float = 0.05,
        replace_after_s: float = 15.0,
        bump_factor_ppm: int = 1_200_000,
        max_fee_cap: int | None = None,
        stall_s: float = 4.0,
    ) -> None:
        self.rpc = rpc
        self.poll_s = poll_s
        self.replace_after_s = replace_after_s
        self.stall_s = stall_s
        self._progress: dict[str, tuple[int, float]] = {}
        """Per wallet: its mined count and since when (monotonic) that count has not moved."""
        self._stall_checked: dict[str, float] = {}
        self.bump_factor_ppm = bump_factor_ppm
        self.max_fee_cap = max_fee_cap
        self._tracked: dict[str, dict[int, Tracked]] = {}
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.replacements = 0
        self.rebroadcasts = 0
        self.history: dict[tuple[str, int], list[Attempt]] = {}
        """Every attempt per (wallet, nonce), kept after mining too (bounded by `_remember`)."""

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="txmonitor")

    async def close(self) -> None:
        await cancel(self._task)
        self._task = None
        for per_wallet in self._tracked.values():
            for tracked in per_wallet.values():
                if not tracked.future.done():
                    tracked.future.set_exception(
                        ExecutionError("the engine closed before the transaction mined")
                    )
        self._tracked.clear()

    def track(
        self, wallet: OperatorWallet, tx: Eip1559Tx, signed: SignedTx, on_replace: OnReplace | None
    ) -> asyncio.Future[Receipt]:
        """Watch a broadcast transaction; the future gets the receipt of whichever of its hashes mines."""
        per_wallet = self._tracked.setdefault(wallet.address, {})
        existing = per_wallet.get(tx.nonce)
        now = time.monotonic()
        attempt = Attempt(signed.hash, Fees(tx.max_fee_per_gas, tx.max_priority_fee_per_gas), now)
        self._remember(wallet.address, tx.nonce, attempt)
        if existing is not None and not existing.future.done():
            # A new transaction under a nonce we already watch (a gap filler over a lost send): one waiter.
            existing.tx, existing.signed = tx, signed
            existing.attempts.append(attempt)
            existing.last_sent = now
            return existing.future
        future: asyncio.Future[Receipt] = asyncio.get_running_loop().create_future()
        per_wallet[tx.nonce] = Tracked(wallet, tx, signed, on_replace, future, [attempt], now)
        self._wake.set()
        return future

    def in_flight(self, wallet: str) -> int:
        return len(self._tracked.get(wallet, {}))

    def _remember(self, wallet: str, nonce: int, attempt: Attempt) -> None:
        self.history.setdefault((wallet, nonce), []).append(attempt)
        if len(self.history) > 100_000:
            for key in list(self.history)[:10_000]:
                del self.history[key]

    async def _run(self) -> None:
        while True:
            if not any(self._tracked.values()):
                self._wake.clear()
                await self._wake.wait()
            try:
                await asyncio.gather(*(self._poll_wallet(w) for w, t in list(self._tracked.items()) if t))
            except Exception:  # never let one bad poll stop the monitor
                log.exception("txmonitor poll failed")
            await asyncio.sleep(self.poll_s)

    async def _poll_wallet(self, address: str) -> None:
        per_wallet = self._tracked.get(address, {})
        if not per_wallet:
            return
        try:
            mined = int(await self.rpc.call("eth_getTransactionCount", [address, "latest"]), 16)
        except ChainError:
            return
        now = time.monotonic()
        count, since = self._progress.get(address, (-1, now))
        if mined != count:
            self._progress[address] = (mined, now)
            since = now
        elif (
            now - since >= self.stall_s
            and now - self._stall_checked.get(address, 0.0) >= self.stall_s
            and any(n >= mined for n in per_wallet)
        ):
            self._stall_checked[address] = now
            await self._resend_dropped([per_wallet[n] for n in sorted(per_wallet) if n >= mined])
        for nonce in sorted(per_wallet):
            tracked = per_wallet[nonce]
            if tracked.future.done():
                del per_wallet[nonce]
                continue
            if nonce < mined:
                await self._settle(tracked, per_wallet)
            elif now - tracked.last_sent >= self.replace_after_s:
                await self._unstick(tracked, now)
        if not per_wallet:
            self._progress.pop(address, None)
            self._stall_checked.pop(address, None)

    async def _resend_dropped(self, waiting: list[Tracked]) -> None:
        """Rebroadcasts, lowest nonce first, every one of `waiting` the node no longer knows."""
        waiting = [t for t in waiting if not t.future.done() and t.wallet.may_send()]
        try:
            known = await asyncio.gather(
                *(self.rpc.call("eth_getTransactionByHash", ["0x" + t.signed.hash.hex()]) for t in waiting)
            )
        except ChainError:
            return
        dropped = [t for t, k in zip(waiting, known, strict=True) if k is None]
        if dropped:
            log.warning(
                "wallet %s stalled, %d of its %d pending transactions dropped (nonces %d..%d): rebroadcast",
                dropped[0].wallet.address,
                len(dropped),
                len(waiting),
                dropped[0].nonce,
                dropped[-1].nonce,
            )
        for tracked in dropped:
            self.rebroadcasts += 1
            if await self._broadcast(tracked.signed) != "rejected":
                # Refused (e.g. evicted as underpriced): the replace timer keeps running and bumps the fees.
                tracked.last_sent = time.monotonic()

    async def _receipt(self, tx_hash: bytes) -> Receipt | None:
        receipt = await self.rpc.call("eth_getTransactionReceipt", ["0x" + tx_hash.hex()])
        return dict(receipt) if receipt else None

    async def _settle(self, tracked: Tracked, per_wallet: dict[int, Tracked]) -> None:
        try:
            receipts = await asyncio.gather(*(self._receipt(h) for h in tracked.hashes))
        except ChainError:
            return
        found = next((r for r in receipts if r is not None), None)
        wallet = tracked.wallet
        if found is not None:
            tracked.future.set_result(found)
        else:
            # The count said consumed but no receipt of ours: a lagging node gets two more polls.
            tracked.unexplained_polls += 1
            if tracked.unexplained_polls < 3:
                return
            tracked.future.set_exception(
                NonceTaken(f"nonce {tracked.nonce} of {wallet.address} was consumed by another transaction")
            )
        wallet.nonces.done(tracked.nonce)
        per_wallet.pop(tracked.nonce, None)

    async def _unstick(self, tracked: Tracked, now: float) -> None:
        wallet = tracked.wallet
        if not wallet.may_send():
            return  # the lease is gone: whoever holds it now owns this wallet's nonces
        tracked.last_sent = now
        try:
            known = await self.rpc.call("eth_getTransactionByHash", ["0x" + tracked.signed.hash.hex()])
        except ChainError:
            return
        if known is None:
            # Dropped from the pool: send the very same bytes again (same hash, nothing new to journal).
            self.rebroadcasts += 1
            log.warning(
                "tx %s (nonce %d of %s) was dropped: rebroadcast",
                tracked.signed.hash.hex(),
                tracked.nonce,
                wallet.address,
            )
            await self._broadcast(tracked.signed)
            return
        old = tracked.ladder or Fees(tracked.tx.max_fee_per_gas, tracked.tx.max_priority_fee_per_gas)
        new = bump_fees(old, self.bump_factor_ppm, self.max_fee_cap)
        if new is None:
            log.warning(
                "tx nonce %d of %s is stuck at the fee cap %s",
                tracked.nonce,
                wallet.address,
                self.max_fee_cap,
            )
            return
        tx = tracked.tx.with_fees(new.max_fee, new.tip)
        signed = wallet.signer.sign_transaction(tx)
        if tracked.on_replace is not None:
            await tracked.on_replace(tracked.nonce, signed.hash)  # durable before broadcast
        # The next bump starts from these fees even if the node refuses them (e.g. still below a risen
        # base fee): the ladder climbs until a replacement is accepted or the cap is reached.
        tracked.ladder = new
        if await self._broadcast(signed) == "rejected":
            return
        # Sent, or maybe sent (transport error): either way this hash may mine, so it is watched.
        self.replacements += 1
        attempt = Attempt(signed.hash, new, now)
        tracked.tx, tracked.signed = tx, signed
        tracked.attempts.append(attempt)
        self._remember(wallet.address, tracked.nonce, attempt)
        log.info("tx nonce %d of %s replaced: fees %s -> %s", tracked.nonce, wallet.address, old, new)

    async def _broadcast(self, signed: SignedTx) -> str:
        """`sent`, `rejected` (the node answered no) or `unknown` (no answer: it may have arrived)."""
        try:
            await self.rpc.call("eth_sendRawTransaction", ["0x" + signed.raw.hex()])
        except RpcError as exc:
            return "sent" if classify_send_error(exc.message) == "known" else "rejected"
        except ChainError:
            return "unknown"
        return "sent"
