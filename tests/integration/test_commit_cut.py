"""Caps follow the store across a COMMIT whose reply is lost: a TCP proxy in front of PostgreSQL forwards the
client's COMMIT, waits for the server's answer (so the transaction did commit) and cuts the connection instead
of passing the answer on. The copies stored by that commit must be queued and hold their reservations; none
may run without one, none twice."""

from __future__ import annotations

import asyncio
import contextlib
import struct
from collections.abc import AsyncIterator
from urllib.parse import urlsplit, urlunsplit

import pytest
import pytest_asyncio

from polyhunter._core import FanoutIndex, LogDecoder
from polyhunter.errors import StoreError
from polyhunter.execution.base import ExecutionResult, JobJournal
from polyhunter.loadsim import CTF, EXCHANGE, notification
from polyhunter.models import CopyConfig, CopyJob, TradeStatus
from polyhunter.shared.memory import MemorySharedState
from polyhunter.store.postgres import PostgresStore
from polyhunter.supervisor.guardrails import Guardrails, utc_day
from polyhunter.supervisor.pipeline import Pipeline, PipelineConfig

pytestmark = pytest.mark.integration

LEADER = "0x" + "1e" * 20
USD = 1_000_000
FOLLOWERS = 3
COPY_USD = 10 * USD
_SSL_REQUEST = 80877103


