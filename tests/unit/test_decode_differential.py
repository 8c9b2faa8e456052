"""LogDecoder against web3.py: random valid logs, encoded by eth-abi, decoded by web3's `process_log`.

For each event kind, Hypothesis draws the event's fields and the log's metadata; web3.py decodes the same
JSON log independently, and the rules of DESIGN.md §5 (written again here, in Python) say which signals
that log must give. Our decoder must give exactly those, field for field.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from eth_utils import keccak, to_checksum_address
from eventlogs import (
    CTF,
    TRANSFER_BATCH,
    TRANSFER_SINGLE,
    V1_EXCHANGE,
    V1_ORDER_FILLED,
    V2_EXCHANGE,
    V2_NEG_RISK,
    V2_ORDER_FILLED,
    ZERO,
    encode_log,
    notification,
)
from hexbytes import HexBytes
from hypothesis import given
from hypothesis import strategies as st
from web3 import Web3

from polyhunter._core import LogDecoder

LEADERS = ["0x1111111111111111111111111111111111111111", "0x000000000000000000000000000000000000dead"]
EXCHANGES = [V1_EXCHANGE, V2_EXCHANGE, V2_NEG_RISK]

W3 = Web3()
CONTRACTS = {
    event["name"] + str(id(event)): W3.eth.contract(abi=[event])
    for event in (V1_ORDER_FILLED, V2_ORDER_FILLED, TRANSFER_SINGLE, TRANSFER_BATCH)
}

random_address = st.binary(min_size=20, max_size=20).map(lambda b: "0x" + b.hex())
party = st.one_of(st.sampled_from([*LEADERS, ZERO, *EXCHANGES]), random_address)
uint256 = st.one_of(st.integers(0, 2**64), st.integers(0, 2**256 - 1))
nonzero = st.integers(1, 2**256 - 1)
word = st.binary(min_size=32, max_size=32)


@st.composite
def metadata(draw: st.DrawFn) -> dict[str, Any]:
    return {
        "tx_hash": draw(word),
        "log_index": draw(st.integers(0, 2**64 - 1)),
        "block_number": draw(st.integers(0, 2**64 - 1)),
        "block_hash": draw(word),
        "removed": draw(st.booleans()),
    }


def decoder() -> LogDecoder:
    return LogDecoder(
        ctf=CTF, v1_exchanges=[V1_EXCHANGE], v2_exchanges=[V2_EXCHANGE, V2_NEG_RISK], leaders=LEADERS
    )


def web3_args(event: dict[str, Any], log: dict[str, Any]) -> dict[str, Any]:
    """web3.py's own decoding of the JSON log: `ContractEvent.process_log`."""
    contract = CONTRACTS[event["name"] + str(id(event))]
    raw = {
        "address": to_checksum_address(log["address"]),
        "topics": [HexBytes(t) for t in log["topics"]],
        "data": HexBytes(log["data"]),
        "blockNumber": int(log["blockNumber"], 16),
        "blockHash": HexBytes(log["blockHash"]),
        "transactionHash": HexBytes(log["transactionHash"]),
        "transactionIndex": 0,
        "logIndex": int(log["logIndex"], 16),
    }
    decoded = getattr(contract.events, event["name"])().process_log(raw)
    args = dict(decoded["args"])
    return {k: v.lower() if isinstance(v, str) else v for k, v in args.items()}


def ours(log: dict[str, Any]) -> list[dict[str, Any]]:
    out = decoder().decode(notification(log))
    assert out.rejects == []
    rows = []
    for s in out.signals:
        row = s.to_dict()
        packed = row["tx_hash"] + row["log_index"].to_bytes(8, "big") + row["sub_index"].to_bytes(4, "big")
        if row["source"] == "ctf":  # both parties of one transfer may be leaders: the key names the party
            packed += bytes.fromhex(row["leader"][2:])
        assert row.pop("dedup_key") == keccak(packed)
        assert row.pop("seen_at_ns") > 0
        rows.append(row)
    return rows


