"""The CLOB venue's typed outcomes: one exception per answer of Polymarket's CLOB a caller acts on.

Every class sits under `VenueError` (an `ExecutionError`) and also under the stdlib error a caller would
already catch: refusals of an order are `ValueError`s (nothing was placed), 401 is a `PermissionError`,
"come back later" answers (425, 429, 503) and transport failures are `ConnectionError`s, timeouts are
`TimeoutError`s. Each carries the HTTP `status` (0 for a transport failure) and the venue's `message`;
`retry_after` (seconds) is set when the venue said when to come back.

Whether an order exists after a failure is the question that matters most: `OrderRefused` and its
children mean it does not; `OrderOutcomeUnknown` (raised by `ClobClient.post_order` after a 500, a
timeout or a broken connection) means it may, and carries the order hash to ask about
(`ClobClient.resolve`). Messages never contain credentials.
"""

from __future__ import annotations

from polyhunter.errors import ExecutionError


class VenueError(ExecutionError):
    """An answer of the CLOB other than success, or no answer at all."""

    #: Whether retrying the same request later can succeed (the retry helper reads it).
    retryable = False

    def __init__(self, message: str, *, status: int = 0, retry_after: float | None = None) -> None:
        self.status = status
        self.message = message
        self.retry_after = retry_after
        super().__init__(f"{status}: {message}" if status else message)


# ---------------------------------------------------------------- refusals: the order was not placed


class OrderRefused(VenueError, ValueError):
    """A 400 refusing the order (or request): nothing was placed. Unknown 400 strings land here as is."""


class FokNotFilled(OrderRefused):
    """A FOK order the book could not fill entirely: killed, nothing traded."""


class FakNotFilled(OrderRefused):
    """A FAK order with nothing to match: killed, nothing traded."""


class BelowMinSize(OrderRefused):
    """The order's size is under the market's minimum."""


class MarketableBuyTooSmall(OrderRefused):
    """A marketable BUY under the venue's minimum notional ($1 in production)."""


class TickSizeViolation(OrderRefused):
    """The price is not on the market's tick (the tick may have changed: refresh it)."""


class PrecisionRefused(OrderRefused):
    """Maker or taker amount with more decimals than the venue accepts for that side."""


class InsufficientBalance(OrderRefused):
    """`not enough balance / allowance` as the venue's balance cache sees it.

    The cache can be stale after the wallet was funded: the caller's policy is to call
    `update_balance_allowance` once and post the same bytes again."""


class MakerNotAllowed(OrderRefused):
    """A plain EOA maker the venue does not allowlist: trade through the deposit wallet (type 3)."""


class SignerNotApiKey(OrderRefused):
    """The order's signer is not the API key's address (nor, for a deposit wallet, its owner)."""


class InvalidOrderVersion(OrderRefused):
    """The order was signed for another exchange version than the venue runs."""


class DuplicateOrder(OrderRefused):
    """The very same order (same hash) was already received: the earlier post placed it."""


class PostOnlyCrosses(OrderRefused):
    """A post-only order that would have taken liquidity."""


class MarketClosed(OrderRefused):
    """The market or its order book does not exist (any more) for this token or condition."""


# ---------------------------------------------------------------- lookups and auth


class OrderNotFound(VenueError, LookupError):
    """404 for an order id the venue does not know for this API key."""


class Unauthorized(VenueError, PermissionError):
    """401: missing, wrong or expired credentials, or a body other than the one signed."""


# ---------------------------------------------------------------- come back later: nothing was done


class RetryLater(VenueError, ConnectionError):
    """The venue refused before doing anything and said so; `retry_after` says when, if it did."""

    retryable = True


class RateLimited(RetryLater):
    """429 Too Many Requests."""


class Restarting(RetryLater):
    """425: the matching engine is restarting."""


class VenueUnavailable(RetryLater):
    """503: trading disabled, cancel-only, post-only (with a wait), or the venue's backend is down.

    `mode` is "disabled", "cancel_only", "post_only" or "unavailable". Only an answer with `retry_after`
    is worth retrying; the others last until the operator of the venue says otherwise."""

    def __init__(
        self, message: str, *, mode: str, status: int = 503, retry_after: float | None = None
    ) -> None:
        self.mode = mode
        super().__init__(message, status=status, retry_after=retry_after)
        self.retryable = retry_after is not None


# ---------------------------------------------------------------- outcome unknown


class ServerError(VenueError, ConnectionError):
    """A 5xx other than the ones above: for a read, retry; for a post, the order's fate is unknown."""

    retryable = True


class OrderTimedOut(ServerError, TimeoutError):
    """500 `order timed out`: the venue may have placed the order although it answered an error."""


class TransportError(VenueError, ConnectionError):
    """No answer: the connection failed or broke (status 0)."""

    retryable = True


class TransportTimeout(TransportError, TimeoutError):
    """No answer within the request's timeout."""


class OrderOutcomeUnknown(VenueError, TimeoutError):
    """A post whose result is unknown (a 5xx, a timeout, a broken connection): the order may exist.

    Never post a new order for the same copy; ask `ClobClient.resolve(order_hash)` first and, only if the
    venue does not know the order, send the same `body` bytes again. `cause` is the failure seen."""

    def __init__(self, order_hash: str, body: bytes, cause: VenueError) -> None:
        self.order_hash = order_hash
        self.body = body
        self.cause = cause
        super().__init__(
            f"outcome of order {order_hash} unknown after {type(cause).__name__}: {cause.message}",
            status=cause.status,
        )
