"""Server-side cached balances and allowances, as production keeps them: read from the chain once, then
stale until `/balance-allowance/update` (or until one of our own settlements touches the account).

Each address has a generation that `forget` bumps: a read that was in flight when its address was forgotten
returns its value to its caller but is not stored, so a pre-trade balance is never written back after the
trade's settlement dropped it."""

from __future__ import annotations

from polyhunter.localpoly.onchain import ChainGateway
from polyhunter.localpoly.world import ClobWorld

COLLATERAL = "COLLATERAL"
MAX_UINT = 2**256 - 1


class BalanceCache:
    """(address, asset) -> balance and (address, asset, exchange) -> allowance; asset = COLLATERAL or a
    token id in decimal."""

    def __init__(self, chain: ChainGateway, world: ClobWorld) -> None:
        self._chain = chain
        self._world = world
        self._balances: dict[tuple[str, str], int] = {}
        self._allowances: dict[tuple[str, str, str], int] = {}
        self._generation: dict[str, int] = {}

    async def _read_balance(self, address: str, asset: str) -> int:
        if asset == COLLATERAL:
            return await self._chain.erc20_balance(self._world.pusd, address)
        return await self._chain.ctf_balance(self._world.ctf, address, int(asset))

    async def _read_allowance(self, address: str, asset: str, exchange: str) -> int:
        if asset == COLLATERAL:
            return await self._chain.erc20_allowance(self._world.pusd, address, exchange)
        return MAX_UINT if await self._chain.ctf_approved(self._world.ctf, address, exchange) else 0

    async def balance(self, address: str, asset: str) -> int:
        key = (address, asset)
        cached = self._balances.get(key)
        if cached is not None:
            return cached
        generation = self._generation.get(address, 0)
        value = await self._read_balance(address, asset)
        if self._generation.get(address, 0) == generation:
            self._balances[key] = value
        return value

    async def allowance(self, address: str, asset: str, exchange: str) -> int:
        key = (address, asset, exchange)
        cached = self._allowances.get(key)
        if cached is not None:
            return cached
        generation = self._generation.get(address, 0)
        value = await self._read_allowance(address, asset, exchange)
        if self._generation.get(address, 0) == generation:
            self._allowances[key] = value
        return value

    async def refresh(self, address: str, asset: str) -> None:
        """Reads the balance and both exchanges' allowances again."""
        generation = self._generation.get(address, 0)
        balance = await self._read_balance(address, asset)
        allowances = {
            exchange: await self._read_allowance(address, asset, exchange)
            for exchange in (self._world.exchange, self._world.neg_risk_exchange)
        }
        if self._generation.get(address, 0) != generation:
            return  # forgotten meanwhile: the next read goes to the chain again
        self._balances[(address, asset)] = balance
        for exchange, value in allowances.items():
            self._allowances[(address, asset, exchange)] = value

    def forget(self, address: str) -> None:
        """Drops what is cached for `address` (after a settlement of ours moved its funds), including what
        reads already in flight would store."""
        self._generation[address] = self._generation.get(address, 0) + 1
        for key in [k for k in self._balances if k[0] == address]:
            del self._balances[key]
        for akey in [k for k in self._allowances if k[0] == address]:
            del self._allowances[akey]
