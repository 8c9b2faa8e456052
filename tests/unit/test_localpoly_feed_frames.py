"""The activity feed's pure parts: trade validation, frame text per switch, subscribe parsing, filters."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from polyhunter.errors import ConfigError, InvalidInputError
from polyhunter.localpoly.feed import (
    ORDERS_MATCHED,
    TRADES,
    ActivityFeed,
    FeedSettings,
    FeedTrade,
    SubscribeError,
    Subscription,
    envelope,
    parse_request,
    settings_from_mapping,
    trade_payload,
)

WALLET = "0x510F4963b66B1B18505faaB74b0bB943D1dDa43C"
CONDITION = "0x1d8720896546460a48d4f7fd5b3f0705a8d427921222de498d1cd334d4890c52"
TX = "0xb6acf6859bc84216f4b3e2567fb392a2eae19d275340ad96ea17218ccfec27b7"
ASSET = "72551024098258542594534683942523606143014690620243023298497729957846870197074"


def make_trade(**changes: Any) -> FeedTrade:
    fields: dict[str, Any] = {
        "proxy_wallet": WALLET,
        "side": "BUY",
        "asset": ASSET,
        "condition_id": CONDITION,
        "size": Decimal("2.7027"),
        "price": Decimal("0.26"),
        "timestamp": 1787102287,
        "transaction_hash": TX,
        "outcome": "No",
        "outcome_index": 1,
        "slug": "wellington-10c",
        "event_slug": "wellington-temperature",
        "name": "PPMT",
        "pseudonym": "Rowdy-Tenement",
        "title": "Will the highest temperature in Wellington be 10C?",
    }
    fields.update(changes)
    return FeedTrade(**fields)


# --- FeedTrade -------------------------------------------------------------------------------------------


def test_trade_keeps_the_wallet_lower_case() -> None:
    assert make_trade().proxy_wallet == WALLET.lower()


@pytest.mark.parametrize(
    ("changes", "needle"),
    [
        ({"proxy_wallet": "0x1234"}, "proxy_wallet"),
        ({"side": "buy"}, "side"),
        ({"asset": "0xabc"}, "asset"),
        ({"condition_id": "0x12"}, "condition_id"),
        ({"size": 2.5}, "size"),
        ({"price": 0.26}, "price"),
        ({"size": Decimal("NaN")}, "size"),
        ({"size": Decimal(0)}, "size"),
        ({"price": Decimal(1)}, "price"),
        ({"price": Decimal(0)}, "price"),
        ({"timestamp": -1}, "timestamp"),
        ({"timestamp": True}, "timestamp"),
        ({"transaction_hash": "0xdead"}, "transaction_hash"),
        ({"outcome_index": "1"}, "outcome_index"),
    ],
)
def test_a_bad_trade_is_a_typed_error_naming_the_field(changes: dict[str, Any], needle: str) -> None:
    with pytest.raises(InvalidInputError, match=needle):
        make_trade(**changes)


def test_a_trade_not_yet_mined_has_an_empty_hash() -> None:
    assert make_trade(transaction_hash="").transaction_hash == ""


# --- frames ----------------------------------------------------------------------------------------------

# The production frame (captured by a public client on 2026-08-19) with this module's field values.
PRODUCTION_PAYLOAD = (
    '{"asset":"'
    + ASSET
    + '","bio":"","conditionId":"'
    + CONDITION
    + '","eventSlug":"wellington-temperature",'
    '"icon":"","name":"PPMT","outcome":"No","outcomeIndex":1,"price":0.26,"profileImage":"",'
    '"proxyWallet":"0x510F4963b66B1B18505faaB74b0bB943D1dDa43C","pseudonym":"Rowdy-Tenement","side":"BUY",'
    '"size":2.7027,"slug":"wellington-10c","timestamp":1787102287,'
    '"title":"Will the highest temperature in Wellington be 10C?","transactionHash":"' + TX + '"}'
)


def test_default_payload_is_production_shape_byte_for_byte() -> None:
    assert trade_payload(make_trade(), FeedSettings()) == PRODUCTION_PAYLOAD


def test_envelope_wraps_the_payload_with_ms_stamp_topic_and_type() -> None:
    frame = envelope("gXseIO-NQWeIKEhJwA==", ORDERS_MATCHED, PRODUCTION_PAYLOAD, 1787102287053)
    assert frame.startswith('{"connection_id":"gXseIO-NQWeIKEhJwA==","payload":{"asset":')
    assert frame.endswith(',"timestamp":1787102287053,"topic":"activity","type":"orders_matched"}')
    decoded = json.loads(frame)
    assert list(decoded) == ["connection_id", "payload", "timestamp", "topic", "type"]
    assert decoded["payload"] == json.loads(PRODUCTION_PAYLOAD)


def test_numbers_as_strings_quotes_size_and_price_only() -> None:
    payload = json.loads(trade_payload(make_trade(), FeedSettings(numbers_as_strings=True)))
    assert payload["size"] == "2.7027"
    assert payload["price"] == "0.26"
    assert payload["timestamp"] == 1787102287
    assert payload["outcomeIndex"] == 1


def test_timestamp_unit_ms_multiplies_the_payload_stamp() -> None:
    payload = json.loads(trade_payload(make_trade(), FeedSettings(timestamp_unit="ms")))
    assert payload["timestamp"] == 1787102287000


@pytest.mark.parametrize(
    ("size", "text"),
    [
        (Decimal("50"), "50"),
        (Decimal("1E+2"), "100"),
        (Decimal("5.000000"), "5"),
        (Decimal("0.000001"), "0.000001"),
    ],
)
def test_numbers_never_use_an_exponent(size: Decimal, text: str) -> None:
    assert f'"size":{text},' in trade_payload(make_trade(size=size), FeedSettings())


@given(
    size=st.decimals(min_value=Decimal("0.000001"), max_value=Decimal(10**9), places=6),
    price=st.decimals(min_value=Decimal("0.0001"), max_value=Decimal("0.9999"), places=4),
    as_strings=st.booleans(),
)
def test_size_and_price_survive_the_wire_exactly(size: Decimal, price: Decimal, as_strings: bool) -> None:
    payload = json.loads(
        trade_payload(make_trade(size=size, price=price), FeedSettings(numbers_as_strings=as_strings)),
        parse_float=Decimal,
        parse_int=Decimal,
    )
    assert Decimal(payload["size"]) == size
    assert Decimal(payload["price"]) == price


def test_wallet_goes_out_checksummed_whatever_case_came_in() -> None:
    payload = json.loads(
        trade_payload(make_trade(proxy_wallet=WALLET.upper().replace("0X", "0x")), FeedSettings())
    )
    assert payload["proxyWallet"] == WALLET


def test_text_fields_are_json_escaped() -> None:
    payload = json.loads(trade_payload(make_trade(name='a"b\\c\n', title="é"), FeedSettings()))
    assert payload["name"] == 'a"b\\c\n'
    assert payload["title"] == "é"


# --- subscribe parsing and filters -----------------------------------------------------------------------


def subscribe(*subs: dict[str, Any], action: str = "subscribe") -> str:
    return json.dumps({"action": action, "subscriptions": list(subs)})


def test_subscribe_with_string_filters_parses() -> None:
    request = parse_request(
        subscribe(
            {"topic": "activity", "type": "trades", "filters": '{"event_slug":"wellington-temperature"}'}
        )
    )
    assert request.action == "subscribe"
    assert request.subscriptions == (
        Subscription("activity", "trades", (("event_slug", "wellington-temperature"),)),
    )


def test_empty_or_missing_filters_mean_everything() -> None:
    request = parse_request(
        subscribe(
            {"topic": "activity", "type": "*", "filters": ""}, {"topic": "activity", "type": "orders_matched"}
        )
    )
    assert request.subscriptions == (
        Subscription("activity", "*"),
        Subscription("activity", "orders_matched"),
    )


def test_unsubscribe_and_other_known_topics_parse() -> None:
    request = parse_request(subscribe({"topic": "crypto_prices", "type": "update"}, action="unsubscribe"))
    assert request.action == "unsubscribe"
    assert request.subscriptions == (Subscription("crypto_prices", "update"),)


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("not json", "not JSON"),
        ("[1, 2]", "JSON object"),
        (json.dumps({"subscriptions": [{"topic": "activity", "type": "trades"}]}), "action"),
        (json.dumps({"action": "subscribe"}), "non-empty list"),
        (json.dumps({"action": "subscribe", "subscriptions": []}), "non-empty list"),
        (subscribe("activity"), r"subscriptions\[0\] must be an object"),
        (subscribe({"type": "trades"}), "topic"),
        (subscribe({"topic": "activity", "type": 3}), "type"),
        (subscribe({"topic": "nope", "type": "trades"}), "not a known topic"),
        (subscribe({"topic": "activity", "type": "orders"}), "trades, orders_matched or"),
        (subscribe({"topic": "activity", "type": "trades", "filters": "{bad"}), "not a JSON object"),
        (subscribe({"topic": "activity", "type": "trades", "filters": "{}"}), "non-empty JSON object"),
        (subscribe({"topic": "activity", "type": "trades", "filters": '{"wallet":"0x1"}'}), "unknown keys"),
        (
            subscribe({"topic": "activity", "type": "trades", "filters": '{"event_slug":5}'}),
            "non-empty string",
        ),
        (subscribe(*[{"topic": "activity", "type": "trades"}] * 65), "at most 64"),
    ],
)
def test_malformed_requests_are_refused_with_a_reason(text: str, needle: str) -> None:
    with pytest.raises(SubscribeError, match=needle):
        parse_request(text)


def test_error_messages_do_not_echo_a_large_client_value() -> None:
    with pytest.raises(SubscribeError) as info:
        parse_request(subscribe({"topic": "x" * 10_000, "type": "trades"}))
    assert len(str(info.value)) < 200


@pytest.mark.parametrize(
    ("sub", "msg_type", "expected"),
    [
        (Subscription("activity", "trades"), TRADES, True),
        (Subscription("activity", "trades"), ORDERS_MATCHED, False),
        (Subscription("activity", "orders_matched"), ORDERS_MATCHED, True),
        (Subscription("activity", "*"), ORDERS_MATCHED, True),
        (Subscription("comments", "*"), TRADES, False),
        (Subscription("activity", "*", (("event_slug", "wellington-temperature"),)), TRADES, True),
        (Subscription("activity", "*", (("event_slug", "other"),)), TRADES, False),
        (Subscription("activity", "trades", (("market_slug", "wellington-10c"),)), TRADES, True),
        (Subscription("activity", "trades", (("market_slug", "wellington-temperature"),)), TRADES, False),
        (
            Subscription(
                "activity", "trades", (("event_slug", "wellington-temperature"), ("market_slug", "x"))
            ),
            TRADES,
            False,
        ),
    ],
)
def test_subscription_matching(sub: Subscription, msg_type: str, expected: bool) -> None:
    assert sub.matches(msg_type, make_trade()) is expected


# --- settings --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "changes",
    [
        {"timestamp_unit": "us"},
        {"stall_after": -1},
        {"stall_after": 1.5},
        {"empty_frames": "yes"},
        {"client_queue_max": 0},
        {"max_message_bytes": True},
    ],
)
def test_bad_settings_are_a_config_error(changes: dict[str, Any]) -> None:
    with pytest.raises(ConfigError):
        FeedSettings(**changes)


def test_configure_flips_settings_at_runtime_and_refuses_unknown_ones() -> None:
    feed = ActivityFeed()
    assert feed.configure(stall_after=3, empty_frames=True) == FeedSettings(stall_after=3, empty_frames=True)
    assert feed.settings.stall_after == 3
    with pytest.raises(ConfigError, match="unknown feed settings"):
        feed.configure(stall=3)
    with pytest.raises(ConfigError):
        feed.configure(timestamp_unit="h")
    assert feed.settings == FeedSettings(stall_after=3, empty_frames=True)
    feed.settings = FeedSettings()
    assert feed.settings == FeedSettings()


def test_settings_from_an_admin_json_body() -> None:
    assert settings_from_mapping({"duplicate_orders_matched": True, "stall_after": None}) == FeedSettings(
        duplicate_orders_matched=True
    )
    with pytest.raises(ConfigError, match="unknown"):
        settings_from_mapping({"bogus": 1})


def test_publish_before_start_is_a_no_op() -> None:
    feed = ActivityFeed()
    feed.publish(make_trade())
    assert feed.stats.published == 0


@pytest.mark.asyncio
async def test_a_non_loopback_host_is_refused_unless_allowed() -> None:
    feed = ActivityFeed()
    with pytest.raises(ConfigError, match="loopback"):
        await feed.start("0.0.0.0")  # refused before anything binds
    with pytest.raises(RuntimeError):
        _ = feed.url
