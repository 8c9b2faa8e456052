"""DedupCache: first sightings, TTL and capacity bounds, against a plain-Python model."""

from __future__ import annotations

import threading

import pytest
from hypothesis import given
from hypothesis import strategies as st

from polyhunter import InvalidInputError, dedup_key
from polyhunter._core import DedupCache


def key(n: int) -> bytes:
    return dedup_key(b"\x01" * 32, n)


def test_first_sighting_is_true_once() -> None:
    cache = DedupCache(ttl_ms=1_000, capacity=10)
    assert cache.check_and_insert([key(1), key(2), key(1)], now_ms=0) == [True, True, False]
    assert cache.check_and_insert([key(2), key(3)], now_ms=999) == [False, True]
    assert len(cache) == 3
    assert cache.contains(key(3), now_ms=999)


def test_keys_expire_after_the_ttl() -> None:
    cache = DedupCache(ttl_ms=1_000, capacity=10)
    cache.check_and_insert([key(1)], now_ms=0)
    assert cache.contains(key(1), now_ms=999)
    assert not cache.contains(key(1), now_ms=1_000)
    assert cache.check_and_insert([key(1)], now_ms=1_000) == [True]


def test_capacity_evicts_the_oldest() -> None:
    cache = DedupCache(ttl_ms=60_000, capacity=2)
    cache.check_and_insert([key(1), key(2), key(3)], now_ms=0)
    assert len(cache) == 2
    assert cache.check_and_insert([key(3), key(2), key(1)], now_ms=1) == [False, False, True]


def test_defaults_and_clear() -> None:
    cache = DedupCache()
    assert (cache.ttl_ms, cache.capacity) == (60_000, 1_000_000)
    assert cache.check_and_insert([key(1)]) == [True]
    assert cache.check_and_insert([key(1)]) == [False]
    cache.clear()
    assert len(cache) == 0


@pytest.mark.parametrize(("ttl_ms", "capacity"), [(0, 1), (1, 0)])
def test_zero_bounds_are_refused(ttl_ms: int, capacity: int) -> None:
    with pytest.raises(InvalidInputError, match="> 0"):
        DedupCache(ttl_ms=ttl_ms, capacity=capacity)


def test_bad_keys_are_refused() -> None:
    cache = DedupCache()
    with pytest.raises(InvalidInputError, match="32 bytes, got 3"):
        cache.check_and_insert([b"abc"])
    with pytest.raises(TypeError, match="must be bytes"):
        cache.check_and_insert(["0x" + "00" * 32])  # type: ignore[list-item]


def test_threads_see_each_key_new_exactly_once() -> None:
    cache = DedupCache(ttl_ms=60_000, capacity=100_000)
    keys = [key(i) for i in range(2_000)]
    wins: list[int] = []
    lock = threading.Lock()

    def worker() -> None:
        got = sum(cache.check_and_insert(keys))
        with lock:
            wins.append(got)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(wins) == len(keys)


@given(
    steps=st.lists(st.tuples(st.lists(st.integers(0, 15), max_size=8), st.integers(0, 60)), max_size=40),
    ttl=st.integers(1, 200),
    capacity=st.integers(1, 24),
)
def test_bounds_hold(steps: list[tuple[list[int], int]], ttl: int, capacity: int) -> None:
    """Never more than `capacity` keys; with room for all keys, exactly the model's answers."""
    cache = DedupCache(ttl_ms=ttl, capacity=capacity)
    first_seen: dict[int, int] = {}
    now = 0
    for batch, dt in steps:
        now += dt
        got = cache.check_and_insert([key(n) for n in batch], now_ms=now)
        assert len(cache) <= capacity
        for n, new in zip(batch, got, strict=True):
            live = n in first_seen and first_seen[n] + ttl > now
            if not live:
                assert new
            elif capacity >= 16:
                assert not new
            if new:
                first_seen[n] = now
