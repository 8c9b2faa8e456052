"""Where the Executor watch's read-back starts when it rebuilds the queued changes: `lookback` blocks before
the owner checkpoint, never before the Executor's deployment block, never below block 0."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from polyhunter.execution.watch import DEFAULT_LOOKBACK, read_back_start


def test_a_young_executor_is_read_from_its_deployment_block() -> None:
    # Head 80,000,000, deployed at 79,900,000: the 500,000-block lookback would start 400,000 blocks early.
    assert read_back_start(80_000_000, DEFAULT_LOOKBACK, 79_900_000) == 79_900_000


def test_an_old_executor_is_read_back_lookback_blocks() -> None:
    assert read_back_start(80_000_000, DEFAULT_LOOKBACK, 1_000) == 80_000_001 - DEFAULT_LOOKBACK


def test_an_unknown_deployment_block_leaves_the_lookback() -> None:
    assert read_back_start(80_000_000, DEFAULT_LOOKBACK) == 80_000_001 - DEFAULT_LOOKBACK
    assert read_back_start(1_000, DEFAULT_LOOKBACK) == 0


@given(
    seen=st.integers(min_value=-1, max_value=10**9),
    lookback=st.integers(min_value=1, max_value=10**7),
    first_block=st.integers(min_value=0, max_value=10**9),
)
def test_the_start_is_the_latest_of_the_three_bounds(seen: int, lookback: int, first_block: int) -> None:
    start = read_back_start(seen, lookback, first_block)
    assert start >= 0
    assert start >= first_block
    assert start >= seen + 1 - lookback
    assert start in (0, first_block, seen + 1 - lookback)
