"""The Executor's per-worker hourly cap mirrored off chain, on anvil: seeded from the chain's view at start,
a copy that would take its worker over the cap is SKIPPED `worker_cap` with nothing sent, and a batch too
large for any one worker runs its legs on the workers that still have room."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest
from engine_world import FAST, USD, World, engine, fresh_world, job, stop, store_at, with_
from web3 import Web3

from polyhunter.chain.tx import send
from polyhunter.models import SkipReason, TradeStatus
from polyhunter.store.base import StoreJournal

pytestmark = [pytest.mark.integration, pytest.mark.asyncio]

CAP = 5 * USD


@pytest.fixture
def w() -> Iterator[World]:
    yield from fresh_world()


def set_cap(w: World, worker: str, cap: int) -> None:
    """The owner lowers `worker`'s cap (immediate: only raising waits the delay)."""
    call = w.chain.executor.functions.setWorkerCap(Web3.to_checksum_address(worker), cap)
    send(w.chain.w3, w.chain.accounts.owner, call)


def pulled(w: World, worker: str) -> int:
    used: int = w.chain.executor.functions.workerPulledInWindow(Web3.to_checksum_address(worker)).call()
    return used


async def test_a_copy_over_its_workers_cap_is_skipped_before_anything_is_sent(
    w: World, tmp_path: Path
) -> None:
    worker = w.fleet(1)[0].address
    set_cap(w, worker, CAP)
    assert w.chain.executor.functions.feeBps().call() == 0
    # Pulled outside this engine before it starts: the engine's view is seeded from the chain.
    w.chain.pull_collateral(worker, w.proxy(5), 2 * USD)
    w.chain.push_collateral(worker, w.proxy(5), 2 * USD)
    assert pulled(w, worker) == 2 * USD
    copies = [job(w, 0, amount=2 * USD), job(w, 1, amount=2 * USD), job(w, 2, amount=USD // 2)]
    store = await store_at(tmp_path / "s.db", copies)
    eng = engine(w, wallets=1)
    await eng.start()
    try:
        assert eng.caps.cap(worker) == CAP
        assert eng.caps.used(worker) == 2 * USD
        first = await eng.execute(copies[0], StoreJournal(store, copies[0].key))
        assert first.status is TradeStatus.EXECUTED, first.reason
        assert pulled(w, worker) == 4 * USD
        nonce, sent, held = w.nonce(worker), eng.sent, w.chain.collateral_of(w.proxy(1))
        second = await eng.execute(copies[1], StoreJournal(store, copies[1].key))
        assert second.status is TradeStatus.SKIPPED
        assert second.reason == SkipReason.WORKER_CAP.value
        assert (w.nonce(worker), eng.sent, w.chain.collateral_of(w.proxy(1))) == (nonce, sent, held)
        record = await store.get_trade(copies[1].key)
        assert record is not None
        assert not record.journal
        # What still fits the hour goes through, up to the cap exactly as the contract counts it.
        third = await eng.execute(copies[2], StoreJournal(store, copies[2].key))
        assert third.status is TradeStatus.EXECUTED, third.reason
        assert pulled(w, worker) == 4 * USD + USD // 2
        await eng.caps.sync(eng.rpc, eng.custody.executor, [worker])
        assert eng.caps.used(worker) == pulled(w, worker)
    finally:
        await stop(eng)
        await store.close()


async def test_a_batch_too_large_for_one_worker_runs_its_legs_where_there_is_room(
    w: World, tmp_path: Path
) -> None:
    workers = [s.address for s in w.fleet(2)]
    for worker in workers:
        set_cap(w, worker, CAP)
    copies = [job(w, 6 + i, amount=2 * USD, tag=77) for i in range(3)]  # one signal: one batch of 6 USD
    store = await store_at(tmp_path / "s.db", copies)
    eng = engine(w, wallets=2, config=with_(FAST, coalesce_ms=50))
    await eng.start()
    try:
        results = await asyncio.gather(*(eng.execute(c, StoreJournal(store, c.key)) for c in copies))
    finally:
        await stop(eng)
        await store.close()
    assert [r.status for r in results] == [TradeStatus.EXECUTED] * 3, [r.reason for r in results]
    assert eng.batches_run == 0
    used = [pulled(w, worker) for worker in workers]
    assert sum(used) == 6 * USD
    assert max(used) <= CAP
