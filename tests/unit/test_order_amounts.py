"""Market-order amounts from `_core` against the local CLOB's validator (in process) and py-clob-client-v2.

The judge of "accepted" is `polyhunter.localpoly.orders.check_rules` (tick, range, decimal caps, exact tick
ratio) plus `check_marketable_buy` (the $1 minimum), called directly on the order we build. The judge of
"never too much" is integer arithmetic: a BUY's collateral plus its taker fee stays within the budget, a
SELL's shares within the holding. py-clob-client-v2 1.2.1's `get_market_order_amounts` is compared where it
is right; the tests at the end pin the places where it is not:

- it rounds the price down in floats, so a price on the tick can lose a tick (0.29 becomes 0.28);
- for ticks 0.001 / 0.0001 it rounds the taker amount to 5 / 6 decimals, which the 4-decimal cap refuses;
- at a price one tick from 1 its floored taker amount implies a price above 1 − tick, which the venue refuses.
"""

from __future__ import annotations

import dataclasses
import math
from decimal import Decimal
from fractions import Fraction
from typing import Any, Literal

import pytest
from hypothesis import assume, example, given
from hypothesis import strategies as st
from py_clob_client_v2.clob_types import CreateOrderOptions, MarketOrderArgsV2
from py_clob_client_v2.order_builder import builder as ref_builder_module
from py_clob_client_v2.order_builder.builder import ROUNDING_CONFIG, OrderBuilder
from py_clob_client_v2.order_utils import utils as ref_utils
from py_clob_client_v2.order_utils.model.signature_type_v2 import SignatureTypeV2
from py_clob_client_v2.signer import Signer as RefSigner

from polyhunter._core import (
    ExchangeDomain,
    MarketOrderAmounts,
    MarketOrderBuilder,
    Signer,
    market_order_amounts,
)
from polyhunter.errors import GuardrailRejected, InvalidInputError
from polyhunter.localpoly.errors import ClobApiError
from polyhunter.localpoly.orders import (
    MarketRules,
    SignedOrder,
    check_marketable_buy,
    check_rules,
    decimals_of,
)
from polyhunter.localpoly.trades import taker_fee

Rule = Literal["cents", "lots", "legacy"]
PPM = 1_000_000
MIN_USD = 1_000_000
CAPS = (2, 4, 2, 4)
TICKS_PPM = [100, 1_000, 10_000, 100_000]
KEY = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80"
WALLET = "0x1111111111111111111111111111111111111111"
V2_EXCHANGE = "0xE111180000d2663C0091e4f400237545B87B996B"
POLYGON = 137
TOKEN_ID = 71321045679252212594626385532706912750332728571942532289631379312455583992563


