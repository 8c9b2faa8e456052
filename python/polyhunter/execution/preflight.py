"""Preflight of a copy: the Proxy's address (CREATE2, off chain), its balances (cached 2 s) and the venue's
quote (cached 5 s) in the Rust `TtlLru`, the slippage bound, and one mutex per Proxy.

The mutex covers read-balance-then-reserve: two jobs of one follower never both spend the same cached
balance, while different followers never wait on each other. A reservation lowers the cached balance at
once; a failed job forgets the entry so the next read comes from the chain.
"""

from __future__ import annotations

import asyncio
import weakref
from typing import Protocol

from eth_abi.abi import encode

from polyhunter._core import TtlLru
from polyhunter.chain.aiorpc import AsyncRpc
from polyhunter.chain.create2 import proxy_address
from polyhunter.execution import calls
from polyhunter.models import Side

BALANCE_TTL_MS = 2_000
QUOTE_TTL_MS = 5_000


class QuoteSource(Protocol):
    """The venue's current price for a side of a token, in ppm of $1 (None: no quote)."""

    async def quote(self, token_id: int, side: Side) -> int | None: ...


def beyond_slippage(side: Side, quote_ppm: int, limit_ppm: int, max_bps: int) -> bool:
    """A BUY quoted above the limit by more than `max_bps`, or a SELL quoted below it by more."""
    if side == "BUY":
        return quote_ppm * 10_000 > limit_ppm * (10_000 + max_bps)
    return quote_ppm * 10_000 < limit_ppm * (10_000 - max_bps)


class Preflight:
    """Cached reads for the engine's checks before it sends anything."""

    def __init__(
        self,
        rpc: AsyncRpc,
        *,
        collateral: str,
        ctf: str,
        proxy_factory: str,
        proxy_init_code_hash: str,
        quotes: QuoteSource | None = None,
    ) -> None:
        self.rpc = rpc
        self.collateral = collateral
        self.ctf = ctf
        self.proxy_factory = proxy_factory
        self.init_code_hash = proxy_init_code_hash
        self.quotes = quotes
        self.balances = TtlLru(10_000, BALANCE_TTL_MS)
        self.quote_cache = TtlLru(500, QUOTE_TTL_MS)
        self._locks: weakref.WeakValueDictionary[str, asyncio.Lock] = weakref.WeakValueDictionary()

    def proxy_of(self, follower: str) -> str:
        return proxy_address(self.proxy_factory, follower, self.init_code_hash)

    def lock(self, proxy: str) -> asyncio.Lock:
        lock = self._locks.get(proxy)
        if lock is None:
            lock = asyncio.Lock()
            self._locks[proxy] = lock
        return lock

    async def quote(self, token_id: int, side: Side) -> int | None:
        if self.quotes is None:
            return None
        key = f"{token_id}:{side}"
        cached = self.quote_cache.get(key)
        if cached is not None:
            return int(cached)
        price = await self.quotes.quote(token_id, side)
        if price is not None:
            self.quote_cache.set(key, price)
        return price

    @staticmethod
    def _key(owner: str, token_id: int | None) -> str:
        return f"{owner}:{'c' if token_id is None else token_id}"

    async def balance(self, owner: str, token_id: int | None = None) -> int:
        """`owner`'s collateral (token_id None) or outcome tokens, cached 2 s."""
        key = self._key(owner, token_id)
        cached = self.balances.get(key)
        if cached is not None:
            return int(cached)
        if token_id is None:
            data, to = calls.BALANCE_OF_20 + encode(["address"], [owner]), self.collateral
        else:
            data, to = calls.BALANCE_OF_1155 + encode(["address", "uint256"], [owner, token_id]), self.ctf
        value = int(await self.rpc.call("eth_call", [{"to": to, "data": "0x" + data.hex()}, "latest"]), 16)
        self.balances.set(key, value)
        return value

    def spend(self, owner: str, token_id: int | None, amount: int) -> None:
        """Lowers the cached balance by what a job in flight is about to move (under the Proxy's lock)."""
        key = self._key(owner, token_id)
        cached = self.balances.get(key)
        if cached is not None:
            self.balances.set(key, max(0, int(cached) - amount))

    def forget(self, owner: str, token_id: int | None) -> None:
        self.balances.pop(self._key(owner, token_id))
