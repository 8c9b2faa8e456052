"""Nonces and the TxMonitor on anvil: many jobs in flight on one wallet, stuck transactions replaced with
both fees bumped, dropped transactions resent."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Iterator
from pathlib import Path

import pytest
from engine_world import FAST, USD, World, engine, fresh_world, job, stop, store_at, until, with_

from polyhunter.execution.base import ExecutionResult
from polyhunter.execution.fees import Fees, bump_fees
from polyhunter.execution.localchain import LocalChainEngine
from polyhunter.models import CopyJob, JournalEntry, Step, TradeStatus
from polyhunter.store.base import StoreJournal
from polyhunter.store.sqlite import SqliteStore

pytestmark = [pytest.mark.integration, pytest.mark.asyncio]


@pytest.fixture
def w() -> Iterator[World]:
    yield from fresh_world()


async def test_fifty_concurrent_jobs_on_one_wallet_use_contiguous_nonces(w: World, tmp_path: Path) -> None:
    jobs = [job(w, i % 12, amount=USD + i) for i in range(50)]
    store = await store_at(tmp_path / "s.db", jobs)
    eng = engine(w, wallets=1)
    wallet = eng.wallets[0].address
    first = w.nonce(wallet)
    await eng.start()
    try:
        results = await asyncio.gather(*(eng.execute(j, StoreJournal(store, j.key)) for j in jobs))
    finally:
        await stop(eng)
    assert [r.status for r in results] == [TradeStatus.EXECUTED] * 50
    nonces = []
    for j in jobs:
        record = await store.get_trade(j.key)
        assert record is not None
        assert [e.step for e in record.journal] == [Step.PULLED, Step.FILLED, Step.PUSHED]
        nonces += [e.nonce for e in record.journal]
    assert sorted(nonces) == list(range(first, first + 150))  # contiguous, none twice
    assert w.nonce(wallet) == first + 150  # all mined
    hashes = [h for r in results for h in r.tx_hashes]
    assert len(set(hashes)) == 150
    for h in hashes:
        assert w.chain.w3.eth.get_transaction_receipt(h)["status"] == 1
    for i in range(12):
        bought = sum((j.amount * 1_000_000 // j.limit_price_ppm) for j in jobs if j.follower == w.follower(i))
        assert w.chain.tokens_of(w.proxy(i), w.token) == bought
    await store.close()


async def test_stuck_transaction_is_replaced_with_both_fees_bumped(w: World, tmp_path: Path) -> None:
    cap = 400 * 10**9
    eng = engine(w, wallets=1, config=with_(FAST, replace_after_s=0.2, max_fee_cap_wei=cap))
    await eng.start()
    wallet = eng.wallets[0]
    j = job(w, 0)
    store = await store_at(tmp_path / "s.db", [j])
    try:
        w.rpc("evm_setAutomine", [False])
        nonce = w.nonce(wallet.address)
        send = asyncio.create_task(
            eng.sender.send(
                wallet, Step.PULLED, wallet.address, b"", [StoreJournal(store, j.key)], gas=30_000
            )
        )
        await until(lambda: w.nonce(wallet.address, "pending") > nonce)  # in the pool
        first = eng.monitor.history[(wallet.address, nonce)][0].fees
        # The next block's base fee is now far above what the first send offers: it cannot be included.
        w.rpc("anvil_setNextBlockBaseFeePerGas", [hex(first.max_fee * 3)])
        await until(lambda: len(eng.monitor.history.get((wallet.address, nonce), [])) >= 2)
        w.rpc("evm_setAutomine", [True])
        w.mine()
        sent = await asyncio.wait_for(send, 30)
    finally:
        await stop(eng)
    attempts = eng.monitor.history[(wallet.address, nonce)]
    assert sent.tx_hash == attempts[-1].tx_hash  # the replacement mined, not the first
    assert sent.tx_hash != attempts[0].tx_hash
    for old, new in itertools.pairwise(attempts):
        assert new.fees.max_fee * 100 >= old.fees.max_fee * 110
        assert new.fees.tip * 100 >= old.fees.tip * 110
    assert all(a.fees.max_fee <= cap for a in attempts)
    mined = w.chain.w3.eth.get_transaction(sent.tx_hash)
    assert Fees(mined["maxFeePerGas"], mined["maxPriorityFeePerGas"]) == attempts[-1].fees
    record = await store.get_trade(j.key)
    assert record is not None
    assert {a.tx_hash for a in attempts} <= {e.tx_hash for e in record.journal}  # each journaled first
    await store.close()


async def test_replacements_stop_at_the_fee_cap(w: World) -> None:
    cap = 60 * 10**9
    eng = engine(w, wallets=1, config=with_(FAST, replace_after_s=0.05, max_fee_cap_wei=cap))
    await eng.start()
    wallet = eng.wallets[0]
    try:
        w.rpc("evm_setAutomine", [False])
        nonce = w.nonce(wallet.address)
        send = asyncio.create_task(eng.sender.send(wallet, Step.PULLED, wallet.address, b"", [], gas=30_000))
        await until(lambda: w.nonce(wallet.address, "pending") > nonce)
        await until(lambda: len(eng.monitor.history[(wallet.address, nonce)]) >= 3)  # unmined: it bumps
        await until(
            lambda: bump_fees(eng.monitor.history[(wallet.address, nonce)][-1].fees, 1_200_000, cap) is None
        )
        await asyncio.sleep(0.5)  # ten more replace periods: no attempt may go past the cap
        attempts = list(eng.monitor.history[(wallet.address, nonce)])
        send.cancel()
    finally:
        await stop(eng)
    assert len(attempts) >= 2
    assert all(a.fees.max_fee <= cap for a in attempts)
    assert bump_fees(attempts[-1].fees, 1_200_000, cap) is None  # stopped only because the cap leaves no room


async def pulls_in_pool(
    w: World, eng: LocalChainEngine, store: SqliteStore, jobs: list[CopyJob]
) -> tuple[list[asyncio.Task[ExecutionResult]], list[JournalEntry]]:
    """Starts `jobs` with mining off; returns once each one's pull is in the pool, with their journal."""
    first = w.nonce(eng.wallets[0].address)
    w.rpc("evm_setAutomine", [False])
    tasks = [asyncio.create_task(eng.execute(j, StoreJournal(store, j.key))) for j in jobs]
    await until(lambda: w.nonce(eng.wallets[0].address, "pending") >= first + len(jobs))
    journal = [e for j in jobs if (r := await store.get_trade(j.key)) is not None for e in r.journal]
    return tasks, journal


