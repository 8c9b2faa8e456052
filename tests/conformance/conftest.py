"""Back ends of the conformance suites: every test here runs against each one of an interface."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
import pytest_asyncio

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
