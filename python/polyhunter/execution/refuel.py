"""Auto-refuel: tops up operator wallets' native gas from the funder wallet (`FUNDER_PRIVATE_KEY`).

Every `interval_s` each wallet's balance is read; one below `below_wei` receives `amount_wei` from the
funder. The sender also calls `refuel(wallet)` at once when a node answers "insufficient funds", so a
drained worker keeps executing. Every refuel is logged and counted.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence

from polyhunter._core import Signer
from polyhunter.chain.aiorpc import AsyncRpc
from polyhunter.errors import ChainError, ExecutionError
from polyhunter.execution.background import cancel
from polyhunter.execution.fleet import OperatorWallet
from polyhunter.execution.sender import FeeOracle, TxSender
from polyhunter.execution.txmonitor import TxMonitor

log = logging.getLogger(__name__)

TRANSFER_GAS = 21_000


class Refueler:
    """Watches the fleet's gas and refuels it from the funder."""

    def __init__(
        self,
        rpc: AsyncRpc,
        chain_id: int,
        funder: Signer,
        wallets: Sequence[OperatorWallet],
        below_wei: int,
        amount_wei: int,
        fees: FeeOracle,
        interval_s: float,
        monitor: TxMonitor,
    ) -> None:
        self.rpc = rpc
        self.funder = OperatorWallet(funder)
        self.wallets = list(wallets)
        self.below_wei = below_wei
        self.amount_wei = amount_wei
        self.interval_s = interval_s
        self.sender = TxSender(rpc, chain_id, monitor, fees)
        self.refuels = 0
        self._lock = asyncio.Lock()
        self._synced = False
        self._task: asyncio.Task[None] | None = None

    async def balance(self, address: str) -> int:
        return int(await self.rpc.call("eth_getBalance", [address, "latest"]), 16)

    async def refuel(self, wallet: OperatorWallet) -> bool:
        """Tops `wallet` up if it is below the threshold; True if it now holds at least the threshold."""
        async with self._lock:  # one funder nonce sequence, one refuel per wallet at a time
            try:
                balance = await self.balance(wallet.address)
                if balance >= self.below_wei:
                    return True
                if not self._synced:
                    await self.sender.resync(self.funder)
                    self._synced = True
                sent = await self.sender.send(
                    self.funder, "REFUEL", wallet.address, b"", [], gas=TRANSFER_GAS, value=self.amount_wei
                )
            except (ChainError, ExecutionError) as exc:
                log.error("refuel of %s from the funder failed: %s", wallet.address, exc)
                return False
            self.refuels += 1
            wallet.ready = True
            log.warning(
                "refuelled %s with %d wei (had %d, threshold %d), tx 0x%s",
                wallet.address,
                self.amount_wei,
                balance,
                self.below_wei,
                sent.tx_hash.hex(),
            )
            return True

    async def check_all(self) -> int:
        """One pass over the fleet; returns how many wallets were refuelled."""
        before = self.refuels
        for wallet in self.wallets:
            if wallet.owned:
                await self.refuel(wallet)
        return self.refuels - before

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="refuel")

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.interval_s)
            try:
                await self.check_all()
            except Exception:
                log.exception("refuel pass failed")

    async def close(self) -> None:
        await cancel(self._task)
        self._task = None
