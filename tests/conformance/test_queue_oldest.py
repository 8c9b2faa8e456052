"""The queue's oldest job (for `polyhunter_queue_oldest_job_age_seconds`): memory and Redis agree."""

from __future__ import annotations

import time

import pytest

from conftest import SharedCase

pytestmark = pytest.mark.asyncio


async def test_the_oldest_unacknowledged_job_is_reported_until_it_is_acknowledged(
    shared_case: SharedCase,
) -> None:
    state = shared_case.make()
    await state.open()
    try:
        empty = await state.queue_stats()
        assert empty.oldest_ms is None
        assert empty.oldest_age_s(time.time() * 1000) == 0.0

        before = int(time.time() * 1000)
        assert await state.enqueue_many([(b"k1", b"p1")]) == [True]
        middle = int(time.time() * 1000)
        assert await state.enqueue_many([(b"k2", b"p2")]) == [True]
        stats = await state.queue_stats()
        assert stats.oldest_ms is not None
        assert before <= stats.oldest_ms <= middle  # the first job's time, not the second's
        assert stats.oldest_age_s(stats.oldest_ms + 2500) == 2.5

        # Delivered but not acknowledged: still owed, still the oldest.
        first, second = await state.dequeue("c", count=2)
        assert (await state.queue_stats()).oldest_ms == stats.oldest_ms
        assert await state.ack([first.id]) == 1
        later = (await state.queue_stats()).oldest_ms
        assert later is not None
        assert later >= stats.oldest_ms
        assert later == int(second.id.split("-", 1)[0])
        assert await state.ack([second.id]) == 1
        assert (await state.queue_stats()).oldest_ms is None
    finally:
        await state.close()
