"""LogDecoder on hand-written cases: every expected signal below is written out literally."""

from __future__ import annotations

import json
from typing import Any

import pytest
from eventlogs import (
    CTF,
    TRANSFER_BATCH,
    TRANSFER_SINGLE,
    V1_EXCHANGE,
    V1_NEG_RISK,
    V1_ORDER_FILLED,
    V2_EXCHANGE,
    V2_NEG_RISK,
    V2_ORDER_FILLED,
    ZERO,
    encode_log,
    get_logs_response,
    notification,
)

from polyhunter import DecodeError, InvalidInputError
from polyhunter._core import (
    TOPIC_ORDER_FILLED_V1,
    TOPIC_ORDER_FILLED_V2,
    TOPIC_TRANSFER_BATCH,
    TOPIC_TRANSFER_SINGLE,
    LogDecoder,
    Signal,
)

LEADER = "0x1111111111111111111111111111111111111111"
OTHER = "0x2222222222222222222222222222222222222222"
TOKEN = 0x6F2B3C7A1E0D9B8C5A4F3E2D1C0B9A8F7E6D5C4B3A29180716F5E4D3C2B1A091
TX = bytes.fromhex("ab" * 32)
BLOCK = bytes.fromhex("cd" * 32)
ORDER = bytes.fromhex("09" * 32)
"""The order hash (topic 1) of every `OrderFilled` built below."""


@pytest.fixture
def decoder() -> LogDecoder:
    return LogDecoder(
        ctf=CTF.upper().replace("0X", "0x"),
        v1_exchanges=[V1_EXCHANGE, V1_NEG_RISK],
        v2_exchanges=[V2_EXCHANGE, V2_NEG_RISK],
        leaders=[LEADER.upper().replace("0X", "0x")],
    )


def expected(**fields: Any) -> dict[str, Any]:
    """The fields every case shares, literal, overridden per case."""
    base: dict[str, Any] = {
        "leader": LEADER,
        "tx_hash": TX,
        "log_index": 7,
        "sub_index": 0,
        "block_number": 42,
        "block_hash": BLOCK,
        "removed": False,
        "order_hash": None,
    }
    return base | fields


def decoded(decoder: LogDecoder, log: dict[str, Any]) -> list[dict[str, Any]]:
    out = decoder.decode(notification(log))
    assert out.rejects == []
    rows = [s.to_dict() for s in out.signals]
    for row in rows:
        assert row.pop("seen_at_ns") > 0
        assert len(row.pop("dedup_key")) == 32
    return rows


def v1(maker: str, taker: str, maker_asset: int, taker_asset: int, m: int, t: int) -> dict[str, Any]:
    args = {
        "orderHash": ORDER,
        "maker": maker,
        "taker": taker,
        "makerAssetId": maker_asset,
        "takerAssetId": taker_asset,
        "makerAmountFilled": m,
        "takerAmountFilled": t,
        "fee": 0,
    }
    return encode_log(V1_ORDER_FILLED, V1_EXCHANGE, args)


def v2(maker: str, taker: str, side: int, m: int, t: int, exchange: str = V2_EXCHANGE) -> dict[str, Any]:
    args = {
        "orderHash": ORDER,
        "maker": maker,
        "taker": taker,
        "side": side,
        "tokenId": TOKEN,
        "makerAmountFilled": m,
        "takerAmountFilled": t,
        "fee": 1_000,
        "builder": b"\x00" * 32,
        "metadata": b"\x00" * 32,
    }
    return encode_log(V2_ORDER_FILLED, exchange, args)


def test_topics_are_the_published_selectors() -> None:
    assert TOPIC_ORDER_FILLED_V1 == "0xd0a08e8c493f9c94f29311604c9de1b4e8c8d4c06bd0c789af57f2d65bfec0f6"
    assert TOPIC_ORDER_FILLED_V2 == "0xd543adfd945773f1a62f74f0ee55a5e3b9b1a28262980ba90b1a89f2ea84d8ee"
    assert TOPIC_TRANSFER_SINGLE == "0xc3d58168c5ae7397731d063d5bbf3d657854427343f4c083240f7aacaa2d0f62"
    assert TOPIC_TRANSFER_BATCH == "0x4a39dc06d4c0dbc64b70af90fd698a233a518aa5d07e595d983b8c0526c8f7fb"


