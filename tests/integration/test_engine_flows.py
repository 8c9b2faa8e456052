"""Flows on anvil: batched Executor operations for a fanned-out signal, slippage skips, SELL cut to the
holding, Smart Buffer debts repaid by the recovery loop with exact balances, refuel of a drained worker."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest
from engine_world import FAST, USD, World, engine, fresh_world, job, stop, store_at, with_

from polyhunter._core import Signer
from polyhunter.execution.base import tokens_for_usd
from polyhunter.execution.recovery import Recovery
from polyhunter.models import DebtStatus, Side, SkipReason, Step, TradeStatus
from polyhunter.store.base import StoreJournal

pytestmark = [pytest.mark.integration, pytest.mark.asyncio]


@pytest.fixture
def w() -> Iterator[World]:
    yield from fresh_world()


class FixedQuote:
    def __init__(self, price_ppm: int) -> None:
        self.price_ppm = price_ppm
        self.asked = 0

    async def quote(self, token_id: int, side: Side) -> int | None:
        self.asked += 1
        return self.price_ppm


async def test_fan_out_to_ten_followers_uses_batched_executor_calls(w: World, tmp_path: Path) -> None:
    jobs = [job(w, i, amount=(i + 1) * USD, tag=1) for i in range(10)]  # one signal, ten followers
    store = await store_at(tmp_path / "s.db", jobs)
    batched = engine(w, wallets=2, config=with_(FAST, coalesce_ms=50))
    before = {i: w.chain.collateral_of(w.proxy(i)) for i in range(10)}
    await batched.start()
    try:
        results = await asyncio.gather(*(batched.execute(j, StoreJournal(store, j.key)) for j in jobs))
    finally:
        await stop(batched)
    assert [r.status for r in results] == [TradeStatus.EXECUTED] * 10
    assert batched.batches_run == 1
    assert batched.sent == 3  # pullERC20Batch, one fill, pushERC1155Batch
    single_copy_txs = 3 * len(jobs)
    assert batched.sent < single_copy_txs
    assert len({h for r in results for h in r.tx_hashes}) == 3
    for i, j in enumerate(jobs):
        assert w.chain.collateral_of(w.proxy(i)) == before[i] - j.amount
        assert w.chain.tokens_of(w.proxy(i), w.token) == tokens_for_usd(j.amount, j.limit_price_ppm)
        record = await store.get_trade(j.key)
        assert record is not None
        assert [e.step for e in record.journal] == [Step.PULLED, Step.FILLED, Step.PUSHED]
    await store.close()


async def test_quote_beyond_slippage_bound_is_skipped_and_nothing_sent(w: World) -> None:
    quotes = FixedQuote(560_000)  # the leader paid $0.50; +12 % is beyond the 5 % bound
    eng = engine(w, wallets=1, quotes=quotes)
    await eng.start()
    wallet = eng.wallets[0].address
    nonce = w.nonce(wallet)
    try:
        result = await eng.execute(job(w, 0), StoreJournal.__new__(StoreJournal))
    finally:
        await stop(eng)
    assert result.status is TradeStatus.SKIPPED
    assert result.reason == SkipReason.SLIPPAGE.value
    assert eng.sent == 0
    assert w.nonce(wallet) == nonce
    assert quotes.asked == 1


async def test_sell_larger_than_holding_is_cut_to_the_holding(w: World, tmp_path: Path) -> None:
    buy = job(w, 1, "BUY", 3 * USD)
    held = tokens_for_usd(3 * USD, buy.limit_price_ppm)
    sell = job(w, 1, "SELL", held * 10)
    store = await store_at(tmp_path / "s.db", [buy, sell])
    eng = engine(w, wallets=1)
    await eng.start()
    try:
        assert (await eng.execute(buy, StoreJournal(store, buy.key))).status is TradeStatus.EXECUTED
        collateral = w.chain.collateral_of(w.proxy(1))
        result = await eng.execute(sell, StoreJournal(store, sell.key))
    finally:
        await stop(eng)
    assert result.status is TradeStatus.EXECUTED
    assert result.fill_size == held
    assert w.chain.tokens_of(w.proxy(1), w.token) == 0
    assert w.chain.collateral_of(w.proxy(1)) == collateral + held * sell.limit_price_ppm // 1_000_000
    await store.close()


async def test_smart_buffer_debts_are_repaid_by_recovery_with_exact_balances(
    w: World, tmp_path: Path
) -> None:
    jobs = [job(w, 2, amount=4 * USD), job(w, 3, amount=7 * USD), job(w, 2, amount=USD)]
    store = await store_at(tmp_path / "s.db", jobs)
    eng = engine(w, wallets=1, config=with_(FAST, smart_buffer=True, buffer_usd=50 * USD))
    worker = eng.wallets[0].address
    proxies = {2: w.chain.collateral_of(w.proxy(2)), 3: w.chain.collateral_of(w.proxy(3))}
    float_before = w.chain.collateral_of(worker)
    await eng.start()
    try:
        results = [await eng.execute(j, StoreJournal(store, j.key)) for j in jobs]
        assert [r.status for r in results] == [TradeStatus.EXECUTED] * 3
        # Fronted: two transactions each (fill, push), the Proxies not yet charged.
        assert eng.sent == 6
        assert w.chain.collateral_of(w.proxy(2)) == proxies[2]
        assert w.chain.collateral_of(worker) == float_before - 12 * USD
        debts = await store.list_debts(DebtStatus.OPEN)
        assert sorted((d.proxy, d.amount) for d in debts) == sorted(
            [(w.proxy(2), 4 * USD), (w.proxy(3), 7 * USD), (w.proxy(2), USD)]
        )
        assert all(d.worker == worker for d in debts)
        recovery = Recovery(eng, store)
        assert await recovery.repay_debts() == 3
        assert await recovery.repay_debts() == 0  # nothing left, nothing paid twice
    finally:
        await stop(eng)
    assert eng.sent == 7  # one batched repayment for the creditor
    assert await store.list_debts(DebtStatus.OPEN) == []
    assert len(await store.list_debts(DebtStatus.REPAID)) == 3
    assert w.chain.collateral_of(w.proxy(2)) == proxies[2] - 5 * USD
    assert w.chain.collateral_of(w.proxy(3)) == proxies[3] - 7 * USD
    assert w.chain.collateral_of(worker) == float_before
    for i, usd in ((2, 5 * USD), (3, 7 * USD)):
        assert w.chain.tokens_of(w.proxy(i), w.token) == usd * 1_000_000 // jobs[0].limit_price_ppm
    await store.close()


async def test_drained_worker_is_refuelled_and_keeps_executing(w: World, tmp_path: Path) -> None:
    j = job(w, 4)
    store = await store_at(tmp_path / "s.db", [j])
    funder = Signer(w.chain.accounts.owner.key.hex())
    eng = engine(
        w, wallets=1, config=with_(FAST, refuel_below_wei=10**17, refuel_amount_wei=10**18), funder=funder
    )
    await eng.start()
    worker = eng.wallets[0].address
    w.rpc("anvil_setBalance", [worker, hex(10**12)])  # drained: not enough gas for one transaction
    try:
        result = await eng.execute(j, StoreJournal(store, j.key))
    finally:
        await stop(eng)
    assert result.status is TradeStatus.EXECUTED
    assert eng.refueler is not None
    assert eng.refueler.refuels == 1
    assert int(w.rpc("eth_getBalance", [worker, "latest"]), 16) > 10**17
    await store.close()


async def test_a_batch_leg_claimed_elsewhere_is_left_out_and_the_others_execute(
    w: World, tmp_path: Path
) -> None:
    from polyhunter.supervisor.pipeline import _LiveJournal

    jobs = [job(w, i, tag=2) for i in range(3)]  # one signal, three followers: one batch
    store = await store_at(tmp_path / "s.db", jobs)
    keys = [j.key for j in jobs]
    assert await store.claim(keys, "instance-a", stale_ms=60_000) == set(keys)
    # Job 1 waited too long: another instance took it over, and runs it.
    assert await store.claim([keys[1]], "instance-b", stale_ms=-60_000) == {keys[1]}
    before = [(w.chain.collateral_of(w.proxy(i)), w.chain.tokens_of(w.proxy(i), w.token)) for i in range(3)]
    eng = engine(w, wallets=1, config=with_(FAST, coalesce_ms=50))
    await eng.start()
    try:
        results = await asyncio.gather(
            *(eng.execute(j, _LiveJournal(store, j.key, "instance-a")) for j in jobs)
        )
    finally:
        await stop(eng)
    assert [r.status for r in results] == [TradeStatus.EXECUTED, TradeStatus.PENDING, TradeStatus.EXECUTED]
    assert (results[1].reason or "").startswith("relinquished")
    assert results[1].tx_hashes == ()
    taken = await store.get_trade(keys[1])
    assert taken is not None
    assert taken.status is TradeStatus.PENDING
    assert not taken.journal
    # Nothing moved for the leg left out; the other two bought their tokens.
    assert (w.chain.collateral_of(w.proxy(1)), w.chain.tokens_of(w.proxy(1), w.token)) == before[1]
    for i in (0, 2):
        assert w.chain.collateral_of(w.proxy(i)) == before[i][0] - jobs[i].amount
        assert w.chain.tokens_of(w.proxy(i), w.token) == before[i][1] + tokens_for_usd(
            jobs[i].amount, jobs[i].limit_price_ppm
        )
    await store.close()
