"""The CLOB's refusals: one exception carrying the HTTP status and Polymarket's error string.

Handlers raise `ClobApiError`; the server turns it into `{"error": message}` (plus extra fields) with the
status and headers given. The strings are production's, verbatim, so clients can match on them.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from polyhunter.errors import PolyhunterError

MAKER_NOT_ALLOWED = "maker address not allowed, please use the deposit wallet flow"
SIGNER_NOT_API_KEY = "the order signer address has to be the address of the API KEY"
NOT_ENOUGH_BALANCE = "not enough balance / allowance"
FOK_NOT_FILLED = "order couldn't be fully filled. FOK orders are fully filled or killed."
FAK_NO_MATCH = (
    "no orders found to match with FAK order. FAK orders are partially filled or killed if no match is found."
)
# Production's text, plus the marker py-clob-client-v2 looks for (`ORDER_VERSION_MISMATCH_ERROR` in the
# `error` of an answer) to refresh the version it signs for.
INVALID_VERSION = "invalid order version, please use the latest clob-client (order_version_mismatch)"
UNAUTHORIZED = "Unauthorized/Invalid api key"
INVALID_SIGNATURE = "invalid signature"
ORDER_TIMED_OUT = "order timed out"
TRADING_DISABLED = "Trading is currently disabled. Check polymarket.com for updates"
CANCEL_ONLY = "Trading is currently cancel-only. New orders are not accepted, but cancellations are."
POST_ONLY_MODE = "post_only_mode"
POST_ONLY_CROSSES = "invalid post-only order: order crosses book"
RESTARTING = "the matching engine is restarting, retry later"
RATE_LIMITED = "Too Many Requests"
DERIVE_FAILED = "Could not derive api key!"
DUPLICATE_ORDER = "order already exists"
ORDER_NOT_FOUND = "order not found"
MARKET_NOT_FOUND = "market not found"
NO_ORDERBOOK = "No orderbook exists for the requested token id"
TOO_MANY_ORDERS = "too many orders in payload, max allowed: {max}"
EXPIRED = "invalid expiration value, the order is already expired"
# Production's text for these two is not published; ours say what was wrong.
EXPIRES_TOO_SOON = "invalid expiration value, a GTD order must expire at least {seconds} seconds from now"
WRONG_EXCHANGE = (
    "invalid signature: the order is signed for the {signed} exchange, this market trades on the {expected} "
    "exchange"
)
DEFER_EXEC_UNSUPPORTED = "deferExec is not supported by the local CLOB: post without it"
BODY_TOO_LARGE = "request body too large"
CHAIN_UNAVAILABLE = "the chain node is unavailable, retry later"
ADMIN_REFUSED = "the /_local admin endpoints are refused on a server that allows remote clients"


class ClobApiError(PolyhunterError):
    """An answer other than 200: `status`, the `error` string, extra JSON fields and headers."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        extra: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        self.status = status
        self.message = message
        self.extra = extra or {}
        self.headers = headers or {}
        super().__init__(f"{status}: {message}")

    def body(self) -> dict[str, Any]:
        return {"error": self.message, **self.extra}


def bad_request(message: str) -> ClobApiError:
    """A 400 with Polymarket's `{"error": ...}` shape."""
    return ClobApiError(400, message)


def _fmt(value: Decimal) -> str:
    text = format(value.normalize(), "f")
    return text


def tick_error(price: Decimal, tick: Decimal) -> ClobApiError:
    return bad_request(f"Price ({_fmt(price)}) breaks minimum tick size rule: {_fmt(tick)}")


def min_size_error(size: Decimal, minimum: Decimal) -> ClobApiError:
    return bad_request(f"Size ({_fmt(size)}) lower than the minimum: {_fmt(minimum)}")


def marketable_buy_error(usd: Decimal, minimum: Decimal) -> ClobApiError:
    return bad_request(
        f"invalid amount for a marketable BUY order (${_fmt(usd)}), min size: ${_fmt(minimum)}"
    )


def precision_error(side: str, maker_decimals: int, taker_decimals: int) -> ClobApiError:
    return bad_request(
        f"invalid amounts, the {side.lower()} orders maker amount supports a max accuracy of "
        f"{maker_decimals} decimals, taker amount a max of {taker_decimals} decimals"
    )