def common(log: dict[str, Any], meta: dict[str, Any]) -> dict[str, Any]:
    return {
        "tx_hash": meta["tx_hash"],
        "log_index": meta["log_index"],
        "block_number": meta["block_number"],
        "block_hash": meta["block_hash"],
        "removed": meta["removed"],
        "exchange": log["address"],
    }


def topic1(log: dict[str, Any]) -> bytes:
    """The log's topic 1 as 32 bytes: an `OrderFilled`'s indexed order hash."""
    return bytes.fromhex(log["topics"][1].removeprefix("0x"))


def fill(
    base: dict[str, Any],
    maker: str,
    side: str,
    token: int,
    size: int,
    usd: int,
    source: str,
    order_hash: bytes,
) -> dict[str, Any]:
    return base | {
        "leader": maker,
        "token_id": token,
        "side": side,
        "size": size,
        "usd": usd,
        "price_num": usd,
        "price_den": size,
        "sub_index": 0,
        "source": source,
        "order_hash": order_hash,
    }


@given(
    meta=metadata(),
    order_hash=word,
    maker=party,
    taker=party,
    buy=st.booleans(),
    token=nonzero,
    amounts=st.tuples(uint256, uint256, uint256),
)
def test_v1_order_filled_matches_web3(
    meta: dict[str, Any],
    order_hash: bytes,
    maker: str,
    taker: str,
    buy: bool,
    token: int,
    amounts: tuple[int, int, int],
) -> None:
    args = {
        "orderHash": order_hash,
        "maker": maker,
        "taker": taker,
        "makerAssetId": 0 if buy else token,
        "takerAssetId": token if buy else 0,
        "makerAmountFilled": amounts[0],
        "takerAmountFilled": amounts[1],
        "fee": amounts[2],
    }
    log = encode_log(V1_ORDER_FILLED, V1_EXCHANGE, args, **meta)
    ref = web3_args(V1_ORDER_FILLED, log)
    want = []
    if ref["maker"] in LEADERS:
        base = common(log, meta)
        m, t, h = ref["makerAmountFilled"], ref["takerAmountFilled"], bytes(ref["orderHash"])
        if ref["makerAssetId"] == 0:
            want = [fill(base, ref["maker"], "BUY", ref["takerAssetId"], t, m, "v1", h)]
        else:
            want = [fill(base, ref["maker"], "SELL", ref["makerAssetId"], m, t, "v1", h)]
    got = ours(log)
    assert got == want
    assert all(row["order_hash"] == topic1(log) == order_hash for row in got)


@given(
    meta=metadata(),
    order_hash=word,
    maker=party,
    taker=party,
    side=st.integers(0, 1),
    token=uint256,
    amounts=st.tuples(uint256, uint256, uint256),
    exchange=st.sampled_from([V2_EXCHANGE, V2_NEG_RISK]),
    extra=st.tuples(word, word),
)
def test_v2_order_filled_matches_web3(
    meta: dict[str, Any],
    order_hash: bytes,
    maker: str,
    taker: str,
    side: int,
    token: int,
    amounts: tuple[int, int, int],
    exchange: str,
    extra: tuple[bytes, bytes],
) -> None:
    args = {
        "orderHash": order_hash,
        "maker": maker,
        "taker": taker,
        "side": side,
        "tokenId": token,
        "makerAmountFilled": amounts[0],
        "takerAmountFilled": amounts[1],
        "fee": amounts[2],
        "builder": extra[0],
        "metadata": extra[1],
    }
    log = encode_log(V2_ORDER_FILLED, exchange, args, **meta)
    ref = web3_args(V2_ORDER_FILLED, log)
    want = []
    if ref["maker"] in LEADERS:
        m, t, h = ref["makerAmountFilled"], ref["takerAmountFilled"], bytes(ref["orderHash"])
        if ref["side"] == 0:
            want = [fill(common(log, meta), ref["maker"], "BUY", ref["tokenId"], t, m, "v2", h)]
        else:
            want = [fill(common(log, meta), ref["maker"], "SELL", ref["tokenId"], m, t, "v2", h)]
    got = ours(log)
    assert got == want
    assert all(row["order_hash"] == topic1(log) == order_hash for row in got)