class CommitCutProxy:
    """Loopback proxy to PostgreSQL that cuts the next `armed` COMMITs after the server has answered them."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.armed = 0
        self.cuts = 0
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(self) -> int:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        return int(self._server.sockets[0].getsockname()[1])

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _accept(self, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        server_r, server_w = await asyncio.open_connection(self.host, self.port)
        cut = asyncio.Event()
        up = asyncio.create_task(self._client_to_server(client_r, server_w, client_w, cut))
        down = asyncio.create_task(self._server_to_client(server_r, client_w, cut))
        self._tasks.update((up, down))
        await asyncio.wait({up, down}, return_when=asyncio.FIRST_COMPLETED)
        for task in (up, down):
            task.cancel()
        for writer in (client_w, server_w):
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()
        self._tasks.difference_update((up, down))

    async def _client_to_server(
        self,
        reader: asyncio.StreamReader,
        server: asyncio.StreamWriter,
        client: asyncio.StreamWriter,
        cut: asyncio.Event,
    ) -> None:
        # Untyped start-up messages first (an SSLRequest answered 'N' by the server, then StartupMessage).
        while True:
            head = await reader.readexactly(8)
            length, code = struct.unpack("!ii", head)
            server.write(head + await reader.readexactly(length - 8))
            await server.drain()
            if code != _SSL_REQUEST:
                break
        while True:
            kind = await reader.readexactly(1)
            (length,) = struct.unpack("!i", await reader.readexactly(4))
            body = await reader.readexactly(length - 4)
            server.write(kind + struct.pack("!i", length) + body)
            await server.drain()
            if kind == b"Q" and body.lstrip().upper().startswith(b"COMMIT") and self.armed:
                self.armed -= 1
                cut.set()  # the server's answer to this COMMIT is swallowed and the connection dropped

    async def _server_to_client(
        self, reader: asyncio.StreamReader, client: asyncio.StreamWriter, cut: asyncio.Event
    ) -> None:
        while True:
            chunk = await reader.read(65536)
            if not chunk:
                return
            if cut.is_set():
                # The server answered the COMMIT (it is durable); the client never learns it.
                self.cuts += 1
                return
            client.write(chunk)
            await client.drain()


class Venue:
    """Counts what it is asked to execute; every copy fills."""

    name = "recording"

    def __init__(self) -> None:
        self.jobs: list[CopyJob] = []

    async def execute(self, job: CopyJob, journal: JobJournal) -> ExecutionResult:
        self.jobs.append(job)
        return ExecutionResult(TradeStatus.EXECUTED, fill_price_ppm=job.limit_price_ppm, fill_size=1)

    async def close(self) -> None:
        return None


@pytest_asyncio.fixture
async def proxied(pg_url: str) -> AsyncIterator[tuple[PostgresStore, CommitCutProxy]]:
    parts = urlsplit(pg_url)
    proxy = CommitCutProxy(parts.hostname or "127.0.0.1", parts.port or 5432)
    port = await proxy.start()
    netloc = parts.netloc.rsplit("@", 1)[0] + f"@127.0.0.1:{port}"
    query = parts.query + ("&" if parts.query else "") + "sslmode=disable"
    store = PostgresStore(urlunsplit((parts.scheme, netloc, parts.path, query, "")))
    await store.open()
    try:
        yield store, proxy
    finally:
        await store.close()
        await proxy.close()


async def _pipeline(store: PostgresStore, venue: Venue, cap: int) -> tuple[Pipeline, MemorySharedState]:
    shared = MemorySharedState()
    index = FanoutIndex()
    for i in range(FOLLOWERS):
        index.upsert(
            await store.add_config(
                CopyConfig(
                    follower=f"0x{i + 1:040x}",
                    proxy=f"0x{i + 0xA0:040x}",
                    leader=LEADER,
                    mode="fixed",
                    fixed_usd=COPY_USD,
                )
            )
        )
    pipeline = Pipeline(
        store=store,
        shared=shared,
        engine=venue,
        index=index,
        guardrails=Guardrails(daily_cap_usd=cap),
        config=PipelineConfig(consumer="cut", drain_interval_ms=10, claim_idle_ms=60_000),
        decoder=LogDecoder(ctf=CTF, v2_exchanges=[EXCHANGE], leaders=[LEADER]),
    )
    return pipeline, shared


async def _run_until(pipeline: Pipeline, done: int) -> None:
    stop = asyncio.Event()
    workers = asyncio.create_task(pipeline.run_workers(stop))
    try:

        async def settled() -> None:
            while pipeline.stats.executed + pipeline.stats.failed < done:
                await asyncio.sleep(0.01)

        await asyncio.wait_for(settled(), 60)
    finally:
        stop.set()
        await workers


async def _counter(shared: MemorySharedState) -> int:
    return await shared.counter(f"daily:{utc_day()}")


@pytest.mark.asyncio
async def test_copies_committed_without_an_answer_keep_their_caps_and_run_once(
    proxied: tuple[PostgresStore, CommitCutProxy],
) -> None:
    store, proxy = proxied
    venue = Venue()
    cap = FOLLOWERS * COPY_USD
    pipeline, shared = await _pipeline(store, venue, cap)
    fill = notification(LEADER, 42, "0x" + "ab" * 32, 7, 50 * USD, 100 * USD)

    proxy.armed = 1
    await pipeline.on_raw(fill, "ws")  # the group committer retries the batch on a new connection
    assert proxy.cuts == 1
    assert await store.count_trades(TradeStatus.PENDING) == FOLLOWERS
    # The rows the lost COMMIT stored are this intake's: queued, reservations held.
    assert pipeline.stats.queued == FOLLOWERS
    assert (await shared.queue_stats()).length == FOLLOWERS
    assert await _counter(shared) == cap

    # The cap is full: another fill's copies are refused, not run without a reservation.
    await pipeline.on_raw(notification(LEADER, 42, "0x" + "cd" * 32, 8, 50 * USD, 100 * USD), "ws")
    assert pipeline.stats.skipped["daily_cap"] == FOLLOWERS

    await _run_until(pipeline, FOLLOWERS)
    assert sorted(j.follower for j in venue.jobs) == [f"0x{i + 1:040x}" for i in range(FOLLOWERS)]
    assert await store.count_trades(TradeStatus.EXECUTED) == FOLLOWERS
    assert await _counter(shared) == cap  # executed copies keep what they reserved


@pytest.mark.asyncio
async def test_an_insert_that_fails_after_committing_queues_its_rows_and_the_replay_adds_nothing(
    proxied: tuple[PostgresStore, CommitCutProxy],
) -> None:
    store, proxy = proxied
    venue = Venue()
    cap = FOLLOWERS * COPY_USD
    pipeline, shared = await _pipeline(store, venue, cap)
    fill = notification(LEADER, 42, "0x" + "ab" * 32, 7, 50 * USD, 100 * USD)

    proxy.armed = 2  # the batch's COMMIT and its retry's COMMIT: the intake sees an error
    with pytest.raises(StoreError):
        await pipeline.on_raw(fill, "ws")
    assert proxy.cuts == 2
    assert pipeline.stats.queued == FOLLOWERS
    assert await _counter(shared) == cap

    # The detector reconnects and backfills the same log: already stored, nothing more held or queued.
    await pipeline.on_raw(fill, "backfill")
    assert pipeline.stats.queued == FOLLOWERS
    assert await _counter(shared) == cap

    await _run_until(pipeline, FOLLOWERS)
    assert len(venue.jobs) == FOLLOWERS
    assert len({j.key for j in venue.jobs}) == FOLLOWERS
    assert await store.count_trades(TradeStatus.EXECUTED) == FOLLOWERS
    assert await _counter(shared) == cap
