"""Server-side cached balances and allowances, as production keeps them: read from the chain once, then
stale until `/balance-allowance/update` (or until one of our own settlements touches the account)."""

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
        if key not in self._balances:
            self._balances[key] = await self._read_balance(address, asset)
        return self._balances[key]

    async def allowance(self, address: str, asset: str, exchange: str) -> int:
        key = (address, asset, exchange)
        if key not in self._allowances:
            self._allowances[key] = await self._read_allowance(address, asset, exchange)
        return self._allowances[key]

    async def refresh(self, address: str, asset: str) -> None:
        """Reads the balance and both exchanges' allowances again."""
        self._balances[(address, asset)] = await self._read_balance(address, asset)
        for exchange in (self._world.exchange, self._world.neg_risk_exchange):
            self._allowances[(address, asset, exchange)] = await self._read_allowance(
                address, asset, exchange
            )

    def forget(self, address: str) -> None:
        """Drops what is cached for `address` (after a settlement of ours moved its funds)."""
        for key in [k for k in self._balances if k[0] == address]:
            del self._balances[key]
        for akey in [k for k in self._allowances if k[0] == address]:
            del self._allowances[akey]
