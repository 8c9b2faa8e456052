"""When a CLOB request may be sent again, and the loop that does it within a caller's deadline.

- Reads and cancels (idempotent) are retried on 425, 429, 503-with-a-wait, other 5xx and transport
  failures: after `Retry-After` when the venue gives one, else after a short doubling backoff.
- `POST /order` is retried only on answers that refuse before anything is placed: 425 (engine
  restarting), 429 and 503 with a wait (post-only mode). Production's docs say the per-signer order limiter
  rejects a request without processing any of it (a batch all or nothing), and Cloudflare's IP limiter
  delays rather than refuses (so a slow answer, i.e. a timeout, is possible: outcome unknown). What is
  re-sent is the very same bytes, so even a wrong guess yields `order already exists`, never a second order.
  A 5xx or a transport failure on a post is never retried here: see `OrderOutcomeUnknown`.

A wait that would end past the deadline is not started: the error is raised at once, so a caller's
deadline bounds the whole call.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

from polyhunter.venue.errors import RetryLater, VenueError

T = TypeVar("T")

Sleep = Callable[[float], Awaitable[None]]
Clock = Callable[[], float]

BACKOFF_FIRST_S = 0.25
BACKOFF_MAX_S = 2.0


def read_retryable(error: VenueError) -> bool:
    """A read or a cancel may be sent again after `error`."""
    return error.retryable


def post_retryable(error: VenueError) -> bool:
    """A post may be sent again (same bytes) after `error`: the venue refused before placing anything."""
    return isinstance(error, RetryLater) and error.retryable


async def with_retries(
    call: Callable[[], Awaitable[T]],
    *,
    deadline: float,
    retryable: Callable[[VenueError], bool] = read_retryable,
    sleep: Sleep = asyncio.sleep,
    clock: Clock = time.monotonic,
) -> T:
    """`await call()` until it succeeds, fails with an error `retryable` refuses, or the next wait would
    end after `deadline` (a `clock()` value; `time.monotonic` by default). The last error propagates."""
    attempt = 0
    while True:
        try:
            return await call()
        except VenueError as error:
            if not retryable(error):
                raise
            wait = error.retry_after
            if wait is None:
                wait = min(BACKOFF_MAX_S, BACKOFF_FIRST_S * 2**attempt)
            if clock() + wait > deadline:
                raise
            attempt += 1
            await sleep(wait)
