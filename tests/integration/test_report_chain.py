"""Copy quality and holdings on anvil: a batch's Executor gas split exactly between its legs, and a report
whose holdings come from the CTF balances after an owner moved tokens outside polyhunter."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path

import pytest
from engine_world import FAST, USD, World, engine, fresh_world, job, stop, store_at, with_
from web3 import Web3

from polyhunter.chain.tx import send
from polyhunter.models import Step, TradeStatus, now_ms
from polyhunter.report.quality import copy_quality
from polyhunter.report.sources import ChainBalances, FixedMidpoints
from polyhunter.report.summary import build_report
from polyhunter.store.base import StoreJournal

pytestmark = [pytest.mark.integration, pytest.mark.asyncio]


@pytest.fixture
def w() -> Iterator[World]:
    yield from fresh_world()


async def test_batch_gas_split_and_holdings_reconciled_with_the_chain(w: World, tmp_path: Path) -> None:
    # One signal, three followers: 1, 2 and 3 USD at 0.50, so 2, 4 and 6 shares, in one batch.
    jobs = [job(w, i, amount=(i + 1) * USD, tag=9_001) for i in range(3)]
    store = await store_at(tmp_path / "report.db", jobs)
    eng = engine(w, wallets=1, config=with_(FAST, coalesce_ms=50))
    await eng.start()
    try:
        results = await asyncio.gather(*(eng.execute(j, StoreJournal(store, j.key)) for j in jobs))
    finally:
        await stop(eng)
    assert [r.status for r in results] == [TradeStatus.EXECUTED] * 3
    assert [r.fill_size for r in results] == [2 * USD, 4 * USD, 6 * USD]

    # The Executor's pull and push, as journaled, paid this much gas; the three legs share it to the wei.
    record = await store.get_trade(jobs[0].key)
    assert record is not None
    executor_txs = [e.tx_hash for e in record.journal if e.step in (Step.PULLED, Step.PUSHED)]
    assert len(executor_txs) == 2
    paid = 0
    for tx in executor_txs:
        receipt = w.rpc("eth_getTransactionReceipt", ["0x" + tx.hex()])
        paid += int(receipt["gasUsed"], 16) * int(receipt["effectiveGasPrice"], 16)
    shares = [r.gas_wei or 0 for r in results]
    assert paid > 0
    assert sum(shares) == paid
    assert max(shares) - min(shares) <= 1
    assert [r.fee for r in results] == [0, 0, 0]  # LocalExchange charges no fee

    for j, r in zip(jobs, results, strict=True):
        assert await store.mark(j.key, r.status, copy_size=r.fill_size, copy_price_ppm=r.fill_price_ppm)
        quality = copy_quality(j, r, filled_at=now_ms(), source="v2")
        assert quality is not None
        assert await store.record_quality([quality]) == 1

    # Follower 0's owner takes half a share out of the Proxy, outside polyhunter.
    owner = w.chain.signer(w.follower(0))
    proxy = w.chain.proxy(w.follower(0))
    ctf = Web3.to_checksum_address(w.deployment.contracts.ctf)
    send(w.chain.w3, owner, proxy.functions.withdrawERC1155(ctf, w.token, owner.address, USD // 2))

    balances = ChainBalances(w.chain.w3, w.deployment.contracts.ctf)
    mids = FixedMidpoints({w.token: Fraction(3, 5)})
    report = await build_report(store, 0, now_ms() + 1, balances=balances, midpoints=mids)
    by = {f.address: f for f in report.followers}
    first, second = by[w.follower(0)], by[w.follower(1)]
    holding = first.holdings[0]
    assert (holding.proxy, holding.chain, holding.copies, holding.difference) == (
        w.proxy(0),
        1_500_000,
        2_000_000,
        -500_000,
    )
    # The chain wins: 1.5 shares at 0.60 = 0.90, less the cost of the 1.5 kept (1.00 × 1.5 / 2 = 0.75).
    assert first.unrealised == 150_000
    # 4 shares at 0.60 = 2.40, less their cost 2.00.
    assert second.unrealised == 400_000
    assert [h.difference for h in second.holdings] == [0]
    assert (first.volume, second.volume) == (1_000_000, 2_000_000)
    assert first.gas_wei == shares[0]
    await store.close()
