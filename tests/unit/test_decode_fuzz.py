"""LogDecoder never panics: any bytes give signals and rejects or a `DecodeError`, nothing else.

A Rust panic would surface as `pyo3_runtime.PanicException` (a `BaseException`), which fails these tests.
"""

from __future__ import annotations

import json

from eventlogs import CTF, V1_EXCHANGE, V2_EXCHANGE, V2_ORDER_FILLED, encode_log, get_logs_response
from hypothesis import given
from hypothesis import strategies as st

from polyhunter import DecodeError
from polyhunter._core import DecodedLogs, LogDecoder

DECODER = LogDecoder(ctf=CTF, v1_exchanges=[V1_EXCHANGE], v2_exchanges=[V2_EXCHANGE])

GOOD = encode_log(
    V2_ORDER_FILLED,
    V2_EXCHANGE,
    {
        "orderHash": b"\x01" * 32,
        "maker": "0x" + "11" * 20,
        "taker": "0x" + "22" * 20,
        "side": 0,
        "tokenId": 5,
        "makerAmountFilled": 1,
        "takerAmountFilled": 2,
        "fee": 0,
        "builder": b"\x00" * 32,
        "metadata": b"\x00" * 32,
    },
)
GOOD_BYTES = json.dumps(GOOD).encode()


def decodes_or_raises(raw: bytes) -> None:
    try:
        out = DECODER.decode(raw)
    except DecodeError:
        return
    assert isinstance(out, DecodedLogs)
    assert all(r.index >= 0 for r in out.rejects)


@given(st.binary(max_size=2048))
def test_arbitrary_bytes(raw: bytes) -> None:
    decodes_or_raises(raw)


@given(st.data())
def test_mutated_valid_log(data: st.DataObject) -> None:
    raw = bytearray(GOOD_BYTES)
    for _ in range(data.draw(st.integers(1, 8))):
        pos = data.draw(st.integers(0, len(raw) - 1))
        raw[pos] = data.draw(st.integers(0, 255))
    cut = data.draw(st.integers(0, len(raw)))
    decodes_or_raises(bytes(raw[:cut]))
    decodes_or_raises(b"[" + bytes(raw) + b"]")


@given(
    st.dictionaries(
        st.sampled_from(
            ["address", "topics", "data", "transactionHash", "logIndex", "blockNumber", "removed"]
        ),
        st.one_of(
            st.none(),
            st.booleans(),
            st.integers(),
            st.text(alphabet="0123456789abcdefxX", max_size=80).map(lambda t: "0x" + t),
            st.lists(st.text(alphabet="0123456789abcdef", max_size=70).map(lambda t: "0x" + t), max_size=6),
        ),
    )
)
def test_log_shaped_garbage(overrides: dict[str, object]) -> None:
    log = GOOD | overrides
    decodes_or_raises(json.dumps(log).encode())
    decodes_or_raises(get_logs_response([log, GOOD]))
