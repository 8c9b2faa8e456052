"""The CLOB venue's remaining outcomes on the local Polymarket: a tick-size change between the quote and the
post, a stale balance cache, post-only mode (waited out, or past the deadline), a 429 storm that clears in
time, and a SELL cut to what the Proxy holds.

The local CLOB's own answers are used (its settings switches, its error class for a 429); where a test
needs a switch to flip at an exact point of the exchange it wraps the server's gate on its instance, so
nothing depends on wall-clock timing. Each scenario checks the Proxy's exact balances and that the
worker's deposit wallet holds only its own float afterwards.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from engine_world import USD, World, fresh_world, job, stop, store_at
from localpoly_world import ClobThread
from test_engine_clob import admin, clob_engine, holdings

from polyhunter.execution.clobvenue import ClobVenue
from polyhunter.execution.venues import Order, TradeOutcome
from polyhunter.localpoly import ClobSettings, LocalClob
from polyhunter.localpoly import errors as clob_errors
from polyhunter.localpoly.errors import ClobApiError
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


async def run(
    w: World, clob: LocalClob, tmp_path: Path, copies: list[CopyJob], **options: Any
) -> tuple[list[Any], ClobVenue, Any, tuple[int, int]]:
    """Runs `copies` in order on one engine; (results, venue, store, the deposit wallet's holdings before).
    Asserts the deposit wallet ends as it started."""
    kind = options.pop("kind", ClobVenue)
    store = await store_at(tmp_path / "s.db", copies)
    eng, (venue,) = clob_engine(w, clob, kind=kind, **options)
    deposit = w.deployment.accounts.deposit_wallet(eng.wallets[0].address)
    before = holdings(w, deposit)
    await eng.start()
    results = []
    try:
        for copy in copies:
            results.append(await eng.execute(copy, StoreJournal(store, copy.key)))
    finally:
        await stop(eng)
    assert holdings(w, deposit) == before  # the worker's wallet keeps only its own float
    return results, venue, store, before


async def steps(store: Any, copy: CopyJob) -> list[str]:
    record = await store.get_trade(copy.key)
    assert record is not None
    return [e.step for e in record.journal]


class TickChangedBeforePost(ClobVenue):
    """Coarsens the market's tick on the live CLOB after `admit` cached the old one, before the post."""

    condition_id = ""
    tick = "0.1"

    async def trade(self, wallet: Any, order: Order, journals: Any, legs: Any = ()) -> TradeOutcome:
        async with httpx.AsyncClient() as http:
            resp = await http.post(
                f"{self.host}/_local/tick-size",
                json={"condition_id": self.condition_id, "tick_size": self.tick},
            )
            assert resp.status_code == 200, resp.text
        return await super().trade(wallet, order, journals, legs)


async def test_a_tick_size_change_that_keeps_the_price_in_range_is_accepted_as_signed(
    w: World, clob: LocalClob, tmp_path: Path
) -> None:
    # The venue cached tick 0.01 and signs a market BUY of $5 with limit 0.51; the CLOB now wants tick
    # 0.1. A market order's implied price need only lie within [tick, 1 - tick] (production's rule; only
    # limit orders must sit on the tick), so the order signed on the old tick is accepted as it is.
    TickChangedBeforePost.condition_id = w.deployment.markets[0].condition_id
    copy = job(w, 0, "BUY", 5 * USD)
    proxy_before = holdings(w, copy.proxy)
    (result,), venue, store, _ = await run(w, clob, tmp_path, [copy], kind=TickChangedBeforePost)
    assert result.status is TradeStatus.EXECUTED, result.reason
    assert venue.posts == 1
    assert holdings(w, copy.proxy) == (proxy_before[0] - 4_590_000, proxy_before[1] + 9 * USD)
    assert await steps(store, copy) == [Step.PULLED, Step.ORDER_POSTED, Step.PUSHED, Step.RETURNED]
    await store.close()


async def test_a_tick_size_change_that_puts_the_price_out_of_range_is_re_signed_on_the_new_tick(
    w: World, clob: LocalClob, tmp_path: Path
) -> None:
    # The leader paid 0.93; $500 is more than the book holds within the bound, so the venue signs at the
    # bound itself, 0.97 on tick 0.01. Under tick 0.1 prices above 0.9 are refused (nothing placed): the
    # venue reads the new tick and signs one new order at 0.9 (555.5 shares for $500), journaled before
    # its post, and follows that one. The ladder's 600 shares within 0.9 fill it at their own prices:
    # 200 at 0.51 and 200 at 0.52 (the YES asks and the NO bids as complements), 155.5 at 0.53: $288.415;
    # the rest of the $500 goes back.
    TickChangedBeforePost.condition_id = w.deployment.markets[0].condition_id
    copy = job(w, 1, "BUY", 500 * USD, 930_000)
    proxy_before = holdings(w, copy.proxy)
    (result,), venue, store, _ = await run(w, clob, tmp_path, [copy], kind=TickChangedBeforePost)
    assert result.status is TradeStatus.EXECUTED, result.reason
    assert result.fill_size == 555_500_000
    assert venue.posts == 2
    record = await store.get_trade(copy.key)
    assert record is not None
    assert [e.step for e in record.journal] == [
        Step.PULLED,
        Step.ORDER_POSTED,
        Step.ORDER_POSTED,
        Step.PUSHED,
        Step.RETURNED,
    ]
    first, second = (e for e in record.journal if e.step == Step.ORDER_POSTED)
    assert first.tx_hash != second.tx_hash
    assert b'"takerAmount":"555500000"' in second.payload
    assert holdings(w, copy.proxy) == (proxy_before[0] - 288_415_000, proxy_before[1] + 555_500_000)
    await store.close()


async def test_a_stale_balance_is_refreshed_once_and_the_same_bytes_posted_again(
    w: World, clob: LocalClob, tmp_path: Path
) -> None:
    copy = job(w, 1, "BUY", 5 * USD)
    store = await store_at(tmp_path / "s.db", [copy])
    eng, (venue,) = clob_engine(w, clob)
    deposit = w.deployment.accounts.deposit_wallet(eng.wallets[0].address)
    proxy_before, wallet_before = holdings(w, copy.proxy), holdings(w, deposit)
    await eng.start()
    try:
        # The CLOB caches the deposit wallet's balance now (its float, before the pull funds it) and keeps
        # it until told to refresh: the post is refused "not enough balance / allowance".
        client = venue.clients[eng.wallets[0].address.lower()]
        cached = await client.balance_allowance("COLLATERAL")
        assert cached.balance == wallet_before[0]
        result = await eng.execute(copy, StoreJournal(store, copy.key))
    finally:
        await stop(eng)
    assert result.status is TradeStatus.EXECUTED, result.reason
    assert venue.balance_refreshes == 1
    assert venue.posts == 2  # refused once, then accepted
    record = await store.get_trade(copy.key)
    assert record is not None
    # One order only: the second post sent the journaled bytes again, nothing was re-signed.
    assert [e.step for e in record.journal] == [Step.PULLED, Step.ORDER_POSTED, Step.PUSHED, Step.RETURNED]
    assert holdings(w, copy.proxy) == (proxy_before[0] - 4_590_000, proxy_before[1] + 9 * USD)
    assert holdings(w, deposit) == wallet_before
    await store.close()


def post_only_for(clob: LocalClob, refusals: int) -> list[int]:
    """Post-only mode on `clob` for its next `refusals` order posts, normal after them; returns the list
    the refusals are counted in."""
    seen: list[int] = []
    gate = clob._trading_gate

    def gated(post_only: bool) -> None:
        try:
            gate(post_only)
        except ClobApiError as exc:
            if clob.settings.trading_mode == "post_only":
                seen.append(exc.status)
                if len(seen) >= refusals:
                    clob.settings = clob.settings.updated({"trading_mode": "normal"})
            raise

    clob._trading_gate = gated  # type: ignore[method-assign]
    return seen


async def test_post_only_mode_is_waited_out_within_the_deadline(
    w: World, clob: LocalClob, tmp_path: Path
) -> None:
    admin(clob, trading_mode="post_only", retry_after_s=1)
    refused = post_only_for(clob, 2)
    copy = job(w, 2, "BUY", 5 * USD)
    proxy_before = holdings(w, copy.proxy)
    (result,), venue, store, _ = await run(w, clob, tmp_path, [copy], deadline_s=60.0)
    assert refused == [503, 503]
    assert result.status is TradeStatus.EXECUTED, result.reason
    assert venue.posts == 1  # the client re-sent the same bytes after each wait: one order
    assert holdings(w, copy.proxy) == (proxy_before[0] - 4_590_000, proxy_before[1] + 9 * USD)
    assert await steps(store, copy) == [Step.PULLED, Step.ORDER_POSTED, Step.PUSHED, Step.RETURNED]
    await store.close()


async def test_post_only_mode_past_the_deadline_is_venue_unavailable_with_the_funds_back(
    w: World, clob: LocalClob, tmp_path: Path
) -> None:
    # The CLOB asks for a 30 s wait; the job has 5 s: nothing is placed, the funds go back.
    admin(clob, trading_mode="post_only", retry_after_s=30)
    refused = post_only_for(clob, 1000)
    copy = job(w, 3, "BUY", 5 * USD)
    proxy_before = holdings(w, copy.proxy)
    (result,), _, store, _ = await run(w, clob, tmp_path, [copy], deadline_s=5.0)
    assert refused == [503]
    assert result.status is TradeStatus.SKIPPED
    assert result.reason == "venue_unavailable"
    assert holdings(w, copy.proxy) == proxy_before
    assert await steps(store, copy) == [Step.PULLED, Step.ORDER_POSTED, Step.RETURNED]
    await store.close()


def rate_limited_for(clob: LocalClob, refusals: int) -> list[str]:
    """The CLOB answers its own 429 (Retry-After 1 s) to the next `refusals` order posts; returns the list
    they are counted in."""
    seen: list[str] = []
    limit = clob._rate_limit

    def limited(request: Any) -> None:
        if request.method == "POST" and request.path == "/order" and len(seen) < refusals:
            seen.append(request.path)
            raise ClobApiError(429, clob_errors.RATE_LIMITED, headers={"Retry-After": "1"})
        limit(request)

    clob._rate_limit = limited  # type: ignore[method-assign]
    return seen


async def test_a_429_storm_that_clears_in_time_executes(w: World, clob: LocalClob, tmp_path: Path) -> None:
    storm = rate_limited_for(clob, 3)
    copy = job(w, 4, "BUY", 5 * USD)
    proxy_before = holdings(w, copy.proxy)
    (result,), venue, store, _ = await run(w, clob, tmp_path, [copy], deadline_s=60.0)
    assert len(storm) == 3
    assert result.status is TradeStatus.EXECUTED, result.reason
    assert venue.posts == 1  # the client re-sent the same bytes after each wait: one order
    assert holdings(w, copy.proxy) == (proxy_before[0] - 4_590_000, proxy_before[1] + 9 * USD)
    assert await steps(store, copy) == [Step.PULLED, Step.ORDER_POSTED, Step.PUSHED, Step.RETURNED]
    await store.close()


async def test_a_sell_is_cut_to_what_the_proxy_holds(w: World, clob: LocalClob, tmp_path: Path) -> None:
    buy = job(w, 5, "BUY", 5 * USD)
    sell = job(w, 5, "SELL", 50 * USD)  # the leader sold more than this follower's copy holds
    proxy_before = holdings(w, buy.proxy)
    held_before = proxy_before[1]
    (bought, sold), _, store, _ = await run(w, clob, tmp_path, [buy, sell])
    assert bought.status is TradeStatus.EXECUTED, bought.reason
    assert sold.status is TradeStatus.EXECUTED, sold.reason
    # Cut to the holding: every share the Proxy held after the buy, sold at the best bid 0.49.
    held = held_before + 9 * USD
    assert sold.fill_size == held
    assert holdings(w, buy.proxy) == (proxy_before[0] - 4_590_000 + held * 49 // 100, 0)
    await store.close()
