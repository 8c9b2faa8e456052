"""The Executor watch on anvil: a pull made with a worker key outside polyhunter is reported (CRITICAL log,
counter by worker); polyhunter's own copies, journaled before broadcast, are not."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
from engine_world import USD, World, engine, fresh_world, job, stop, store_at

from polyhunter.chain.aiorpc import AsyncRpc
from polyhunter.execution.watch import ExecutorWatch, watched_events
from polyhunter.models import TradeStatus
from polyhunter.store.base import StoreJournal

pytestmark = [pytest.mark.integration, pytest.mark.asyncio]


@pytest.fixture
def w() -> Iterator[World]:
    yield from fresh_world()


async def test_the_watch_covers_every_pull_and_repayment_event_of_the_executor() -> None:
    names = {shape.name for shape in watched_events().values()}
    assert {"Pulled", "PulledTo", "DebtRepaid", "DebtRepaidTo"} <= names
    assert not {n for n in names if n.startswith("Pushed")}


async def test_own_copies_are_journaled_and_a_foreign_pull_raises_the_alarm(
    w: World, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    copies = [job(w, 0, amount=2 * USD), job(w, 1, amount=3 * USD), job(w, 2, "BUY", USD)]
    store = await store_at(tmp_path / "s.db", copies)
    rpc = AsyncRpc([w.rpc_url])
    start = int(w.rpc("eth_blockNumber"), 16) + 1
    watch = ExecutorWatch(
        rpc, store, w.deployment.contracts.executor, chain_id=31337, grace_s=0, start_block=start
    )
    eng = engine(w, wallets=2)
    await eng.start()
    try:
        for copy in copies:
            result = await eng.execute(copy, StoreJournal(store, copy.key))
            assert result.status is TradeStatus.EXECUTED, result.reason
        with caplog.at_level(logging.CRITICAL, logger="polyhunter.execution.watch"):
            assert await watch.scan() == []
        assert watch.stats.events == 3  # one pull per copy
        assert watch.stats.journaled == 3
        assert watch.stats.unjournaled_total == 0
        assert not caplog.records

        # The same worker's key, used outside polyhunter (a leak), pulls from a Proxy.
        worker = eng.wallets[0].address
        before = w.chain.collateral_of(w.proxy(3))
        receipt = w.chain.pull_collateral(worker, w.proxy(3), 4 * USD)
        assert w.chain.collateral_of(w.proxy(3)) == before - 4 * USD
        with caplog.at_level(logging.CRITICAL, logger="polyhunter.execution.watch"):
            reported = await watch.scan()
        assert [(e.name, e.worker, e.proxy, e.amount) for e in reported] == [
            ("Pulled", worker, w.proxy(3).lower(), 4 * USD)
        ]
        assert reported[0].tx_hash == bytes(receipt["transactionHash"])
        assert watch.stats.unjournaled == {("Pulled", worker): 1}
        assert [r.levelno for r in caplog.records] == [logging.CRITICAL]
        assert worker in caplog.records[0].getMessage()
        # Judged once: a later pass with nothing new reports nothing again.
        assert await watch.scan() == []
        assert watch.stats.unjournaled_total == 1
    finally:
        await stop(eng)
        await rpc.close()
        await store.close()


async def test_a_suspect_waits_out_its_grace_and_is_cleared_once_the_store_knows_it(
    w: World, tmp_path: Path
) -> None:
    store = await store_at(tmp_path / "s.db")
    rpc = AsyncRpc([w.rpc_url])
    now = [100.0]
    start = int(w.rpc("eth_blockNumber"), 16) + 1
    watch = ExecutorWatch(
        rpc,
        store,
        w.deployment.contracts.executor,
        chain_id=31337,
        grace_s=60,
        start_block=start,
        clock=lambda: now[0],
    )
    try:
        worker = w.deployment.accounts.fleet[0]
        w.chain.pull_collateral(worker, w.proxy(4), USD)
        assert await watch.scan() == []  # seen, still in its grace
        saved = await store.get_checkpoint(watch.source)
        assert saved is not None
        assert saved < int(w.rpc("eth_blockNumber"), 16)  # not past the suspect
        now[0] += 61
        reported = await watch.scan()
        assert [e.worker for e in reported] == [worker.lower()]
        assert await store.get_checkpoint(watch.source) == int(w.rpc("eth_blockNumber"), 16)
        # A restarted watch resumes from the checkpoint: the judged event is not read again.
        again = ExecutorWatch(rpc, store, w.deployment.contracts.executor, chain_id=31337, grace_s=0)
        assert await again.scan() == []
        assert again.stats.events == 0
    finally:
        await rpc.close()
        await store.close()
