"""The venue's error mapping: every production string the local CLOB answers with lands on its class (the
venue keeps its own copy of the strings; this test holds the two lists together), statuses without a
known string keep status and text, Retry-After is read from the header or the body."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest

from polyhunter.errors import ExecutionError, PolyhunterError
from polyhunter.localpoly import errors as prod
from polyhunter.venue import errors as v
from polyhunter.venue.answers import error_of, refusal_of, retry_after_of


def body(message: str, **extra: object) -> bytes:
    return json.dumps({"error": message, **extra}).encode()


REFUSALS: list[tuple[str, type[v.VenueError]]] = [
    (prod.FOK_NOT_FILLED, v.FokNotFilled),
    (prod.FAK_NO_MATCH, v.FakNotFilled),
    (prod.min_size_error(Decimal("2"), Decimal("5")).message, v.BelowMinSize),
    (prod.marketable_buy_error(Decimal("0.51"), Decimal("1")).message, v.MarketableBuyTooSmall),
    (prod.tick_error(Decimal("0.455"), Decimal("0.01")).message, v.TickSizeViolation),
    (prod.precision_error("BUY", 2, 4).message, v.PrecisionRefused),
    (prod.precision_error("SELL", 2, 4).message, v.PrecisionRefused),
    (prod.NOT_ENOUGH_BALANCE, v.InsufficientBalance),
    # Production appends the amounts to this one.
    (
        prod.NOT_ENOUGH_BALANCE + ": the balance is not enough -> balance: 1, order amount: 2",
        v.InsufficientBalance,
    ),
    (prod.MAKER_NOT_ALLOWED, v.MakerNotAllowed),
    (prod.SIGNER_NOT_API_KEY, v.SignerNotApiKey),
    (prod.INVALID_VERSION, v.InvalidOrderVersion),
    (prod.DUPLICATE_ORDER, v.DuplicateOrder),
    (prod.POST_ONLY_CROSSES, v.PostOnlyCrosses),
    (prod.NO_ORDERBOOK, v.MarketClosed),
    (prod.MARKET_NOT_FOUND, v.MarketClosed),
    (prod.EXPIRED, v.OrderRefused),
    ("something new the venue says", v.OrderRefused),
]


@pytest.mark.parametrize(("message", "cls"), REFUSALS)
def test_400_refusals_map_to_their_class(message: str, cls: type[v.VenueError]) -> None:
    error = error_of(400, body(message), {})
    assert type(error) is cls
    assert (error.status, error.message) == (400, message)
    assert isinstance(error, ValueError)
    assert isinstance(error, ExecutionError)
    assert isinstance(error, PolyhunterError)
    assert error.retryable is False
    # A failed entry of a batch post carries the same strings in errorMsg.
    assert type(refusal_of(message)) is cls


@pytest.mark.parametrize(
    ("status", "message", "headers", "cls", "retry_after", "stdlib"),
    [
        (401, prod.UNAUTHORIZED, {}, v.Unauthorized, None, PermissionError),
        (403, prod.ADMIN_REFUSED, {}, v.Unauthorized, None, PermissionError),
        (404, prod.ORDER_NOT_FOUND, {}, v.OrderNotFound, None, LookupError),
        (404, prod.NO_ORDERBOOK, {}, v.MarketClosed, None, ValueError),
        (425, prod.RESTARTING, {"Retry-After": "3"}, v.Restarting, 3.0, ConnectionError),
        (429, prod.RATE_LIMITED, {"Retry-After": "11"}, v.RateLimited, 11.0, ConnectionError),
        (429, prod.RATE_LIMITED, {}, v.RateLimited, None, ConnectionError),
        (500, prod.ORDER_TIMED_OUT, {}, v.OrderTimedOut, None, TimeoutError),
        (500, "internal error", {}, v.ServerError, None, ConnectionError),
        (502, "<html>bad gateway</html>", {}, v.ServerError, None, ConnectionError),
    ],
)
def test_statuses_map_to_their_class(
    status: int,
    message: str,
    headers: dict[str, str],
    cls: type[v.VenueError],
    retry_after: float | None,
    stdlib: type[Exception],
) -> None:
    error = error_of(status, body(message), headers)
    assert type(error) is cls
    assert (error.status, error.message, error.retry_after) == (status, message, retry_after)
    assert isinstance(error, stdlib)


@pytest.mark.parametrize(
    ("message", "extra", "headers", "mode", "retry_after"),
    [
        (prod.TRADING_DISABLED, {}, {}, "disabled", None),
        (prod.CANCEL_ONLY, {}, {}, "cancel_only", None),
        (prod.POST_ONLY_MODE, {"retry_after_seconds": 7}, {}, "post_only", 7.0),
        (prod.POST_ONLY_MODE, {"retry_after_seconds": 7}, {"Retry-After": "9"}, "post_only", 9.0),
        (prod.CHAIN_UNAVAILABLE, {}, {"Retry-After": "5"}, "unavailable", 5.0),
    ],
)
def test_503_modes(
    message: str, extra: dict[str, object], headers: dict[str, str], mode: str, retry_after: float | None
) -> None:
    error = error_of(503, body(message, **extra), headers)
    assert isinstance(error, v.VenueUnavailable)
    assert (error.mode, error.retry_after, error.status) == (mode, retry_after, 503)
    # Only a 503 that says when to come back is worth retrying.
    assert error.retryable is (retry_after is not None)


def test_a_non_json_error_page_keeps_its_status_and_a_bounded_text() -> None:
    error = error_of(520, b"<html>" + b"x" * 5000, {})
    assert type(error) is v.ServerError
    assert error.status == 520
    assert error.message.startswith("<html>")
    assert len(error.message) <= 300


def test_retry_after_as_an_http_date_and_garbage() -> None:
    assert retry_after_of({"Retry-After": "Wed, 21 Oct 2015 07:28:10 GMT"}, {}, now=1445412480.0) == 10.0
    assert retry_after_of({"Retry-After": "Wed, 21 Oct 2015 07:28:10 GMT"}, {}, now=1445412500.0) == 0.0
    assert retry_after_of({"Retry-After": "soon"}, {}) is None
    assert retry_after_of({}, {"retry_after_seconds": True}) is None
    assert retry_after_of({}, {"retry_after_seconds": -1}) is None


def test_outcome_unknown_carries_hash_body_and_cause() -> None:
    cause = v.OrderTimedOut(prod.ORDER_TIMED_OUT, status=500)
    unknown = v.OrderOutcomeUnknown("0x" + "ab" * 32, b"{}", cause)
    assert (unknown.order_hash, unknown.body, unknown.cause, unknown.status) == (
        "0x" + "ab" * 32,
        b"{}",
        cause,
        500,
    )
    assert isinstance(unknown, TimeoutError)
    assert "OrderTimedOut" in str(unknown)
    assert not isinstance(unknown, v.RetryLater)
