"""The Rust `matchOrders` decoder against eth-abi (the reference codec): Hypothesis-generated matches decode
to the same orders, fill and fee amounts, EIP-712 hashes and executed amounts; malformed or mutated
calldata is a typed error, never a crash."""

from __future__ import annotations

import contextlib
import json
from typing import Any

import pytest
from eth_abi import decode, encode
from eth_account import Account
from eth_utils import keccak
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from polyhunter import DecodeError, InvalidInputError
from polyhunter._core import MATCH_ORDERS_SELECTOR, NO_LOG_INDEX, MatchDecoder

EXCHANGE = "0xe111180000d2663c0091e4f400237545b87b996b"
CHAIN_ID = 137
ORDER = "(uint256,address,address,uint256,uint256,uint256,uint8,uint8,uint256,bytes32,bytes32,bytes)"
ARGS = ["bytes32", ORDER, f"{ORDER}[]", "uint256", "uint256[]", "uint256", "uint256[]"]
ORDER_TYPE = (
    "Order(uint256 salt,address maker,address signer,uint256 tokenId,uint256 makerAmount,uint256 takerAmount,"
    "uint8 side,uint8 signatureType,uint256 timestamp,bytes32 metadata,bytes32 builder)"
)
BUY, SELL = 0, 1
KEYS = [bytes([i + 1]) * 32 for i in range(4)]
ADDRESSES = [Account.from_key(k).address.lower() for k in KEYS]


def domain_separator() -> bytes:
    type_hash = keccak(
        text="EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)"
    )
    return keccak(
        encode(
            ["bytes32", "bytes32", "bytes32", "uint256", "address"],
            [type_hash, keccak(text="Polymarket CTF Exchange"), keccak(text="2"), CHAIN_ID, EXCHANGE],
        )
    )


SEPARATOR = domain_separator()


def order_hash(order: tuple[Any, ...]) -> bytes:
    """The EIP-712 digest, by eth-abi and keccak only."""
    types = ["bytes32", "uint256", "address", "address", "uint256", "uint256", "uint256", "uint8", "uint8"]
    types += ["uint256", "bytes32", "bytes32"]
    struct = keccak(encode(types, [keccak(text=ORDER_TYPE), *order[:11]]))
    return keccak(b"\x19\x01" + SEPARATOR + struct)


def signed(
    who: int, token: int, side: int, maker_amount: int, taker_amount: int, salt: int
) -> tuple[Any, ...]:
    maker = ADDRESSES[who]
    body = (salt, maker, maker, token, maker_amount, taker_amount, side, 0, 1_767_225_600_000, b"\0" * 32)
    body += (b"\xb1" * 32,)
    sig = Account._sign_hash(order_hash(body), private_key=KEYS[who])
    return (*body, sig.r.to_bytes(32, "big") + sig.s.to_bytes(32, "big") + bytes([sig.v]))


def calldata(
    taker: tuple[Any, ...], makers: list[tuple[Any, ...]], taker_fill: int, fills: list[int], fees: list[int]
) -> bytes:
    args = [b"\xc0" * 32, taker, makers, taker_fill, fills, 7, fees]
    return bytes.fromhex(MATCH_ORDERS_SELECTOR[2:]) + encode(ARGS, args)


@st.composite
def complementary_matches(draw: st.DrawFn) -> tuple[bytes, list[tuple[Any, ...]], list[int], int]:
    """A taker against 1-4 makers of the other side at crossing prices, with fills that settle."""
    taker_side = draw(st.sampled_from([BUY, SELL]))
    token = draw(st.integers(1, 2**256 - 1))
    price_t = draw(st.integers(2, 98))  # cents
    shares = draw(st.integers(1, 10**6)) * 10_000
    usd = shares * price_t // 100
    taker_amounts = (usd, shares) if taker_side == BUY else (shares, usd)
    taker = signed(0, token, taker_side, *taker_amounts, salt=draw(st.integers(0, 2**256 - 1)))
    makers, fills = [], []
    for i in range(draw(st.integers(1, 4))):
        # A SELL maker asks at most the BUY taker's price; a BUY maker bids at least the SELL taker's.
        price = draw(st.integers(1, price_t) if taker_side == BUY else st.integers(price_t, 99))
        m_shares = draw(st.integers(1, 10**6)) * 10_000
        m_usd = m_shares * price // 100
        amounts = (m_shares, m_usd) if taker_side == BUY else (m_usd, m_shares)
        makers.append(signed(1 + i % 3, token, 1 - taker_side, *amounts, salt=i))
        fills.append(draw(st.integers(1, amounts[0])))
    return calldata(taker, makers, 2**200, fills, [3] * len(fills)), [*makers, taker], fills, taker_side


