"""What the supervisor integration tests share: the two back-end pairs, a local world per test (follower
rules, leader trades), the supervisor in this process or as real subprocesses, and what the chain says
(the Executor's `Pushed` events per Proxy, Proxy balances), which is what every test checks in the end.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import pytest

from polyhunter._core import keccak256
from polyhunter.chain.local import LocalChain, Side
from polyhunter.detector.filters import topic_of
from polyhunter.models import CopyConfig, TradeRecord, TradeStatus
from polyhunter.settings import Settings, load_settings
from polyhunter.store import open_store
from polyhunter.store.base import Store
from polyhunter.supervisor.app import Supervisor

USD = 1_000_000
SHARE = 1_000_000
PUSHED_TOPIC = "0x" + keccak256(b"Pushed(address,address,address,uint256,uint256)").hex()

SQLITE_MEMORY = "sqlite+memory"
POSTGRES_REDIS = "postgres+redis"
BACKENDS = [SQLITE_MEMORY, POSTGRES_REDIS]

# Short intervals so the suite stays fast; every test may override them.
FAST: dict[str, str] = {
    "SUPERVISOR_CONFIG_REFRESH_MS": "200",
    "SUPERVISOR_CONFIG_FULL_REFRESH_MS": "600000",
    "SUPERVISOR_QUEUE_DRAIN_INTERVAL_MS": "50",
    "SUPERVISOR_QUEUE_CLAIM_IDLE_MS": "1000",
    "POLYHUNTER_GROUP_COMMIT_MS": "1",
    # Each supervisor serves its metrics on a free loopback port: instances side by side never collide.
    "SUPERVISOR_METRICS_ADDR": "127.0.0.1:0",
}

# A subprocess sees only what the test gives it: no back end, key or fault point from the caller's shell.
CLEAN_ENV = {
    k: v
    for k, v in os.environ.items()
    if k not in {"DATABASE_URL", "REDIS_URL", "TRADING_MNEMONIC", "TRADING_PRIVATE_KEY", "DRY_RUN"}
    and not k.startswith(("SUPERVISOR_", "COPY_TRADING_", "POLYHUNTER_"))
}


def backend_env(name: str, request: pytest.FixtureRequest, home: Path) -> dict[str, str]:
    """The environment of a supervisor on back-end pair `name` (a fresh PG schema and Redis prefix)."""
    env = {"POLYHUNTER_HOME": str(home), **FAST}
    if name == POSTGRES_REDIS:
        env["DATABASE_URL"] = request.getfixturevalue("pg_url")
        env["SUPERVISOR_REDIS_URL"] = request.getfixturevalue("redis_url")
        env["SUPERVISOR_REDIS_PREFIX"] = request.getfixturevalue("redis_prefix")
    return env


async def until(
    check: Callable[[], Awaitable[bool] | bool], what: str, timeout_s: float = 60.0, every_s: float = 0.05
) -> None:
    """Polls `check` until it is true; fails the test naming `what` after `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = check()
        if inspect.isawaitable(value):
            value = await value
        if value:
            return
        if time.monotonic() > deadline:
            pytest.fail(f"{what}: not reached within {timeout_s:.0f}s")
        await asyncio.sleep(every_s)


@dataclass(frozen=True)
class Pushed:
    """An Executor `Pushed` event: what a worker gave a Proxy (tokens for a BUY, collateral for a SELL)."""

    token: str
    id: int
    amount: int


@dataclass
class World:
    """The session's local world for one test (reverted afterwards) on one back-end pair."""

    chain: LocalChain
    env: dict[str, str]
    home: Path
    backend: str
    start_block: int

    @property
    def deployment(self) -> Any:
        return self.chain.deployment

    @property
    def leaders(self) -> list[str]:
        return [a.lower() for a in self.deployment.accounts.leaders]

    @property
    def followers(self) -> list[str]:
        return [a.lower() for a in self.deployment.accounts.followers]

    @property
    def proxies(self) -> list[str]:
        return [self.chain.proxy_of(f).lower() for f in self.followers]

    @property
    def yes(self) -> list[int]:
        """The YES token id of each standard market (the neg-risk one is not traded on LocalExchange here)."""
        return [m.yes_token_id for m in self.deployment.markets if not m.neg_risk]

    def settings(self, **overrides: Any) -> Settings:
        """Settings from `env` only (the caller's own back-end variables never leak in)."""
        values: dict[str, Any] = {
            "database_url": None,
            "redis_url": None,
            "supervisor_redis_url": None,
            "copy_trading_ws_url": None,
        }
        values.update({k.lower(): v for k, v in self.env.items()})
        values.update(overrides)
        return load_settings(**values)

    @contextlib.asynccontextmanager
    async def store(self) -> AsyncIterator[Store]:
        store = await open_store(self.settings())
        try:
            yield store
        finally:
            await store.close()

    async def follow(self, follower: int, leader: int, **rule: Any) -> CopyConfig:
        """Stores a config: follower `follower` (its Proxy) copies leader `leader` with `rule`."""
        async with self.store() as store:
            return await store.add_config(
                CopyConfig(
                    follower=self.followers[follower],
                    proxy=self.proxies[follower],
                    leader=self.leaders[leader],
                    **rule,
                )
            )

    async def trade(self, leader: int, side: Side, market: int, tokens: int, collateral: int) -> int:
        """Leader `leader` trades on LocalExchange; returns the block it landed in."""
        receipt = await asyncio.to_thread(
            self.chain.trade, self.leaders[leader], side, self.yes[market], tokens, collateral
        )
        assert receipt["status"] == 1
        return int(receipt["blockNumber"])

    def pushed(self, proxy: str) -> list[Pushed]:
        """Every Executor `Pushed` event to `proxy` since the test began, in chain order."""
        logs = self.chain.w3.eth.get_logs(
            {
                "address": self.chain.executor.address,
                "topics": [PUSHED_TOPIC, topic_of(proxy)],  # type: ignore[list-item]
                "fromBlock": self.start_block,
            }
        )
        out = []
        for entry in logs:
            data = bytes(entry["data"])
            token = "0x" + bytes(entry["topics"][3])[12:].hex()
            out.append(Pushed(token, int.from_bytes(data[:32]), int.from_bytes(data[32:64])))
        return out

    def holdings(self, proxy: str) -> tuple[int, int, int]:
        """(collateral, YES of market 0, YES of market 1) of `proxy`, base units."""
        return (
            self.chain.collateral_of(proxy),
            self.chain.tokens_of(proxy, self.yes[0]),
            self.chain.tokens_of(proxy, self.yes[1]),
        )

    def bought(self, market: int, *tokens: int) -> list[Pushed]:
        """The `Pushed` events of BUY copies that gave a Proxy `tokens` YES of `market`, one each."""
        ctf = self.deployment.contracts.ctf.lower()
        return [Pushed(ctf, self.yes[market], t) for t in tokens]

    async def records(self, status: TradeStatus | None = None) -> list[TradeRecord]:
        async with self.store() as store:
            return await store.list_trades(status, limit=10_000)


async def counts(store: Store) -> dict[TradeStatus, int]:
    """How many records the store holds in each status."""
    return {s: await store.count_trades(s) for s in TradeStatus}


@contextlib.asynccontextmanager
async def running(world: World, **overrides: Any) -> AsyncIterator[Supervisor]:
    """A supervisor in this process on `world`, connected; stopped (drained) on exit."""
    supervisor = Supervisor(world.settings(**overrides), world.deployment, consumer="test")
    await supervisor.start()
    try:
        await supervisor.wait_connected()
        yield supervisor
    finally:
        await supervisor.stop()


async def settled(supervisor: Supervisor, executed: int, what: str, timeout_s: float = 60.0) -> None:
    """Waits until `executed` copies are EXECUTED and nothing is PENDING, queued or executing any more."""

    async def check() -> bool:
        store, pipeline = supervisor.store, supervisor.pipeline
        if await store.count_trades(TradeStatus.PENDING):
            return False
        if (await supervisor.shared.queue_stats()).length or pipeline._inflight:
            return False
        return await store.count_trades(TradeStatus.EXECUTED) >= executed

    await until(check, what, timeout_s)


class SupervisorProcess:
    """`polyhunter supervisor` as a real subprocess, its log in `$POLYHUNTER_HOME/<name>.log`."""

    def __init__(self, world: World, name: str, **env: str) -> None:
        self.world = world
        self.name = name
        self.env = {**CLEAN_ENV, **world.env, **env}
        self.log_path = world.home / f"{name}.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    def start(self) -> SupervisorProcess:
        self._log = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "polyhunter.cli", "supervisor"],
            env=self.env,
            cwd=self.world.home,  # no stray .env file from the checkout
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        return self

    @property
    def output(self) -> str:
        return self.log_path.read_text(errors="replace")

    async def wait_connected(self, times: int = 1, timeout_s: float = 60.0) -> None:
        """Waits for the `times`-th "detector connected" line of this process's log (across restarts)."""

        def check() -> bool:
            if self.proc is not None and self.proc.poll() is not None and self.proc.returncode != 0:
                pytest.fail(f"{self.name} exited with {self.proc.returncode}:\n{self.output[-4000:]}")
            return self.output.count("detector connected") >= times

        await until(check, f"{self.name} connected", timeout_s)

    def signal(self, sig: signal.Signals) -> None:
        assert self.proc is not None
        self.proc.send_signal(sig)

    async def wait_exit(self, timeout_s: float = 60.0) -> int:
        assert self.proc is not None
        proc = self.proc
        await until(lambda: proc.poll() is not None, f"{self.name} exit", timeout_s)
        if self._log is not None:
            self._log.close()
        return int(proc.returncode)

    def close(self) -> None:
        """Kills the process if it still runs (the test failed half-way)."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        if self._log is not None:
            self._log.close()


def env_of(**settings: object) -> Mapping[str, str]:
    """Settings as environment variables for a subprocess."""
    return {k.upper(): str(v) for k, v in settings.items()}
