"""The Redis shared state restores itself when its data is gone: the keys under the test's own prefix are
deleted (never FLUSHALL: other tests share this Redis), as a restart without persistence would lose them."""

from __future__ import annotations

from collections.abc import Sequence

import pytest
import redis.asyncio as aioredis

from polyhunter.shared.base import Reservation
from polyhunter.shared.redis import RedisSharedState

USD = 1_000_000


async def _wipe(url: str, prefix: str) -> None:
    client = aioredis.Redis.from_url(url)
    try:
        keys = [k async for k in client.scan_iter(match=f"{{{prefix}}}*", count=1000)]
        if keys:
            await client.delete(*keys)
    finally:
        await client.aclose()


class Handlers:
    """What the pipeline gives `on_loss`: the store says $40 is held today; a restore is recorded."""

    def __init__(self) -> None:
        self.restored = 0
        self.asked = 0

    async def seeds(self) -> Sequence[Reservation]:
        self.asked += 1
        return [Reservation("daily:d", 40 * USD, None), Reservation("wallet:d:0xf", 15 * USD, None)]

    def done(self) -> None:
        self.restored += 1


@pytest.mark.asyncio
async def test_counters_group_and_epoch_come_back_from_the_store_once(
    redis_url: str, redis_prefix: str
) -> None:
    first, second = RedisSharedState(redis_url, redis_prefix), RedisSharedState(redis_url, redis_prefix)
    one, two = Handlers(), Handlers()
    first.on_loss(one.seeds, one.done)
    second.on_loss(two.seeds, two.done)
    await first.open()
    await second.open()
    try:
        cap = [Reservation("daily:d", 20 * USD, 50 * USD)]
        # An empty Redis is seeded before the first reservation: $40 held, so $20 more would pass $50.
        assert await first.reserve(cap) == "daily_cap"
        assert await second.counter("daily:d") == 40 * USD
        assert (one.restored, two.restored) == (1, 0)  # one instance restores, the other finds it done

        await first.enqueue(b"k1", b"p1")
        await _wipe(redis_url, redis_prefix)  # the data is gone: no group, no stream, no counters
        # A dequeue meets NOGROUP: the state is restored (by the other instance here) and the call retried.
        assert await second.dequeue("c2") == []
        assert (one.restored, two.restored) == (1, 1)
        assert await first.counter("wallet:d:0xf") == 15 * USD
        assert await first.reserve([Reservation("daily:d", 10 * USD, 50 * USD)]) is None
        assert await first.counter("daily:d") == 50 * USD
        await first.enqueue(b"k2", b"p2")
        (delivery,) = await second.dequeue("c2")
        assert delivery.key == b"k2"  # k1 went with the data: the pipeline refills from the store
        assert await second.ack([delivery.id]) == 1
        assert first.resets + second.resets == 2
    finally:
        await first.close()
        await second.close()


@pytest.mark.asyncio
async def test_nothing_is_reserved_while_the_store_cannot_say_what_is_held(
    redis_url: str, redis_prefix: str
) -> None:
    state = RedisSharedState(redis_url, redis_prefix)

    async def unreachable() -> Sequence[Reservation]:
        raise ConnectionError("store down")

    state.on_loss(unreachable, lambda: None)
    await state.open()
    try:
        with pytest.raises(ConnectionError):
            await state.reserve([Reservation("daily:d", 1, 10)])
        assert await state.counter("daily:d") == 0
    finally:
        await state.close()
