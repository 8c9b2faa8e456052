"""The venue seam on anvil: what the flows pull, push and return on each venue outcome, with exact balances.

The venues here are LocalExchangeVenue with one behaviour changed, trading for real on LocalExchange: one
fills only part of the order (a FAK), one refuses after the pull (a FOK not filled), one refuses before it
(market closed). Every other move is the engine's own, through the real Executor.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator, Sequence
from dataclasses import replace
from pathlib import Path

import pytest
from engine_world import FAST, USD, World, engine, fresh_world, job, stop, store_at, with_

from polyhunter.execution.base import JobJournal, tokens_for_usd
from polyhunter.execution.fleet import OperatorWallet
from polyhunter.execution.localchain import LocalChainEngine
from polyhunter.execution.localexchange import LocalExchangeVenue
from polyhunter.execution.sender import TxSender
from polyhunter.execution.venues import Fill, Order, Refusal, Refused, TradeOutcome, split_pro_rata
from polyhunter.models import Step, TradeStatus
from polyhunter.store.base import StoreJournal

pytestmark = [pytest.mark.integration, pytest.mark.asyncio]


@pytest.fixture
def w() -> Iterator[World]:
    yield from fresh_world()


class PartialVenue(LocalExchangeVenue):
    """Fills `num/den` of every order on LocalExchange and cancels the rest (a FAK against a thin book)."""

    num, den = 3, 7

    async def trade(
        self, wallet: OperatorWallet, order: Order, journals: Sequence[JobJournal]
    ) -> TradeOutcome:
        part = replace(
            order,
            shares=order.shares * self.num // self.den,
            collateral=order.collateral * self.num // self.den,
        )
        outcome = await super().trade(wallet, part, journals)
        return replace(outcome, complete=False) if isinstance(outcome, Fill) else outcome


class KillingVenue(LocalExchangeVenue):
    """Kills every order (a FOK with nothing to match): nothing is sent to the venue."""

    async def trade(
        self, wallet: OperatorWallet, order: Order, journals: Sequence[JobJournal]
    ) -> TradeOutcome:
        self.asked = order
        return Refused(Refusal.FOK_NOT_FILLED, "no liquidity within the limit")


class ClosedVenue(LocalExchangeVenue):
    """The market is closed: refused before anything is pulled."""

    async def admit(self, order: Order) -> Refused | None:
        return Refused(Refusal.MARKET_CLOSED, f"token {order.token_id} resolved")


def _engine(w: World, kind: type[LocalExchangeVenue], **kwargs: object) -> LocalChainEngine:
    exchange, maker = w.deployment.contracts.local_exchange, w.deployment.accounts.owner
    assert exchange

    def build(sender: TxSender) -> LocalExchangeVenue:
        return kind(sender, sender.rpc, exchange, maker)

    return engine(w, wallets=1, venue=build, **kwargs)


async def test_a_partial_fill_is_split_pro_rata_and_the_rest_goes_back(w: World, tmp_path: Path) -> None:
    jobs = [
        job(w, i, amount=a, tag=7) for i, a in zip(range(3), (1 * USD, 2 * USD + 7, 5 * USD + 3), strict=True)
    ]
    store = await store_at(tmp_path / "s.db", jobs)
    eng = _engine(w, PartialVenue, config=with_(FAST, coalesce_ms=50))
    worker = eng.wallets[0].address
    proxies = [w.proxy(i) for i in range(3)]
    before = [(w.chain.collateral_of(p), w.chain.tokens_of(p, w.token)) for p in proxies]
    worker_before = (w.chain.collateral_of(worker), w.chain.tokens_of(worker, w.token))
    await eng.start()
    try:
        results = await asyncio.gather(*(eng.execute(j, StoreJournal(store, j.key)) for j in jobs))
    finally:
        await stop(eng)
    asked_usd = [j.amount for j in jobs]
    asked_tokens = [tokens_for_usd(j.amount, j.limit_price_ppm) for j in jobs]
    filled_tokens = sum(asked_tokens) * 3 // 7
    filled_usd = sum(asked_usd) * 3 // 7
    tokens = split_pro_rata(filled_tokens, asked_tokens)
    spent = split_pro_rata(filled_usd, asked_usd)
    assert sum(tokens) == filled_tokens
    assert sum(spent) == filled_usd
    assert 0 < tokens[0] < asked_tokens[0]
    assert eng.batches_run == 1
    assert eng.sent == 4  # pull batch, fill, push batch, return batch
    for i, (p, r) in enumerate(zip(proxies, results, strict=True)):
        assert r.status is TradeStatus.EXECUTED
        assert r.fill_size == tokens[i]
        assert w.chain.collateral_of(p) == before[i][0] - spent[i]
        assert w.chain.tokens_of(p, w.token) == before[i][1] + tokens[i]
        record = await store.get_trade(jobs[i].key)
        assert record is not None
        assert [e.step for e in record.journal] == [Step.PULLED, Step.FILLED, Step.PUSHED, Step.RETURNED]
    # Nothing of the followers' stays with the worker: rounding went to the Proxies too.
    assert (w.chain.collateral_of(worker), w.chain.tokens_of(worker, w.token)) == worker_before
    await store.close()


async def test_a_partial_sell_returns_the_unsold_tokens(w: World, tmp_path: Path) -> None:
    buy = job(w, 4, "BUY", 4 * USD)
    store = await store_at(tmp_path / "s.db", [buy])
    plain = engine(w, wallets=1)
    await plain.start()
    try:
        assert (await plain.execute(buy, StoreJournal(store, buy.key))).status is TradeStatus.EXECUTED
    finally:
        await stop(plain)
    proxy = w.proxy(4)
    held = w.chain.tokens_of(proxy, w.token)
    sell = job(w, 4, "SELL", held)
    await store.insert_pending([sell], 2**62)
    cash = w.chain.collateral_of(proxy)
    eng = _engine(w, PartialVenue)
    await eng.start()
    try:
        result = await eng.execute(sell, StoreJournal(store, sell.key))
    finally:
        await stop(eng)
    sold = held * 3 // 7
    proceeds = (held * sell.limit_price_ppm // 1_000_000) * 3 // 7
    assert result.status is TradeStatus.EXECUTED
    assert result.fill_size == sold
    assert w.chain.tokens_of(proxy, w.token) == held - sold
    assert w.chain.collateral_of(proxy) == cash + proceeds
    await store.close()


async def test_an_order_killed_after_the_pull_is_skipped_and_the_funds_return(
    w: World, tmp_path: Path
) -> None:
    j = job(w, 5, amount=3 * USD)
    store = await store_at(tmp_path / "s.db", [j])
    eng = _engine(w, KillingVenue)
    proxy = w.proxy(5)
    before = (w.chain.collateral_of(proxy), w.chain.tokens_of(proxy, w.token))
    await eng.start()
    try:
        result = await eng.execute(j, StoreJournal(store, j.key))
    finally:
        await stop(eng)
    assert result.status is TradeStatus.SKIPPED
    assert result.reason == "fok_not_filled"
    assert eng.sent == 2  # pull, return
    assert (w.chain.collateral_of(proxy), w.chain.tokens_of(proxy, w.token)) == before
    record = await store.get_trade(j.key)
    assert record is not None
    assert [e.step for e in record.journal] == [Step.PULLED, Step.RETURNED]
    await store.close()


async def test_a_closed_market_is_skipped_before_anything_is_pulled(w: World, tmp_path: Path) -> None:
    j = job(w, 6, amount=3 * USD)
    store = await store_at(tmp_path / "s.db", [j])
    eng = _engine(w, ClosedVenue)
    wallet = eng.wallets[0].address
    nonce = w.nonce(wallet)
    await eng.start()
    try:
        result = await eng.execute(j, StoreJournal(store, j.key))
    finally:
        await stop(eng)
    assert result.status is TradeStatus.SKIPPED
    assert result.reason == "market_closed"
    assert eng.sent == 0
    assert w.nonce(wallet) == nonce
    record = await store.get_trade(j.key)
    assert record is not None
    assert not record.journal
    await store.close()


async def test_a_smart_buffer_buy_refused_leaves_the_float_and_records_no_debt(
    w: World, tmp_path: Path
) -> None:
    j = job(w, 7, amount=2 * USD)
    store = await store_at(tmp_path / "s.db", [j])
    eng = _engine(w, KillingVenue, config=with_(FAST, smart_buffer=True, buffer_usd=1 * USD))
    worker = eng.wallets[0].address
    float_before = w.chain.collateral_of(worker)
    assert float_before > 3 * USD  # the buffer path is taken, not the standard one
    await eng.start()
    try:
        result = await eng.execute(j, StoreJournal(store, j.key))
    finally:
        await stop(eng)
    assert result.status is TradeStatus.SKIPPED
    assert result.reason == "fok_not_filled"
    assert eng.sent == 0
    assert w.chain.collateral_of(worker) == float_before
    assert await store.list_debts(proxy=w.proxy(7)) == []
    await store.close()
