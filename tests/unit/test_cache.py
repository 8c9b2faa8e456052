"""TtlLru: hits, LRU eviction, TTL expiry, any Python value, thread safety; bounds against a model."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from polyhunter import InvalidInputError
from polyhunter._core import TtlLru


def test_hit_miss_and_default() -> None:
    cache = TtlLru(capacity=2, ttl_ms=1_000)
    value = {"quote": [1, 2]}
    cache.set("a", value, now_ms=0)
    assert cache.get("a", now_ms=1) is value
    assert cache.get("b", now_ms=1) is None
    assert cache.get("b", "dflt", now_ms=1) == "dflt"


def test_keys_of_every_kind_are_distinct() -> None:
    cache = TtlLru(capacity=10, ttl_ms=1_000)
    keys: list[str | bytes | int] = ["1", b"1", 1, 2**200, -(2**100)]
    for i, k in enumerate(keys):
        cache.set(k, i, now_ms=0)
    assert [cache.get(k, now_ms=0) for k in keys] == list(range(len(keys)))
    with pytest.raises(TypeError, match="str, bytes or int"):
        cache.set(1.5, 0)  # type: ignore[arg-type]
    with pytest.raises(OverflowError):
        cache.set(2**300, 0)


def test_entries_expire_after_the_ttl() -> None:
    cache = TtlLru(capacity=4, ttl_ms=100)
    cache.set("a", 1, now_ms=0)
    cache.set("b", 2, now_ms=50)
    assert cache.contains("a", now_ms=99)
    assert cache.get("a", now_ms=100) is None
    assert cache.purge_expired(now_ms=149) == 0
    assert cache.purge_expired(now_ms=150) == 1
    assert len(cache) == 0


def test_default_clock_expires() -> None:
    cache = TtlLru(capacity=4, ttl_ms=1)
    cache.set("a", 1)
    time.sleep(0.01)
    assert "a" not in cache
    long = TtlLru(capacity=4, ttl_ms=600_000)
    long.set("a", 1)
    assert long.get("a") == 1


def test_least_recently_used_is_evicted() -> None:
    cache = TtlLru(capacity=2, ttl_ms=1_000)
    cache.set("a", 1, now_ms=0)
    cache.set("b", 2, now_ms=0)
    assert cache.get("a", now_ms=1) == 1
    cache.set("c", 3, now_ms=1)
    assert [cache.contains(k, now_ms=1) for k in "abc"] == [True, False, True]


def test_pop_clear_and_bounds() -> None:
    cache = TtlLru(capacity=3, ttl_ms=1_000)
    cache.set("a", 1, now_ms=0)
    assert cache.pop("a", now_ms=0) == 1
    assert cache.pop("a", "gone", now_ms=0) == "gone"
    cache.set("b", 2, now_ms=0)
    assert cache.pop("b", "stale", now_ms=5_000) == "stale"
    cache.set("c", 3)
    cache.clear()
    assert len(cache) == 0
    assert (cache.capacity, cache.ttl_ms) == (3, 1_000)
    with pytest.raises(InvalidInputError, match="capacity > 0"):
        TtlLru(capacity=0, ttl_ms=1)


def test_a_destructor_may_use_the_cache() -> None:
    cache = TtlLru(capacity=1, ttl_ms=600_000)
    seen: list[Any] = []

    class Reentrant:
        def __del__(self) -> None:
            seen.append(cache.get("other"))

    cache.set("x", Reentrant())
    cache.set("other", "fine")  # evicts "x": its __del__ reads the cache without deadlock
    assert seen == ["fine"]


def test_threads_share_one_cache() -> None:
    cache = TtlLru(capacity=64, ttl_ms=60_000)

    def worker(n: int) -> None:
        for i in range(2_000):
            cache.set(i % 100, n)
            cache.get((i * 7) % 100)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(cache) == 64


@given(
    ops=st.lists(st.tuples(st.integers(0, 11), st.booleans(), st.integers(0, 40)), max_size=120),
    capacity=st.integers(1, 8),
    ttl=st.integers(1, 100),
)
def test_bounds_hold(ops: list[tuple[int, bool, int]], capacity: int, ttl: int) -> None:
    """Never more than `capacity` entries; a hit is the value last set for that key, set less than
    `ttl` ago."""
    cache = TtlLru(capacity=capacity, ttl_ms=ttl)
    model: dict[int, tuple[int, int]] = {}
    now = 0
    for i, (k, is_set, dt) in enumerate(ops):
        now += dt
        if is_set:
            cache.set(k, i, now_ms=now)
            model[k] = (i, now)
        else:
            got = cache.get(k, now_ms=now)
            if got is not None:
                value, at = model[k]
                assert got == value
                assert at + ttl > now
        assert len(cache) <= capacity
