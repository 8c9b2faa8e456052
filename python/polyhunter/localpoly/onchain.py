"""The CLOB's gateway to the chain: reads (balances, allowances, wallet owners, ERC-1271 checks) and the
operator's `matchOrders` transactions.

web3.py is synchronous, so every call runs in a worker thread and the event loop never blocks. Reads share a
small pool; transactions go through one thread so the operator's nonces stay in order. `send` picks the
node's pending nonce (one transaction at a time); `send_at` takes the nonce from its caller, so that the
settlement worker can keep many `matchOrders` in flight with consecutive nonces.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from eth_abi.abi import decode, encode
from eth_account.signers.local import LocalAccount
from web3 import Web3
from web3.exceptions import ContractLogicError, TransactionNotFound

from polyhunter._core import keccak256
from polyhunter.chain.tx import describe_revert
from polyhunter.errors import ChainError
from polyhunter.localpoly.orders import ORDER_TUPLE, SignedOrder

T = TypeVar("T")

MATCH_ORDERS_SIGNATURE = (
    f"matchOrders(bytes32,{ORDER_TUPLE},{ORDER_TUPLE}[],uint256,uint256[],uint256,uint256[])"
)
MATCH_ORDERS_SELECTOR = keccak256(MATCH_ORDERS_SIGNATURE.encode())[:4]
ERC1271_MAGIC = bytes.fromhex("1626ba7e")


class TransactionDropped(ChainError):
    """A broadcast transaction the node no longer knows: neither mined nor pending."""


def _selector(signature: str) -> bytes:
    return keccak256(signature.encode())[:4]


_BALANCE_OF = _selector("balanceOf(address)")
_ALLOWANCE = _selector("allowance(address,address)")
_BALANCE_OF_1155 = _selector("balanceOf(address,uint256)")
_APPROVED_FOR_ALL = _selector("isApprovedForAll(address,address)")
_OWNER = _selector("owner()")
_IS_VALID_SIGNATURE = _selector("isValidSignature(bytes32,bytes)")
_PREDICT = _selector("predict(address)")
_MAX_FEE_RATE = _selector("getMaxFeeRate()")
_VALIDATE_ORDER = _selector(f"validateOrder({ORDER_TUPLE})")


def match_orders_calldata(
    condition_id: bytes,
    taker: SignedOrder,
    makers: Sequence[SignedOrder],
    taker_fill: int,
    maker_fills: Sequence[int],
    taker_fee: int,
    maker_fees: Sequence[int],
) -> bytes:
    """ABI-encoded `matchOrders` call (selector 0x3c2b4399)."""
    return MATCH_ORDERS_SELECTOR + encode(
        ["bytes32", ORDER_TUPLE, f"{ORDER_TUPLE}[]", "uint256", "uint256[]", "uint256", "uint256[]"],
        [
            condition_id,
            taker.as_abi(),
            [m.as_abi() for m in makers],
            taker_fill,
            list(maker_fills),
            taker_fee,
            list(maker_fees),
        ],
    )


class ChainGateway:
    """Reads and the operator's transactions for one RPC endpoint."""

    def __init__(self, rpc_url: str, wallet_factory: str) -> None:
        self._rpc_url = rpc_url
        self.w3 = Web3(Web3.HTTPProvider(rpc_url, request_kwargs={"timeout": 30}))
        self.wallet_factory = Web3.to_checksum_address(wallet_factory)
        self._reads = ThreadPoolExecutor(max_workers=4, thread_name_prefix="clob-read")
        self._sender = ThreadPoolExecutor(max_workers=1, thread_name_prefix="clob-settle")
        self._chain_id_cache: int | None = None

    def close(self) -> None:
        self._reads.shutdown(wait=False, cancel_futures=True)
        self._sender.shutdown(wait=True, cancel_futures=True)

    async def _run(self, pool: ThreadPoolExecutor, fn: Callable[..., T], *args: Any) -> T:
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(pool, fn, *args)
        except (ChainError, ContractLogicError):
            raise
        except Exception as exc:  # requests/web3 failures: name the endpoint, never a key
            raise ChainError(f"RPC {self._rpc_url}: {type(exc).__name__}: {exc}") from exc

    def _call_sync(self, to: str, data: bytes) -> bytes:
        return bytes(self.w3.eth.call({"to": Web3.to_checksum_address(to), "data": data}))

    async def call(self, to: str, data: bytes) -> bytes:
        return await self._run(self._reads, self._call_sync, to, data)

    async def chain_id(self) -> int:
        return int(await self._run(self._reads, lambda: self.w3.eth.chain_id))

    async def block_number(self) -> int:
        return int(await self._run(self._reads, lambda: self.w3.eth.block_number))

    async def has_code(self, address: str) -> bool:
        code = await self._run(self._reads, self.w3.eth.get_code, Web3.to_checksum_address(address))
        return len(code) > 0

    async def _uint(self, to: str, data: bytes) -> int:
        out = await self.call(to, data)
        return int(decode(["uint256"], out)[0])

    async def erc20_balance(self, token: str, owner: str) -> int:
        return await self._uint(token, _BALANCE_OF + encode(["address"], [owner]))

    async def erc20_allowance(self, token: str, owner: str, spender: str) -> int:
        return await self._uint(token, _ALLOWANCE + encode(["address", "address"], [owner, spender]))

    async def ctf_balance(self, ctf: str, owner: str, token_id: int) -> int:
        return await self._uint(ctf, _BALANCE_OF_1155 + encode(["address", "uint256"], [owner, token_id]))

    async def ctf_approved(self, ctf: str, owner: str, operator: str) -> bool:
        return bool(
            await self._uint(ctf, _APPROVED_FOR_ALL + encode(["address", "address"], [owner, operator]))
        )

    async def wallet_owner(self, wallet: str) -> str | None:
        """`owner()` of a deposit wallet, or None when `wallet` has no code or no such function."""
        if not await self.has_code(wallet):
            return None
        try:
            out = await self.call(wallet, _OWNER)
        except ContractLogicError:
            return None
        if len(out) != 32:
            return None
        return str(decode(["address"], out)[0]).lower()

    async def predict_wallet(self, owner: str) -> str:
        out = await self.call(self.wallet_factory, _PREDICT + encode(["address"], [owner]))
        return str(decode(["address"], out)[0]).lower()

    async def is_valid_signature(self, wallet: str, digest: bytes, signature: bytes) -> bool:
        """ERC-1271 `isValidSignature` on the wallet itself: the chain is the judge of a wrap."""
        try:
            out = await self.call(
                wallet, _IS_VALID_SIGNATURE + encode(["bytes32", "bytes"], [digest, signature])
            )
        except ContractLogicError:
            return False
        return out[:4] == ERC1271_MAGIC

    async def max_fee_rate_bps(self, exchange: str) -> int:
        """The exchange's `getMaxFeeRate()`: the cap (bps of a fill's notional) on every fee it settles."""
        return await self._uint(exchange, _MAX_FEE_RATE)

    async def order_refusal(self, exchange: str, order: SignedOrder) -> str | None:
        """Why the exchange's `validateOrder` refuses `order` now (its revert, e.g. a bad signature or an
        order cancelled or filled on chain), or None when it would settle it. The chain is the judge."""
        try:
            await self.call(exchange, _VALIDATE_ORDER + encode([ORDER_TUPLE], [order.as_abi()]))
        except ContractLogicError as exc:
            data: Any = exc.data
            if isinstance(data, dict):
                data = data.get("data")
            raw = bytes.fromhex(data[2:]) if isinstance(data, str) and data.startswith("0x") else b""
            return f"validateOrder reverted: {describe_revert(raw)}"
        return None

    # ------------------------------------------------------------------ the operator's transactions

    def _chain_id(self) -> int:
        if self._chain_id_cache is None:
            self._chain_id_cache = int(self.w3.eth.chain_id)
        return self._chain_id_cache

    def _fees(self, tip_wei: int) -> dict[str, int]:
        base_fee = int(self.w3.eth.get_block("latest").get("baseFeePerGas", 0))
        # `tip_wei` makes a re-sent transaction differ from the one it replaces (a new hash) at no real cost.
        return {"maxFeePerGas": 2 * base_fee + 10**9 + tip_wei, "maxPriorityFeePerGas": 10**9 + tip_wei}

    def _sign_and_send(self, account: LocalAccount, tx: dict[str, Any]) -> str:
        signed = account.sign_transaction(tx)
        tx_hash = "0x" + bytes(signed.hash).hex()
        try:
            self.w3.eth.send_raw_transaction(signed.raw_transaction)
        except Exception:
            # The node may have taken it even though the answer was lost: then it is broadcast.
            if self._known_sync(tx_hash):
                return tx_hash
            raise
        return tx_hash

    def _send_sync(
        self, account: LocalAccount, to: str, data: bytes, starve: bool, nonce: int | None, tip_wei: int
    ) -> str:
        w3 = self.w3
        tx: dict[str, Any] = {
            "from": account.address,
            "to": Web3.to_checksum_address(to),
            "data": data,
            "nonce": w3.eth.get_transaction_count(account.address, "pending") if nonce is None else nonce,
            "chainId": self._chain_id(),
            **self._fees(tip_wei),
        }
        # Estimated on the pending state: the operator's earlier matches still in flight run first on chain.
        estimate = int(w3.eth.estimate_gas(tx, "pending"))  # type: ignore[arg-type]
        # `starve`: half the gas the call needs, so the chain itself runs it out of gas (a real failure).
        tx["gas"] = estimate // 2 if starve else estimate * 12 // 10 + 20_000
        return self._sign_and_send(account, tx)

    async def send(self, account: LocalAccount, to: str, data: bytes, *, starve: bool = False) -> str:
        """Signs and broadcasts from `account` in the single sender thread at the node's pending nonce;
        returns the tx hash. `ContractLogicError` when the call would revert (gas estimation)."""
        return await self._run(self._sender, self._send_sync, account, to, data, starve, None, 0)

    async def send_at(
        self,
        account: LocalAccount,
        to: str,
        data: bytes,
        nonce: int,
        *,
        starve: bool = False,
        tip_wei: int = 0,
    ) -> str:
        """Like `send`, at `nonce` (the caller keeps the account's nonces), with the tip raised by
        `tip_wei`. `ContractLogicError` when the call would revert after the account's pending
        transactions; `ChainError` when the node did not take it (the nonce is then still free)."""
        return await self._run(self._sender, self._send_sync, account, to, data, starve, nonce, tip_wei)

    def _fill_sync(self, account: LocalAccount, nonce: int, tip_wei: int) -> str:
        tx: dict[str, Any] = {
            "from": account.address,
            "to": account.address,
            "value": 0,
            "gas": 21_000,
            "nonce": nonce,
            "chainId": self._chain_id(),
            **self._fees(tip_wei),
        }
        return self._sign_and_send(account, tx)

    async def fill_nonce(self, account: LocalAccount, nonce: int, *, tip_wei: int = 0) -> str:
        """A 0-value transfer from `account` to itself at `nonce`: it fills a hole that would otherwise
        hold back every later transaction of the account."""
        return await self._run(self._sender, self._fill_sync, account, nonce, tip_wei)

    async def nonce(self, address: str, block: str = "latest") -> int:
        """The account's transaction count at `block` ("latest": mined; "pending": with the mempool)."""
        checksum = Web3.to_checksum_address(address)
        return int(await self._run(self._reads, self.w3.eth.get_transaction_count, checksum, block))

    async def known(self, tx_hash: str) -> bool:
        """True while the node holds `tx_hash`, mined or pending."""
        return await self._run(self._reads, self._known_sync, tx_hash)

    def _receipt_sync(self, tx_hash: str) -> tuple[int, int] | None:
        try:
            receipt = self.w3.eth.get_transaction_receipt(tx_hash)  # type: ignore[arg-type]
        except TransactionNotFound:
            return None
        return int(receipt["status"]), int(receipt["blockNumber"])

    async def receipt(self, tx_hash: str) -> tuple[int, int] | None:
        """(status, block number) once mined, else None."""
        return await self._run(self._reads, self._receipt_sync, tx_hash)

    def _known_sync(self, tx_hash: str) -> bool:
        try:
            self.w3.eth.get_transaction(tx_hash)  # type: ignore[arg-type]
        except TransactionNotFound:
            return False
        return True

    async def wait_receipt(self, tx_hash: str, poll_s: float = 0.05) -> tuple[int, int]:
        """(status, block number) once `tx_hash` is mined; waits as long as the node still holds it (a
        pending transaction may wait for a block as long as it takes). `TransactionDropped` when the node
        no longer knows it: waiting for it would hang the caller for ever."""
        while True:
            receipt = await self.receipt(tx_hash)
            if receipt is not None:
                return receipt
            if not await self.known(tx_hash):
                # It may have been mined between the two reads.
                receipt = await self.receipt(tx_hash)
                if receipt is not None:
                    return receipt
                raise TransactionDropped(
                    f"transaction {tx_hash} is neither mined nor pending on {self._rpc_url}"
                )
            await asyncio.sleep(poll_s)
