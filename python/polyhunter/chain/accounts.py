"""Test accounts of the local world, derived from the standard test mnemonic (never for real money).

The fleet takes the low indices because the supervisor derives `TRADING_MNEMONIC`'s wallets from index 0
(m/44'/60'/0'/0/i); the other roles sit far above it so that a larger fleet never collides with them.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

from eth_account import Account
from eth_account.signers.local import LocalAccount

from polyhunter.chain.anvil import TEST_MNEMONIC

OWNER_INDEX = 100
OPERATOR_INDEX = 101  # the local CLOB's operator: the only account that may call matchOrders
MARKET_MAKER_INDEX = 102  # the local CLOB's market maker (trades through its deposit wallet)
LEADER_BASE = 200
FOLLOWER_BASE = 300


@functools.cache
def derive(index: int, mnemonic: str = TEST_MNEMONIC) -> LocalAccount:
    """The account at m/44'/60'/0'/0/`index` of `mnemonic` (cached: derivation costs ~30 ms)."""
    Account.enable_unaudited_hdwallet_features()
    account: LocalAccount = Account.from_mnemonic(mnemonic, account_path=f"m/44'/60'/0'/0/{index}")
    return account


@dataclass(frozen=True)
class LocalAccounts:
    """Who is who on the local chain: owner (deployer, LocalExchange's market maker, oracle), the CLOB's
    operator and market maker, fleet, leaders, followers."""

    fleet_size: int = 4
    leader_count: int = 2
    follower_count: int = 4

    @property
    def owner(self) -> LocalAccount:
        return derive(OWNER_INDEX)

    @property
    def operator(self) -> LocalAccount:
        return derive(OPERATOR_INDEX)

    @property
    def market_maker(self) -> LocalAccount:
        return derive(MARKET_MAKER_INDEX)

    @property
    def fleet(self) -> list[LocalAccount]:
        return [derive(i) for i in range(self.fleet_size)]

    @property
    def leaders(self) -> list[LocalAccount]:
        return [derive(LEADER_BASE + i) for i in range(self.leader_count)]

    @property
    def followers(self) -> list[LocalAccount]:
        return [derive(FOLLOWER_BASE + i) for i in range(self.follower_count)]

    def all(self) -> list[LocalAccount]:
        return [self.owner, self.operator, self.market_maker, *self.fleet, *self.leaders, *self.followers]

    def signer(self, address: str) -> LocalAccount:
        """The account with this address, or `KeyError`."""
        wanted = address.lower()
        for account in self.all():
            if account.address.lower() == wanted:
                return account
        raise KeyError(f"{address} is not a test account of this layout")
