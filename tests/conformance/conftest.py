"""Back ends of the conformance suites: every test here runs against each one of an interface."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
import pytest_asyncio

from polyhunter.shared import MemorySharedState, RedisSharedState, SharedState
from polyhunter.store import PostgresStore, SqliteStore, Store


@dataclass
class StoreCase:
    """How to open (another) store on the database under test; `url` is what a child process gets."""

    backend: str
    url: str
    make: Callable[[], Store]


@pytest.fixture(params=["sqlite", "postgres"])
def store_case(request: pytest.FixtureRequest, tmp_path: Path) -> StoreCase:
    if request.param == "sqlite":
        path = tmp_path / "polyhunter.db"
        return StoreCase("sqlite", f"sqlite://{path}", lambda: SqliteStore(path))
    url = request.getfixturevalue("pg_url")
    return StoreCase("postgres", url, lambda: PostgresStore(url))


@pytest_asyncio.fixture
async def store(store_case: StoreCase) -> AsyncIterator[Store]:
    async with store_case.make() as opened:
        yield opened


@dataclass
class SharedCase:
    """How to open (another) shared state of the back end under test; `url`/`prefix` reach child processes."""

    backend: str
    make: Callable[..., SharedState]
    url: str = ""
    prefix: str = ""


@pytest.fixture(params=["memory", "redis"])
def shared_case(request: pytest.FixtureRequest) -> SharedCase:
    if request.param == "memory":
        only = MemorySharedState()  # in-process: "another" instance is the same one

        def make_memory(max_queue: int = 5000, max_deliveries: int = 5) -> SharedState:
            only.max_queue, only.max_deliveries = max_queue, max_deliveries
            return only

        return SharedCase("memory", make_memory)
    url, prefix = request.getfixturevalue("redis_url"), request.getfixturevalue("redis_prefix")

    def make_redis(max_queue: int = 5000, max_deliveries: int = 5) -> SharedState:
        return RedisSharedState(url, prefix, max_queue, max_deliveries)

    return SharedCase("redis", make_redis, url, prefix)