@st.composite
def priced(draw: st.DrawFn) -> tuple[int, int]:
    """A tick (ppm) and a price on it strictly inside (0, 1)."""
    tick = draw(st.sampled_from(TICKS_PPM))
    price = draw(st.integers(min_value=1, max_value=PPM // tick - 1)) * tick
    return tick, price


amounts_st = st.one_of(
    st.integers(min_value=0, max_value=2_000_000),
    st.integers(min_value=0, max_value=50_000_000_000),
    st.integers(min_value=0, max_value=10**18),
)
sides = st.sampled_from(["BUY", "SELL"])
rules = st.sampled_from(["cents", "lots", "legacy"])
fee_rates = st.one_of(st.just(0), st.integers(min_value=1, max_value=2_000))


def signed_order(a: MarketOrderAmounts) -> SignedOrder:
    """The local CLOB's parsed form of an order with these amounts (the fields its rules read)."""
    return SignedOrder(
        salt=1,
        maker=WALLET,
        signer=WALLET,
        token_id=TOKEN_ID,
        maker_amount=a.maker_amount,
        taker_amount=a.taker_amount,
        side=a.side,
        signature_type=3,
        timestamp=1,
        metadata=bytes(32),
        builder=bytes(32),
        signature=b"",
    )


def local_clob_accepts(a: MarketOrderAmounts, tick_ppm: int, rule: Rule) -> None:
    """Raises the local CLOB's `ClobApiError` unless it would admit this FOK order under `rule`'s settings."""
    order = signed_order(a)
    tick = Decimal(tick_ppm) / PPM
    caps = None if rule == "lots" else CAPS
    check_rules(
        order,
        "FOK",
        MarketRules(tick, Decimal(0)),
        exact_tick_ratio=True,
        market_decimals=caps,
        limit_decimals=None,
    )
    if rule != "legacy":
        # The exact-ratio rules pass even the limit-order checks: on the tick, exactly the limit's ratio.
        check_rules(
            order,
            "GTC",
            MarketRules(tick, Decimal(0)),
            exact_tick_ratio=True,
            market_decimals=None,
            limit_decimals=caps,
        )
    check_marketable_buy(order, Decimal(MIN_USD) / PPM)


@given(
    priced=priced(),
    side=sides,
    amount=amounts_st,
    rule=rules,
    fee_rate=fee_rates,
    fee_exponent=st.sampled_from([1, 2]),
    min_shares=st.sampled_from([0, 5_000_000]),
)
@example(
    priced=(10_000, 990_000),
    side="BUY",
    amount=1_000_000,
    rule="legacy",
    fee_rate=0,
    fee_exponent=1,
    min_shares=0,
)
@example(
    priced=(100, 100), side="SELL", amount=10_000, rule="legacy", fee_rate=0, fee_exponent=1, min_shares=0
)
def test_every_amount_is_accepted_and_within_budget(
    priced: tuple[int, int],
    side: Literal["BUY", "SELL"],
    amount: int,
    rule: Rule,
    fee_rate: int,
    fee_exponent: int,
    min_shares: int,
) -> None:
    tick, price = priced
    a = market_order_amounts(
        side,
        amount,
        price,
        tick,
        rule=rule,
        fee_rate_bps=fee_rate,
        fee_exponent=fee_exponent,
        min_shares=min_shares,
    )
    assert (a.side, a.price_ppm, a.rule) == (side, price, rule)
    limit = Fraction(price, PPM)
    assert a.fee == taker_fee(a.shares, limit, fee_rate, fee_exponent)
    if side == "BUY":
        assert (a.usd, a.shares) == (a.maker_amount, a.taker_amount)
        assert a.usd + a.fee <= amount
    else:
        assert (a.shares, a.usd) == (a.maker_amount, a.taker_amount)
        assert a.shares <= amount
    minimum = MIN_USD if side == "BUY" else min_shares
    tradeable = a.maker_amount > 0 and a.taker_amount > 0 and a.maker_amount >= minimum
    assert a.below_minimum is not tradeable
    if a.maker_amount == 0 or a.taker_amount == 0:
        return
    implied = Fraction(a.usd, a.shares)
    tick_f = Fraction(tick, PPM)
    if rule == "legacy":
        # Within a tick of the limit on the crossing side: the book is taken at the limit, never beyond.
        if side == "BUY":
            assert limit <= implied < limit + tick_f
        else:
            assert limit - tick_f < implied <= limit
        assert decimals_of(a.maker_amount) <= 2
        assert decimals_of(a.taker_amount) <= 4
    else:
        assert implied == limit
    if rule == "cents":
        assert decimals_of(a.maker_amount) <= 2
        assert decimals_of(a.taker_amount) <= 4
    if side == "BUY" and a.below_minimum:
        with pytest.raises(ClobApiError):
            local_clob_accepts(a, tick, rule)
    elif not a.below_minimum:
        local_clob_accepts(a, tick, rule)


def _next_step(side: str, price: int, rule: Rule) -> int:
    """The exact-ratio rules' maker step, derived here from the constraints (not from the Rust code)."""
    ratio = Fraction(price, PPM)
    maker_coef, taker_coef = (
        (ratio.numerator, ratio.denominator) if side == "BUY" else (ratio.denominator, ratio.numerator)
    )
    maker_q, taker_q = (1, 1) if rule == "lots" else (10_000, 100)
    j = 1
    while (j * maker_coef) % maker_q or (j * taker_coef) % taker_q:
        j += 1
    return j * maker_coef


@given(priced=priced(), side=sides, amount=amounts_st, rule=st.sampled_from(["cents", "lots"]))
def test_exact_rules_leave_less_than_one_step(
    priced: tuple[int, int], side: Literal["BUY", "SELL"], amount: int, rule: Rule
) -> None:
    """Rounding down, but not further than needed: one more step would overshoot the budget or holding."""
    tick, price = priced
    a = market_order_amounts(side, amount, price, tick, rule=rule)
    step = _next_step(side, price, rule)
    assert a.maker_amount % step == 0
    assert a.maker_amount <= amount < a.maker_amount + step


@given(priced=priced(), budget=st.integers(min_value=0, max_value=10**12), fee_rate=fee_rates, rule=rules)
def test_fee_adjusted_buy_is_the_largest_that_fits(
    priced: tuple[int, int], budget: int, fee_rate: int, rule: Rule
) -> None:
    tick, price = priced
    a = market_order_amounts("BUY", budget, price, tick, rule=rule, fee_rate_bps=fee_rate)
    assert a.usd + a.fee <= budget
    if rule == "legacy":
        return
    # The next order up under the same rule, with its own fee, would not fit.
    step = _next_step("BUY", price, rule)
    bigger = a.usd + step
    shares = bigger * Fraction(PPM, price)
    assert shares.denominator == 1
    assert bigger + taker_fee(int(shares), Fraction(price, PPM), fee_rate) > budget


def test_cents_rule_examples() -> None:
    # 0.55 = 11/20: the maker moves by 11 cents.
    a = market_order_amounts("BUY", 10_000_000, 550_000, 10_000)
    assert (a.maker_amount, a.taker_amount, a.below_minimum) == (9_900_000, 18_000_000, False)
    a = market_order_amounts("SELL", 7_777_000, 550_000, 10_000)
    assert (a.maker_amount, a.taker_amount) == (7_770_000, 4_273_500)
    # 0.1234 = 617/5000 needs $6.17 per step: $5 buys nothing, reported rather than signed as zero.
    a = market_order_amounts("BUY", 5_000_000, 123_400, 100)
    assert (a.maker_amount, a.below_minimum) == (0, True)
    a = market_order_amounts("BUY", 999_999, 500_000, 10_000)
    assert (a.maker_amount, a.below_minimum) == (990_000, True)
    a = market_order_amounts("SELL", 4_000_000, 500_000, 10_000, min_shares=5_000_000)
    assert (a.maker_amount, a.below_minimum) == (4_000_000, True)


def test_fee_adjusted_buy_example() -> None:
    # 10 % × 0.5 × 0.5 = 2.5 % of the shares, 5 % of the spend at 0.5: $95.23 + $4.7615 fits $100.
    a = market_order_amounts("BUY", 100_000_000, 500_000, 10_000, fee_rate_bps=1_000)
    assert (a.maker_amount, a.fee) == (95_230_000, 4_761_500)
    # A SELL's fee comes out of its proceeds: the shares are not cut.
    a = market_order_amounts("SELL", 100_000_000, 500_000, 10_000, fee_rate_bps=1_000)
    assert (a.maker_amount, a.taker_amount, a.fee) == (100_000_000, 50_000_000, 2_500_000)


@pytest.mark.parametrize(
    ("price", "tick", "message"),
    [
        (0, 10_000, "strictly between 0 and 1"),
        (1_000_000, 10_000, "strictly between 0 and 1"),
        (555_000, 10_000, "not on the market's tick of 10000 ppm"),
        (500_000, 3_000, "tick size must divide $1"),
        (500_000, 0, "tick size must divide $1"),
    ],
)
def test_bad_price_or_tick_is_a_typed_error(price: int, tick: int, message: str) -> None:
    with pytest.raises(InvalidInputError, match=message.replace("$", r"\$")):
        market_order_amounts("BUY", 10_000_000, price, tick)


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"side": "HOLD"}, InvalidInputError, "side must be"),
        ({"rule": "dollars"}, InvalidInputError, "amount rule must be"),
        ({"amount": -1}, InvalidInputError, "amount must be in"),
        ({"amount": 10**31}, InvalidInputError, "amount must be at most"),
        ({"amount": 1.5}, TypeError, "amount must be an int"),
        ({"fee_rate_bps": 10_001}, InvalidInputError, "at most 10000 bps"),
        ({"fee_exponent": 0}, InvalidInputError, "fee exponent"),
    ],
)
def test_bad_arguments_are_typed_errors(kwargs: dict[str, Any], error: type[Exception], message: str) -> None:
    args: dict[str, Any] = {"side": "BUY", "amount": 10_000_000, "price_ppm": 500_000, "tick_ppm": 10_000}
    args.update(kwargs)
    with pytest.raises(error, match=message):
        market_order_amounts(
            args.pop("side"), args.pop("amount"), args.pop("price_ppm"), args.pop("tick_ppm"), **args
        )