async def mine_until_done(w: World, tasks: list[asyncio.Task[ExecutionResult]]) -> list[ExecutionResult]:
    w.rpc("evm_setAutomine", [True])
    while not all(t.done() for t in tasks):
        w.mine()
        await asyncio.sleep(0.05)
    return [t.result() for t in tasks]


async def test_dropped_transaction_is_resent_and_leaves_no_gap(w: World, tmp_path: Path) -> None:
    jobs = [job(w, i) for i in range(3)]
    store = await store_at(tmp_path / "s.db", jobs)
    eng = engine(w, wallets=1, config=with_(FAST, replace_after_s=0.3))
    await eng.start()
    wallet = eng.wallets[0].address
    first = w.nonce(wallet)
    try:
        tasks, journal = await pulls_in_pool(w, eng, store, jobs)
        # The three jobs race for the wallet: whichever took the first nonce, its transaction is dropped.
        dropped = next(e.tx_hash for e in journal if e.nonce == first)
        w.rpc("anvil_dropTransaction", ["0x" + dropped.hex()])
        await until(lambda: eng.monitor.rebroadcasts > 0)
        results = await mine_until_done(w, tasks)
    finally:
        await stop(eng)
    assert [r.status for r in results] == [TradeStatus.EXECUTED] * 3
    assert w.nonce(wallet) == first + 9  # every nonce mined, no hole
    assert w.nonce(wallet, "pending") == first + 9
    await store.close()


async def test_a_stalled_wallets_dropped_transactions_are_resent_without_waiting_to_replace(
    w: World, tmp_path: Path
) -> None:
    # As anvil does when a burst overfills a block: a sender's later nonces leave the pool, nothing mines.
    jobs = [job(w, i) for i in range(4)]
    store = await store_at(tmp_path / "s.db", jobs)
    eng = engine(w, wallets=1, config=with_(FAST, replace_after_s=3600.0, stall_s=0.3))
    await eng.start()
    wallet = eng.wallets[0].address
    first = w.nonce(wallet)
    try:
        tasks, journal = await pulls_in_pool(w, eng, store, jobs)
        w.rpc(
            "anvil_dropTransaction", ["0x" + next(e.tx_hash for e in journal if e.nonce == first + 1).hex()]
        )
        # The pool lets the later nonces go with it.
        gone = [
            e.tx_hash for e in journal if w.rpc("eth_getTransactionByHash", ["0x" + e.tx_hash.hex()]) is None
        ]
        assert len(gone) >= 1
        assert w.nonce(wallet, "pending") == first + 1
        await until(lambda: eng.monitor.rebroadcasts == len(gone))
        assert w.nonce(wallet, "pending") == first + 4  # back in the pool, in nonce order
        results = await mine_until_done(w, tasks)
    finally:
        await stop(eng)
    assert [r.status for r in results] == [TradeStatus.EXECUTED] * 4
    assert eng.monitor.replacements == 0  # resent as they were: no fee bump, nothing new journaled
    assert w.nonce(wallet) == first + 12
    for tx_hash in gone:
        assert w.chain.w3.eth.get_transaction_receipt(tx_hash)["status"] == 1
    await store.close()
