"""Dedup: `DedupCache.check_and_insert` beside a pure-Python dict + deque TTL set doing the same.

Both sides get the same calls: batches of BATCH keys, half of them repeats of the previous batch and half
new, with the clock advancing 1 s per batch and a 60 s TTL. A key comes back only 400 batches later, long
expired, so each call expires about 500 keys, inserts 500 and finds 500 duplicates, around a steady state
of about 30,000 live keys. Per-key figures are the batch time divided by BATCH on both sides alike.
"""

from __future__ import annotations

import itertools
from collections import deque
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from polyhunter import dedup_key
from polyhunter._core import DedupCache

BATCH = 1_000
TTL_MS = 60_000
CYCLE = 400
BATCHES = [
    [dedup_key(b"\x11" * 32, n % (CYCLE * BATCH // 2)) for n in range(i * BATCH // 2, i * BATCH // 2 + BATCH)]
    for i in range(CYCLE)
]


class PythonTtlSet:
    """The baseline: dict key → expiry, deque in insertion order for expiry and capacity."""

    def __init__(self, ttl_ms: int, capacity: int) -> None:
        self.ttl_ms, self.capacity = ttl_ms, capacity
        self.expiry: dict[bytes, int] = {}
        self.order: deque[tuple[bytes, int]] = deque()

    def check_and_insert(self, keys: list[bytes], now_ms: int) -> list[bool]:
        order, expiry = self.order, self.expiry
        while order and order[0][1] <= now_ms:
            del expiry[order.popleft()[0]]
        until = now_ms + self.ttl_ms
        out = []
        for key in keys:
            if key in expiry:
                out.append(False)
                continue
            if len(expiry) >= self.capacity:
                del expiry[order.popleft()[0]]
            expiry[key] = until
            order.append((key, until))
            out.append(True)
        return out


def _driver(check: Callable[..., list[bool]]) -> Callable[[], list[bool]]:
    calls: Iterator[tuple[int, list[bytes]]] = itertools.cycle(enumerate(BATCHES))
    clock = itertools.count(0, 1_000)

    def step() -> list[bool]:
        _, keys = next(calls)
        return check(keys, now_ms=next(clock))

    return step


def test_outputs_agree() -> None:
    ours, ref = (
        _driver(DedupCache(TTL_MS, 1_000_000).check_and_insert),
        _driver(PythonTtlSet(TTL_MS, 1_000_000).check_and_insert),
    )
    for _ in range(2 * CYCLE + 10):
        assert ours() == ref()


@pytest.mark.benchmark(group="dedup")
def test_dedup_batch_ours(benchmark: Any, ratios: Any) -> None:
    benchmark(_driver(DedupCache(TTL_MS, 1_000_000).check_and_insert))
    ratios.record("dedup_batch_ours", benchmark)


@pytest.mark.benchmark(group="dedup")
def test_dedup_batch_python(benchmark: Any, ratios: Any) -> None:
    benchmark(_driver(PythonTtlSet(TTL_MS, 1_000_000).check_and_insert))
    ratios.record("dedup_batch_python", benchmark)
    ratios.pair("dedup_batch_vs_python", "dedup_batch_python", "dedup_batch_ours")