def decoder(leaders: list[str] | None = None) -> MatchDecoder:
    return MatchDecoder(chain_id=CHAIN_ID, exchanges=[EXCHANGE], leaders=leaders)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(complementary_matches())
def test_decoded_orders_equal_eth_abis(case: tuple[bytes, list[tuple[Any, ...]], list[int], int]) -> None:
    data, orders, fills, taker_side = case
    reference = decode(ARGS, data[4:])
    call = decoder().decode_call(EXCHANGE, data, tx_hash=b"\x42" * 32)
    assert call.condition_id == reference[0]
    assert call.taker_fill_amount == reference[3]
    assert [f.position for f in call.fills] == list(range(len(orders)))
    assert [f.is_taker for f in call.fills] == [False] * len(fills) + [True]
    ref_orders = [*reference[2], reference[1]]
    for fill, ref, order in zip(call.fills, ref_orders, orders, strict=True):
        got = (fill.salt, fill.maker, fill.signer, fill.token_id, fill.maker_amount, fill.taker_amount)
        got += (0 if fill.side == "BUY" else 1, fill.signature_type, fill.timestamp, fill.metadata)
        got += (fill.builder, fill.signature)
        assert got == tuple(ref)
        assert fill.order_hash == order_hash(order)
        assert fill.signature_status == "valid"
    taker_making = taker_taking = 0
    for fill, amount, ref_order in zip(call.fills, fills, reference[2], strict=False):
        taking = amount * ref_order[5] // ref_order[4]
        assert (fill.fill_amount, fill.making, fill.taking, fill.fee) == (amount, amount, taking, 3)
        assert fill.match_type == "COMPLEMENTARY"
        taker_making += taking
        taker_taking += amount
    taker = call.fills[-1]
    assert (taker.making, taker.taking, taker.fee, taker.match_type) == (taker_making, taker_taking, 7, None)
    size, usd = (taker.taking, taker.making) if taker_side == BUY else (taker.making, taker.taking)
    signal = taker.signal()
    assert (signal.leader, signal.size, signal.usd, signal.price_num, signal.price_den) == (
        ADDRESSES[0],
        size,
        usd,
        usd,
        size,
    )
    assert (signal.source, signal.log_index, signal.sub_index, signal.tx_hash) == (
        "mempool",
        NO_LOG_INDEX,
        len(fills),
        b"\x42" * 32,
    )
    assert signal.block_number is None


_uint = st.integers(0, 2**256 - 1)
_orders = st.tuples(
    _uint,
    st.sampled_from(ADDRESSES),
    st.sampled_from(ADDRESSES),
    _uint,
    _uint,
    _uint,
    st.integers(0, 255),
    st.integers(0, 255),
    _uint,
    st.binary(min_size=32, max_size=32),
    st.binary(min_size=32, max_size=32),
    st.binary(max_size=400),
)


@settings(max_examples=200, deadline=None)
@given(
    taker=_orders,
    makers=st.lists(_orders, max_size=3),
    fills=st.lists(_uint, max_size=4),
    fees=st.lists(_uint, max_size=4),
)
def test_arbitrary_orders_decode_as_eth_abi_or_fail_typed(
    taker: tuple[Any, ...], makers: list[tuple[Any, ...]], fills: list[int], fees: list[int]
) -> None:
    data = calldata(taker, makers, 5, fills, fees)
    try:
        call = decoder(leaders=[]).decode_call(EXCHANGE, data)
    except InvalidInputError as err:
        refused = str(err)
        call = None
    if call is None:
        assert "would revert" in refused
        return
    reference = decode(ARGS, data[4:])
    assert [f.maker_amount for f in call.fills] == [o[4] for o in [*reference[2], reference[1]]]
    assert [f.signature for f in call.fills] == [o[11] for o in [*reference[2], reference[1]]]
    assert all(f.signature_status == "unchecked" for f in call.fills)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=3000))
