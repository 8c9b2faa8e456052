"""Redis losing its data mid-run (a restart without persistence): the supervisor restores the consumer group,
refills the queue from the store's PENDING rows and seeds the daily-cap counters from the store, so copying
resumes, every copy happens once and no cap is exceeded. The test runs its own non-persistent `redis-server`
on a free loopback port and kills only that process; the Redis other tests share is never touched."""

from __future__ import annotations

import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from supervisor_helpers import FAST, SHARE, USD, World, until

from polyhunter.chain.local import LocalChain
from polyhunter.models import TradeStatus
from polyhunter.supervisor.app import Supervisor

pytestmark = [pytest.mark.integration, pytest.mark.asyncio]

COPY_USD = 10 * USD
CAP_USD = 50  # five $10 copies; the sixth is refused


class OwnRedis:
    """A `redis-server` with no persistence on a free loopback port, killed and restarted by the test."""

    def __init__(self, workdir: Path) -> None:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = int(probe.getsockname()[1])
        self.workdir = workdir
        self.proc: subprocess.Popen[bytes] | None = None
        self.url = f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [
                *("redis-server", "--port", str(self.port), "--bind", "127.0.0.1"),
                *("--save", "", "--appendonly", "no", "--dir", str(self.workdir)),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        client = redis.Redis.from_url(self.url, socket_connect_timeout=1)
        try:
            for _ in range(300):
                try:
                    if client.ping():
                        assert client.dbsize() == 0  # nothing survives: no RDB, no AOF
                        return
                except redis.ConnectionError:
                    if self.proc.poll() is not None:
                        pytest.fail(f"redis-server on port {self.port} exited with {self.proc.returncode}")
                    time.sleep(0.05)
            pytest.fail(f"redis-server on port {self.port} did not answer")
        finally:
            client.close()

    def kill(self) -> None:
        """SIGKILL: whatever it held is gone."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[OwnRedis]:
    server = OwnRedis(tmp_path)
    server.start()
    try:
        yield server
    finally:
        server.kill()


async def test_copying_survives_redis_losing_its_data_with_caps_held(
    local_chain: LocalChain, pg_url: str, own_redis: OwnRedis, tmp_path: Path
) -> None:
    home = tmp_path / "home"
    local_chain.deployment.save(home / "deployment.json")
    env = {
        "POLYHUNTER_HOME": str(home),
        **FAST,
        "DATABASE_URL": pg_url,
        "SUPERVISOR_REDIS_URL": own_redis.url,
        "COPY_TRADING_DAILY_CAP_USD": str(CAP_USD),
        "COPY_TRADING_WALLET_LEASE_MS": "3000",
    }
    world = World(local_chain, env, home, "postgres+redis", local_chain.w3.eth.block_number + 1)
    await world.follow(0, 0, mode="fixed", fixed_usd=COPY_USD)
    await world.follow(1, 0, mode="fixed", fixed_usd=COPY_USD)

    kill_on_queue = False
    lost: list[int] = []

    def on_event(kind: str, data: dict[str, Any]) -> None:
        nonlocal kill_on_queue
        if kind == "queued" and kill_on_queue:
            # The batch's jobs are in the stream and no worker has fetched them: they are lost with Redis.
            kill_on_queue = False
            own_redis.kill()
            lost.append(1)

    supervisor = Supervisor(world.settings(), world.deployment, consumer="loss", on_event=on_event)
    await supervisor.start()
    try:
        await supervisor.wait_connected()

        async def executed(n: int) -> bool:
            return await supervisor.store.count_trades(TradeStatus.EXECUTED) >= n

        # Before the loss: two copies, $20 of the $50 cap.
        await world.trade(0, "BUY", 0, 200 * SHARE, 100 * USD)
        await until(lambda: executed(2), "the first two copies", 120)

        resets = supervisor.shared.resets  # 1: a Redis that starts empty is seeded the same way
        kill_on_queue = True
        await world.trade(0, "BUY", 0, 200 * SHARE, 100 * USD)
        await until(lambda: bool(lost), "Redis killed with two jobs queued", 120)
        assert await supervisor.store.count_trades(TradeStatus.PENDING) == 2
        own_redis.start()  # empty: no group, no stream, no counters

        # Copying resumes: the queue is refilled from the store's PENDING rows.
        await until(lambda: executed(4), "the copies queued before the loss", 180)
        assert supervisor.shared.resets == resets + 1

        # The counters were seeded from the store ($40 held): only one of these two $10 copies fits.
        await world.trade(0, "BUY", 0, 200 * SHARE, 100 * USD)

        async def third_done() -> bool:
            store = supervisor.store
            return await store.count_trades(TradeStatus.EXECUTED) + await store.count_trades(
                TradeStatus.SKIPPED
            ) >= 6 and not await store.count_trades(TradeStatus.PENDING)

        await until(third_done, "the third trade's copies", 180)
    finally:
        await supervisor.stop()

    records = await world.records()
    executed_records = [r for r in records if r.status is TradeStatus.EXECUTED]
    skipped = [r for r in records if r.status is TradeStatus.SKIPPED]
    assert len(executed_records) == 5
    assert [r.reason for r in skipped] == ["daily_cap"]
    assert sum(r.amount for r in executed_records) == CAP_USD * USD  # the cap, not a cent more
    # Once each, on chain: 20 shares ($10 at $0.50) per copy, five in all, no Proxy paid twice for one fill.
    pushed = world.pushed(world.proxies[0]) + world.pushed(world.proxies[1])
    assert len(pushed) == 5
    assert {p.amount for p in pushed} == {20 * SHARE}
    per_fill = sorted((r.tx_hash, r.follower) for r in executed_records)
    assert len(set(per_fill)) == len(per_fill) == 5
