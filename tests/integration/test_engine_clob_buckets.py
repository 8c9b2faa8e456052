"""A match settled in several transactions ("buckets", as production does for large matches): the CLOB
venue waits for every bucket of its order before it pushes anything, on the live path and in recovery.

The local CLOB's `settle_bucket_makers=1` sends one `matchOrders` per maker fill, so a BUY that walks three
price levels is settled by three transactions in order. A venue that took the first confirmed OrderFilled
row for the whole fill would push a third of the tokens and leave the rest in the worker's deposit wallet.
The Smart Buffer on the CLOB (type 0: the worker trades as itself) is here too.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from engine_world import FAST, USD, World, fresh_world, job, stop, store_at, with_
from eth_account import Account
from localpoly_world import ClobThread
from test_engine_clob import DyingVenue, clob_engine, holdings
from test_engine_clob_outcomes import run, steps
from web3 import Web3

from polyhunter.chain.anvil import TEST_MNEMONIC
from polyhunter.chain.tx import contract, send
from polyhunter.execution.recovery import Recovery
from polyhunter.localpoly import ClobSettings, LocalClob
from polyhunter.models import Step, TradeStatus
from polyhunter.store.base import StoreJournal

pytestmark = [pytest.mark.integration, pytest.mark.asyncio]


@pytest.fixture
def w() -> Iterator[World]:
    yield from fresh_world()


@pytest.fixture
def clob(w: World) -> Iterator[LocalClob]:
    with ClobThread(LocalClob(w.deployment, ClobSettings(settle_bucket_makers=1))) as server:
        yield server


# The leader paid 0.93; the market maker's book (100 shares at 0.51 asked for YES, 100 at 0.49 bid for NO,
# a complement at 0.51, then 0.52, ...) holds less than $250 within the bound, so the venue signs at its
# slippage bound 0.97: $249.29 for 257 shares (whole cents, an exact tick ratio). The FOK takes 100 + 100
# shares at 0.51 and 57 at 0.52, at the makers' own prices, one transaction each.
SHARES = 257 * USD
COST = 51 * USD + 51 * USD + 57 * 520_000


async def test_a_fok_settled_in_three_transactions_is_pushed_whole(
    w: World, clob: LocalClob, tmp_path: Path
) -> None:
    copy = job(w, 1, "BUY", 250 * USD, 930_000)
    proxy_before = w.chain.collateral_of(copy.proxy), w.chain.tokens_of(copy.proxy, w.token)
    (result,), venue, store, _ = await run(w, clob, tmp_path, [copy])
    assert result.status is TradeStatus.EXECUTED, result.reason
    assert result.fill_size == SHARES
    record = await store.get_trade(copy.key)
    assert record is not None
    assert len(set(result.tx_hashes)) >= 3  # the flow's own transactions and the three matchOrders
    assert venue.posts == 1
    assert w.chain.tokens_of(copy.proxy, w.token) == proxy_before[1] + SHARES
    assert w.chain.collateral_of(copy.proxy) == proxy_before[0] - COST
    assert await steps(store, copy) == [Step.PULLED, Step.ORDER_POSTED, Step.PUSHED, Step.RETURNED]
    await store.close()


async def test_a_failed_bucket_leaves_the_settled_ones_executed_and_returns_the_rest(
    w: World, clob: LocalClob, tmp_path: Path
) -> None:
    # The first bucket's transaction fails on chain with no retry left (FAILED); the two others settle.
    # The FOK's fill is then the second 100 shares at 0.51 and 57 at 0.52: what the venue's trade records
    # say is final, all of it on chain. The first 100 shares never moved; their $51 stays with the Proxy.
    clob.settings = clob.settings.updated({"settle_retries": 0, "fail_next_settlements": 1})
    copy = job(w, 2, "BUY", 250 * USD, 930_000)
    proxy_before = w.chain.collateral_of(copy.proxy), w.chain.tokens_of(copy.proxy, w.token)
    (result,), _, store, _ = await run(w, clob, tmp_path, [copy])
    assert result.status is TradeStatus.EXECUTED, result.reason
    assert result.fill_size == SHARES - 100 * USD
    assert w.chain.tokens_of(copy.proxy, w.token) == proxy_before[1] + SHARES - 100 * USD
    assert w.chain.collateral_of(copy.proxy) == proxy_before[0] - (COST - 51 * USD)
    await store.close()


class WindowRecorder(DyingVenue):
    """Dies after posting (recovery finishes the order) and records every eth_getLogs range it asks."""

    ranges: list[tuple[int, int]]

    async def _order_rows(
        self, exchange: str, order_hash: bytes, from_block: int, head: int | None = None
    ) -> list[dict[str, Any]]:
        real = self.rpc.call

        async def recording(method: str, params: list[Any]) -> Any:
            if method == "eth_getLogs":
                self.ranges.append((int(params[0]["fromBlock"], 16), int(params[0]["toBlock"], 16)))
            return await real(method, params)

        self.rpc.call = recording  # type: ignore[method-assign]
        try:
            return await super()._order_rows(exchange, order_hash, from_block, head)
        finally:
            del self.rpc.call


async def test_recovery_waits_for_every_bucket_and_reads_logs_in_windows(
    w: World, clob: LocalClob, tmp_path: Path
) -> None:
    # The engine dies after posting; recovery finds the order's rows in windows of 4 blocks (as providers
    # cap eth_getLogs) and settles it only with all three buckets on chain: every share reaches the Proxy.
    copy = job(w, 3, "BUY", 250 * USD, 930_000)
    store = await store_at(tmp_path / "s.db", [copy])
    eng, (venue,) = clob_engine(w, clob, kind=WindowRecorder, log_window=4)
    assert isinstance(venue, WindowRecorder)
    venue.ranges = []
    deposit = w.deployment.accounts.deposit_wallet(eng.wallets[0].address)
    proxy_before, wallet_before = holdings(w, copy.proxy), holdings(w, deposit)
    await eng.start()
    try:
        result = await eng.execute(copy, StoreJournal(store, copy.key))
        assert (result.reason or "").startswith("unconfirmed")
        await store.mark(copy.key, result.status, result.reason, result.tx_hashes)
        w.rpc("anvil_mine", [hex(10)])  # the order's rows now lie several windows below the head
        recovery = Recovery(eng, store)
        while not await recovery.reconcile_failed():
            await asyncio.sleep(0.05)
    finally:
        await stop(eng)
    assert venue.ranges
    assert all(high - low < 4 for low, high in venue.ranges)
    assert holdings(w, copy.proxy) == (proxy_before[0] - COST, proxy_before[1] + SHARES)
    assert holdings(w, deposit) == wallet_before
    record = await store.get_trade(copy.key)
    assert record is not None
    assert record.status is TradeStatus.EXECUTED
    await store.close()


async def test_smart_buffer_fronts_a_clob_buy_from_the_workers_own_float(
    w: World, clob: LocalClob, tmp_path: Path
) -> None:
    # Type 0 (the worker trades as itself, allowlisted by the venue): the worker buys with its own pUSD
    # float, pushes the tokens to the Proxy and records the debt the Proxy repays; the Proxy's collateral
    # is not touched until then, and the worker's float is short by exactly the debt.
    worker = w.fleet(1)[0]
    c = w.deployment.contracts
    w3 = Web3(Web3.HTTPProvider(w.rpc_url))
    Account.enable_unaudited_hdwallet_features()
    eoa = Account.from_mnemonic(TEST_MNEMONIC, account_path="m/44'/60'/0'/0/0")
    assert eoa.address.lower() == worker.address.lower()
    pusd, ctf = contract(w3, "PolyUSD", c.collateral), contract(w3, "ConditionalTokens", c.ctf)
    for exchange in (c.ctf_exchange_v2, c.neg_risk_exchange_v2):
        spender = Web3.to_checksum_address(exchange or "")
        send(w3, eoa, pusd.functions.approve(spender, 2**256 - 1))
        send(w3, eoa, ctf.functions.setApprovalForAll(spender, True))
    clob.settings = clob.settings.updated({"eoa_allowlist": [worker.address]})
    copy = job(w, 6, "BUY", 5 * USD)
    store = await store_at(tmp_path / "s.db", [copy])
    eng, _ = clob_engine(w, clob, config=with_(FAST, smart_buffer=True, buffer_usd=USD), signature_type=0)
    proxy_before = holdings(w, copy.proxy)
    float_before = w.chain.collateral_of(worker.address)
    await eng.start()
    try:
        result = await eng.execute(copy, StoreJournal(store, copy.key))
    finally:
        await stop(eng)
    assert result.status is TradeStatus.EXECUTED, result.reason
    # $5 at the best ask 0.51 in whole-cent steps: 9 shares for $4.59, fronted by the worker.
    assert result.fill_size == 9 * USD
    assert holdings(w, copy.proxy) == (proxy_before[0], proxy_before[1] + 9 * USD)
    assert w.chain.collateral_of(worker.address) == float_before - 4_590_000
    (debt,) = await store.list_debts(proxy=copy.proxy)
    assert (debt.worker.lower(), debt.amount) == (worker.address.lower(), 4_590_000)
    assert await steps(store, copy) == [Step.ORDER_POSTED, Step.PUSHED]
    await store.close()
