"""What the feed client does with parsed trades: the trades/orders_matched pairing, reject kinds, its URL."""

from __future__ import annotations

from decimal import Decimal

import pytest

from polyhunter._core import ActivityParser, ActivityTrade
from polyhunter.detector.feed import PairedDuplicates, feed_url, reason_kind
from polyhunter.localpoly.feed import FeedSettings, FeedTrade, envelope, trade_payload
from polyhunter.venue.hosts import PRODUCTION_FEED_URL

WALLET = "0x510F4963b66B1B18505faaB74b0bB943D1dDa43C"
TX = "0x" + "ab" * 32


def parsed(msg_type: str, size: str = "5") -> ActivityTrade:
    trade = FeedTrade(
        proxy_wallet=WALLET,
        side="SELL",
        asset="42",
        condition_id="0x" + "cd" * 32,
        size=Decimal(size),
        price=Decimal("0.25"),
        timestamp=1787102287,
        transaction_hash=TX,
    )
    [t], _ = ActivityParser(None).parse_frames(
        [envelope("c", msg_type, trade_payload(trade, FeedSettings()), 1)]
    )
    return t


def test_a_trade_and_its_orders_matched_twin_pair_off_in_either_order() -> None:
    for first, second in [("trades", "orders_matched"), ("orders_matched", "trades")]:
        dups = PairedDuplicates()
        assert not dups.is_duplicate(parsed(first))
        assert dups.is_duplicate(parsed(second))


def test_two_equal_fills_of_one_type_are_both_kept_and_each_twin_dropped() -> None:
    # One transaction can hold two equal fills of one maker: the feed sends two equal `trades` frames.
    dups = PairedDuplicates()
    outcomes = [
        dups.is_duplicate(parsed(t)) for t in ("trades", "trades", "orders_matched", "orders_matched")
    ]
    assert outcomes == [False, False, True, True]
    assert not dups.is_duplicate(parsed("trades", size="6"))  # another size is another fill


def test_the_table_of_pairs_is_bounded() -> None:
    dups = PairedDuplicates(limit=1)
    assert not dups.is_duplicate(parsed("trades", size="1"))
    assert not dups.is_duplicate(parsed("trades", size="2"))
    # The first pair was forgotten: its twin now counts as a trade of its own (bounded memory, not exactness).
    assert not dups.is_duplicate(parsed("orders_matched", size="1"))


@pytest.mark.parametrize(
    ("reason", "kind"),
    [
        (
            'size is in exponent form ("1e3"); plain decimal notation only',
            "size is in exponent form; plain decimal notation only",
        ),
        ('side "HOLD" is not BUY or SELL', "side … is not BUY or SELL"),
        ("frame of 70000 bytes is over 65536", "frame of N bytes is over N"),
    ],
)
def test_reject_reasons_count_by_kind_without_their_values(reason: str, kind: str) -> None:
    assert reason_kind(reason) == kind


def test_the_feed_url_is_the_setting_else_polymarkets_on_polygon_else_the_local_clobs() -> None:
    assert feed_url("wss://127.0.0.1:9443/x", 137, None) == "wss://127.0.0.1:9443/x"
    assert feed_url(None, 137, "ws://127.0.0.1:1/") == PRODUCTION_FEED_URL
    assert feed_url(None, 31337, "ws://127.0.0.1:1/") == "ws://127.0.0.1:1/"
    assert feed_url(None, 80002, None) is None
