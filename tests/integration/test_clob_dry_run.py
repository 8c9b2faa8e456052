"""DRY_RUN on the CLOB venue and the venue's start-up check of the deposit wallets, on the local Polymarket.

A dry run signs each copy's order as the live venue would (a real signature the deposit wallet accepts),
records its hash and posts nothing: the CLOB never sees it and no balance moves. At start, a worker whose
deposit wallet would not accept its orders (another owner's wallet, no wallet at all) stops the venue before
any follower's funds could be pulled into it.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace

import pytest
from engine_world import USD, World, fresh_world, job
from eth_abi.abi import encode
from localpoly_world import ClobThread
from test_engine_clob import holdings

from polyhunter.chain.aiorpc import AsyncRpc
from polyhunter.errors import ConfigError
from polyhunter.execution.clobdryrun import ClobDryRunEngine
from polyhunter.execution.clobvenue import ClobVenue
from polyhunter.execution.fleet import OperatorWallet
from polyhunter.execution.flows import leg_amounts
from polyhunter.execution.venues import Order, Refused
from polyhunter.localpoly import ClobSettings, LocalClob
from polyhunter.localpoly.onchain import ERC1271_MAGIC
from polyhunter.models import CopyJob, DebtRecord, TradeStatus
from polyhunter.settings import load_settings
from polyhunter.shared.memory import MemorySharedState
from polyhunter.supervisor.app import Supervisor

pytestmark = [pytest.mark.integration, pytest.mark.asyncio]


class NoJournal:
    """A dry run journals nothing: any call is a defect."""

    async def record_tx(self, *args: object) -> None:
        raise AssertionError("a dry run journaled a transaction")

    async def record_order(self, *args: object) -> None:
        raise AssertionError("a dry run journaled an order")

    async def add_debt(self, *args: object) -> DebtRecord:
        raise AssertionError("a dry run recorded a debt")


NO_JOURNAL = NoJournal()


@pytest.fixture
def w() -> Iterator[World]:
    yield from fresh_world()


@pytest.fixture
def clob(w: World) -> Iterator[LocalClob]:
    with ClobThread(LocalClob(w.deployment, ClobSettings())) as server:
        yield server


def venue_for(w: World, clob: LocalClob, rpc: AsyncRpc, wallets: dict[str, str] | None = None) -> ClobVenue:
    c = w.deployment.contracts
    return ClobVenue(
        rpc,
        clob.url,
        w.deployment.chain_id,
        exchange=c.ctf_exchange_v2 or "",
        neg_risk_exchange=c.neg_risk_exchange_v2 or "",
        wallets=w.deployment.accounts.deposit_wallets if wallets is None else wallets,
    )


async def test_a_dry_run_signs_a_real_order_and_posts_nothing(w: World, clob: LocalClob) -> None:
    copy = job(w, 0, "BUY", 5 * USD)
    tiny = job(w, 1, "BUY", 10_000)  # $0.01: below the venue's minimum
    before = holdings(w, copy.proxy)
    orders_before = set(clob.engine.orders)
    async with AsyncRpc([w.rpc_url]) as rpc:
        wallet = OperatorWallet(w.fleet(1)[0])
        venue = venue_for(w, clob, rpc)
        engine = ClobDryRunEngine(venue, [wallet])
        try:
            result = await engine.execute(copy, NO_JOURNAL)
            refused = await engine.execute(tiny, NO_JOURNAL)
            (order_hash,) = result.tx_hashes
        finally:
            await engine.close()
    assert (result.status, result.reason) == (TradeStatus.SKIPPED, "dry_run")
    assert result.worker == wallet.address
    assert engine.signed == [order_hash]
    assert (refused.status, refused.reason) == (TradeStatus.SKIPPED, "below_min_size")
    assert set(clob.engine.orders) == orders_before  # nothing posted
    assert "0x" + order_hash.hex() not in clob.engine.orders
    assert holdings(w, copy.proxy) == before


def order_of(copy: CopyJob) -> Order:
    collateral, shares = leg_amounts(copy.side, copy.amount, copy.limit_price_ppm)
    return Order(
        copy.token_id, "BUY" if copy.side == "BUY" else "SELL", shares, collateral, copy.limit_price_ppm
    )


async def test_the_dry_run_order_is_accepted_by_the_deposit_wallet(w: World, clob: LocalClob) -> None:
    copy = job(w, 0, "BUY", 5 * USD)
    async with AsyncRpc([w.rpc_url]) as rpc:
        wallet = OperatorWallet(w.fleet(1)[0])
        venue = venue_for(w, clob, rpc)
        signed = await venue.sign(wallet, order_of(copy))
        assert not isinstance(signed, Refused), signed
        deposit = venue.funds_at(wallet)
        data = ERC1271_MAGIC + encode(["bytes32", "bytes"], [signed.signed.hash, signed.signed.signature])
        out = await rpc.call("eth_call", [{"to": deposit, "data": "0x" + data.hex()}, "latest"])
        await venue.close()
    assert bytes.fromhex(out[2:])[:4] == ERC1271_MAGIC


async def test_start_refuses_a_deposit_wallet_the_worker_does_not_own(w: World, clob: LocalClob) -> None:
    first, second = w.fleet(2)
    accounts = w.deployment.accounts
    others = accounts.deposit_wallet(second.address)
    async with AsyncRpc([w.rpc_url]) as rpc:
        # The first worker pointed at the second worker's wallet: the wallet rejects its signature.
        venue = venue_for(w, clob, rpc, {first.address: others})
        with pytest.raises(ConfigError, match="does not accept its orders"):
            await venue.start([OperatorWallet(first)])
        # An address with no wallet deployed at all.
        nowhere = venue_for(w, clob, rpc, {first.address: "0x" + "5e" * 20})
        with pytest.raises(ConfigError, match="does not accept its orders"):
            await nowhere.start([OperatorWallet(first)])
        # Its own wallet passes.
        good = venue_for(w, clob, rpc)
        await good.start([OperatorWallet(first)])
        for v in (venue, nowhere, good):
            await v.close()


async def test_the_supervisor_picks_the_clob_dry_run_and_trades_only_on_the_clob_off_the_local_chain(
    w: World, clob: LocalClob
) -> None:
    settings = load_settings(copy_trading_venue="clob", dry_run=True)
    sup = Supervisor(settings, replace(w.deployment, clob_url=clob.url))
    async with AsyncRpc([w.rpc_url]) as rpc:
        sup.rpc = rpc
        sup.shared = MemorySharedState()
        engine = sup._engine()
        assert isinstance(engine, ClobDryRunEngine)
        await engine.close()
        # Chain 137 with the local exchange as venue: refused in one line, nothing built.
        polygon = replace(w.deployment, chain_id=137)
        live = Supervisor(
            load_settings(enable_real_trading=True, copy_trading_venue="local_exchange"), polygon
        )
        live.rpc, live.shared = rpc, sup.shared
        with pytest.raises(ConfigError, match="COPY_TRADING_VENUE=clob"):
            live._engine()
        # And no default mnemonic there: the operator's own fleet or nothing.
        clob_live = Supervisor(load_settings(enable_real_trading=True, copy_trading_venue="clob"), polygon)
        clob_live.rpc, clob_live.shared = rpc, sup.shared
        with pytest.raises(ConfigError, match="TRADING_MNEMONIC"):
            clob_live._engine()


async def test_the_supervisor_batches_clob_orders_only_when_asked(w: World, clob: LocalClob) -> None:
    from polyhunter.execution.batched import BatchedChainEngine
    from polyhunter.execution.localchain import LocalChainEngine

    async with AsyncRpc([w.rpc_url]) as rpc:
        for flag, wanted in ((False, LocalChainEngine), (True, BatchedChainEngine)):
            settings = load_settings(
                copy_trading_venue="clob", copy_trading_clob_batch_orders=flag, dry_run=False
            )
            sup = Supervisor(settings, replace(w.deployment, clob_url=clob.url))
            sup.rpc, sup.shared = rpc, MemorySharedState()
            engine = sup._engine()
            try:
                assert type(engine) is wanted
                assert hasattr(engine, "execute_many") is flag  # the pipeline batches only then
            finally:
                await engine.close()
