"""The CLOB venue's review findings, end to end on the local Polymarket: a chain read failing before the
post, a wallet lease lost before a post, and a re-send refused after a send whose outcome was unknown."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from pathlib import Path

import pytest
from engine_world import USD, World, job, stop, store_at
from test_engine_clob import admin, clob, clob_engine, holdings, w  # noqa: F401 (fixtures)

from polyhunter.errors import ChainError
from polyhunter.execution.clobvenue import ClobVenue
from polyhunter.execution.fleet import OperatorWallet
from polyhunter.execution.recovery import Recovery
from polyhunter.execution.venues import Order, Refused
from polyhunter.localpoly import LocalClob
from polyhunter.models import TradeStatus
from polyhunter.store.base import StoreJournal
from polyhunter.venue import ClobClient, PreparedOrder

pytestmark = [pytest.mark.integration, pytest.mark.asyncio]


class HeadUnreadable(ClobVenue):
    """The chain head cannot be read right after the order is signed (the node went away)."""

    fail_head = False

    async def _build(
        self, wallet: OperatorWallet, order: Order, meta: object, copies: Sequence[bytes] = ()
    ) -> PreparedOrder | Refused:
        built = await super()._build(wallet, order, meta, copies)  # type: ignore[arg-type]
        self.fail_head = True
        return built

    async def _block(self) -> int:
        if self.fail_head:
            self.fail_head = False
            raise ChainError("eth_blockNumber: connection refused")
        return await super()._block()


async def test_a_head_read_failing_before_the_post_fails_with_the_funds_back(
    w: World,  # noqa: F811
    clob: LocalClob,  # noqa: F811
    tmp_path: Path,
) -> None:
    copy = job(w, 3, "BUY", 5 * USD)
    store = await store_at(tmp_path / "s.db", [copy])
    eng, (venue,) = clob_engine(w, clob, kind=HeadUnreadable)
    proxy_before = holdings(w, copy.proxy)
    await eng.start()
    try:
        result = await eng.execute(copy, StoreJournal(store, copy.key))
    finally:
        await stop(eng)
        await store.close()
    assert result.status is TradeStatus.FAILED
    assert "before posting" in (result.reason or "")
    assert not (result.reason or "").startswith("unconfirmed")
    assert venue.posts == 0
    assert holdings(w, copy.proxy) == proxy_before  # nothing posted: the pull went back


class LeaseLostAfterSigning(ClobVenue):
    """Another instance takes the wallet's lease between the signature and the post."""

    async def _build(
        self, wallet: OperatorWallet, order: Order, meta: object, copies: Sequence[bytes] = ()
    ) -> PreparedOrder | Refused:
        built = await super()._build(wallet, order, meta, copies)  # type: ignore[arg-type]
        wallet.owned = False
        return built


async def test_a_lost_lease_posts_nothing_and_leaves_the_outcome_to_recovery(
    w: World,  # noqa: F811
    clob: LocalClob,  # noqa: F811
    tmp_path: Path,
) -> None:
    copy = job(w, 4, "BUY", 5 * USD)
    store = await store_at(tmp_path / "s.db", [copy])
    eng, (venue,) = clob_engine(w, clob, kind=LeaseLostAfterSigning)
    await eng.start()
    try:
        result = await eng.execute(copy, StoreJournal(store, copy.key))
    finally:
        for wallet in eng.wallets:
            wallet.owned = True
        await stop(eng)
        await store.close()
    assert venue.posts == 0
    assert result.status is TradeStatus.FAILED
    assert (result.reason or "").startswith("unconfirmed"), result.reason
    assert "lease lost" in (result.reason or "")


class LateVenue(ClobVenue):
    """The first send times out after the venue placed the order, the venue does not show it yet, and
    every re-send meets a 429 until the deadline: the order still fills."""

    def __init__(self, *args: object, server: LocalClob, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.server = server

    async def _resolve_placed(self, client: ClobClient, prepared: PreparedOrder, deadline: float) -> bool:
        await asyncio.to_thread(admin, self.server, rate_limits={"POST /order": 0}, rate_window_s=1.0)
        return False  # the venue's lag: not known yet


async def test_a_429_after_an_unknown_send_is_unconfirmed_and_recovery_settles_the_fill(
    w: World,  # noqa: F811
    clob: LocalClob,  # noqa: F811
    tmp_path: Path,
) -> None:
    copy = job(w, 5, "BUY", 5 * USD)
    store = await store_at(tmp_path / "s.db", [copy])

    def late(*args: object, **kwargs: object) -> LateVenue:
        return LateVenue(*args, server=clob, **kwargs)

    eng, (venue,) = clob_engine(w, clob, kind=late, deadline_s=3.0)  # type: ignore[arg-type]
    deposit = w.deployment.accounts.deposit_wallet(eng.wallets[0].address)
    proxy_before, wallet_before = holdings(w, copy.proxy), holdings(w, deposit)
    await eng.start()
    admin(clob, timeout_next_posts=1)  # placed, answered with a 500
    try:
        result = await eng.execute(copy, StoreJournal(store, copy.key))
        # The order traded from the shared deposit wallet: refunding the pull now would pay it twice.
        assert result.status is TradeStatus.FAILED
        assert (result.reason or "").startswith("unconfirmed"), result.reason
        assert holdings(w, copy.proxy)[0] == proxy_before[0] - 5 * USD
        await store.mark(copy.key, result.status, result.reason, result.tx_hashes)
        recovery = Recovery(eng, store)
        while not await recovery.reconcile_failed():
            await asyncio.sleep(0.05)
    finally:
        await stop(eng)
    assert venue.posts >= 2
    assert holdings(w, copy.proxy) == (proxy_before[0] - 4_590_000, proxy_before[1] + 9 * USD)
    assert holdings(w, deposit) == wallet_before
    record = await store.get_trade(copy.key)
    assert record is not None
    assert record.status is TradeStatus.EXECUTED
    await store.close()
