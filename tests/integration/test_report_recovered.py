"""A copy that recovery finishes from the chain (its engine killed after the last broadcast) is stored with
its quality like any other EXECUTED copy: fill, price and slippage from what moved, the source and delay
unknown (the process that saw the fill is gone)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from engine_world import World, engine, fresh_world, job, stop, store_at

from polyhunter.execution.base import tokens_for_usd
from polyhunter.execution.recovery import Recovery
from polyhunter.models import TradeStatus

pytestmark = [pytest.mark.integration, pytest.mark.asyncio]

HERE = Path(__file__).parent


@pytest.fixture
def w() -> Iterator[World]:
    yield from fresh_world()


def killed_after_broadcast(w: World, tmp_path: Path, key: bytes) -> int:
    """Runs the job in a child engine killed right after its last broadcast; its exit code."""
    deployment = w.deployment.save(tmp_path / "deployment.json")
    env = {**os.environ, "POLYHUNTER_FAULTPOINT": "after_broadcast", "PYTHONPATH": str(HERE)}
    child = subprocess.run(
        [sys.executable, str(HERE / "engine_child.py"), str(deployment), str(tmp_path / "s.db"), key.hex()],
        env=env,
        capture_output=True,
        timeout=120,
        check=False,
    )
    return child.returncode


async def test_a_recovered_copy_gets_its_quality_row(w: World, tmp_path: Path) -> None:
    # The leader paid 0.49; our copy fills at the job's limit, 0.50: 10000 × 0.01 / 0.49 → 204.08 → 205 bps.
    j = replace(job(w, 7, price=500_000), leader_price_ppm=490_000)
    store = await store_at(tmp_path / "s.db", [j])
    await store.close()
    assert killed_after_broadcast(w, tmp_path, j.key) == -signal.SIGKILL
    store = await store_at(tmp_path / "s.db")
    assert await store.quality_between(0, 2**62) == []  # killed before any bookkeeping
    eng = engine(w, wallets=1)
    await eng.start()
    try:
        assert await Recovery(eng, store).reconcile_pending(min_age_ms=0) == 1
    finally:
        await stop(eng)
    record = await store.get_trade(j.key)
    assert record is not None
    assert record.status is TradeStatus.EXECUTED
    (row,) = await store.quality_between(0, 2**62)
    tokens = tokens_for_usd(j.amount, 500_000)
    assert (row.key, row.fill_size, row.fill_price_ppm, row.leader_price_ppm) == (
        j.key,
        tokens,
        500_000,
        490_000,
    )
    assert row.slippage_bps == 205
    assert record.slippage_bps == 205
    assert (row.source, row.delay_ms, row.delay_from) == ("unknown", None, "first_seen")
    await store.close()
