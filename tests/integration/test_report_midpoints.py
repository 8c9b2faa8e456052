"""The report's midpoints from the local CLOB's books: (best bid + best ask) / 2, exact, the same as the
venue's own `/midpoint`; a token without a book has none (the report lists it unpriced)."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from fractions import Fraction

import httpx
import pytest
from localpoly_world import World, build_world, running_clob

from polyhunter._core import Signer
from polyhunter.chain.anvil import Anvil
from polyhunter.localpoly import ClobSettings, LocalClob
from polyhunter.report.sources import BookMidpoints, FixedMidpoints
from polyhunter.venue.client import ClobClient

pytestmark = [pytest.mark.integration]


@pytest.fixture(scope="module")
def world() -> Iterator[World]:
    with Anvil() as node:
        yield build_world(node)


@pytest.fixture
def clob(world: World) -> Iterator[LocalClob]:
    with running_clob(world, ClobSettings()) as server:
        yield server


@pytest.mark.asyncio
async def test_midpoints_from_the_books(clob: LocalClob, world: World) -> None:
    yes = world.market.yes_token_id
    async with ClobClient(clob.url, clob.world.chain_id, Signer(secrets.token_bytes(32).hex())) as client:
        # The market maker's ladder: best bid 0.49, best ask 0.51.
        mids = await BookMidpoints(client).midpoints([yes, 123])
        assert mids == {yes: Fraction(1, 2), 123: None}
        async with httpx.AsyncClient() as http:
            own = (await http.get(f"{clob.url}/midpoint", params={"token_id": str(yes)})).json()
        assert Fraction(own["mid"]) == mids[yes]
        # A midpoint given by hand wins over the venue's for its token only.
        both = await FixedMidpoints({123: Fraction(3, 10)}, BookMidpoints(client)).midpoints([yes, 123])
        assert both == {yes: Fraction(1, 2), 123: Fraction(3, 10)}
