"""Collateral balances of the Proxies whose configs size by percent of balance, fed to the fan-out index.

Read from the chain (`balanceOf` by `eth_call`, several at once) every `interval_ms` (2 s by default, the
preflight cache of the execution engine) and recorded in the Rust index with `set_balances`, so that fan-out
never waits on the chain.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Iterable

from eth_abi.abi import encode

from polyhunter._core import FanoutIndex, keccak256
from polyhunter.chain.aiorpc import AsyncRpc
from polyhunter.errors import ChainError

log = logging.getLogger(__name__)
BALANCE_OF = keccak256(b"balanceOf(address)")[:4]


class BalanceBook:
    def __init__(self, rpc: AsyncRpc, collateral: str, index: FanoutIndex, *, parallel: int = 16) -> None:
        self.rpc = rpc
        self.collateral = collateral
        self.index = index
        self.balances: dict[str, int] = {}
        self._gate = asyncio.Semaphore(parallel)
        self.refreshes = 0

    async def _balance(self, proxy: str) -> int:
        data = BALANCE_OF + encode(["address"], [proxy])
        async with self._gate:
            result = await self.rpc.call(
                "eth_call", [{"to": self.collateral, "data": "0x" + data.hex()}, "latest"]
            )
        return int(result, 16)

    async def refresh(self, proxies: Iterable[str]) -> dict[str, int]:
        wanted = sorted(set(proxies))
        if not wanted:
            return {}
        values = await asyncio.gather(*(self._balance(p) for p in wanted))
        fresh = dict(zip(wanted, values, strict=True))
        self.balances.update(fresh)
        self.index.set_balances(fresh)
        self.refreshes += 1
        return fresh

    async def run(
        self, stop: asyncio.Event, proxies: Callable[[], Iterable[str]], interval_ms: int = 2000
    ) -> None:
        while not stop.is_set():
            try:
                await self.refresh(proxies())
            except ChainError as exc:
                log.warning("balance refresh failed (%s); fan-out keeps the last balances", exc)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), interval_ms / 1000)
