"""Poison jobs stop, on SQLite and PostgreSQL: a job claimed past its delivery limit is dead-lettered in the
store of record and stays there (no requeue, no claim, no expiry) until `polyhunter dlq retry` or `drop`."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path

import pytest

import polyhunter.supervisor.pipeline as pipeline_module
from conftest import StoreCase
from polyhunter._core import FanoutIndex
from polyhunter.errors import InvalidInputError
from polyhunter.execution.base import ExecutionResult, JobJournal
from polyhunter.models import CopyJob, TradeStatus, copy_key, now_ms
from polyhunter.shared.memory import MemorySharedState
from polyhunter.store import Store
from polyhunter.store.base import DROPPED_REASON
from polyhunter.supervisor.guardrails import Guardrails, utc_day
from polyhunter.supervisor.pipeline import Pipeline, PipelineConfig

FOLLOWER = "0x" + "1" * 40
LEADER_TX = bytes.fromhex("cd" * 32)
LIMIT = 2
FAR = 2**62


def job(index: int) -> CopyJob:
    return CopyJob(
        key=copy_key(LEADER_TX[:28] + index.to_bytes(4, "big"), 1),
        config_id=1,
        follower=FOLLOWER,
        proxy="0x" + "2" * 40,
        leader="0x" + "3" * 40,
        token_id=7,
        side="BUY",
        amount=5_000_000,
        limit_price_ppm=500_000,
        tx_hash=LEADER_TX,
        log_index=index,
        sub_index=0,
        leader_size=5_000_000,
        leader_price_ppm=500_000,
        block_number=100,
    )


async def _bury(store: Store, key: bytes) -> None:
    """Claims `key` up to the limit (a worker crashing each time), then once more: dead-lettered."""
    for attempt in range(LIMIT):
        outcome = await store.claim_jobs([key], f"w{attempt}", stale_ms=0, max_attempts=LIMIT)
        assert outcome.runnable == {key}
        assert outcome.dead == set()
    outcome = await store.claim_jobs([key], "w-last", stale_ms=0, max_attempts=LIMIT)
    assert outcome.runnable == set()
    assert outcome.dead == {key}


@pytest.mark.asyncio
async def test_a_job_claimed_past_its_limit_is_dead_lettered_and_stays_there(store: Store) -> None:
    poison, healthy = job(1), job(2)
    await store.insert_pending([poison, healthy], expires_at=now_ms() - 1)  # both already expired
    await _bury(store, poison.key)

    assert await store.count_dead_letters() == 1
    (letter,) = await store.dead_letters()
    assert (letter.key, letter.attempts, letter.reason) == (poison.key, LIMIT, "delivery_limit")
    assert letter.record.status is TradeStatus.PENDING  # it keeps its reservation: the store counts it
    assert await store.daily_notional(0) == {FOLLOWER: 2 * 5_000_000}
    # Neither the requeue scan, a claim, nor recovery's expiry scan takes it.
    assert [r.key for r in await store.unbroadcast_pending()] == [healthy.key]
    assert await store.claim_jobs([poison.key], "other", stale_ms=0, max_attempts=LIMIT) == (
        await store.claim_jobs([], "other", stale_ms=0)
    )
    assert await store.claim([poison.key], "w-last", stale_ms=0) == set()
    assert [r.key for r in await store.stale_pending(now_ms())] == [healthy.key]
    # Burying twice is one entry.
    assert await store.count_dead_letters() == 1


@pytest.mark.asyncio
async def test_retry_takes_a_dead_letter_back_with_fresh_attempts(store: Store) -> None:
    poison = job(3)
    await store.insert_pending([poison], FAR)
    await _bury(store, poison.key)
    record = await store.retry_dead_letter(poison.key, expires_at=FAR - 1)
    assert record.status is TradeStatus.PENDING
    assert record.expires_at == FAR - 1
    assert await store.count_dead_letters() == 0
    assert [r.key for r in await store.unbroadcast_pending()] == [poison.key]
    await _bury(store, poison.key)  # the full limit again: the attempts were reset
    with pytest.raises(InvalidInputError, match="not in the dead-letter list"):
        await store.retry_dead_letter(job(99).key, FAR)


@pytest.mark.asyncio
async def test_a_dead_letter_with_a_journal_is_left_to_recovery(store: Store) -> None:
    poison = job(4)
    await store.insert_pending([poison], expires_at=now_ms() - 1)
    await _bury(store, poison.key)
    await store.record_tx(poison.key, "PULLED", "0x" + "4" * 40, 3, b"\x07" * 32)
    for action in (store.retry_dead_letter(poison.key, FAR), store.drop_dead_letter(poison.key)):
        with pytest.raises(InvalidInputError, match="recovery settles it"):
            await action
    # Something may be on chain: recovery's expiry scan sees it, so it is settled from the chain.
    assert [r.key for r in await store.stale_pending(now_ms())] == [poison.key]


@pytest.mark.asyncio
async def test_drop_fails_a_pending_dead_letter_and_only_unlists_a_final_one(store: Store) -> None:
    pending, cancelled = job(5), job(6)
    await store.insert_pending([pending, cancelled], FAR)
    await _bury(store, pending.key)
    await _bury(store, cancelled.key)
    assert await store.mark(cancelled.key, TradeStatus.CANCELLED, "reorged")

    record, failed = await store.drop_dead_letter(pending.key)
    assert failed
    assert (record.status, record.reason) == (TradeStatus.FAILED, DROPPED_REASON)
    record, failed = await store.drop_dead_letter(cancelled.key)
    assert not failed
    assert record.status is TradeStatus.CANCELLED
    assert await store.count_dead_letters() == 0
    with pytest.raises(InvalidInputError, match="not in the dead-letter list"):
        await store.drop_dead_letter(pending.key)  # gone from the list
    assert await store.daily_notional(0) == {}  # neither holds a reservation any more


class PoisonEngine:
    """Returns something that is not a result: the worker crashes after it, before acknowledging."""

    name = "poison"

    def __init__(self) -> None:
        self.calls = 0
        self.healed = False

    async def execute(self, job: CopyJob, journal: JobJournal) -> ExecutionResult:
        self.calls += 1
        if self.healed:
            return ExecutionResult(TradeStatus.EXECUTED, fill_price_ppm=job.limit_price_ppm, fill_size=1)
        return None  # type: ignore[return-value]

    async def close(self) -> None:
        return None


async def _until(predicate: object, timeout_s: float = 60.0) -> None:
    async def wait() -> None:
        while not await predicate():  # type: ignore[operator]
            await asyncio.sleep(0.02)

    await asyncio.wait_for(wait(), timeout_s)


@pytest.mark.asyncio
async def test_a_poison_job_stops_in_the_pipeline_and_runs_once_retried(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(pipeline_module, "ORPHAN_SCAN_S", 0.05)  # the idle scan runs often here
    shared = MemorySharedState(max_deliveries=LIMIT)
    engine = PoisonEngine()
    caps = Guardrails(daily_cap_usd=100_000_000)
    pipeline = Pipeline(
        store=store,
        shared=shared,
        engine=engine,
        index=FanoutIndex(),
        guardrails=caps,
        config=PipelineConfig(consumer="dlq", drain_interval_ms=10, claim_idle_ms=50),
    )
    poison = job(7)
    await pipeline._admit([poison], {})
    assert await shared.counter(f"daily:{utc_day()}") == poison.amount
    scans = 0
    original = pipeline._requeue_orphans

    async def counted() -> None:
        nonlocal scans
        scans += 1
        await original()

    monkeypatch.setattr(pipeline, "_requeue_orphans", counted)
    stop = asyncio.Event()
    workers = asyncio.create_task(pipeline.run_workers(stop))
    try:

        async def buried() -> bool:
            return await store.count_dead_letters() == 1

        await _until(buried)
        calls, seen = engine.calls, scans

        async def scanned() -> bool:
            return scans >= seen + 5

        await _until(scanned)
        # Five idle scans later: never requeued, never run again, still holding its reservation.
        assert engine.calls == calls == LIMIT
        assert pipeline.stats.dead_lettered == 1
        assert (await store.get_trade(poison.key)).status is TradeStatus.PENDING  # type: ignore[union-attr]
        assert await shared.counter(f"daily:{utc_day()}") == poison.amount

        engine.healed = True
        await store.retry_dead_letter(poison.key, FAR)

        async def executed() -> bool:
            return await store.count_trades(TradeStatus.EXECUTED) == 1

        await _until(executed)
    finally:
        stop.set()
        await workers
    assert engine.calls == LIMIT + 1
    assert await shared.counter(f"daily:{utc_day()}") == poison.amount


async def _cli(case: StoreCase, home: Path, *args: str) -> tuple[int, str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "SUPERVISOR_REDIS_URL")}
    env.update(DATABASE_URL=case.url, POLYHUNTER_HOME=str(home))
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "polyhunter.cli",
        *args,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 120)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


@pytest.mark.asyncio
async def test_the_dlq_commands(store_case: StoreCase, store: Store, tmp_path: Path) -> None:
    journaled, retried, dropped = job(8), job(9), job(10)
    await store.insert_pending([journaled, retried, dropped], FAR)
    for j in (journaled, retried, dropped):
        await _bury(store, j.key)
    await store.record_tx(journaled.key, "PULLED", "0x" + "4" * 40, 3, b"\x08" * 32)

    code, out, _ = await _cli(store_case, tmp_path, "dlq", "list", "--json")
    assert code == 0
    listed = json.loads(out)
    assert listed["count"] == 3
    assert {x["key"] for x in listed["dead_letters"]} == {
        "0x" + j.key.hex() for j in (journaled, retried, dropped)
    }
    assert {x["key"]: x["journaled"] for x in listed["dead_letters"]}["0x" + journaled.key.hex()] == 1

    code, out, _ = await _cli(store_case, tmp_path, "dlq", "retry", "0x" + retried.key.hex(), "--json")
    assert code == 0
    assert json.loads(out)["trade"]["status"] == "PENDING"
    code, out, _ = await _cli(store_case, tmp_path, "dlq", "drop", dropped.key.hex())
    assert code == 0
    assert "FAILED (dead_letter_dropped)" in out
    code, _, err = await _cli(store_case, tmp_path, "dlq", "retry", "0x" + journaled.key.hex())
    assert code == 1
    assert "recovery settles it" in err
    assert "Traceback" not in err
    code, _, err = await _cli(store_case, tmp_path, "dlq", "drop", "not-hex")
    assert code == 1
    assert "a job key is hex" in err
    assert "Traceback" not in err

    code, out, _ = await _cli(store_case, tmp_path, "dlq", "list")
    assert code == 0
    assert out.count("0x") >= 1
    assert journaled.key.hex() in out
    assert retried.key.hex() not in out
    assert dropped.key.hex() not in out
    assert [r.key for r in await store.unbroadcast_pending()] == [retried.key]
    assert (await store.get_trade(dropped.key)).status is TradeStatus.FAILED  # type: ignore[union-attr]
