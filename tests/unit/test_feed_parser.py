"""The Rust activity-feed parser against frames the local feed server builds: exact numbers, every field
variant, and malformed frames that are rejects, never exceptions."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from polyhunter._core import NO_LOG_INDEX, ActivityParser
from polyhunter.localpoly.feed import FeedSettings, FeedTrade, envelope, trade_payload

WALLET = "0x510F4963b66B1B18505faaB74b0bB943D1dDa43C"
OTHER = "0x00000000000000000000000000000000000000aa"
CONDITION = "0x1d8720896546460a48d4f7fd5b3f0705a8d427921222de498d1cd334d4890c52"
TX = "0xb6acf6859bc84216f4b3e2567fb392a2eae19d275340ad96ea17218ccfec27b7"
STAMP_S = 1787102287


def trade(**changes: Any) -> FeedTrade:
    fields: dict[str, Any] = {
        "proxy_wallet": WALLET,
        "side": "BUY",
        "asset": "71321045679252212594626385532706912750332728571942532289631379312455583992563",
        "condition_id": CONDITION,
        "size": Decimal("12.5"),
        "price": Decimal("0.43"),
        "timestamp": STAMP_S,
        "transaction_hash": TX,
    }
    fields.update(changes)
    return FeedTrade(**fields)


def frame(t: FeedTrade, settings: FeedSettings | None = None, msg_type: str = "trades") -> str:
    return envelope("conn", msg_type, trade_payload(t, settings or FeedSettings()), 1787102288123)


def payload_frame(payload: dict[str, Any]) -> str:
    return json.dumps(
        {"connection_id": "c", "payload": payload, "timestamp": 5, "topic": "activity", "type": "trades"}
    )


@pytest.fixture
def parser() -> ActivityParser:
    return ActivityParser([WALLET])


def test_a_server_frame_becomes_the_trade_and_its_signal(parser: ActivityParser) -> None:
    trades, rejects = parser.parse_frames([frame(trade())])
    assert rejects == []
    [t] = trades
    assert (t.wallet, t.side, t.size, t.price, t.usd) == (
        WALLET.lower(),
        "BUY",
        12_500_000,
        (430_000, 10**6),
        5_375_000,
    )
    assert t.asset == int(trade().asset)
    assert ("0x" + t.tx_hash.hex(), t.frame_type, t.timestamp_ms, t.pushed_ms) == (
        TX,
        "trades",
        STAMP_S * 1000,
        1787102288123,
    )
    s = t.signal
    assert (s.source, s.leader, s.token_id, s.side, s.size, s.usd) == (
        "activity",
        t.wallet,
        t.asset,
        "BUY",
        t.size,
        t.usd,
    )
    assert (s.price_num, s.price_den, s.log_index, s.sub_index, s.block_number) == (
        430_000,
        10**6,
        NO_LOG_INDEX,
        0,
        None,
    )
    assert s.tx_hash == t.tx_hash
    assert s.seen_at_ns == t.seen_at_ns > 0


@pytest.mark.parametrize(
    "settings",
    [
        FeedSettings(numbers_as_strings=True),
        FeedSettings(timestamp_unit="ms"),
        FeedSettings(numbers_as_strings=True, timestamp_unit="ms"),
    ],
    ids=["strings", "ms", "strings+ms"],
)
def test_every_number_form_of_the_server_parses_alike(parser: ActivityParser, settings: FeedSettings) -> None:
    [base], _ = parser.parse_frames([frame(trade())])
    [variant], rejects = parser.parse_frames([frame(trade(), settings)])
    assert rejects == []
    assert (variant.size, variant.price, variant.timestamp_ms, variant.signal) == (
        base.size,
        base.price,
        base.timestamp_ms,
        variant.signal,
    )
    assert variant.signal.dedup_key == base.signal.dedup_key


@pytest.mark.parametrize("field", ["proxyWallet", "proxy_wallet", "wallet", "user"])
def test_the_wallet_is_read_from_each_name_production_uses(parser: ActivityParser, field: str) -> None:
    payload = json.loads(trade_payload(trade(), FeedSettings()), parse_float=Decimal)
    del payload["proxyWallet"]
    payload[field] = WALLET
    text = payload_frame({k: str(v) if isinstance(v, Decimal) else v for k, v in payload.items()})
    [t], rejects = parser.parse_frames([text])
    assert rejects == []
    assert t.wallet == WALLET.lower()


def test_orders_matched_frames_are_marked_so_the_client_can_drop_the_duplicate(
    parser: ActivityParser,
) -> None:
    trades, _ = parser.parse_frames([frame(trade()), frame(trade(), msg_type="orders_matched").encode()])
    assert [t.frame_type for t in trades] == ["trades", "orders_matched"]
    assert trades[0].signal == trades[1].signal


def test_other_wallets_are_neither_trades_nor_rejects_and_leaders_can_change(parser: ActivityParser) -> None:
    other = frame(trade(proxy_wallet=OTHER))
    assert parser.parse_frames([other]) == ([], [])
    parser.set_leaders([OTHER, WALLET])
    assert parser.leaders == sorted([OTHER, WALLET.lower()])
    assert len(parser.parse_frames([other])[0]) == 1
    everyone = ActivityParser(None)
    assert everyone.leaders is None
    assert len(everyone.parse_frames([other])[0]) == 1


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"size": "0.0000001"}, "size has more than 6 decimals"),
        ({"size": "-3"}, "size is negative"),
        ({"size": "1e2"}, "size is in exponent form"),
        ({"size": "NaN"}, "size is not a plain decimal"),
        ({"size": "0"}, "size is zero"),
        ({"price": "1.5"}, "outside (0, 1)"),
        ({"side": "HOLD"}, "is not BUY or SELL"),
        ({"transactionHash": ""}, "transactionHash"),
        ({"asset": "abc"}, "not a decimal token id"),
    ],
)
def test_bad_fields_are_rejects_with_reasons(
    parser: ActivityParser, change: dict[str, str], reason: str
) -> None:
    payload = json.loads(trade_payload(trade(), FeedSettings(numbers_as_strings=True)))
    payload.update(change)
    trades, [(index, why)] = parser.parse_frames([payload_frame(payload)])
    assert trades == []
    assert index == 0
    assert reason in why


def test_a_frame_that_is_not_text_or_bytes_is_a_type_error(parser: ActivityParser) -> None:
    with pytest.raises(TypeError, match="bytes or str"):
        parser.parse_frames([frame(trade()), 3])  # type: ignore[list-item]


decimals6 = st.decimals(min_value=Decimal("0.000001"), max_value=Decimal("10000000"), places=6)
prices = st.integers(min_value=1, max_value=999_999).map(lambda units: Decimal(units).scaleb(-6))


@given(size=decimals6, price=prices, as_strings=st.booleans(), ms=st.booleans())
def test_sizes_and_prices_round_trip_exactly(
    size: Decimal, price: Decimal, as_strings: bool, ms: bool
) -> None:
    settings = FeedSettings(numbers_as_strings=as_strings, timestamp_unit="ms" if ms else "s")
    [t], rejects = ActivityParser([WALLET]).parse_frames([frame(trade(size=size, price=price), settings)])
    assert rejects == []
    assert t.size == int(size.scaleb(6))
    assert t.price == (int(price.scaleb(6)), 10**6)
    assert t.usd == int(size.scaleb(6)) * int(price.scaleb(6)) // 10**6
    assert t.timestamp_ms == STAMP_S * 1000


@given(digits=st.integers(min_value=7, max_value=12), units=st.integers(min_value=1, max_value=10**12))
def test_more_than_six_decimals_is_refused_never_rounded(digits: int, units: int) -> None:
    assume(units % 10 ** (digits - 6))  # else the extra digits are zeros and the value is exact
    text = format(Decimal(units).scaleb(-digits), "f")
    payload = json.loads(trade_payload(trade(), FeedSettings()))
    payload["size"] = text
    trades, [(_, why)] = ActivityParser(None).parse_frames([payload_frame(payload)])
    assert trades == []
    assert "more than 6 decimals" in why


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=6),
    max_leaves=20,
)
PAYLOAD_KEYS = [
    "asset",
    "price",
    "proxyWallet",
    "side",
    "size",
    "timestamp",
    "transactionHash",
    "user",
    "wallet",
]


@given(
    raw=st.binary(max_size=300)
    | st.text(max_size=300)
    | json_values.map(json.dumps)
    | st.dictionaries(st.sampled_from(PAYLOAD_KEYS), json_values, max_size=9).map(payload_frame)
)
def test_malformed_frames_are_rejects_never_exceptions(raw: bytes | str) -> None:
    trades, rejects = ActivityParser(None).parse_frames([raw, frame(trade())])
    # With every wallet kept, each frame is a trade or a reject: nothing vanishes, nothing raises.
    assert len(trades) + len(rejects) == 2
    assert [index for index, _ in rejects] in ([], [0])
    assert trades[-1].wallet == WALLET.lower()


@given(cut=st.integers(min_value=0, max_value=2000), byte=st.integers(min_value=0, max_value=255))
def test_truncated_or_corrupted_server_frames_never_raise(cut: int, byte: int) -> None:
    good = frame(trade()).encode()
    at = cut % len(good)
    corrupted = good[:at] + bytes([byte]) + good[at + 1 :]
    trades, rejects = ActivityParser(None).parse_frames([good[:at], corrupted])
    assert rejects[0][0] == 0
    assert len(trades) + len(rejects) == 2