def test_v1_buy(decoder: LogDecoder) -> None:
    # makerAssetId 0: the leader paid 0.55 USDC for 1 share of TOKEN.
    assert decoded(decoder, v1(LEADER, OTHER, 0, TOKEN, 550_000, 1_000_000)) == [
        expected(
            token_id=TOKEN,
            side="BUY",
            size=1_000_000,
            usd=550_000,
            price_num=550_000,
            price_den=1_000_000,
            exchange=V1_EXCHANGE,
            source="v1",
            order_hash=ORDER,
        )
    ]


def test_v1_sell(decoder: LogDecoder) -> None:
    # takerAssetId 0: the leader gave 2 shares of TOKEN for 0.90 USDC.
    assert decoded(decoder, v1(LEADER, OTHER, TOKEN, 0, 2_000_000, 900_000)) == [
        expected(
            token_id=TOKEN,
            side="SELL",
            size=2_000_000,
            usd=900_000,
            price_num=900_000,
            price_den=2_000_000,
            exchange=V1_EXCHANGE,
            source="v1",
            order_hash=ORDER,
        )
    ]


def test_v2_buy(decoder: LogDecoder) -> None:
    # side 0: makerAmount = collateral paid, takerAmount = tokens received.
    assert decoded(decoder, v2(LEADER, OTHER, 0, 3_300_000, 6_000_000)) == [
        expected(
            token_id=TOKEN,
            side="BUY",
            size=6_000_000,
            usd=3_300_000,
            price_num=3_300_000,
            price_den=6_000_000,
            exchange=V2_EXCHANGE,
            source="v2",
            order_hash=ORDER,
        )
    ]


def test_v2_sell(decoder: LogDecoder) -> None:
    # side 1: makerAmount = tokens given, takerAmount = collateral received.
    assert decoded(decoder, v2(LEADER, OTHER, 1, 5_000_000, 1_250_000, exchange=V2_NEG_RISK)) == [
        expected(
            token_id=TOKEN,
            side="SELL",
            size=5_000_000,
            usd=1_250_000,
            price_num=1_250_000,
            price_den=5_000_000,
            exchange=V2_NEG_RISK,
            source="v2",
            order_hash=ORDER,
        )
    ]


def test_taker_order_row_with_the_exchange_in_topic3_is_a_signal(decoder: LogDecoder) -> None:
    assert decoded(decoder, v2(LEADER, V2_EXCHANGE, 0, 1_000_000, 2_000_000)) == [
        expected(
            token_id=TOKEN,
            side="BUY",
            size=2_000_000,
            usd=1_000_000,
            price_num=1_000_000,
            price_den=2_000_000,
            exchange=V2_EXCHANGE,
            source="v2",
            order_hash=ORDER,
        )
    ]


def test_leader_only_in_topic3_is_no_signal(decoder: LogDecoder) -> None:
    assert decoded(decoder, v2(OTHER, LEADER, 0, 1_000_000, 2_000_000)) == []
    assert decoded(decoder, v1(OTHER, LEADER, 0, TOKEN, 1_000_000, 2_000_000)) == []


def test_transfer_batch_of_three_ids(decoder: LogDecoder) -> None:
    args = {"operator": OTHER, "from": OTHER, "to": LEADER, "ids": [11, 22, 33], "values": [100, 200, 300]}
    ctf = {"price_num": 0, "price_den": 0, "usd": 0, "exchange": CTF, "source": "ctf", "side": "BUY"}
    assert decoded(decoder, encode_log(TRANSFER_BATCH, CTF, args)) == [
        expected(token_id=11, size=100, sub_index=0, **ctf),
        expected(token_id=22, size=200, sub_index=1, **ctf),
        expected(token_id=33, size=300, sub_index=2, **ctf),
    ]


