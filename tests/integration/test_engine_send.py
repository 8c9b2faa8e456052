"""Sending on anvil through failing RPC endpoints: a dead first URL fails over to the second; a send
answered "already known" for our own bytes (the node got them, the answer said no) counts as sent once the
receipt appears; two engines sharing Redis never use one wallet at once, and a lapsed lease stops sending."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from collections.abc import AsyncIterator, Iterator, Sequence
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import pytest_asyncio
from aiohttp import web
from engine_world import FAST, World, engine, fresh_world, job, stop, store_at, until, with_

from polyhunter.chain.anvil import free_port
from polyhunter.models import CopyJob, TradeStatus
from polyhunter.shared.redis import RedisSharedState
from polyhunter.store.base import StoreJournal

pytestmark = [pytest.mark.integration, pytest.mark.asyncio]

HERE = Path(__file__).resolve().parent


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
    # Short leases so that the takeover happens within the test, long enough that a loaded machine (resyncs
    # and cap reads on each gain) renews them in time.
    config = with_(FAST, lease_ms=1_500)
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
        assert (late.reason or "").startswith("no_wallet")  # a plain failure: nothing was sent
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


class EngineProcess:
    """`engine_lease_child.py` in its own process, driven line by line."""

    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc

    @classmethod
    async def spawn(
        cls,
        w: World,
        tmp_path: Path,
        name: str,
        jobs: Sequence[CopyJob],
        redis: tuple[str, str],
        lease_ms: int,
        *,
        die: bool = False,
    ) -> EngineProcess:
        store = await store_at(tmp_path / f"{name}.db", jobs)
        await store.close()
        deployment = w.deployment.save(tmp_path / "deployment.json")
        args = [str(deployment), str(tmp_path / f"{name}.db"), *redis, str(lease_ms), "2"]
        args.append(",".join(j.key.hex() for j in jobs))
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            str(HERE / "engine_lease_child.py"),
            *args,
            *(["--die"] if die else []),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env={**os.environ, "PYTHONPATH": str(HERE)},
        )
        return cls(proc)

    async def read(self) -> dict[str, Any]:
        assert self.proc.stdout is not None
        line = await asyncio.wait_for(self.proc.stdout.readline(), 120)
        if not line:
            assert self.proc.stderr is not None
            raise AssertionError((await self.proc.stderr.read()).decode()[-3000:])
        return json.loads(line)  # type: ignore[no-any-return]

    def cue(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(b"\n")

    async def end(self) -> tuple[int, str]:
        assert self.proc.stderr is not None
        err = await asyncio.wait_for(self.proc.stderr.read(), 120)
        return await self.proc.wait(), err.decode()


async def journal_of(path: Path, jobs: Sequence[CopyJob]) -> list[tuple[str, int]]:
    store = await store_at(path)
    used = []
    for j in jobs:
        record = await store.get_trade(j.key)
        assert record is not None
        assert record.status is TradeStatus.PENDING  # the worker, not the engine, settles a record
        used += [(e.wallet, e.nonce) for e in record.journal]
    await store.close()
    return used


async def test_two_engine_processes_take_turns_on_a_wallet_and_never_share_its_nonces(
    w: World, redis_url: str, redis_prefix: str, tmp_path: Path
) -> None:
    wallets = [s.address for s in w.fleet(2)]
    first = {a: w.nonce(a) for a in wallets}
    jobs_a = [job(w, i % 6) for i in range(12)]
    jobs_b = [job(w, 6 + i) for i in range(6)]
    a = await EngineProcess.spawn(w, tmp_path, "a", jobs_a, (redis_url, redis_prefix), 3_000)
    assert sorted((await a.read())["owned"]) == sorted(wallets)
    b = await EngineProcess.spawn(w, tmp_path, "b", jobs_b, (redis_url, redis_prefix), 3_000)
    assert (await b.read())["owned"] == []  # A is alive and renews: B owns nothing
    a.cue()
    b.cue()  # B's jobs wait for a wallet while A's are in flight
    done_a = await a.read()
    assert done_a["statuses"] == ["EXECUTED"] * 12, done_a["reasons"]
    a.cue()  # A closes and releases its leases; B takes them on its next renewal
    assert (await a.read())["event"] == "closed"
    done_b = await b.read()
    assert done_b["statuses"] == ["EXECUTED"] * 6, done_b["reasons"]
    b.cue()
    assert (await a.end())[0] == 0
    assert (await b.end())[0] == 0
    used_a = await journal_of(tmp_path / "a.db", jobs_a)
    used_b = await journal_of(tmp_path / "b.db", jobs_b)
    used = used_a + used_b
    assert len(used) == len(set(used)) == 3 * 18
    for wallet in wallets:
        nonces = sorted(n for addr, n in used if addr == wallet)
        # Every nonce each process used is on chain, with no gap and none used twice.
        assert nonces == list(range(first[wallet], w.nonce(wallet)))
        # A's turn came entirely before B's.
        assert max(n for addr, n in used_a if addr == wallet) < min(
            (n for addr, n in used_b if addr == wallet), default=2**64
        )


async def test_a_crashed_engine_process_leases_are_taken_over_at_once_on_its_host(
    w: World, redis_url: str, redis_prefix: str, tmp_path: Path
) -> None:
    wallets = [s.address for s in w.fleet(2)]
    jobs_a, jobs_b = [job(w, i) for i in range(4)], [job(w, 6 + i) for i in range(4)]
    ten_minutes = 600_000
    a = await EngineProcess.spawn(w, tmp_path, "a", jobs_a, (redis_url, redis_prefix), ten_minutes, die=True)
    assert sorted((await a.read())["owned"]) == sorted(wallets)
    a.cue()
    assert (await a.read())["statuses"] == ["EXECUTED"] * 4
    assert (await a.end())[0] == -signal.SIGKILL  # died holding both leases for ten more minutes
    b = await EngineProcess.spawn(w, tmp_path, "b", jobs_b, (redis_url, redis_prefix), ten_minutes)
    # A's pid no longer exists in this host's process table: B need not wait out the TTL.
    assert sorted((await b.read())["owned"]) == sorted(wallets)
    b.cue()
    done_b = await b.read()
    assert done_b["statuses"] == ["EXECUTED"] * 4, done_b["reasons"]
    b.cue()
    code, err = await b.end()
    assert code == 0
    assert "taken over from" in err
    used = await journal_of(tmp_path / "a.db", jobs_a) + await journal_of(tmp_path / "b.db", jobs_b)
    assert len(used) == len(set(used)) == 3 * 8
