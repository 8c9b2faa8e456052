"""The engine on the CLOB venue, end to end on the local Polymarket: real anvil, the real CLOB server with
its market maker, the real client, orders of the workers' deposit wallets settled by the V2 exchange.

Every scenario checks the Proxy's exact balances afterwards and that the worker's deposit wallet holds
only what it held before (its own float): nothing of a follower's stays with a worker.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import httpx
import pytest
from engine_world import FAST, USD, World, engine, fresh_world, job, stop, store_at, with_
from localpoly_world import ClobThread

from polyhunter.execution.base import ExecutionResult
from polyhunter.execution.clobvenue import ClobVenue
from polyhunter.execution.localchain import EngineConfig, LocalChainEngine
from polyhunter.execution.recovery import Recovery
from polyhunter.execution.sender import TxSender
from polyhunter.execution.venues import Failed, OrderKind, TradeOutcome
from polyhunter.localpoly import ClobSettings, LocalClob
from polyhunter.models import CopyJob, Step, TradeStatus
from polyhunter.store.base import StoreJournal

pytestmark = [pytest.mark.integration, pytest.mark.asyncio]


@pytest.fixture
def w() -> Iterator[World]:
    yield from fresh_world()


@pytest.fixture
def clob(w: World) -> Iterator[LocalClob]:
    with ClobThread(LocalClob(w.deployment, ClobSettings())) as server:
        yield server


def admin(clob: LocalClob, **changes: object) -> None:
    resp = httpx.post(f"{clob.url}/_local/settings", json=changes)
    assert resp.status_code == 200, resp.text


def clob_engine(
    w: World,
    clob: LocalClob,
    kind: type[ClobVenue] = ClobVenue,
    config: EngineConfig = FAST,
    **options: object,
) -> tuple[LocalChainEngine, list[ClobVenue]]:
    made: list[ClobVenue] = []
    c = w.deployment.contracts
    assert c.ctf_exchange_v2
    assert c.neg_risk_exchange_v2

    def build(sender: TxSender) -> ClobVenue:
        venue = kind(
            sender.rpc,
            clob.url,
            w.deployment.chain_id,
            exchange=c.ctf_exchange_v2 or "",
            neg_risk_exchange=c.neg_risk_exchange_v2 or "",
            wallets=w.deployment.accounts.deposit_wallets,
            poll_s=0.02,
            trades_every_s=0.5,
            **options,  # type: ignore[arg-type]
        )
        made.append(venue)
        return venue

    return engine(w, wallets=1, config=config, venue=build), made


def holdings(w: World, address: str) -> tuple[int, int]:
    return w.chain.collateral_of(address), w.chain.tokens_of(address, w.token)


async def test_a_buy_and_the_sell_that_follows_it(w: World, clob: LocalClob, tmp_path: Path) -> None:
    buy = job(w, 0, "BUY", 5 * USD)
    sell = job(w, 0, "SELL", 9 * USD)
    store = await store_at(tmp_path / "s.db", [buy, sell])
    eng, (venue,) = clob_engine(w, clob)
    proxy = w.proxy(0)
    deposit = w.deployment.accounts.deposit_wallet(eng.wallets[0].address)
    proxy_before, wallet_before = holdings(w, proxy), holdings(w, deposit)
    await eng.start()
    try:
        bought = await eng.execute(buy, StoreJournal(store, buy.key))
        # $5 at the best ask 0.51, maker in steps of $0.51 (whole cents, exact ratio): 9 shares for $4.59.
        assert bought.status is TradeStatus.EXECUTED, bought.reason
        assert bought.fill_size == 9 * USD
        assert holdings(w, proxy) == (proxy_before[0] - 4_590_000, proxy_before[1] + 9 * USD)
        assert holdings(w, deposit) == wallet_before
        sold = await eng.execute(sell, StoreJournal(store, sell.key))
        # 9 shares at the best bid 0.49: $4.41 back.
        assert sold.status is TradeStatus.EXECUTED, sold.reason
        assert sold.fill_size == 9 * USD
        assert holdings(w, proxy) == (proxy_before[0] - 4_590_000 + 4_410_000, proxy_before[1])
        assert holdings(w, deposit) == wallet_before
    finally:
        await stop(eng)
    record = await store.get_trade(buy.key)
    assert record is not None
    assert [e.step for e in record.journal] == [Step.PULLED, Step.ORDER_POSTED, Step.PUSHED, Step.RETURNED]
    assert venue.posts == 2
    await store.close()


async def test_a_fok_the_book_cannot_fill_is_skipped_and_the_funds_go_back(
    w: World, clob: LocalClob, tmp_path: Path
) -> None:
    # $500 at most 0.52 (0.50 + 5 %, on the tick): the ladder holds 200 shares up to 0.52, ~$103.
    big = job(w, 1, "BUY", 500 * USD)
    store = await store_at(tmp_path / "s.db", [big])
    eng, _ = clob_engine(w, clob)
    proxy = w.proxy(1)
    deposit = w.deployment.accounts.deposit_wallet(eng.wallets[0].address)
    proxy_before, wallet_before = holdings(w, proxy), holdings(w, deposit)
    await eng.start()
    try:
        result = await eng.execute(big, StoreJournal(store, big.key))
    finally:
        await stop(eng)
    assert result.status is TradeStatus.SKIPPED
    assert result.reason == "fok_not_filled"
    assert holdings(w, proxy) == proxy_before
    assert holdings(w, deposit) == wallet_before
    record = await store.get_trade(big.key)
    assert record is not None
    assert [e.step for e in record.journal] == [Step.PULLED, Step.ORDER_POSTED, Step.RETURNED]
    await store.close()


async def test_cancel_only_is_venue_unavailable_with_the_funds_back(
    w: World, clob: LocalClob, tmp_path: Path
) -> None:
    copy = job(w, 2, "BUY", 5 * USD)
    store = await store_at(tmp_path / "s.db", [copy])
    eng, _ = clob_engine(w, clob)
    proxy = w.proxy(2)
    deposit = w.deployment.accounts.deposit_wallet(eng.wallets[0].address)
    proxy_before, wallet_before = holdings(w, proxy), holdings(w, deposit)
    await eng.start()
    admin(clob, trading_mode="cancel_only")
    try:
        result = await eng.execute(copy, StoreJournal(store, copy.key))
    finally:
        await stop(eng)
    assert result.status is TradeStatus.SKIPPED
    assert result.reason == "venue_unavailable"
    assert holdings(w, proxy) == proxy_before
    assert holdings(w, deposit) == wallet_before
    await store.close()


async def test_a_timed_out_post_is_resolved_and_never_doubled(
    w: World, clob: LocalClob, tmp_path: Path
) -> None:
    copy = job(w, 3, "BUY", 5 * USD)
    store = await store_at(tmp_path / "s.db", [copy])
    eng, (venue,) = clob_engine(w, clob)
    proxy = w.proxy(3)
    deposit = w.deployment.accounts.deposit_wallet(eng.wallets[0].address)
    proxy_before, wallet_before = holdings(w, proxy), holdings(w, deposit)
    await eng.start()
    admin(clob, timeout_next_posts=1)  # the order is placed, the answer is a 500
    try:
        result = await eng.execute(copy, StoreJournal(store, copy.key))
    finally:
        await stop(eng)
    assert result.status is TradeStatus.EXECUTED, result.reason
    assert venue.posts == 1  # resolved as placed: never posted again
    assert holdings(w, proxy) == (proxy_before[0] - 4_590_000, proxy_before[1] + 9 * USD)
    assert holdings(w, deposit) == wallet_before
    await store.close()


class DyingVenue(ClobVenue):
    """Posts the order, then never learns its outcome: the process died between the post and the push."""

    async def _follow(self, *args: object, **kwargs: object) -> TradeOutcome:
        return Failed("the engine died after posting", unknown=True)


async def test_a_crash_after_posting_is_finished_by_recovery(
    w: World, clob: LocalClob, tmp_path: Path
) -> None:
    copy = job(w, 4, "BUY", 5 * USD)
    store = await store_at(tmp_path / "s.db", [copy])
    eng, _ = clob_engine(w, clob, kind=DyingVenue)
    proxy = w.proxy(4)
    deposit = w.deployment.accounts.deposit_wallet(eng.wallets[0].address)
    proxy_before, wallet_before = holdings(w, proxy), holdings(w, deposit)
    await eng.start()
    try:
        result = await eng.execute(copy, StoreJournal(store, copy.key))
        assert result.status is TradeStatus.FAILED
        assert (result.reason or "").startswith("unconfirmed")
        await store.mark(copy.key, result.status, result.reason, result.tx_hashes)
        # The order traded: the Proxy paid, the tokens sit in the worker's deposit wallet.
        assert holdings(w, proxy)[0] == proxy_before[0] - 5 * USD
        recovery = Recovery(eng, store)
        # The CLOB settles on its own schedule; recovery says False until the chain shows the fill.
        while not await recovery.reconcile_failed():
            await asyncio.sleep(0.05)
    finally:
        await stop(eng)
    assert holdings(w, proxy) == (proxy_before[0] - 4_590_000, proxy_before[1] + 9 * USD)
    assert holdings(w, deposit) == wallet_before
    record = await store.get_trade(copy.key)
    assert record is not None
    assert record.status is TradeStatus.EXECUTED
    assert [e.step for e in record.journal] == [Step.PULLED, Step.ORDER_POSTED, Step.PUSHED, Step.RETURNED]
    await store.close()


async def one_copy(
    w: World, clob: LocalClob, tmp_path: Path, copy: CopyJob, config: EngineConfig = FAST
) -> tuple[ExecutionResult, tuple[int, int], tuple[int, int], ClobVenue]:
    """Runs `copy`; (result, the Proxy's holdings before, the deposit wallet's before, the venue)."""
    store = await store_at(tmp_path / "s.db", [copy])
    eng, (venue,) = clob_engine(w, clob, config=config)
    deposit = w.deployment.accounts.deposit_wallet(eng.wallets[0].address)
    before = holdings(w, copy.proxy), holdings(w, deposit)
    await eng.start()
    try:
        result = await eng.execute(copy, StoreJournal(store, copy.key))
    finally:
        await stop(eng)
        await store.close()
    assert holdings(w, deposit) == before[1]  # the worker's wallet keeps only its own float
    return result, before[0], before[1], venue


async def test_a_fak_partly_filled_executes_what_filled_and_returns_the_rest(
    w: World, clob: LocalClob, tmp_path: Path
) -> None:
    # Within 0.52 the book offers 200 shares at 0.51 and 200 at 0.52 (the YES asks and, matched as
    # complements, the NO bids at 0.49 and 0.48): 400 shares for $206, the rest of the $500 returned.
    copy = job(w, 5, "BUY", 500 * USD)
    result, proxy_before, _, _ = await one_copy(
        w, clob, tmp_path, copy, with_(FAST, order_kind=OrderKind.FAK)
    )
    assert result.status is TradeStatus.EXECUTED, result.reason
    assert result.fill_size == 400 * USD
    assert result.fill_price_ppm == 515_000
    assert holdings(w, copy.proxy) == (proxy_before[0] - 206 * USD, proxy_before[1] + 400 * USD)


async def test_a_429_storm_past_the_deadline_fails_with_the_funds_back(
    w: World, clob: LocalClob, tmp_path: Path
) -> None:
    admin(clob, rate_limits={"POST /order": 0}, rate_window_s=1.0)
    copy = job(w, 6, "BUY", 5 * USD)
    store = await store_at(tmp_path / "s.db", [copy])
    eng, _ = clob_engine(w, clob, deadline_s=3.0)
    proxy_before = holdings(w, copy.proxy)
    await eng.start()
    try:
        result = await eng.execute(copy, StoreJournal(store, copy.key))
    finally:
        await stop(eng)
        await store.close()
    # Never accepted within the deadline: certainly not placed, so the funds went back.
    assert result.status is TradeStatus.FAILED
    assert holdings(w, copy.proxy) == proxy_before


async def test_a_425_restart_is_retried_after_its_wait(w: World, clob: LocalClob, tmp_path: Path) -> None:
    copy = job(w, 7, "BUY", 5 * USD)
    admin(clob, restart_until=time.time() + 1.5)
    result, proxy_before, _, _ = await one_copy(w, clob, tmp_path, copy)
    assert result.status is TradeStatus.EXECUTED, result.reason
    assert holdings(w, copy.proxy) == (proxy_before[0] - 4_590_000, proxy_before[1] + 9 * USD)


async def test_a_neg_risk_market_trades_on_the_neg_risk_exchange(
    w: World, clob: LocalClob, tmp_path: Path
) -> None:
    market = next(m for m in w.deployment.markets if m.neg_risk)
    copy = replace(job(w, 8, "BUY", 5 * USD), token_id=market.yes_token_id)
    before = w.chain.tokens_of(copy.proxy, market.yes_token_id)
    result, proxy_before, _, _ = await one_copy(w, clob, tmp_path, copy)
    assert result.status is TradeStatus.EXECUTED, result.reason
    assert w.chain.collateral_of(copy.proxy) == proxy_before[0] - 4_590_000
    assert w.chain.tokens_of(copy.proxy, market.yes_token_id) == before + 9 * USD
