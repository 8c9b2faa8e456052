"""FanoutIndex: literal cases per rule, config shapes and errors, and Hypothesis against a Python model."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from eth_utils import keccak
from hypothesis import given
from hypothesis import strategies as st

from polyhunter import InvalidInputError, dedup_key
from polyhunter._core import FanoutIndex, Signal

LEADER = "0x1111111111111111111111111111111111111111"
TX = b"\xab" * 32
PPM, BPS = 1_000_000, 10_000


def follower(n: int) -> str:
    return f"0x{0xF0000 + n:040x}"


def proxy(n: int) -> str:
    return f"0x{0xE0000 + n:040x}"


def config(config_id: int, **fields: Any) -> dict[str, Any]:
    base = {
        "config_id": config_id,
        "follower": follower(config_id),
        "proxy": proxy(config_id),
        "leader": LEADER,
        "mode": "fixed",
        "fixed_usd": 1_000_000,
    }
    return base | fields


def signal(side: str = "BUY", size: int = 10_000_000, usd: int = 5_500_000, **fields: Any) -> Signal:
    args: dict[str, Any] = {
        "leader": LEADER,
        "token_id": 5,
        "side": side,
        "size": size,
        "usd": usd,
        "price_num": usd,
        "price_den": size,
        "tx_hash": TX,
        "log_index": 3,
        "source": "v2",
    }
    return Signal(**(args | fields))


def one(cfg: dict[str, Any], sig: Signal, **kwargs: Any) -> int | str:
    """The amount of the single intent, or the reason it was skipped."""
    index = FanoutIndex()
    index.upsert(cfg)
    out = index.match([sig], **kwargs)
    if len(out) == 1:
        assert out.skipped == []
        return out[0].amount
    assert len(out) == 0
    [(signal_index, config_id, reason)] = out.skipped
    assert (signal_index, config_id) == (0, cfg["config_id"])
    return reason


# Leader BUY: 10 shares for $5.50 (0.55); leader SELL: 10 shares for $4.00 (0.40).
BUY = signal("BUY", 10_000_000, 5_500_000)
SELL = signal("SELL", 10_000_000, 4_000_000)


@pytest.mark.parametrize(
    ("fields", "sig", "kwargs", "want"),
    [
        ({"mode": "fixed", "fixed_usd": 2_000_000}, BUY, {}, 2_000_000),
        ({"mode": "fixed", "fixed_usd": 2_000_000}, SELL, {}, 5_000_000),
        ({"mode": "ratio", "ratio_ppm": 250_000}, BUY, {}, 1_375_000),
        ({"mode": "ratio", "ratio_ppm": 333_333}, SELL, {}, 3_333_330),
        ({"mode": "percent", "percent_bps": 250}, BUY, {"balances": {proxy(1): 100_000_000}}, 2_500_000),
        (
            {"mode": "percent", "percent_bps": 250},
            SELL,
            {"balances": {proxy(1).upper(): 100_000_000}},
            6_250_000,
        ),
        ({"mode": "percent", "percent_bps": 250}, BUY, {}, "no_balance"),
        (
            {"mode": "tiered", "tiers": [(0, 5_000_000, 100_000), (5_000_000, None, 500_000)]},
            BUY,
            {},
            2_750_000,
        ),
        (
            {"mode": "tiered", "tiers": [{"min_leader_usd": 6_000_000, "multiplier_ppm": 1}]},
            BUY,
            {},
            "filtered",
        ),
        ({"side_filter": "SELL"}, BUY, {}, "filtered"),
        ({"token_allow": [6, "7"]}, BUY, {}, "filtered"),
        ({"token_allow": ["5"]}, BUY, {}, 1_000_000),
        ({"token_deny": [5]}, BUY, {}, "filtered"),
        ({"min_leader_usd": 5_500_001}, BUY, {}, "filtered"),
        ({"max_leader_usd": 5_500_000, "min_leader_usd": 5_500_000}, BUY, {}, 1_000_000),
        ({"min_price_ppm": 550_000, "max_price_ppm": 550_000}, BUY, {}, 1_000_000),
        ({"max_price_ppm": 549_999}, BUY, {}, "filtered"),
        ({"mode": "ratio", "ratio_ppm": PPM, "max_per_trade_usd": 1_000_000}, BUY, {}, 1_000_000),
        ({"mode": "ratio", "ratio_ppm": PPM, "max_per_trade_usd": 1_000_000}, SELL, {}, 2_500_000),
        ({}, BUY, {"min_size": 5_000_000}, "below_min_size"),
        ({"min_size_policy": "bump"}, BUY, {"min_size": 5_000_000}, 2_750_000),
        (
            {"min_size_policy": "bump", "max_per_trade_usd": 2_749_999},
            BUY,
            {"min_size": 5_000_000},
            "below_min_size",
        ),
        ({"min_size_policy": "bump"}, BUY, {"min_size": {6: 5_000_000}}, 1_000_000),
        ({"mode": "ratio", "ratio_ppm": 1}, signal("SELL", 3, 1), {}, "zero_amount"),
    ],
)
def test_rules(fields: dict[str, Any], sig: Signal, kwargs: dict[str, Any], want: int | str) -> None:
    assert one(config(1, **fields), sig, **kwargs) == want


def test_ctf_signals_have_no_price() -> None:
    buy = signal("BUY", 10_000_000, 0, price_num=0, price_den=0, source="ctf")
    assert one(config(1), buy) == 1_000_000
    assert one(config(1, mode="ratio", ratio_ppm=PPM), buy) == "no_price"
    index = FanoutIndex()
    index.upsert(config(1))
    assert index.match([buy])[0].limit_price_ppm is None


def test_intent_fields_and_keys() -> None:
    index = FanoutIndex()
    index.upsert(config(7, fixed_usd=3_000_000))
    [intent] = index.match([signal("BUY", 3, 1, sub_index=2)])
    assert intent.to_dict() == {
        "config_id": 7,
        "follower": follower(7),
        "proxy": proxy(7),
        "leader": LEADER,
        "token_id": 5,
        "side": "BUY",
        "amount": 3_000_000,
        "limit_price_ppm": 333_334,
        "tx_hash": TX,
        "log_index": 3,
        "sub_index": 2,
        "signal_index": 0,
    }
    assert intent.dedup_key == dedup_key(TX, 3, 2)
    assert intent.idempotency_key == keccak(dedup_key(TX, 3, 2) + (7).to_bytes(8, "big"))
    [sell] = index.match([signal("SELL", 3, 1)])
    assert sell.limit_price_ppm == 333_333
    assert "config 7" in repr(sell)


def test_index_maintenance_and_sequence_protocol() -> None:
    index = FanoutIndex()
    assert index.upsert_many([config(i) for i in range(1, 6)]) == 5
    index.upsert(config(2, fixed_usd=9))
    other = "0x" + "99" * 20
    index.upsert(config(3, leader=other))
    index.upsert(config(4, enabled=False))
    assert index.remove(5)
    assert not index.remove(5)
    assert (len(index), 1 in index, 5 in index) == (4, True, False)
    assert index.leaders() == [LEADER, other]
    out = index.match([signal(), signal(log_index=4), signal(removed=True)])
    assert sorted((i.config_id, i.amount, i.signal_index) for i in out) == [
        (1, 1_000_000, 0),
        (1, 1_000_000, 1),
        (2, 9, 0),
        (2, 9, 1),
    ]
    assert [i.config_id for i in out[1:3]] == [out[1].config_id, out[2].config_id]
    assert out[-1].config_id == out[len(out) - 1].config_id
    assert len(out.to_list()) == 4
    with pytest.raises(IndexError):
        out[4]


@dataclasses.dataclass
class StoredConfig:
    """The state layer may hand over objects instead of mappings."""

    config_id: int
    follower: str
    proxy: str
    leader: str
    mode: str
    ratio_ppm: int | None = None
    fixed_usd: int | None = None
    side_filter: str | None = None


def test_objects_with_attributes_are_configs() -> None:
    index = FanoutIndex()
    index.upsert(
        StoredConfig(1, follower(1), proxy(1), LEADER, "ratio", ratio_ppm=500_000, side_filter="BUY")
    )
    assert [i.amount for i in index.match([BUY])] == [2_750_000]


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"config_id": 0}, "config_id must be > 0"),
        ({"mode": "kelly"}, "mode: must be fixed, ratio, percent or tiered"),
        ({"mode": "ratio"}, "config 1: ratio_ppm: required by mode"),
        ({"fixed_usd": -1}, "config 1: fixed_usd: must be an int"),
        ({"mode": "percent", "percent_bps": 10_001}, "percent_bps must be in 1..=10000"),
        ({"proxy": "0x12"}, "config 1: proxy: .*40 hex digits"),
        ({"side_filter": "buy"}, "config 1: side_filter"),
        ({"min_size_policy": "round"}, "min_size_policy"),
        ({"min_price_ppm": 2, "max_price_ppm": 1}, "min_price_ppm 2 is above"),
        ({"mode": "tiered", "tiers": [(5, 5, 1)]}, "tier max_leader_usd"),
        ({"token_allow": ["abc"]}, "token_allow"),
    ],
)
def test_bad_configs_name_the_field(fields: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidInputError, match=message):
        FanoutIndex().upsert(config(1) | fields)


def test_upsert_many_is_all_or_nothing() -> None:
    index = FanoutIndex()
    with pytest.raises(InvalidInputError):
        index.upsert_many([config(1), config(2, fixed_usd=0)])
    assert len(index) == 0
    missing = config(1)
    del missing["leader"]
    with pytest.raises(InvalidInputError, match="leader: missing"):
        index.upsert(missing)


# --- Hypothesis: the Rust index against this Python model of docs/seams.md's rules -----------------------


def ceil_div(a: int, b: int) -> int:
    return -(-a // b)


def model(cfg: dict[str, Any], sig: Signal, balance: int | None, min_tokens: int) -> int | str:
    side, size, num, den = sig.side, sig.size, sig.price_num, sig.price_den
    priced = den > 0
    usd = num if priced else None
    if cfg.get("side_filter") not in (None, side) or sig.token_id in cfg.get("token_deny", []):
        return "filtered"
    if cfg.get("token_allow") and sig.token_id not in cfg["token_allow"]:
        return "filtered"
    if cfg.get("min_leader_usd") is not None or cfg.get("max_leader_usd") is not None:
        if usd is None:
            return "no_price"
        if usd < cfg.get("min_leader_usd", 0) or usd > cfg.get("max_leader_usd", usd):
            return "filtered"

    def in_side_unit(dollars: int) -> int | str:
        if side == "BUY":
            return dollars
        return dollars * den // num if priced and num > 0 else "no_price"

    def scaled(ppm: int) -> int | str:
        if side == "SELL":
            return size * ppm // PPM
        return usd * ppm // PPM if usd is not None else "no_price"

    mode = cfg["mode"]
    amount: int | str
    if mode == "fixed":
        amount = in_side_unit(cfg["fixed_usd"])
    elif mode == "ratio":
        amount = scaled(cfg["ratio_ppm"])
    elif mode == "percent":
        amount = "no_balance" if balance is None else in_side_unit(balance * cfg["percent_bps"] // BPS)
    else:
        if usd is None:
            return "no_price"
        tier = next((t for t in cfg["tiers"] if t[0] <= usd and (t[1] is None or usd < t[1])), None)
        amount = "filtered" if tier is None else scaled(tier[2])
    if isinstance(amount, str):
        return amount
    cap: int | str | None = None
    if cfg.get("max_per_trade_usd") is not None:
        cap = in_side_unit(cfg["max_per_trade_usd"])
        if isinstance(cap, str):
            return cap
        amount = min(amount, cap)
    if min_tokens > 0 and (side == "SELL" or (priced and num > 0)):
        tokens = amount if side == "SELL" else amount * den // num
        bumped = min_tokens if side == "SELL" else ceil_div(min_tokens * num, den)
        if tokens < min_tokens:
            if cfg.get("min_size_policy") != "bump" or (cap is not None and bumped > cap):
                return "below_min_size"
            amount = bumped
    return amount if amount > 0 else "zero_amount"


amounts = st.integers(0, 10**13)
optional = st.one_of(st.none(), st.integers(1, 10**12))


@st.composite
def configs(draw: st.DrawFn, config_id: int) -> dict[str, Any]:
    mode = draw(st.sampled_from(["fixed", "ratio", "percent", "tiered"]))
    cfg = config(config_id, mode=mode)
    if mode == "fixed":
        cfg["fixed_usd"] = draw(st.integers(1, 10**12))
    elif mode == "ratio":
        cfg["ratio_ppm"] = draw(st.integers(1, 5 * PPM))
    elif mode == "percent":
        cfg["percent_bps"] = draw(st.integers(1, BPS))
    else:
        split = draw(st.integers(1, 10**12))
        cfg["tiers"] = [
            (0, split, draw(st.integers(1, 5 * PPM))),
            (split, None, draw(st.integers(1, 5 * PPM))),
        ]
    cfg["max_per_trade_usd"] = draw(optional)
    cfg["min_size_policy"] = draw(st.sampled_from(["skip", "bump"]))
    cfg["side_filter"] = draw(st.sampled_from([None, None, "BUY", "SELL"]))
    cfg["token_deny"] = draw(st.sampled_from([[], [5], [6]]))
    low = draw(st.one_of(st.none(), st.integers(0, 10**10)))
    if low is not None:
        cfg["min_leader_usd"] = low
    return cfg


@given(
    cfgs=st.lists(st.integers(1, 10**6), min_size=1, max_size=6, unique=True).flatmap(
        lambda ids: st.tuples(*(configs(i) for i in ids))
    ),
    side=st.sampled_from(["BUY", "SELL"]),
    size=st.integers(1, 10**13),
    usd=amounts,
    priced=st.booleans(),
    balance=st.one_of(st.none(), amounts),
    min_tokens=st.sampled_from([0, 0, 1_000_000, 5_000_000]),
)
def test_matches_model_and_never_passes_a_cap(
    cfgs: tuple[dict[str, Any], ...],
    side: str,
    size: int,
    usd: int,
    priced: bool,
    balance: int | None,
    min_tokens: int,
) -> None:
    sig = signal(
        side, size, usd if priced else 0, price_num=usd if priced else 0, price_den=size if priced else 0
    )
    index = FanoutIndex()
    index.upsert_many(cfgs)
    balances = {} if balance is None else {proxy(c["config_id"]): balance for c in cfgs}
    out = index.match([sig], balances=balances, min_size=min_tokens)
    got: dict[int, int | str] = {i.config_id: i.amount for i in out}
    got |= {config_id: reason for _, config_id, reason in out.skipped}
    assert got == {c["config_id"]: model(c, sig, balance, min_tokens) for c in cfgs}
    by_id = {c["config_id"]: c for c in cfgs}
    for intent in out:
        cap = by_id[intent.config_id]["max_per_trade_usd"]
        assert intent.amount > 0
        if cap is not None:
            notional = intent.amount if side == "BUY" else intent.amount * sig.price_num
            assert notional <= (cap if side == "BUY" else cap * sig.price_den)


def test_recorded_balances_and_overrides() -> None:
    index = FanoutIndex()
    index.upsert(config(1, mode="percent", percent_bps=BPS))
    index.set_balances({proxy(1): 7})
    assert [i.amount for i in index.match([BUY])] == [7]
    assert [i.amount for i in index.match([BUY], balances={proxy(1): 9})] == [9]
    index.clear_balances()
    assert index.match([BUY]).skipped == [(0, 1, "no_balance")]


def test_intents_outlive_the_index_and_compare_equal() -> None:
    index = FanoutIndex()
    index.upsert(config(1))
    out = index.match([BUY])
    first, again = out[0], next(iter(out))
    del index
    assert first == again
    assert first.amount == 1_000_000
    assert out[0:1] == [first]
