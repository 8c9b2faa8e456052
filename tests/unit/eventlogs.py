"""Builds JSON-RPC logs of the four watched events with eth-abi (the reference encoder), for decoder tests.

Nothing here uses polyhunter: logs are encoded and, for differential tests, decoded by eth-abi / web3.py.
"""

from __future__ import annotations

import json
from typing import Any

from eth_abi import encode
from eth_utils import keccak

CTF = "0x4d97dcd97ec945f40cf65f87097ace5ea0476045"
V1_EXCHANGE = "0x4bfb41d5b3570defd03c39a9a4d8de6bd8b8982e"
V1_NEG_RISK = "0xc5d563a36ae78145c45a50134d48a1215220f80a"
V2_EXCHANGE = "0xe111180000d2663c0091e4f400237545b87b996b"
V2_NEG_RISK = "0xe2222d279d744050d28e00520010520000310f59"
ZERO = "0x" + "00" * 20


def _event(name: str, inputs: list[tuple[str, str, bool]]) -> dict[str, Any]:
    return {
        "anonymous": False,
        "name": name,
        "type": "event",
        "inputs": [{"name": n, "type": t, "indexed": i} for n, t, i in inputs],
    }


V1_ORDER_FILLED = _event(
    "OrderFilled",
    [
        ("orderHash", "bytes32", True),
        ("maker", "address", True),
        ("taker", "address", True),
        ("makerAssetId", "uint256", False),
        ("takerAssetId", "uint256", False),
        ("makerAmountFilled", "uint256", False),
        ("takerAmountFilled", "uint256", False),
        ("fee", "uint256", False),
    ],
)
V2_ORDER_FILLED = _event(
    "OrderFilled",
    [
        ("orderHash", "bytes32", True),
        ("maker", "address", True),
        ("taker", "address", True),
        ("side", "uint8", False),
        ("tokenId", "uint256", False),
        ("makerAmountFilled", "uint256", False),
        ("takerAmountFilled", "uint256", False),
        ("fee", "uint256", False),
        ("builder", "bytes32", False),
        ("metadata", "bytes32", False),
    ],
)
TRANSFER_SINGLE = _event(
    "TransferSingle",
    [
        ("operator", "address", True),
        ("from", "address", True),
        ("to", "address", True),
        ("id", "uint256", False),
        ("value", "uint256", False),
    ],
)
TRANSFER_BATCH = _event(
    "TransferBatch",
    [
        ("operator", "address", True),
        ("from", "address", True),
        ("to", "address", True),
        ("ids", "uint256[]", False),
        ("values", "uint256[]", False),
    ],
)


def signature(event: dict[str, Any]) -> str:
    return f"{event['name']}({','.join(i['type'] for i in event['inputs'])})"


def topic0(event: dict[str, Any]) -> str:
    return "0x" + keccak(text=signature(event)).hex()


def encode_log(
    event: dict[str, Any],
    address: str,
    args: dict[str, Any],
    *,
    tx_hash: bytes = b"\xab" * 32,
    log_index: int = 7,
    block_number: int = 42,
    block_hash: bytes = b"\xcd" * 32,
    removed: bool = False,
) -> dict[str, Any]:
    """One log as a JSON-RPC node returns it: hex strings, topics padded, data ABI-encoded."""
    indexed = [i for i in event["inputs"] if i["indexed"]]
    plain = [i for i in event["inputs"] if not i["indexed"]]
    topics = [topic0(event)] + ["0x" + encode([i["type"]], [args[i["name"]]]).hex() for i in indexed]
    data = encode([i["type"] for i in plain], [args[i["name"]] for i in plain])
    return {
        "address": address,
        "topics": topics,
        "data": "0x" + data.hex(),
        "blockNumber": hex(block_number),
        "blockHash": "0x" + block_hash.hex(),
        "transactionHash": "0x" + tx_hash.hex(),
        "transactionIndex": "0x0",
        "logIndex": hex(log_index),
        "removed": removed,
    }


def notification(log: dict[str, Any]) -> bytes:
    """An `eth_subscription` notification carrying one log."""
    msg = {"jsonrpc": "2.0", "method": "eth_subscription", "params": {"subscription": "0x1", "result": log}}
    return json.dumps(msg).encode()


def get_logs_response(logs: list[dict[str, Any]]) -> bytes:
    """An `eth_getLogs` JSON-RPC response."""
    return json.dumps({"jsonrpc": "2.0", "id": 1, "result": logs}).encode()
