"""Maps an answer of Polymarket's CLOB (status, body, headers) that is not a success onto a `VenueError`.

The strings are production's, verbatim (the local CLOB answers with the same ones, and a unit test holds
the two lists together). Matching is by prefix, because production appends detail to several of them
(`not enough balance / allowance: …`). A string we do not know keeps its status and text in the most
general class for its status, so nothing is swallowed.
"""

from __future__ import annotations

import email.utils
import json
import re
import time
from collections.abc import Mapping
from typing import Any

from polyhunter.venue import errors as v

FOK_NOT_FILLED = "order couldn't be fully filled. FOK orders are fully filled or killed."
FAK_NO_MATCH = "no orders found to match with FAK order."
MARKETABLE_BUY = "invalid amount for a marketable BUY order"
PRECISION = "invalid amounts, the "
NOT_ENOUGH_BALANCE = "not enough balance / allowance"
MAKER_NOT_ALLOWED = "maker address not allowed"
SIGNER_NOT_API_KEY = "the order signer address has to be the address of the API KEY"
INVALID_VERSION = "invalid order version"
DUPLICATE_ORDER = "order already exists"
POST_ONLY_CROSSES = "invalid post-only order: order crosses book"
ORDER_NOT_FOUND = "order not found"
MARKET_NOT_FOUND = "market not found"
NO_ORDERBOOK = "No orderbook exists for the requested token id"
ORDER_TIMED_OUT = "order timed out"
TRADING_DISABLED = "Trading is currently disabled"
CANCEL_ONLY = "Trading is currently cancel-only"
POST_ONLY_MODE = "post_only_mode"

_MIN_SIZE = re.compile(r"Size \(.*\) lower than the minimum")
_TICK = re.compile(r"Price \(.*\) breaks minimum tick size rule")

_REFUSALS: tuple[tuple[str, type[v.OrderRefused]], ...] = (
    (FOK_NOT_FILLED, v.FokNotFilled),
    (FAK_NO_MATCH, v.FakNotFilled),
    (MARKETABLE_BUY, v.MarketableBuyTooSmall),
    (NOT_ENOUGH_BALANCE, v.InsufficientBalance),
    (MAKER_NOT_ALLOWED, v.MakerNotAllowed),
    (SIGNER_NOT_API_KEY, v.SignerNotApiKey),
    (INVALID_VERSION, v.InvalidOrderVersion),
    (DUPLICATE_ORDER, v.DuplicateOrder),
    (POST_ONLY_CROSSES, v.PostOnlyCrosses),
    (MARKET_NOT_FOUND, v.MarketClosed),
    (NO_ORDERBOOK, v.MarketClosed),
)

_MAX_TEXT = 300  # a non-JSON error page is cut: it is for a log line, not for parsing


def message_of(body: bytes) -> tuple[str, dict[str, Any]]:
    """The `error` (or `errorMsg`) string of an answer's body and the body as an object ({} if not one)."""
    text = body.decode("utf-8", errors="replace")
    try:
        data = json.loads(text)
    except ValueError:
        return text[:_MAX_TEXT].strip(), {}
    if isinstance(data, dict):
        for key in ("error", "errorMsg", "message"):
            if isinstance(data.get(key), str):
                return str(data[key]), data
        return text[:_MAX_TEXT], data
    return text[:_MAX_TEXT], {}


def retry_after_of(
    headers: Mapping[str, str], data: Mapping[str, Any], now: float | None = None
) -> float | None:
    """Seconds to wait from `Retry-After` (seconds or an HTTP date) or the body's `retry_after_seconds`."""
    raw = headers.get("Retry-After")
    if raw:
        try:
            return max(0.0, float(raw))
        except ValueError:
            pass
        try:
            when = email.utils.parsedate_to_datetime(raw).timestamp()
        except (TypeError, ValueError):
            when = None
        if when is not None:
            return max(0.0, when - (time.time() if now is None else now))
    body_wait = data.get("retry_after_seconds")
    if isinstance(body_wait, int | float) and not isinstance(body_wait, bool) and body_wait >= 0:
        return float(body_wait)
    return None


def refusal_of(message: str, status: int = 400) -> v.OrderRefused:
    """The refusal class for a 400 message (also used for a failed entry of a batch post)."""
    for prefix, cls in _REFUSALS:
        if message.startswith(prefix):
            return cls(message, status=status)
    if _MIN_SIZE.match(message):
        return v.BelowMinSize(message, status=status)
    if _TICK.match(message):
        return v.TickSizeViolation(message, status=status)
    if message.startswith(PRECISION) and "max accuracy" in message:
        return v.PrecisionRefused(message, status=status)
    return v.OrderRefused(message, status=status)


def _unavailable(message: str, retry_after: float | None) -> v.VenueUnavailable:
    if message.startswith(TRADING_DISABLED):
        mode = "disabled"
    elif message.startswith(CANCEL_ONLY):
        mode = "cancel_only"
    elif message.startswith(POST_ONLY_MODE):
        mode = "post_only"
    else:
        mode = "unavailable"
    return v.VenueUnavailable(message, mode=mode, retry_after=retry_after)


def error_of(status: int, body: bytes, headers: Mapping[str, str]) -> v.VenueError:
    """The typed error for a non-2xx answer."""
    message, data = message_of(body)
    wait = retry_after_of(headers, data)
    if status in (401, 403):
        return v.Unauthorized(message, status=status)
    if status == 404:
        if message.startswith((NO_ORDERBOOK, MARKET_NOT_FOUND)):
            return v.MarketClosed(message, status=status)
        return v.OrderNotFound(message, status=status)
    if status == 425:
        return v.Restarting(message, status=status, retry_after=wait)
    if status == 429:
        return v.RateLimited(message, status=status, retry_after=wait)
    if status == 503:
        return _unavailable(message, wait)
    if status >= 500:
        if message.startswith(ORDER_TIMED_OUT):
            return v.OrderTimedOut(message, status=status, retry_after=wait)
        return v.ServerError(message, status=status, retry_after=wait)
    return refusal_of(message, status)
