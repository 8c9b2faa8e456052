"""`eventloop.Wakeup`: an event with one waiter and a timeout; `set()` resumes it in the next iteration."""

from __future__ import annotations

import asyncio

import pytest

from polyhunter.eventloop import Wakeup


@pytest.mark.asyncio
async def test_a_set_wakeup_returns_at_once_and_a_quiet_one_times_out() -> None:
    wake = Wakeup()
    assert not await wake.wait(0.01)
    wake.set()
    assert wake.is_set()
    assert await wake.wait(60)
    wake.clear()
    assert not wake.is_set()
    assert not await wake.wait(0.01)


@pytest.mark.asyncio
async def test_set_resumes_the_waiter_in_the_next_iteration() -> None:
    wake = Wakeup()
    order: list[str] = []

    async def waiter() -> None:
        order.append("waiting")
        assert await wake.wait(60)
        order.append("woken")

    task = asyncio.create_task(waiter())
    await asyncio.sleep(0)
    assert order == ["waiting"]
    wake.set()
    await asyncio.sleep(0)  # one iteration
    assert order == ["waiting", "woken"]
    await task


@pytest.mark.asyncio
async def test_one_waiter_at_a_time() -> None:
    wake = Wakeup()
    first = asyncio.create_task(wake.wait(60))
    await asyncio.sleep(0)
    with pytest.raises(RuntimeError, match="one waiter"):
        await wake.wait(60)
    wake.set()
    assert await first
