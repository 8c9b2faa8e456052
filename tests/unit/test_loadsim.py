"""The load simulation counts what it really offered and times every copy's hand-off (short runs)."""

from __future__ import annotations

import random
import threading
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio

from polyhunter._core import LogDecoder
from polyhunter.errors import InvalidInputError
from polyhunter.loadsim import CTF, EXCHANGE, EventGenerator, LoadSimParams, run_loadsim
from polyhunter.models import TradeStatus
from polyhunter.shared.memory import MemorySharedState
from polyhunter.store.sqlite import SqliteStore

LEADERS = ["0x" + f"{i + 1:02x}" * 20 for i in range(3)]


@pytest_asyncio.fixture
async def store(tmp_path: Path) -> AsyncIterator[SqliteStore]:
    s = SqliteStore(tmp_path / "loadsim.db")
    await s.open()
    yield s
    await s.close()


@pytest_asyncio.fixture
async def shared() -> AsyncIterator[MemorySharedState]:
    s = MemorySharedState(max_queue=5000)
    yield s
    await s.close()


def test_generator_makes_every_event_due_on_its_own_thread() -> None:
    made: list[tuple[bytes, bytes, int, str]] = []

    def deliver(raw: bytes, tx: bytes, born_ns: int) -> None:
        made.append((raw, tx, born_ns, threading.current_thread().name))

    generator = EventGenerator(deliver, LEADERS, random.Random(7), events_per_s=40, duration_s=0.5)
    generator.start()
    generator.join()
    assert generator.error is None
    # Events are due at n / 40 s for every n with n / 40 < 0.5: exactly 20, however late the thread ran.
    assert generator.events == len(made) == 20
    assert {name for *_, name in made} == {"loadsim-generator"}
    assert [born for _, _, born, _ in made] == sorted(born for _, _, born, _ in made)
    decoder = LogDecoder(ctf=CTF, v2_exchanges=[EXCHANGE], leaders=LEADERS)
    for n, (raw, tx, _, _) in enumerate(made):
        (signal,) = decoder.decode(raw).signals
        assert signal.tx_hash == tx
        assert signal.leader == LEADERS[n % len(LEADERS)]
    assert generator.span_s > 0


@pytest.mark.asyncio
async def test_steady_run_reports_offered_and_achieved(store: SqliteStore, shared: MemorySharedState) -> None:
    params = LoadSimParams(duration_s=0.5, events_per_s=20, followers=4, leaders=2, exec_latency_ms=1)
    result = await run_loadsim(params, store, shared)
    assert result.events == 10
    assert result.executed == 40 == await store.count_trades(TradeStatus.EXECUTED)
    assert result.nominal_tasks_per_s == 80
    # Measured over the generator's real span, which lasts at least the run: never above what was asked.
    assert 0 < result.offered_events_per_s <= 20
    assert result.offered_tasks_per_s == pytest.approx(result.offered_events_per_s * 4, abs=0.1)
    assert 0 < result.handoff_p50_ms <= result.handoff_p99_ms <= result.handoff_max_ms
    assert result.burst_followers == 0
    assert result.burst_last_handoff_ms is None
    assert result.dropped == 0


@pytest.mark.asyncio
async def test_burst_hands_every_follower_over(store: SqliteStore, shared: MemorySharedState) -> None:
    result = await run_loadsim(LoadSimParams(burst=60, exec_latency_ms=1, concurrency=16), store, shared)
    assert result.events == 1
    assert result.leaders == 1
    assert result.followers == 60
    assert result.executed == 60 == await store.count_trades(TradeStatus.EXECUTED)
    assert result.burst_first_handoff_ms is not None
    assert result.burst_last_handoff_ms is not None
    assert 0 < result.burst_first_handoff_ms <= result.burst_last_handoff_ms == result.handoff_max_ms
    assert result.offered_tasks_per_s == 0


@pytest.mark.asyncio
async def test_refuses_a_used_store(store: SqliteStore, shared: MemorySharedState) -> None:
    await run_loadsim(LoadSimParams(burst=2, exec_latency_ms=1), store, shared)
    with pytest.raises(InvalidInputError, match="empty store"):
        await run_loadsim(LoadSimParams(burst=2, exec_latency_ms=1), store, shared)
