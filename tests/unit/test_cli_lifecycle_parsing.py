"""The parsing under `polyhunter proxy` and `polyhunter chain trade`: exact amounts, keys that never show,
and a leader order's amounts at the CLOB's market-order precision."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pytest
from eth_account import Account
from hypothesis import given
from hypothesis import strategies as st

from polyhunter.chain.leadertrade import Level, order_amounts, parse_levels, worst_price
from polyhunter.chain.proxyowner import OwnerKey
from polyhunter.commands.proxy import (
    key_from_keystore,
    key_from_text,
    load_owner_key,
    parse_amount,
    parse_withdraw_amount,
)
from polyhunter.commands.trades import describe
from polyhunter.errors import ConfigError, InvalidInputError
from polyhunter.logformat import short_token_id
from polyhunter.models import TradeRecord, TradeStatus

KEY = "0x" + "4c" * 32


def test_amounts_are_exact_base_units() -> None:
    assert parse_amount("12.5", "x") == 12_500_000
    assert parse_amount("0.000001", "x") == 1
    assert parse_withdraw_amount("ALL") is None
    assert parse_withdraw_amount("3") == 3_000_000


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("0", "above zero"),
        ("1.0000001", "at most 6 decimals"),
        ("ten", "decimal number"),
        ("nan", "finite"),
        ("-1", "negative"),
        ("1e30", "too large"),
    ],
)
def test_bad_amounts_say_what_is_wrong(text: str, message: str) -> None:
    with pytest.raises(InvalidInputError, match=message):
        parse_amount(text, "the amount")


def test_a_key_from_text_takes_either_form_and_a_bad_one_is_never_echoed() -> None:
    assert key_from_text(KEY, "K").address == key_from_text(KEY[2:], "K").address
    bad = "0x" + "zz" * 32
    with pytest.raises(ConfigError) as caught:
        key_from_text(bad, "FOLLOWER_PRIVATE_KEY")
    assert "zz" not in str(caught.value)
    with pytest.raises(ConfigError, match="not a valid secp256k1"):
        key_from_text("0x" + "00" * 32, "K")


def test_owner_key_shows_only_its_address() -> None:
    key = OwnerKey(key_from_text(KEY, "K"))
    for text in (repr(key), str(key), f"{key}"):
        assert "4c4c" not in text
        assert key.address in text


def test_the_key_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("FOLLOWER_PRIVATE_KEY", raising=False)
    with pytest.raises(ConfigError, match="set FOLLOWER_PRIVATE_KEY or pass --keystore"):
        load_owner_key(None)
    monkeypatch.setenv("FOLLOWER_PRIVATE_KEY", KEY)
    assert load_owner_key(None).address == Account.from_key(KEY).address.lower()


def test_a_keystore_opens_with_its_password_only(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "k.json"
    path.write_text(json.dumps(Account.encrypt(KEY, "right", iterations=2)))
    assert key_from_keystore(path, "right").address == Account.from_key(KEY).address
    with pytest.raises(ConfigError, match="does not open with this password"):
        key_from_keystore(path, "wrong")
    monkeypatch.setenv("FOLLOWER_KEYSTORE_PASSWORD", "right")
    assert load_owner_key(path).address == Account.from_key(KEY).address.lower()
    (tmp_path / "plain.json").write_text("{}")
    with pytest.raises(ConfigError, match="not an encrypted key file"):
        key_from_keystore(tmp_path / "plain.json", "right")
    with pytest.raises(ConfigError, match="cannot read the keystore"):
        key_from_keystore(tmp_path / "missing.json", "right")


# --- chain trade ------------------------------------------------------------------------------------------

ASKS = [Level(Decimal("0.51"), 100_000_000), Level(Decimal("0.52"), 100_000_000)]  # best first
BIDS = [Level(Decimal("0.49"), 100_000_000), Level(Decimal("0.48"), 100_000_000)]


def test_the_book_is_walked_for_the_size() -> None:
    assert worst_price("BUY", 51_000_000, ASKS) == Decimal("0.51")  # exactly the first level's $51
    assert worst_price("BUY", 51_010_000, ASKS) == Decimal("0.52")
    assert worst_price("SELL", 100_000_000, BIDS) == Decimal("0.49")
    assert worst_price("SELL", 150_000_000, BIDS) == Decimal("0.48")
    with pytest.raises(InvalidInputError, match=r"the book's asks hold only 103.00 USD of the 200.00"):
        worst_price("BUY", 200_000_000, ASKS)


def test_book_levels_come_worst_first_and_are_turned_around() -> None:
    raw = [{"price": "0.53", "size": "100"}, {"price": "0.51", "size": "12.5"}]
    assert parse_levels(raw) == [Level(Decimal("0.51"), 12_500_000), Level(Decimal("0.53"), 100_000_000)]


def test_order_amounts_follow_market_order_precision() -> None:
    # $10 at 0.51 buys 19.6078 shares (4 decimals, rounded down), never more than the price allows.
    assert order_amounts("BUY", 10_000_000, Decimal("0.51")) == (10_000_000, 19_607_800)
    assert order_amounts("SELL", 5_000_000, Decimal("0.49")) == (5_000_000, 2_450_000)
    with pytest.raises(InvalidInputError, match="whole hundredths"):
        order_amounts("BUY", 10_005_000, Decimal("0.5"))
    with pytest.raises(InvalidInputError, match="strictly between 0 and 1"):
        order_amounts("SELL", 10_000_000, Decimal("1"))


@given(
    cents=st.integers(min_value=1, max_value=10**8),
    ticks=st.integers(min_value=1, max_value=99),
    side=st.sampled_from(["BUY", "SELL"]),
)
def test_an_order_never_asks_better_than_its_price(cents: int, ticks: int, side: str) -> None:
    price = Decimal(ticks) / 100
    amount = cents * 10_000
    maker, taker = order_amounts(side, amount, price)  # type: ignore[arg-type]
    assert maker == amount
    assert taker % 100 == 0
    # BUY: shares received at most usd / price; SELL: usd received at most shares x price; within 0.0001.
    exact = Decimal(amount) / price if side == "BUY" else Decimal(amount) * price
    assert exact - 100 < taker <= exact


# --- polyhunter trades, text mode -------------------------------------------------------------------------


def _record(**changes: object) -> TradeRecord:
    base: dict[str, object] = {
        "key": bytes.fromhex("ab" * 32),
        "config_id": 7,
        "follower": "0x" + "11" * 20,
        "proxy": "0x" + "22" * 20,
        "leader": "0x" + "33" * 20,
        "token_id": 85582852254055604730434497073296615212033849972277199800761754422625228641162,
        "side": "BUY",
        "amount": 25_000_000,
        "limit_price_ppm": 520_000,
        "tx_hash": bytes.fromhex("cd" * 32),
        "log_index": 3,
        "sub_index": 0,
        "leader_size": 19_607_800,
        "leader_price_ppm": 510_000,
        "block_number": 42,
        "status": TradeStatus.EXECUTED,
        "reason": None,
        "reorged": False,
        "copy_size": 49_019_600,
        "copy_price_ppm": 510_000,
        "slippage_bps": 0,
        "worker": "0x" + "44" * 20,
        "tx_hashes": (bytes.fromhex("01" * 32), bytes.fromhex("02" * 32)),
        "created_at": 1_000_000,
        "updated_at": 1_000_812,
        "expires_at": 2_000_000,
    }
    base.update(changes)
    return TradeRecord(**base)  # type: ignore[arg-type]


def test_trades_text_shows_price_fill_time_and_transactions() -> None:
    text = describe(_record())
    head, detail = text.split("\n")
    assert "EXECUTED  BUY 25.00 USD of 855828…1162" in head
    assert "config #7" in head
    assert "fill 49.0196 shares @ 0.51 (leader @ 0.51, slippage 0 bps), 812 ms to EXECUTED" in detail
    assert f"our tx 0x{'01' * 32}, 0x{'02' * 32}" in detail
    assert f"leader tx 0x{'cd' * 32}" in detail
    assert "85582852254055604730434497073296615212033849972277199800761754422625228641162" not in text


def test_trades_text_of_a_copy_without_a_fill() -> None:
    pending = describe(_record(status=TradeStatus.PENDING, copy_size=None, copy_price_ppm=None, tx_hashes=()))
    assert "no fill (leader @ 0.51, slippage 0 bps); our tx none" in pending
    assert " ms to " not in pending
    skipped = describe(_record(status=TradeStatus.SKIPPED, reason="daily_cap", side="SELL", amount=5_000_000))
    assert "SKIPPED (daily_cap)  SELL 5.00 shares" in skipped


def test_short_token_ids() -> None:
    assert short_token_id(2**255) == "578960…9968"
    assert short_token_id(123456789012) == "123456789012"
    assert short_token_id(1234567890123) == "123456…0123"
