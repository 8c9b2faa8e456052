"""split_pro_rata: a venue's fill shared among coalesced legs, exact integers, nothing left over."""

from __future__ import annotations

from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from polyhunter.execution.venues import Fill, split_pro_rata

weights = st.lists(st.integers(min_value=0, max_value=10**12), min_size=1, max_size=20).filter(
    lambda ws: sum(ws) > 0
)


@given(weights, st.data())
def test_parts_sum_to_the_total_and_stay_within_a_unit_of_the_exact_share(
    ws: list[int], data: st.DataObject
) -> None:
    total = data.draw(st.integers(min_value=0, max_value=2 * sum(ws)))
    parts = split_pro_rata(total, ws)
    assert sum(parts) == total
    for part, w in zip(parts, ws, strict=True):
        exact = Fraction(total * w, sum(ws))
        assert exact - 1 < part < exact + 1
        if w == 0:
            assert part == 0


@given(weights)
def test_a_complete_fill_gives_each_leg_exactly_what_it_asked(ws: list[int]) -> None:
    assert split_pro_rata(sum(ws), ws) == ws


@given(weights, st.data())
def test_a_partial_fill_never_gives_a_leg_more_than_it_asked(ws: list[int], data: st.DataObject) -> None:
    total = data.draw(st.integers(min_value=0, max_value=sum(ws)))
    assert all(p <= w for p, w in zip(split_pro_rata(total, ws), ws, strict=True))


def test_the_unit_rounding_leaves_goes_to_the_largest_remainder() -> None:
    assert split_pro_rata(10, [1, 1, 1]) == [4, 3, 3]
    assert split_pro_rata(5, [1, 2]) == [2, 3]


def test_bad_splits_are_refused() -> None:
    with pytest.raises(ValueError, match="negative"):
        split_pro_rata(-1, [1])
    with pytest.raises(ValueError, match="sum to zero"):
        split_pro_rata(1, [0, 0])
    assert split_pro_rata(0, [0, 0]) == [0, 0]


def test_a_fill_knows_its_exact_price_and_what_left_the_worker() -> None:
    fill = Fill(shares=3_000_000, collateral=1_000_000, fee=20_000, reference=b"\x01" * 32, tx_hashes=())
    assert fill.price == Fraction(1, 3)
    assert fill.spent("BUY") == 1_020_000
    assert fill.spent("SELL") == 980_000
