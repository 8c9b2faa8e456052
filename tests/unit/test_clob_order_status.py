"""The CLOB order-status classification: only a terminal status with nothing matched makes an order dead."""

from __future__ import annotations

import pytest

from polyhunter.execution.clobvenue import order_is_dead


@pytest.mark.parametrize(
    "status",
    [
        "CANCELED",
        "UNMATCHED",
        "INVALID",
        "CANCELED_MARKET_RESOLVED",
        "ORDER_STATUS_CANCELED",
        "order_status_unmatched",
        "Invalid",
        "ORDER_STATUS_CANCELED_MARKET_RESOLVED",
    ],
)
def test_a_terminal_status_with_nothing_matched_is_dead(status: str) -> None:
    assert order_is_dead(status, 0)


@pytest.mark.parametrize(
    "status",
    ["DELAYED", "ORDER_STATUS_DELAYED", "LIVE", "live", "MATCHED", "ORDER_STATUS_MATCHED", "", "NEW"],
)
def test_a_status_that_may_still_match_is_not_dead(status: str) -> None:
    assert not order_is_dead(status, 0)


def test_a_terminal_order_that_matched_something_is_not_dead() -> None:
    assert not order_is_dead("CANCELED", 1)
    assert not order_is_dead("ORDER_STATUS_UNMATCHED", 5_000_000)