def test_transfer_single_from_the_leader_is_a_sell(decoder: LogDecoder) -> None:
    args = {"operator": LEADER, "from": LEADER, "to": OTHER, "id": 5, "value": 7}
    assert decoded(decoder, encode_log(TRANSFER_SINGLE, CTF, args)) == [
        expected(token_id=5, side="SELL", size=7, price_num=0, price_den=0, usd=0, exchange=CTF, source="ctf")
    ]


def test_mint_from_the_zero_address_is_no_trade(decoder: LogDecoder) -> None:
    args = {"operator": LEADER, "from": ZERO, "to": LEADER, "id": 5, "value": 7}
    assert decoded(decoder, encode_log(TRANSFER_SINGLE, CTF, args)) == []
    batch = {"operator": LEADER, "from": ZERO, "to": LEADER, "ids": [5, 6], "values": [7, 7]}
    assert decoded(decoder, encode_log(TRANSFER_BATCH, CTF, batch)) == []


def test_transfer_operated_by_a_watched_exchange_is_no_signal(decoder: LogDecoder) -> None:
    for exchange in (V1_EXCHANGE, V2_NEG_RISK):
        args = {"operator": exchange, "from": OTHER, "to": LEADER, "id": 5, "value": 7}
        assert decoded(decoder, encode_log(TRANSFER_SINGLE, CTF, args)) == []


def test_removed_log_carries_the_flag(decoder: LogDecoder) -> None:
    log = v2(LEADER, OTHER, 0, 3_300_000, 6_000_000) | {"removed": True}
    assert decoded(decoder, log) == [
        expected(
            token_id=TOKEN,
            side="BUY",
            size=6_000_000,
            usd=3_300_000,
            price_num=3_300_000,
            price_den=6_000_000,
            exchange=V2_EXCHANGE,
            source="v2",
            order_hash=ORDER,
            removed=True,
        )
    ]


def test_dedup_key_of_a_signal_matches_dedup_key() -> None:
    from polyhunter import dedup_key

    s = Signal(leader=LEADER, token_id=1, side="BUY", size=1, tx_hash=TX, log_index=7, sub_index=2)
    assert s.dedup_key == dedup_key(TX, 7, 2)


def test_all_framings_give_the_same_signals(decoder: LogDecoder) -> None:
    log = v2(LEADER, OTHER, 0, 3_300_000, 6_000_000)
    framings = [
        json.dumps(log).encode(),
        json.dumps(log),
        notification(log),
        json.dumps([log]).encode(),
        get_logs_response([log]),
    ]
    results = [[s.to_dict() | {"seen_at_ns": 0} for s in decoder.decode(raw).signals] for raw in framings]
    assert all(r == results[0] for r in results)
    assert len(results[0]) == 1


def test_batch_returns_good_signals_and_rejects_with_reasons(decoder: LogDecoder) -> None:
    good = v2(LEADER, OTHER, 0, 1, 2)
    short = good | {"data": good["data"][:-64]}
    unknown = good | {"topics": ["0x" + "ee" * 32, *good["topics"][1:]]}
    out = decoder.decode(get_logs_response([good, short, unknown, {"address": CTF}, good]))
    assert len(out.signals) == 2
    assert [(r.index, r.reason.split(":")[0]) for r in out.rejects] == [
        (1, "V2 OrderFilled"),
        (2, "unknown event topic0 0x" + "ee" * 32 + " from a V2 exchange " + V2_EXCHANGE),
        (3, "malformed log"),
    ]


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"", "empty"),
        (b"\xff\xfe", "not UTF-8"),
        (b"null", "not a JSON object or array"),
        (b'{"jsonrpc":"2.0","id":1,"error":{"code":-32005,"message":"limit"}}', "JSON-RPC error"),
        (b'{"jsonrpc":"2.0","id":1,"result":"0x1"}', "not a list of logs"),
        (b'{"address":"0x00","topics":[],"data":"0x"}', "no transactionHash"),
    ],
)
def test_bad_input_raises_decode_error(decoder: LogDecoder, raw: bytes, reason: str) -> None:
    with pytest.raises(DecodeError, match=reason):
        decoder.decode(raw)


