"""Sending signed transactions with web3.py for tooling (deploy, the local world, tests).

Transactions are signed locally (eth-account), so the same code deploys to anvil and to a real chain.
The supervisor's hot path signs in Rust and does not use this module.
"""

from __future__ import annotations

from typing import Any, cast

from eth_abi.abi import decode
from eth_account.signers.local import LocalAccount
from web3 import Web3
from web3.contract import Contract
from web3.contract.contract import ContractConstructor, ContractFunction
from web3.exceptions import ContractLogicError
from web3.types import TxParams, TxReceipt, Wei

from polyhunter.chain.artifacts import error_signatures, load_artifact
from polyhunter.errors import ExecutionError

_ERROR_STRING = bytes.fromhex("08c379a0")
_PANIC = bytes.fromhex("4e487b71")


class ContractReverted(ExecutionError):
    """A contract call reverted; `error` names the custom error (e.g. "NotWorker(address)") when known."""

    def __init__(self, error: str, data: bytes, context: str) -> None:
        self.error = error
        self.data = data
        super().__init__(f"{context} reverted: {error}")

    @property
    def error_name(self) -> str:
        """The error's name without its argument types ("NotWorker")."""
        return self.error.split("(", 1)[0]


def describe_revert(data: bytes) -> str:
    """A readable name for revert data: the custom error's signature, `Error("…")` or `Panic(n)`."""
    if data[:4] == _ERROR_STRING:
        return f"Error({decode(['string'], data[4:])[0]!r})"
    if data[:4] == _PANIC:
        return f"Panic({decode(['uint256'], data[4:])[0]:#x})"
    if not data:
        return "revert without data"
    return error_signatures().get(data[:4], f"unknown error 0x{data[:4].hex()}")


def _revert_data(exc: ContractLogicError) -> bytes:
    data: Any = exc.data
    if isinstance(data, dict):
        data = data.get("data")
    if isinstance(data, str) and data.startswith("0x"):
        return bytes.fromhex(data[2:])
    return b""


def contract(w3: Web3, name: str, address: str) -> Contract:
    """A web3 handle on the deployed contract `name` at `address`."""
    return w3.eth.contract(address=Web3.to_checksum_address(address), abi=load_artifact(name).abi)


def send(
    w3: Web3,
    account: LocalAccount,
    call: ContractFunction | ContractConstructor | TxParams,
    *,
    context: str = "",
) -> TxReceipt:
    """Signs and sends `call` from `account`, waits for the receipt; `ContractReverted` on a revert."""
    label = context or (call.fn_name if isinstance(call, ContractFunction) else "transaction")
    base: TxParams = {
        "from": account.address,
        "nonce": w3.eth.get_transaction_count(account.address, "pending"),
    }
    try:
        if isinstance(call, ContractFunction | ContractConstructor):
            tx = call.build_transaction(base)
        else:
            tx = {**base, **call}
            tx.setdefault("chainId", w3.eth.chain_id)
            tx.setdefault("gas", w3.eth.estimate_gas(tx))
            if "gasPrice" not in tx:
                tx.setdefault("maxFeePerGas", Wei(2 * w3.eth.get_block("latest")["baseFeePerGas"] + 10**9))
                tx.setdefault("maxPriorityFeePerGas", Wei(10**9))
    except ContractLogicError as exc:
        data = _revert_data(exc)
        raise ContractReverted(describe_revert(data), data, label) from None
    signed = account.sign_transaction(cast(dict[str, Any], tx))
    receipt = w3.eth.wait_for_transaction_receipt(w3.eth.send_raw_transaction(signed.raw_transaction))
    if receipt["status"] != 1:
        raise ContractReverted("reverted when mined", b"", label)
    return receipt


def deploy(w3: Web3, account: LocalAccount, name: str, *args: Any) -> str:
    """Deploys contract `name` with constructor `args` from `account`; returns its lower-case address."""
    artifact = load_artifact(name)
    factory = w3.eth.contract(abi=artifact.abi, bytecode=artifact.bytecode)
    receipt = send(w3, account, factory.constructor(*args), context=f"deploy {name}")
    address = receipt["contractAddress"]
    if address is None:
        raise ExecutionError(f"deploy {name}: receipt has no contract address")
    return str(address).lower()
