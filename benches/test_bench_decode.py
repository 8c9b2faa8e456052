"""Log decoding: ours beside web3.py's `process_log` and eth-abi, from the same JSON-RPC bytes.

Every side gets one `eth_getLogs` response of BATCH V2 `OrderFilled` logs as bytes and decodes all of it:
ours with `LogDecoder.decode` (JSON parse, hex, ABI, rules, `Signal` objects), the references with
`json.loads` then, per log, web3.py's `ContractEvent.process_log` or `eth_abi.decode` of the data plus the
topics. Per-log figures are the batch time divided by BATCH, on both sides alike (the ratio is the same
either way). The references do less than ours: no side / price rules and no signal objects.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from eth_abi import decode, encode
from eth_utils import keccak
from web3 import Web3

from polyhunter._core import LogDecoder

BATCH = 100
CTF = "0x4d97dcd97ec945f40cf65f87097ace5ea0476045"
EXCHANGE = "0xe111180000d2663c0091e4f400237545b87b996b"
FIELDS = [
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
]
EVENT_ABI = {
    "anonymous": False,
    "name": "OrderFilled",
    "type": "event",
    "inputs": [{"name": n, "type": t, "indexed": i} for n, t, i in FIELDS],
}
DATA_TYPES = [t for _, t, indexed in FIELDS if not indexed]
TOPIC0 = "0x" + keccak(text=f"OrderFilled({','.join(t for _, t, _ in FIELDS)})").hex()
LEADERS = [f"0x{0x1000 + i:040x}" for i in range(BATCH)]


def _log(i: int) -> dict[str, Any]:
    data = encode(
        DATA_TYPES, [i % 2, 2**255 + i, 5_500_000 + i, 10_000_000 + i, 1_000, b"\x00" * 32, b"\x00" * 32]
    )
    return {
        "address": EXCHANGE,
        "topics": [
            TOPIC0,
            "0x" + keccak(i.to_bytes(4, "big")).hex(),
            "0x" + encode(["address"], [LEADERS[i]]).hex(),
            "0x" + encode(["address"], [EXCHANGE]).hex(),
        ],
        "data": "0x" + data.hex(),
        "blockNumber": hex(60_000_000 + i),
        "blockHash": "0x" + keccak(b"block").hex(),
        "transactionHash": "0x" + keccak(i.to_bytes(8, "big")).hex(),
        "transactionIndex": "0x0",
        "logIndex": hex(i),
        "removed": False,
    }


RAW = json.dumps({"jsonrpc": "2.0", "id": 1, "result": [_log(i) for i in range(BATCH)]}).encode()
DECODER = LogDecoder(ctf=CTF, v2_exchanges=[EXCHANGE], leaders=LEADERS)
PROCESS_LOG = Web3().eth.contract(abi=[EVENT_ABI]).events.OrderFilled().process_log


def ours() -> int:
    return len(DECODER.decode(RAW).signals)


def with_web3() -> int:
    return len([PROCESS_LOG(log) for log in json.loads(RAW)["result"]])


def with_eth_abi() -> int:
    out = []
    for log in json.loads(RAW)["result"]:
        topics = log["topics"]
        fields = decode(DATA_TYPES, bytes.fromhex(log["data"][2:]))
        maker, taker = "0x" + topics[2][-40:], "0x" + topics[3][-40:]
        out.append((maker, taker, fields, int(log["logIndex"], 16), int(log["blockNumber"], 16)))
    return len(out)


def test_outputs_agree() -> None:
    assert ours() == with_web3() == with_eth_abi() == BATCH


@pytest.mark.benchmark(group="decode")
def test_decode_ours(benchmark: Any, ratios: Any) -> None:
    benchmark(ours)
    ratios.record("decode_ours", benchmark)


@pytest.mark.benchmark(group="decode")
def test_decode_web3_process_log(benchmark: Any, ratios: Any) -> None:
    benchmark.pedantic(with_web3, rounds=5, iterations=1)
    ratios.record("decode_web3_process_log", benchmark)
    ratios.pair("decode_log_vs_web3_process_log", "decode_web3_process_log", "decode_ours")


@pytest.mark.benchmark(group="decode")
def test_decode_eth_abi(benchmark: Any, ratios: Any) -> None:
    benchmark(with_eth_abi)
    ratios.record("decode_eth_abi", benchmark)
    ratios.pair("decode_log_vs_eth_abi", "decode_eth_abi", "decode_ours")
