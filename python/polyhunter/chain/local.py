"""The local world in use: handles on its contracts and the moves the tests and the demo make on it —
a leader's trade on LocalExchange, and a worker's pull -> fill -> push through the Executor.

This is tooling built on web3.py; the supervisor's executor signs in Rust and speaks JSON-RPC itself, but
makes the same calls (see `Executor` in contracts/src and docs/seams.md).
"""

from __future__ import annotations

from typing import Literal

from eth_account.signers.local import LocalAccount
from web3 import Web3
from web3.contract import Contract
from web3.types import TxReceipt

from polyhunter.chain.accounts import LocalAccounts
from polyhunter.chain.create2 import proxy_address
from polyhunter.chain.deployment import Deployment
from polyhunter.chain.tx import contract, send
from polyhunter.errors import ConfigError, InvalidInputError

Side = Literal["BUY", "SELL"]
_SIDE_CODE = {"BUY": 0, "SELL": 1}


def _cs(address: str) -> str:
    return Web3.to_checksum_address(address)


class LocalChain:
    """A web3 connection to a deployed local world and its test accounts' keys."""

    def __init__(self, w3: Web3, deployment: Deployment, accounts: LocalAccounts | None = None) -> None:
        exchange = deployment.contracts.local_exchange
        if exchange is None:
            raise ConfigError("this deployment has no local_exchange: not a local world")
        self.w3 = w3
        self.deployment = deployment
        self.accounts = accounts or LocalAccounts(
            fleet_size=len(deployment.accounts.fleet),
            leader_count=len(deployment.accounts.leaders),
            follower_count=len(deployment.accounts.followers),
        )
        c = deployment.contracts
        self.executor: Contract = contract(w3, "Executor", c.executor)
        self.factory: Contract = contract(w3, "ProxyFactory", c.proxy_factory)
        self.treasury: Contract = contract(w3, "Treasury", c.treasury)
        self.collateral: Contract = contract(w3, "MockCollateral", c.collateral)
        self.ctf: Contract = contract(w3, "ConditionalTokens", c.ctf)
        self.exchange: Contract = contract(w3, "LocalExchange", exchange)

    @classmethod
    def connect(cls, deployment: Deployment) -> LocalChain:
        """Connects over HTTP to `deployment.rpc_url`."""
        return cls(Web3(Web3.HTTPProvider(deployment.rpc_url)), deployment)

    # --------------------------------------------------------------- reading

    def signer(self, address: str) -> LocalAccount:
        """The key of a test account (owner, fleet, leader, follower) by address."""
        return self.accounts.signer(address)

    def proxy_of(self, owner: str) -> str:
        """`owner`'s Proxy address, computed off chain (CREATE2)."""
        return proxy_address(
            self.deployment.contracts.proxy_factory, owner, self.deployment.proxy_init_code_hash
        )

    def proxy(self, owner: str) -> Contract:
        return contract(self.w3, "Proxy", self.proxy_of(owner))

    def collateral_of(self, address: str) -> int:
        balance: int = self.collateral.functions.balanceOf(_cs(address)).call()
        return balance

    def tokens_of(self, address: str, token_id: int) -> int:
        balance: int = self.ctf.functions.balanceOf(_cs(address), token_id).call()
        return balance

    def snapshot(self) -> str:
        """An anvil snapshot id; `revert(id)` goes back to it (once)."""
        return str(self.w3.provider.make_request("evm_snapshot", [])["result"])  # type: ignore[arg-type]

    def revert(self, snapshot_id: str) -> None:
        reply = self.w3.provider.make_request("evm_revert", [snapshot_id])  # type: ignore[arg-type]
        if reply.get("result") is not True:
            raise InvalidInputError(f"evm_revert({snapshot_id}) failed: {reply}")

    # ----------------------------------------------------------------- venue

    def trade(
        self,
        taker: str,
        side: Side,
        token_id: int,
        tokens: int,
        collateral: int,
        *,
        maker: str | None = None,
    ) -> TxReceipt:
        """`taker` buys (or sells) `tokens` of `token_id` for `collateral` on LocalExchange against the
        market maker (default: the owner). A leader's trade in tests and the demo, and a worker's fill."""
        call = self.exchange.functions.fill(
            _cs(maker or self.deployment.accounts.owner), _SIDE_CODE[side], token_id, tokens, collateral
        )
        return send(self.w3, self.signer(taker), call)

    # ---------------------------------------------------------------- worker

    def pull_collateral(self, worker: str, proxy: str, amount: int) -> TxReceipt:
        call = self.executor.functions.pullERC20(
            _cs(proxy), _cs(self.deployment.contracts.collateral), amount
        )
        return send(self.w3, self.signer(worker), call)

    def pull_tokens(self, worker: str, proxy: str, token_id: int, amount: int) -> TxReceipt:
        call = self.executor.functions.pullERC1155(
            _cs(proxy), _cs(self.deployment.contracts.ctf), token_id, amount
        )
        return send(self.w3, self.signer(worker), call)

    def push_collateral(self, worker: str, proxy: str, amount: int) -> TxReceipt:
        call = self.executor.functions.pushERC20(
            _cs(proxy), _cs(self.deployment.contracts.collateral), amount
        )
        return send(self.w3, self.signer(worker), call)

    def push_tokens(self, worker: str, proxy: str, token_id: int, amount: int) -> TxReceipt:
        call = self.executor.functions.pushERC1155(
            _cs(proxy), _cs(self.deployment.contracts.ctf), token_id, amount
        )
        return send(self.w3, self.signer(worker), call)

    def push_tokens_with_debt(
        self, worker: str, proxy: str, token_id: int, amount: int, debt: int, debt_id: bytes
    ) -> TxReceipt:
        """A Smart Buffer push: `amount` tokens into `proxy`, recording that it owes `worker` `debt`
        collateral under `debt_id`."""
        call = self.executor.functions.pushERC1155WithDebt(
            _cs(proxy),
            _cs(self.deployment.contracts.ctf),
            token_id,
            amount,
            _cs(self.deployment.contracts.collateral),
            debt,
            debt_id,
        )
        return send(self.w3, self.signer(worker), call)

    def repay_debt(self, worker: str, proxy: str, amount: int, creditor: str, debt_id: bytes) -> TxReceipt:
        call = self.executor.functions.repayDebt(
            _cs(proxy), _cs(self.deployment.contracts.collateral), amount, _cs(creditor), debt_id
        )
        return send(self.w3, self.signer(worker), call)

    def copy_buy(
        self, worker: str, proxy: str, token_id: int, collateral: int, tokens: int
    ) -> list[TxReceipt]:
        """A standard BUY copy: pull `collateral` from the Proxy, buy `tokens` with it, push them in."""
        return [
            self.pull_collateral(worker, proxy, collateral),
            self.trade(worker, "BUY", token_id, tokens, collateral),
            self.push_tokens(worker, proxy, token_id, tokens),
        ]

    def copy_sell(
        self, worker: str, proxy: str, token_id: int, tokens: int, collateral: int
    ) -> list[TxReceipt]:
        """A standard SELL copy: pull `tokens` from the Proxy, sell them for `collateral`, push it in."""
        return [
            self.pull_tokens(worker, proxy, token_id, tokens),
            self.trade(worker, "SELL", token_id, tokens, collateral),
            self.push_collateral(worker, proxy, collateral),
        ]