def test_single_malformed_log_raises(decoder: LogDecoder) -> None:
    log = v2(LEADER, OTHER, 0, 1, 2)
    with pytest.raises(DecodeError, match="topic list length mismatch"):
        decoder.decode(notification(log | {"topics": log["topics"][:3]}))
    with pytest.raises(DecodeError, match="unwatched address"):
        decoder.decode(notification(log | {"address": OTHER}))


def test_leaders_can_be_replaced(decoder: LogDecoder) -> None:
    log = notification(v2(OTHER, LEADER, 0, 1, 2))
    assert decoder.decode(log).signals == []
    decoder.set_leaders([OTHER.upper().replace("0X", "0x")])
    assert decoder.leaders == [OTHER]
    assert [s.leader for s in decoder.decode(log).signals] == [OTHER]
    decoder.set_leaders(None)
    assert decoder.leaders is None


def test_an_address_may_hold_one_role() -> None:
    with pytest.raises(InvalidInputError, match="two roles"):
        LogDecoder(ctf=CTF, v1_exchanges=[V2_EXCHANGE], v2_exchanges=[V2_EXCHANGE])


def test_signal_constructor_and_repr() -> None:
    s = Signal(
        leader=LEADER.upper().replace("0X", "0x"),
        token_id=2**256 - 1,
        side="SELL",
        size=10,
        tx_hash="0x" + "ab" * 32,
        log_index=1,
        price_num=1,
        price_den=2,
        seen_at_ns=5,
    )
    assert (s.leader, s.token_id, s.price_num, s.price_den, s.usd, s.seen_at_ns) == (
        LEADER,
        2**256 - 1,
        1,
        2,
        0,
        5,
    )
    assert (s.source, s.exchange, s.block_number, s.block_hash) == ("activity", ZERO, None, None)
    assert "SELL" in repr(s)
    assert s.order_hash is None
    assert s.to_dict()["order_hash"] is None
    with pytest.raises(InvalidInputError, match="side"):
        Signal(leader=LEADER, token_id=1, side="buy", size=1, tx_hash=TX, log_index=0)  # type: ignore[arg-type]
    with pytest.raises(OverflowError):
        Signal(leader=LEADER, token_id=-1, side="BUY", size=1, tx_hash=TX, log_index=0)


def test_order_hash_is_a_field_of_equality_but_not_of_the_dedup_key() -> None:
    fields: dict[str, Any] = {"leader": LEADER, "token_id": 1, "side": "BUY", "size": 1, "seen_at_ns": 1}
    plain = Signal(tx_hash=TX, log_index=7, **fields)
    named = Signal(tx_hash=TX, log_index=7, order_hash=ORDER, **fields)
    same = Signal(tx_hash=TX, log_index=7, order_hash="0x" + "09" * 32, **fields)
    other = Signal(tx_hash=TX, log_index=7, order_hash=b"\x0a" * 32, **fields)
    assert named.order_hash == ORDER == same.order_hash
    assert named == same
    assert named != plain
    assert named != other
    assert named.dedup_key == plain.dedup_key == other.dedup_key


@pytest.mark.parametrize(
    ("bad", "reason"),
    [(b"\x09" * 31, "order_hash must be 32 bytes, got 31"), ("09" * 32, "order_hash must start with 0x")],
)
def test_a_bad_order_hash_is_refused_by_name(bad: bytes | str, reason: str) -> None:
    with pytest.raises((InvalidInputError, DecodeError), match=reason):
        Signal(leader=LEADER, token_id=1, side="BUY", size=1, tx_hash=TX, log_index=0, order_hash=bad)