# --- py-clob-client-v2 1.2.1's builder ----------------------------------------------------------------------


def ref_amounts(side: str, amount: int, price: int, tick: int) -> tuple[int, int]:
    """py-clob-client-v2's market-order amounts for the same inputs, as the floats its callers pass."""
    tick_text = format(Decimal(tick) / PPM, "f").rstrip("0")
    _, maker, taker = OrderBuilder(RefSigner(KEY, POLYGON)).get_market_order_amounts(
        side, amount / PPM, price / PPM, ROUNDING_CONFIG[tick_text]
    )
    return int(maker), int(taker)


def ref_price_ok(price: int) -> bool:
    """Whether py-clob-client-v2's float `round_down(price, 2)` keeps a 2-decimal price."""
    return math.floor(price / PPM * 100) == price // 10_000


def ref_amount_ok(amount: int) -> bool:
    """Whether py-clob-client-v2's float `round_down(amount, 2)` floors to the right cent."""
    return math.floor(amount / PPM * 100) == amount // 10_000


def ref_quotient_ok(side: str, amount: int, price: int) -> bool:
    """Whether py-clob-client-v2's float quotient `amount / price` (a BUY's shares, rounded up at 8 decimals
    then down at 4) gives the exact share count: where the float falls just below a whole number too large for
    its rounding up to reach it (3966249.01 / 0.01 = 396624900.99999994), it asks for 0.0001 share less."""
    if side != "BUY":
        return True
    exact = Fraction(amount // 10_000, 100) / Fraction(price, PPM)
    return ref_amounts(side, amount, price, 10_000)[1] == math.floor(exact * 10**4) * 100


@given(price=st.integers(min_value=1, max_value=98), amount=amounts_st, side=sides)
@example(price=29, amount=10_000_000, side="BUY")
@example(price=50, amount=38_410_000, side="BUY")
@example(price=50, amount=38_410_000, side="SELL")
@example(price=1, amount=3_966_249_010_000, side="BUY")
def test_legacy_rule_equals_py_clob_client_where_it_is_right(
    price: int, amount: int, side: Literal["BUY", "SELL"]
) -> None:
    """Tick 0.01 (its 2/4-decimal configuration, below 1 - tick): equal amounts, except where its float
    rounding loses a tick of price or a cent of amount."""
    assume(amount < 10**13)  # beyond, floats no longer hold every base unit
    price_ppm = price * 10_000
    ours = market_order_amounts(side, amount, price_ppm, 10_000, rule="legacy", min_usd=0)
    ref_maker, ref_taker = ref_amounts(side, amount, price_ppm, 10_000)
    if ref_price_ok(price_ppm) and ref_amount_ok(amount):
        if not ref_quotient_ok(side, amount, price_ppm):
            # Its float quotient lost the last share unit: it asks for that much less.
            assert (ref_maker, ref_taker) == (ours.maker_amount, ours.taker_amount - 100)
            return
        assert (ours.maker_amount, ours.taker_amount) == (ref_maker, ref_taker)
    elif not ref_amount_ok(amount):
        # It floored a cent too far: less traded than the budget or holding allows.
        assert ref_maker == ours.maker_amount - 10_000
    else:
        # Its limit dropped a tick: a BUY asks for more shares per dollar, a SELL for less collateral.
        assert ours.maker_amount == ref_maker
        assert (ref_taker >= ours.taker_amount) if side == "BUY" else (ref_taker <= ours.taker_amount)


def test_py_clob_client_loses_a_tick_on_float_prices() -> None:
    ref_maker, ref_taker = ref_amounts("BUY", 10_000_000, 290_000, 10_000)
    assert Fraction(28, 100) <= Fraction(ref_maker, ref_taker) < Fraction(29, 100)
    ours = market_order_amounts("BUY", 10_000_000, 290_000, 10_000, rule="legacy")
    assert Fraction(29, 100) <= Fraction(ours.maker_amount, ours.taker_amount) < Fraction(30, 100)


@pytest.mark.parametrize(("tick", "price"), [(100, 123_400), (1_000, 123_000)])
def test_py_clob_client_breaks_the_taker_cap_on_fine_ticks(tick: int, price: int) -> None:
    ref_maker, ref_taker = ref_amounts("BUY", 10_000_000, price, tick)
    order = dataclasses.replace(
        signed_order(market_order_amounts("BUY", 10_000_000, price, tick, rule="legacy")),
        maker_amount=ref_maker,
        taker_amount=ref_taker,
    )
    rules_ = MarketRules(Decimal(tick) / PPM, Decimal(0))
    with pytest.raises(ClobApiError, match="max accuracy of 2 decimals, taker amount a max of 4"):
        check_rules(order, "FOK", rules_, exact_tick_ratio=True, market_decimals=CAPS, limit_decimals=None)
    for rule in ("cents", "legacy"):
        local_clob_accepts(market_order_amounts("BUY", 10_000_000, price, tick, rule=rule), tick, rule)


def test_py_clob_client_leaves_the_price_range_one_tick_from_one() -> None:
    ref_maker, ref_taker = ref_amounts("BUY", 2_000_000, 990_000, 10_000)
    ours = market_order_amounts("BUY", 2_000_000, 990_000, 10_000, rule="legacy")
    order = dataclasses.replace(signed_order(ours), maker_amount=ref_maker, taker_amount=ref_taker)
    with pytest.raises(ClobApiError, match="breaks minimum tick size rule"):
        check_rules(
            order,
            "FOK",
            MarketRules(Decimal("0.01"), Decimal(0)),
            exact_tick_ratio=True,
            market_decimals=CAPS,
            limit_decimals=None,
        )
    local_clob_accepts(ours, 10_000, "legacy")


# --- built and signed: byte-equal to py-clob-client-v2's build_market_order ---------------------------------


class _FixedClock:
    """Stands in for the `time` module py-clob-client-v2's builder reads its timestamp and salt from."""

    def __init__(self, ms: int) -> None:
        self.ms = ms

    def time_ns(self) -> int:
        return self.ms * 1_000_000


class _FixedRandom:
    def __init__(self, value: float) -> None:
        self.value = value

    def random(self) -> float:
        return self.value


def ref_market_order(
    signature_type: int, side: str, amount: int, price: int, timestamp: int, salt_fraction: float
) -> dict[str, Any]:
    """py-clob-client-v2's `build_market_order` with its clock and salt pinned; the signed order as a dict."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(ref_builder_module, "time", _FixedClock(timestamp))
        patch.setattr(ref_utils, "time", _FixedClock(timestamp))
        patch.setattr(ref_utils, "random", _FixedRandom(salt_fraction))
        ref_signer = RefSigner(KEY, POLYGON)
        builder = (
            OrderBuilder(ref_signer, SignatureTypeV2.POLY_1271, WALLET)
            if signature_type == 3
            else OrderBuilder(ref_signer)
        )
        signed = builder.build_market_order(
            MarketOrderArgsV2(token_id=str(TOKEN_ID), amount=amount / PPM, side=side, price=price / PPM),
            CreateOrderOptions(tick_size="0.01", neg_risk=False),
        )
    return dataclasses.asdict(signed)


@given(
    signature_type=st.sampled_from([0, 3]),
    side=sides,
    cents=st.integers(min_value=100, max_value=10**9),
    price=st.sampled_from([p for p in range(1, 99) if ref_price_ok(p * 10_000)]),
    timestamp=st.integers(min_value=1_600_000_000_000, max_value=2_000_000_000_000),
    salt_fraction=st.floats(min_value=0, max_value=1, exclude_max=True),
)
@example(signature_type=3, side="BUY", cents=10_000, price=50, timestamp=1_714_000_000_000, salt_fraction=0.5)
@example(signature_type=0, side="SELL", cents=777, price=55, timestamp=1_714_000_000_000, salt_fraction=0.25)
def test_built_order_is_byte_equal_to_py_clob_client(
    signature_type: int,
    side: Literal["BUY", "SELL"],
    cents: int,
    price: int,
    timestamp: int,
    salt_fraction: float,
) -> None:
    amount, price_ppm = cents * 10_000, price * 10_000
    assume(ref_amount_ok(amount))  # else its float floor loses a cent (pinned above)
    assume(ref_quotient_ok(side, amount, price_ppm))  # else its float quotient loses a share unit (above)
    ref = ref_market_order(signature_type, side, amount, price_ppm, timestamp, salt_fraction)
    signer = Signer(KEY)
    builder = MarketOrderBuilder(
        signer,
        ExchangeDomain(V2_EXCHANGE, POLYGON),
        maker=WALLET if signature_type == 3 else None,
        signature_type=signature_type,
        rule="legacy",
    )
    built = builder.build(
        token_id=TOKEN_ID,
        side=side,
        amount=amount,
        price_ppm=price_ppm,
        tick_ppm=10_000,
        salt=int(ref["salt"]),
        timestamp=timestamp,
        min_usd=0,
    )
    order = built.order
    assert int(ref["makerAmount"]) == order.maker_amount == built.amounts.maker_amount
    assert int(ref["takerAmount"]) == order.taker_amount == built.amounts.taker_amount
    assert ref["maker"].lower() == order.maker
    assert ref["signer"].lower() == order.signer
    assert int(ref["side"]) == (0 if side == "BUY" else 1)
    assert int(ref["signatureType"]) == order.signature_type == signature_type
    assert int(ref["timestamp"]) == order.timestamp
    assert int(ref["tokenId"]) == order.token_id
    assert ref["signature"] == built.signed.signature_hex
    assert built.signed.hash == ExchangeDomain(V2_EXCHANGE, POLYGON).order_hash(order)


def test_builder_refuses_below_minimum_with_the_skip_reason() -> None:
    builder = MarketOrderBuilder(Signer(KEY), ExchangeDomain(V2_EXCHANGE, POLYGON))
    with pytest.raises(GuardrailRejected) as caught:
        builder.build(
            token_id=TOKEN_ID,
            side="BUY",
            amount=999_999,
            price_ppm=500_000,
            tick_ppm=10_000,
            salt=1,
            timestamp=1,
        )
    assert caught.value.reason == "below_min_size"
    assert "990000" in str(caught.value)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"signature_type": 3}, "deposit wallet, which must be given"),
        ({"signature_type": 3, "maker": Signer(KEY).address}, "differ from the signer's own address"),
        ({"signature_type": 0, "maker": WALLET}, "type 0 \\(EOA\\) order's maker is its signer"),
        ({"signature_type": 1}, "type 0 \\(EOA\\) or 3 \\(POLY_1271\\)"),
        ({"rule": "pennies"}, "amount rule must be"),
    ],
)
def test_builder_refuses_bad_pairings(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidInputError, match=message):
        MarketOrderBuilder(Signer(KEY), ExchangeDomain(V2_EXCHANGE, POLYGON), **kwargs)


def test_builder_refuses_a_v1_domain() -> None:
    with pytest.raises(InvalidInputError, match="CLOB V2 orders"):
        MarketOrderBuilder(Signer(KEY), ExchangeDomain(V2_EXCHANGE, POLYGON, version=1))
