"""The retry helper: reads retried on retryable errors after Retry-After or a doubling backoff, posts only
on refusals made before placing anything, and no wait started that would end past the deadline. The clock
and the sleep are the test's own, so nothing here waits or depends on timing."""

from __future__ import annotations

import pytest

from polyhunter.venue import errors as v
from polyhunter.venue.retry import post_retryable, read_retryable, with_retries


class Clock:
    def __init__(self) -> None:
        self.now = 1_000.0
        self.waits: list[float] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.waits.append(seconds)
        self.now += seconds


def failing(*errors: v.VenueError, result: str = "ok") -> tuple[list[int], object]:
    calls: list[int] = []

    async def call() -> str:
        calls.append(1)
        if len(calls) <= len(errors):
            raise errors[len(calls) - 1]
        return result

    return calls, call


@pytest.mark.asyncio
async def test_reads_wait_retry_after_then_backoff_and_succeed() -> None:
    clock = Clock()
    calls, call = failing(
        v.RateLimited("Too Many Requests", status=429, retry_after=3.0),
        v.ServerError("bad gateway", status=502),
        v.TransportError("reset"),
        v.Restarting("restarting", status=425, retry_after=1.0),
    )
    got = await with_retries(call, deadline=clock.now + 60, sleep=clock.sleep, clock=clock)  # type: ignore[arg-type]
    assert got == "ok"
    assert len(calls) == 5
    # Retry-After when given; otherwise 0.25 s doubling (the attempt count includes earlier retries).
    assert clock.waits == [3.0, 0.5, 1.0, 1.0]


@pytest.mark.asyncio
async def test_a_wait_past_the_deadline_is_not_started() -> None:
    clock = Clock()
    limited = v.RateLimited("Too Many Requests", status=429, retry_after=11.0)
    calls, call = failing(limited, limited)
    with pytest.raises(v.RateLimited) as info:
        await with_retries(call, deadline=clock.now + 10, sleep=clock.sleep, clock=clock)  # type: ignore[arg-type]
    assert info.value is limited
    assert (len(calls), clock.waits) == (1, [])


@pytest.mark.asyncio
async def test_refusals_are_never_retried() -> None:
    clock = Clock()
    calls, call = failing(v.FokNotFilled("killed", status=400))
    with pytest.raises(v.FokNotFilled):
        await with_retries(call, deadline=clock.now + 60, sleep=clock.sleep, clock=clock)  # type: ignore[arg-type]
    assert len(calls) == 1


@pytest.mark.asyncio
async def test_posts_are_resent_only_after_refusals_before_placement() -> None:
    clock = Clock()
    calls, call = failing(v.Restarting("restarting", status=425, retry_after=2.0))
    assert (
        await with_retries(
            call, deadline=clock.now + 60, retryable=post_retryable, sleep=clock.sleep, clock=clock
        )
        == "ok"
    )  # type: ignore[arg-type]
    for unknown in (
        v.OrderTimedOut("order timed out", status=500),
        v.ServerError("internal error", status=500),
        v.TransportError("reset"),
        v.TransportTimeout("no answer"),
        v.VenueUnavailable("Trading is currently cancel-only.", mode="cancel_only"),
    ):
        calls, call = failing(unknown)
        with pytest.raises(type(unknown)):
            await with_retries(
                call, deadline=clock.now + 60, retryable=post_retryable, sleep=clock.sleep, clock=clock
            )  # type: ignore[arg-type]
        assert len(calls) == 1


def test_which_errors_each_policy_retries() -> None:
    post_only = v.VenueUnavailable("post_only_mode", mode="post_only", retry_after=5.0)
    disabled = v.VenueUnavailable("Trading is currently disabled.", mode="disabled")
    assert post_retryable(post_only)
    assert read_retryable(post_only)
    assert not post_retryable(disabled)
    assert not read_retryable(disabled)
    assert read_retryable(v.OrderTimedOut("order timed out", status=500))
    assert not post_retryable(v.OrderTimedOut("order timed out", status=500))
    assert not read_retryable(v.Unauthorized("Unauthorized/Invalid api key", status=401))
