"""The CLOB venue around recovery and refusals on the local Polymarket: cancel-only learnt once and then
skipped before any pull; a journaled order's fills scanned from the block it was signed at, not block 0,
on a chain with many blocks; an interrupted coalesced order split among its legs by recovery.

Each scenario checks the Proxies' exact balances and that the worker's deposit wallet holds only its own
float afterwards.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest
from engine_world import FAST, USD, World, fresh_world, job, stop, store_at, with_
from localpoly_world import ClobThread
from test_engine_clob import DyingVenue, admin, clob_engine, holdings

from polyhunter.errors import ConfigError
from polyhunter.execution.clobvenue import Envelope, OnChainFill
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
    with ClobThread(LocalClob(w.deployment, ClobSettings())) as server:
        yield server


async def test_cancel_only_seen_once_skips_the_next_copies_before_any_pull(
    w: World, clob: LocalClob, tmp_path: Path
) -> None:
    first, second, third = job(w, 0, "BUY", 5 * USD), job(w, 1, "BUY", 5 * USD), job(w, 1, "BUY", 5 * USD)
    store = await store_at(tmp_path / "s.db", [first, second, third])
    eng, (venue,) = clob_engine(w, clob, unavailable_ttl_s=3600.0)
    deposit = w.deployment.accounts.deposit_wallet(eng.wallets[0].address)
    before = {p: holdings(w, p) for p in (first.proxy, second.proxy, deposit)}
    await eng.start()
    admin(clob, trading_mode="cancel_only")
    try:
        a = await eng.execute(first, StoreJournal(store, first.key))
        b = await eng.execute(second, StoreJournal(store, second.key))
        admin(clob, trading_mode="normal")
        venue.unavailable_ttl_s = 0.0  # the remembered refusal is stale: the next copy posts again
        c = await eng.execute(third, StoreJournal(store, third.key))
    finally:
        await stop(eng)
    assert (a.status, a.reason) == (TradeStatus.SKIPPED, "venue_unavailable")
    assert (b.status, b.reason) == (TradeStatus.SKIPPED, "venue_unavailable")
    assert c.status is TradeStatus.EXECUTED, c.reason
    assert venue.admit_unavailable == 1
    assert venue.posts == 2  # the first copy's refused post and the third's
    for copy, expected in ((first, [Step.PULLED, Step.ORDER_POSTED, Step.RETURNED]), (second, [])):
        record = await store.get_trade(copy.key)
        assert record is not None
        assert [e.step for e in record.journal] == expected
    assert holdings(w, first.proxy) == before[first.proxy]
    assert holdings(w, second.proxy) == (
        before[second.proxy][0] - 4_590_000,
        before[second.proxy][1] + 9 * USD,
    )
    assert holdings(w, deposit) == before[deposit]
    await store.close()


class ScanRecorder(DyingVenue):
    """Dies after posting, as DyingVenue, and records the first block of every OrderFilled scan."""

    scans: list[int]

    async def fills(
        self, exchange: str, order_hash: bytes, from_block: int = 0, head: int | None = None
    ) -> OnChainFill | None:
        self.scans.append(from_block)
        return await super().fills(exchange, order_hash, from_block, head)


async def test_recovery_scans_from_the_block_the_order_was_signed_at(
    w: World, clob: LocalClob, tmp_path: Path
) -> None:
    w.rpc("anvil_mine", [hex(3_000)])
    head = int(w.rpc("eth_blockNumber"), 16)
    copy = job(w, 2, "BUY", 5 * USD)
    store = await store_at(tmp_path / "s.db", [copy])
    eng, (venue,) = clob_engine(w, clob, kind=ScanRecorder)
    assert isinstance(venue, ScanRecorder)
    venue.scans = []
    deposit = w.deployment.accounts.deposit_wallet(eng.wallets[0].address)
    proxy_before, wallet_before = holdings(w, copy.proxy), holdings(w, deposit)
    await eng.start()
    try:
        result = await eng.execute(copy, StoreJournal(store, copy.key))
        assert (result.reason or "").startswith("unconfirmed")
        await store.mark(copy.key, result.status, result.reason, result.tx_hashes)
        record = await store.get_trade(copy.key)
        assert record is not None
        (posted,) = (e for e in record.journal if e.step == Step.ORDER_POSTED)
        envelope = Envelope.decode(posted.payload)
        assert envelope.block is not None
        assert envelope.block > head
        assert envelope.side == "BUY"
        assert envelope.body.startswith(b'{"order":')
        recovery = Recovery(eng, store)
        while not await recovery.reconcile_failed():
            await asyncio.sleep(0.05)
    finally:
        await stop(eng)
    assert venue.scans
    assert min(venue.scans) == envelope.block  # never from block 0
    assert holdings(w, copy.proxy) == (proxy_before[0] - 4_590_000, proxy_before[1] + 9 * USD)
    assert holdings(w, deposit) == wallet_before
    await store.close()


async def test_an_order_journaled_without_its_block_is_scanned_from_its_recorded_time(
    w: World, clob: LocalClob
) -> None:
    # 2,000 blocks 10 s apart; the block at a given time is found by a binary search, not a scan.
    w.rpc("anvil_mine", [hex(2_000), hex(10)])
    head = int(w.rpc("eth_blockNumber"), 16)
    target = head - 700
    stamp = int(w.rpc("eth_getBlockByNumber", [hex(target), False])["timestamp"], 16)
    eng, (venue,) = clob_engine(w, clob)
    try:
        assert await venue.block_at(stamp) == target
        assert await venue.block_at(stamp - 5) == target  # between two blocks: the later one
        assert await venue.block_at(2**40) == head
    finally:
        await stop(eng)


async def test_an_interrupted_coalesced_order_is_split_among_its_legs_by_recovery(
    w: World, clob: LocalClob, tmp_path: Path
) -> None:
    a, b = job(w, 3, "BUY", 5 * USD), job(w, 4, "BUY", 5 * USD)
    store = await store_at(tmp_path / "s.db", [a, b])
    eng, _ = clob_engine(w, clob, kind=DyingVenue, config=with_(FAST, coalesce_ms=200, max_batch=2))
    deposit = w.deployment.accounts.deposit_wallet(eng.wallets[0].address)
    before = {p: holdings(w, p) for p in (a.proxy, b.proxy, deposit)}
    await eng.start()
    try:
        results = await asyncio.gather(
            eng.execute(a, StoreJournal(store, a.key)), eng.execute(b, StoreJournal(store, b.key))
        )
        assert eng.batches_run == 1
        for copy, result in zip((a, b), results, strict=True):
            assert (result.reason or "").startswith("unconfirmed"), result.reason
            await store.mark(copy.key, result.status, result.reason, result.tx_hashes)
        # One order of $10 at 0.51 (maker in steps of $0.51): 19 shares for $9.69, in the deposit wallet.
        recovery = Recovery(eng, store)
        done = 0
        while done < 2:
            done += await recovery.reconcile_failed()
            if done < 2:
                await asyncio.sleep(0.05)
    finally:
        await stop(eng)
    # Split pro rata to what each leg asked (10 shares, $5 each): 9.5 shares and $4.845 each.
    for copy in (a, b):
        assert holdings(w, copy.proxy) == (
            before[copy.proxy][0] - 4_845_000,
            before[copy.proxy][1] + 9_500_000,
        )
        record = await store.get_trade(copy.key)
        assert record is not None
        assert record.status is TradeStatus.EXECUTED
        assert [e.step for e in record.journal] == [
            Step.PULLED,
            Step.ORDER_POSTED,
            Step.PUSHED,
            Step.RETURNED,
        ]
    assert holdings(w, deposit) == before[deposit]  # nothing of the order stays with the worker
    await store.close()


async def test_smart_buffer_with_deposit_wallets_is_refused_at_start(w: World, clob: LocalClob) -> None:
    # Type 3 spends the deposit wallet's pUSD while the buffer check reads the worker's: refused clearly.
    with pytest.raises(ConfigError, match="SMART_BUFFER is not supported with CLOB_SIGNATURE_TYPE=3"):
        clob_engine(w, clob, config=with_(FAST, smart_buffer=True))
    eng, (venue,) = clob_engine(w, clob, config=with_(FAST, smart_buffer=True), signature_type=0)
    assert venue.signature_type == 0  # type 0 trades from the worker itself: the buffer check holds
    await stop(eng)