def transfers(
    log: dict[str, Any], meta: dict[str, Any], ref: dict[str, Any], items: list[tuple[int, int]]
) -> list[dict[str, Any]]:
    """DESIGN.md §1/§5 for CTF transfers, from web3's decoded args."""
    operator, sender, receiver = ref["operator"], ref["from"], ref["to"]
    if operator in EXCHANGES or ZERO in (sender, receiver) or sender == receiver:
        return []
    want = []
    for sub, (token, value) in enumerate(items):
        if value == 0:
            continue
        for who, side in ((sender, "SELL"), (receiver, "BUY")):
            if who in LEADERS:
                want.append(
                    common(log, meta)
                    | {
                        "leader": who,
                        "token_id": token,
                        "side": side,
                        "size": value,
                        "usd": 0,
                        "price_num": 0,
                        "price_den": 0,
                        "sub_index": sub,
                        "source": "ctf",
                        "order_hash": None,  # a transfer names no order
                    }
                )
    return want


@given(meta=metadata(), operator=party, sender=party, receiver=party, token=uint256, value=uint256)
def test_transfer_single_matches_web3(
    meta: dict[str, Any], operator: str, sender: str, receiver: str, token: int, value: int
) -> None:
    args = {"operator": operator, "from": sender, "to": receiver, "id": token, "value": value}
    log = encode_log(TRANSFER_SINGLE, CTF, args, **meta)
    ref = web3_args(TRANSFER_SINGLE, log)
    assert ours(log) == transfers(log, meta, ref, [(ref["id"], ref["value"])])


@given(
    meta=metadata(),
    operator=party,
    sender=party,
    receiver=party,
    items=st.lists(st.tuples(uint256, uint256), max_size=6),
)
def test_transfer_batch_matches_web3(
    meta: dict[str, Any], operator: str, sender: str, receiver: str, items: list[tuple[int, int]]
) -> None:
    ids, values = [i for i, _ in items], [v for _, v in items]
    args = {"operator": operator, "from": sender, "to": receiver, "ids": ids, "values": values}
    log = encode_log(TRANSFER_BATCH, CTF, args, **meta)
    ref = web3_args(TRANSFER_BATCH, log)
    assert ours(log) == transfers(log, meta, ref, list(zip(ref["ids"], ref["values"], strict=True)))


@pytest.mark.parametrize("event", [V1_ORDER_FILLED, V2_ORDER_FILLED, TRANSFER_SINGLE, TRANSFER_BATCH])
def test_strategies_reach_signals(event: dict[str, Any]) -> None:
    """Guards the differential tests against vacuity: a leader-made log of each kind gives a signal."""
    leader, other = LEADERS[0], "0x" + "22" * 20
    args_by_name: dict[str, dict[str, Any]] = {
        "OrderFilled": {"orderHash": b"\x5a" * 32, "maker": leader, "taker": other, "fee": 0},
        "TransferSingle": {"operator": other, "from": other, "to": leader, "id": 1, "value": 1},
        "TransferBatch": {"operator": other, "from": other, "to": leader, "ids": [1], "values": [1]},
    }
    args = args_by_name[event["name"]]
    if event is V1_ORDER_FILLED:
        args |= {"makerAssetId": 0, "takerAssetId": 1, "makerAmountFilled": 1, "takerAmountFilled": 2}
        address = V1_EXCHANGE
    elif event is V2_ORDER_FILLED:
        args |= {"side": 1, "tokenId": 1, "makerAmountFilled": 1, "takerAmountFilled": 2}
        args |= {"builder": b"\x00" * 32, "metadata": b"\x00" * 32}
        address = V2_EXCHANGE
    else:
        address = CTF
    log = encode_log(event, address, args)
    (row,) = ours(json.loads(json.dumps(log)))
    assert row["order_hash"] == (b"\x5a" * 32 if event["name"] == "OrderFilled" else None)
