"""SUPERVISOR_FANOUT_CONCURRENCY and SUPERVISOR_GUARDRAIL_CACHE_TTL_MS change what the supervisor does."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Sequence
from pathlib import Path

import pytest

from polyhunter.chain.aiorpc import AsyncRpc
from polyhunter.detector.chainlogs import ChainLogDetector
from polyhunter.models import CopyJob, SkipReason
from polyhunter.settings import Settings, load_settings
from polyhunter.shared.base import DAY_MS, Reservation
from polyhunter.shared.memory import MemorySharedState
from polyhunter.supervisor.guardrails import Guardrails, utc_day

USD = 1_000_000
FOLLOWER = "0x" + "f0" * 20


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No `.env` and no setting of the developer's own shell steers these tests."""
    monkeypatch.chdir(tmp_path)
    for name in Settings.model_fields:
        monkeypatch.delenv(name.upper(), raising=False)
    monkeypatch.setenv("POLYHUNTER_HOME", str(tmp_path / "home"))


class CountingShared(MemorySharedState):
    """The in-memory shared state, counting the reservations asked of it."""

    def __init__(self) -> None:
        super().__init__()
        self.asked = 0

    async def reserve(self, reservations: Sequence[Reservation], ttl_ms: int = 2 * DAY_MS) -> str | None:
        self.asked += 1
        return await super().reserve(reservations, ttl_ms)


def job(n: int, usd: int) -> CopyJob:
    return CopyJob(
        key=n.to_bytes(32, "big"),
        config_id=1,
        follower=FOLLOWER,
        proxy="0x" + "a0" * 20,
        leader="0x" + "1e" * 20,
        token_id=7,
        side="BUY",
        amount=usd,
        limit_price_ppm=500_000,
        tx_hash=b"\x01" * 32,
        log_index=n,
    )


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def _refused_then_released(ttl_ms: str, monkeypatch: pytest.MonkeyPatch) -> tuple[Guardrails, Clock]:
    """A 30 USD daily cap: 20 admitted, 20 refused, then the first 20 released (its copy did not happen)."""
    monkeypatch.setenv("COPY_TRADING_DAILY_CAP_USD", "30")
    monkeypatch.setenv("SUPERVISOR_GUARDRAIL_CACHE_TTL_MS", ttl_ms)
    clock = Clock()
    guardrails = dataclasses.replace(Guardrails.from_settings(load_settings()), clock=clock)
    return guardrails, clock


@pytest.mark.asyncio
async def test_a_refusal_is_remembered_for_the_configured_ttl(monkeypatch: pytest.MonkeyPatch) -> None:
    guardrails, clock = await _refused_then_released("60000", monkeypatch)
    shared, day = CountingShared(), utc_day()
    reason, held = await guardrails.admit(shared, job(1, 20 * USD), day)
    assert (reason, shared.asked) == (None, 1)
    assert (await guardrails.admit(shared, job(2, 20 * USD), day))[0] == SkipReason.DAILY_CAP.value
    await shared.release(held)
    # Remembered: as large a copy is refused without asking the shared state, though it would now fit.
    assert (await guardrails.admit(shared, job(3, 20 * USD), day))[0] == SkipReason.DAILY_CAP.value
    assert shared.asked == 2
    # A smaller copy is not covered by the refusal: the shared state decides.
    assert (await guardrails.admit(shared, job(4, 5 * USD), day))[0] is None
    assert shared.asked == 3
    clock.now += 60.0  # the TTL has passed: asked again, and the released room admits it
    assert (await guardrails.admit(shared, job(5, 20 * USD), day))[0] is None
    assert shared.asked == 4


@pytest.mark.asyncio
async def test_a_zero_ttl_asks_the_shared_state_every_time(monkeypatch: pytest.MonkeyPatch) -> None:
    guardrails, _ = await _refused_then_released("0", monkeypatch)
    shared, day = CountingShared(), utc_day()
    _, held = await guardrails.admit(shared, job(1, 20 * USD), day)
    assert (await guardrails.admit(shared, job(2, 20 * USD), day))[0] == SkipReason.DAILY_CAP.value
    await shared.release(held)
    assert (await guardrails.admit(shared, job(3, 20 * USD), day))[0] is None
    assert shared.asked == 3


async def _concurrent_intakes(monkeypatch: pytest.MonkeyPatch, concurrency: str, batches: int) -> int:
    """How many batches the detector has in its sink at once when `batches` arrive and none finishes."""
    monkeypatch.setenv("SUPERVISOR_FANOUT_CONCURRENCY", concurrency)
    settings = load_settings()
    inside, gate = 0, asyncio.Event()
    peak = 0

    async def sink(raw: bytes, origin: str) -> None:
        nonlocal inside, peak
        inside += 1
        peak = max(peak, inside)
        await gate.wait()
        inside -= 1

    async def nothing() -> int | None:
        return None

    async def ignore(block: int) -> None:
        return None

    rpc = AsyncRpc(["http://127.0.0.1:9"])
    detector = ChainLogDetector(
        ws_url="ws://127.0.0.1:9",
        rpc=rpc,
        filters=list,
        sink=sink,
        load_checkpoint=nothing,
        save_checkpoint=ignore,
        intake_limit=settings.supervisor_fanout_concurrency,
    )
    submits = [asyncio.create_task(detector._intake.submit(b"[]", "ws")) for _ in range(batches)]
    # Every submit either has its slot (its sink call is running) or waits for one: yield until settled.
    for _ in range(100):
        await asyncio.sleep(0)
    waiting = sum(not t.done() for t in submits)
    gate.set()
    await asyncio.gather(*submits)
    await detector._intake.drain()
    await rpc.close()
    assert waiting == batches - peak
    return peak


@pytest.mark.asyncio
async def test_fanout_concurrency_bounds_the_batches_in_intake(monkeypatch: pytest.MonkeyPatch) -> None:
    assert await _concurrent_intakes(monkeypatch, "2", batches=5) == 2
    assert await _concurrent_intakes(monkeypatch, "4", batches=5) == 4
