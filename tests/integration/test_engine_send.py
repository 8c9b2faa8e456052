"""Sending on anvil through failing RPC endpoints: a dead first URL fails over to the second; a send
answered "already known" for our own bytes (the node got them, the answer said no) counts as sent once the
receipt appears; two engines sharing Redis never use one wallet at once, and a lapsed lease stops sending."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import aiohttp
import pytest
import pytest_asyncio
from aiohttp import web
from engine_world import FAST, World, engine, fresh_world, job, stop, store_at, until, with_

from polyhunter.chain.anvil import free_port
from polyhunter.models import TradeStatus
from polyhunter.shared.redis import RedisSharedState
from polyhunter.store.base import StoreJournal

pytestmark = [pytest.mark.integration, pytest.mark.asyncio]


@pytest.fixture
def w() -> Iterator[World]:
    yield from fresh_world()


class LossyRelay:
    """A loopback JSON-RPC relay in front of anvil that forwards every call, but answers the first
    `lose` raw-transaction sends with geth's "already known" error, as if the reply was lost."""

    def __init__(self, upstream: str, lose: int) -> None:
        self.upstream, self.lose, self.lost = upstream, lose, 0
        self.url = ""

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        async with (
            aiohttp.ClientSession() as session,
            session.post(self.upstream, data=body, headers={"Content-Type": "application/json"}) as reply,
        ):
            answer = await reply.read()
        call = json.loads(body)
        if call.get("method") == "eth_sendRawTransaction" and self.lost < self.lose and b'"result"' in answer:
            self.lost += 1
            error = {"code": -32000, "message": "already known"}
            answer = json.dumps({"jsonrpc": "2.0", "id": call["id"], "error": error}).encode()
        return web.Response(body=answer, content_type="application/json")


@pytest_asyncio.fixture
async def relay(w: World) -> AsyncIterator[LossyRelay]:
    relay = LossyRelay(w.rpc_url, lose=2)
    app = web.Application()
    app.router.add_post("/", relay.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    relay.url = f"http://127.0.0.1:{port}"
    yield relay
    await runner.cleanup()


async def test_dead_first_rpc_url_fails_over_to_the_second(w: World, tmp_path: Path) -> None:
    j = job(w, 9)
    store = await store_at(tmp_path / "s.db", [j])
    dead = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    eng = engine(w, wallets=1, urls=[dead, w.rpc_url])
    await eng.start()
    try:
        result = await eng.execute(j, StoreJournal(store, j.key))
    finally:
        await stop(eng)
    assert result.status is TradeStatus.EXECUTED
    assert eng.rpc.endpoints[0].failures >= 1
    assert eng.rpc.endpoints[1].calls > 0
    for tx_hash in result.tx_hashes:
        assert w.chain.w3.eth.get_transaction_receipt(tx_hash)["status"] == 1
    await store.close()


async def test_already_known_for_our_own_hash_counts_as_sent_once_mined(
    w: World, relay: LossyRelay, tmp_path: Path
) -> None:
    j = job(w, 10)
    store = await store_at(tmp_path / "s.db", [j])
    eng = engine(w, wallets=1, urls=[relay.url])
    wallet = eng.wallets[0].address
    await eng.start()
    first = w.nonce(wallet)
    try:
        result = await eng.execute(j, StoreJournal(store, j.key))
    finally:
        await stop(eng)
    assert relay.lost == 2  # the pull and the fill were each answered "already known"
    assert result.status is TradeStatus.EXECUTED
    assert w.nonce(wallet) == first + 3  # sent once each, not re-sent under new nonces
    record = await store.get_trade(j.key)
    assert record is not None
    assert [e.tx_hash for e in record.journal] == list(result.tx_hashes)
    await store.close()


async def test_two_engines_sharing_redis_never_share_a_wallet_and_a_lapsed_lease_stops_sending(
    w: World, redis_url: str, redis_prefix: str, tmp_path: Path
) -> None:
    jobs = [job(w, i) for i in range(6)]
    store = await store_at(tmp_path / "s.db", jobs)
    shared_a, shared_b = RedisSharedState(redis_url, redis_prefix), RedisSharedState(redis_url, redis_prefix)
    await shared_a.open()
    await shared_b.open()
    config = with_(FAST, lease_ms=600)
    a = engine(w, wallets=2, config=config, shared=shared_a, lease_holder="engine-a")
    b = engine(w, wallets=2, config=config, shared=shared_b, lease_holder="engine-b")
    try:
        await a.start()
        await b.start()
        # A took both wallets first; B owns none while A renews.
        assert all(x.owned for x in a.wallets)
        assert not any(x.may_send() for x in b.wallets)
        done_a = await asyncio.gather(*(a.execute(j, StoreJournal(store, j.key)) for j in jobs[:3]))
        assert [r.status for r in done_a] == [TradeStatus.EXECUTED] * 3
        # A stops renewing (a stalled process): its leases lapse and B takes the wallets over.
        a.leases.renew = False
        await until(lambda: all(x.may_send() for x in b.wallets))
        assert not any(x.may_send() for x in a.wallets)
        sent_by_a = a.sent
        late = await a.execute(jobs[3], StoreJournal(store, jobs[3].key))
        assert late.status is TradeStatus.FAILED
        assert a.sent == sent_by_a  # the old holder sent nothing
        done_b = await asyncio.gather(*(b.execute(j, StoreJournal(store, j.key)) for j in jobs[4:]))
        assert [r.status for r in done_b] == [TradeStatus.EXECUTED] * 2
    finally:
        await stop(a)
        await stop(b)
        await shared_a.close()
        await shared_b.close()
    # Every journaled (wallet, nonce) was used once, by one engine.
    used: list[tuple[str, int]] = []
    for j in jobs:
        record = await store.get_trade(j.key)
        assert record is not None
        used += [(e.wallet, e.nonce) for e in record.journal]
    assert len(used) == len(set(used)) == 15
    await store.close()