def test_random_bytes_are_a_decode_error(tail: bytes) -> None:
    with pytest.raises((DecodeError, InvalidInputError)):
        decoder().decode_call(EXCHANGE, bytes.fromhex("3c2b4399") + tail)


@settings(max_examples=300, deadline=None)
@given(st.data())
def test_mutated_calls_fail_typed_or_decode(data: st.DataObject) -> None:
    good = calldata(signed(0, 5, BUY, 50, 100, 1), [signed(1, 5, SELL, 100, 40, 2)], 50, [100], [0])
    at = data.draw(st.integers(0, len(good) - 1))
    cut = data.draw(st.integers(4, len(good)))
    mutated = (good[:at] + bytes([data.draw(st.integers(0, 255))]) + good[at + 1 :])[:cut]
    # Anything but these two (a panic, a bare ValueError) fails the test.
    with contextlib.suppress(DecodeError, InvalidInputError):
        decoder().decode_call(EXCHANGE, mutated)


def test_a_tampered_order_is_invalid_and_names_why() -> None:
    taker = signed(0, 5, BUY, 50, 100, 1)
    maker = list(signed(1, 5, SELL, 100, 40, 2))
    maker[4] = 99  # the maker amount, after signing
    call = decoder().decode_call(EXCHANGE, calldata(taker, [tuple(maker)], 50, [99], [0]))
    assert call.fills[0].signature_status == "invalid"
    assert "not the signer" in (call.fills[0].signature_error or "")
    assert call.fills[1].signature_status == "valid"


def test_an_unwatched_exchange_and_no_exchange_are_refused() -> None:
    with pytest.raises(InvalidInputError, match="not a watched V2 exchange"):
        decoder().decode_call("0x" + "11" * 20, calldata(signed(0, 5, BUY, 50, 100, 1), [], 0, [], []))
    with pytest.raises(InvalidInputError, match="at least one V2 exchange"):
        MatchDecoder(chain_id=CHAIN_ID, exchanges=[])


def _tx(to: str, data: bytes, tx_hash: bytes = b"\x01" * 32) -> dict[str, Any]:
    return {
        "hash": "0x" + tx_hash.hex(),
        "from": ADDRESSES[3],
        "to": to,
        "nonce": "0x1",
        "input": "0x" + data.hex(),
    }


def test_transactions_in_every_framing_and_the_ones_set_aside() -> None:
    good = calldata(signed(0, 5, BUY, 50, 100, 1), [signed(1, 5, SELL, 100, 40, 2)], 50, [100], [0])
    txs = [
        _tx(EXCHANGE, good, b"\x01" * 32),
        _tx(EXCHANGE, good[:-7], b"\x02" * 32),  # truncated: a reject
        _tx("0x" + "22" * 20, good, b"\x03" * 32),  # another contract: ignored
        _tx(EXCHANGE, b"\xa9\x05\x9c\xbb", b"\x04" * 32),  # another function: ignored
    ]
    pool = {"jsonrpc": "2.0", "id": 1, "result": {"pending": {ADDRESSES[3]: {"1": txs[0]}}, "queued": {}}}
    note = {
        "jsonrpc": "2.0",
        "method": "eth_subscription",
        "params": {"subscription": "0x1", "result": "0x" + "ab" * 32},
    }
    out = decoder().decode_transactions(json.dumps([*txs, pool, note]))
    assert [m.tx_hash for m in out.matches] == [b"\x01" * 32, b"\x01" * 32]
    assert [index for index, _ in out.rejects] == [1]
    assert "0x" + "02" * 32 in out.rejects[0][1]
    assert (out.ignored, out.hashes) == (2, [b"\xab" * 32])
    assert (out.matches[0].sender, out.matches[0].nonce) == (ADDRESSES[3], 1)
    assert out.matches[0].call.fills[1].signal().tx_hash == b"\x01" * 32


@settings(max_examples=300, deadline=None)
@given(
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.text(max_size=70),
        lambda inner: (
            st.lists(inner, max_size=4)
            | st.dictionaries(
                st.sampled_from(
                    ["hash", "from", "to", "input", "data", "nonce", "result", "params", "pending"]
                ),
                inner,
                max_size=5,
            )
        ),
        max_leaves=20,
    )
)
def test_any_json_is_decoded_or_a_decode_error(value: Any) -> None:
    with contextlib.suppress(DecodeError):
        out = decoder().decode_transactions(json.dumps(value))
        assert out.matches == []
