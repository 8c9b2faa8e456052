"""Copies executed on chain through the Executor and the local venue (LocalExchange), signed in Rust.

Standard BUY: Executor.pullERC20 (collateral, Proxy → worker) → LocalExchange.fill (worker buys the tokens)
→ Executor.pushERC1155 (tokens → Proxy). SELL mirrors it, never selling more than the Proxy holds. Each
transaction is journaled (step, wallet, nonce, hash) before it is broadcast; a fill that fails after the pull
returns the pulled funds to the Proxy (step RETURNED), so a Proxy never ends short.

Each job holds one operator wallet of the fleet for its duration; nonces are counted locally per wallet and
resynced from the chain after any send error.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass

from eth_abi.abi import encode

from polyhunter._core import Eip1559Tx, Signer, keccak256
from polyhunter.chain.aiorpc import AsyncRpc, RpcError
from polyhunter.chain.deployment import Deployment
from polyhunter.errors import ChainError, ExecutionError
from polyhunter.execution.base import PRICE_SCALE, ExecutionResult, JobJournal, tokens_for_usd, usd_for_tokens
from polyhunter.models import CopyJob, SkipReason, Step, TradeStatus

log = logging.getLogger(__name__)

SIDE_BUY, SIDE_SELL = 0, 1
GAS_LIMIT = 300_000


def _selector(signature: str) -> bytes:
    return keccak256(signature.encode())[:4]


PULL_ERC20 = _selector("pullERC20(address,address,uint256)")
PULL_ERC1155 = _selector("pullERC1155(address,address,uint256,uint256)")
PUSH_ERC20 = _selector("pushERC20(address,address,uint256)")
PUSH_ERC1155 = _selector("pushERC1155(address,address,uint256,uint256)")
FILL = _selector("fill(address,uint8,uint256,uint256,uint256)")
BALANCE_OF_1155 = _selector("balanceOf(address,uint256)")


@dataclass
class Wallet:
    signer: Signer
    nonce: int = 0

    @property
    def address(self) -> str:
        return self.signer.address


class TxFailed(ExecutionError):
    def __init__(self, step: str, tx_hash: bytes, detail: str) -> None:
        self.step, self.tx_hash = step, tx_hash
        super().__init__(f"{step} transaction 0x{tx_hash.hex()} failed: {detail}")


class LocalChainEngine:
    """Executes copies on the local chain (anvil) with the operator fleet."""

    name = "local-chain"

    def __init__(
        self,
        rpc: AsyncRpc,
        deployment: Deployment,
        fleet: list[Signer],
        *,
        receipt_timeout_s: float = 60.0,
        poll_s: float = 0.05,
    ) -> None:
        if not fleet:
            raise ExecutionError("the local-chain engine needs at least one operator wallet")
        if not deployment.contracts.local_exchange:
            raise ExecutionError("the deployment has no LocalExchange (local chains only)")
        self.rpc = rpc
        self.deployment = deployment
        self.chain_id = deployment.chain_id
        self.executor = deployment.contracts.executor
        self.exchange = deployment.contracts.local_exchange
        self.collateral = deployment.contracts.collateral
        self.ctf = deployment.contracts.ctf
        self.maker = deployment.accounts.owner
        self.wallets = [Wallet(s) for s in fleet]
        self._free: asyncio.Queue[Wallet] = asyncio.Queue()
        self.receipt_timeout_s = receipt_timeout_s
        self.poll_s = poll_s
        self._fees: tuple[float, int, int] = (0.0, 0, 0)
        self.sent = 0

    async def start(self) -> None:
        """Reads every wallet's next nonce from the chain and puts the fleet to work."""
        for wallet in self.wallets:
            await self._resync(wallet)
            self._free.put_nowait(wallet)

    async def close(self) -> None:
        return None

    async def _resync(self, wallet: Wallet) -> None:
        wallet.nonce = int(await self.rpc.call("eth_getTransactionCount", [wallet.address, "pending"]), 16)

    async def _fee_fields(self) -> tuple[int, int]:
        fetched_at, max_fee, tip = self._fees
        if time.monotonic() - fetched_at > 2.0:
            block = await self.rpc.call("eth_getBlockByNumber", ["latest", False])
            base = int(block.get("baseFeePerGas", "0x0"), 16)
            tip = 1_000_000_000
            # Twice the base fee plus the tip survives several full blocks of base-fee growth.
            max_fee = 2 * base + tip
            self._fees = (time.monotonic(), max_fee, tip)
        return max_fee, tip

    async def _send(self, wallet: Wallet, journal: JobJournal, step: str, to: str, data: bytes) -> bytes:
        max_fee, tip = await self._fee_fields()
        tx = Eip1559Tx(
            chain_id=self.chain_id,
            nonce=wallet.nonce,
            max_fee_per_gas=max_fee,
            max_priority_fee_per_gas=tip,
            gas=GAS_LIMIT,
            to=to,
            data=data,
        )
        signed = wallet.signer.sign_transaction(tx)
        # Durable before broadcast: recovery can always tell what may be on chain.
        await journal.record_tx(step, wallet.address, wallet.nonce, signed.hash)
        try:
            await self.rpc.call("eth_sendRawTransaction", ["0x" + signed.raw.hex()])
        except (RpcError, ChainError):
            await self._resync(wallet)
            raise
        wallet.nonce += 1
        self.sent += 1
        receipt = await self._receipt(signed.hash)
        if int(receipt["status"], 16) != 1:
            raise TxFailed(step, signed.hash, "reverted")
        return signed.hash

    async def _receipt(self, tx_hash: bytes) -> dict[str, str]:
        deadline = time.monotonic() + self.receipt_timeout_s
        while True:
            receipt = await self.rpc.call("eth_getTransactionReceipt", ["0x" + tx_hash.hex()])
            if receipt:
                return dict(receipt)
            if time.monotonic() > deadline:
                raise TxFailed("receipt", tx_hash, f"not mined within {self.receipt_timeout_s:.0f}s")
            await asyncio.sleep(self.poll_s)

    async def holding(self, owner: str, token_id: int) -> int:
        data = BALANCE_OF_1155 + encode(["address", "uint256"], [owner, token_id])
        result = await self.rpc.call("eth_call", [{"to": self.ctf, "data": "0x" + data.hex()}, "latest"])
        return int(result, 16)

    async def execute(self, job: CopyJob, journal: JobJournal) -> ExecutionResult:
        price = job.limit_price_ppm
        if price <= 0 or price >= PRICE_SCALE:
            return ExecutionResult(TradeStatus.SKIPPED, SkipReason.NO_PRICE.value)
        wallet = await self._free.get()
        try:
            return await self._execute(wallet, job, journal, price)
        finally:
            self._free.put_nowait(wallet)

    async def _execute(
        self, wallet: Wallet, job: CopyJob, journal: JobJournal, price: int
    ) -> ExecutionResult:
        proxy, token = job.proxy, job.token_id
        if job.side == "BUY":
            usd = job.amount
            tokens = tokens_for_usd(usd, price)
            pull = PULL_ERC20 + encode(["address", "address", "uint256"], [proxy, self.collateral, usd])
            fill = FILL + encode(
                ["address", "uint8", "uint256", "uint256", "uint256"],
                [self.maker, SIDE_BUY, token, tokens, usd],
            )
            push = PUSH_ERC1155 + encode(
                ["address", "address", "uint256", "uint256"], [proxy, self.ctf, token, tokens]
            )
            give_back = PUSH_ERC20 + encode(["address", "address", "uint256"], [proxy, self.collateral, usd])
        else:
            tokens = min(job.amount, await self.holding(proxy, token))
            usd = usd_for_tokens(tokens, price)
            if tokens == 0 or usd == 0:
                return ExecutionResult(TradeStatus.SKIPPED, SkipReason.BELOW_MIN_SIZE.value)
            pull = PULL_ERC1155 + encode(
                ["address", "address", "uint256", "uint256"], [proxy, self.ctf, token, tokens]
            )
            fill = FILL + encode(
                ["address", "uint8", "uint256", "uint256", "uint256"],
                [self.maker, SIDE_SELL, token, tokens, usd],
            )
            push = PUSH_ERC20 + encode(["address", "address", "uint256"], [proxy, self.collateral, usd])
            give_back = PUSH_ERC1155 + encode(
                ["address", "address", "uint256", "uint256"], [proxy, self.ctf, token, tokens]
            )
        if tokens == 0:
            return ExecutionResult(TradeStatus.SKIPPED, SkipReason.BELOW_MIN_SIZE.value)
        hashes: list[bytes] = []
        try:
            hashes.append(await self._send(wallet, journal, Step.PULLED, self.executor, pull))
        except (ExecutionError, ChainError) as exc:
            return ExecutionResult(TradeStatus.FAILED, f"pull: {exc}", tuple(hashes), worker=wallet.address)
        try:
            hashes.append(await self._send(wallet, journal, Step.FILLED, self.exchange, fill))
        except (ExecutionError, ChainError) as exc:
            # Pulled but not filled: the funds go back to the Proxy before the job is called failed.
            hashes.append(await self._send(wallet, journal, Step.RETURNED, self.executor, give_back))
            return ExecutionResult(TradeStatus.FAILED, f"fill: {exc}", tuple(hashes), worker=wallet.address)
        hashes.append(await self._send(wallet, journal, Step.PUSHED, self.executor, push))
        fill_price = usd * PRICE_SCALE // tokens
        return ExecutionResult(
            TradeStatus.EXECUTED,
            None,
            tuple(hashes),
            fill_price_ppm=fill_price,
            fill_size=tokens,
            worker=wallet.address,
        )
