"""`ClobClient.post_orders`: at most 15 orders, their exact bytes in one list, one answer per order (its
placement or its own refusal), and a whole request that fails leaves each order's outcome unknown."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio
from aiohttp import web

from polyhunter._core import Signer
from polyhunter.clobauth import ApiCreds
from polyhunter.errors import InvalidInputError
from polyhunter.venue import (
    ClobClient,
    OrderOutcomeUnknown,
    Placement,
    PreparedOrder,
    TickSizeViolation,
    Unauthorized,
)
from polyhunter.venue.client import MAX_BATCH_ORDERS

pytestmark = pytest.mark.asyncio

KEY = "0x" + "42" * 32
SECRET = "c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0MTI="
TICK = "Price (0.455) breaks minimum tick size rule: 0.01"


def order(i: int) -> PreparedOrder:
    return PreparedOrder(body=json.dumps({"order": {"salt": i}}).encode(), order_hash=f"0x{i:064x}")


def placed(order_hash: str) -> dict[str, Any]:
    return {
        "success": True,
        "errorMsg": "",
        "orderID": order_hash,
        "status": "matched",
        "makingAmount": "2.55",
        "takingAmount": "5",
        "tradeIDs": ["t"],
        "transactionsHashes": [],
    }


class Venue:
    """A loopback CLOB answering `POST /orders` with `replies` in turn (status, body)."""

    def __init__(self) -> None:
        self.replies: list[tuple[int, Any]] = []
        self.bodies: list[bytes] = []
        self.url = ""


@pytest_asyncio.fixture
async def venue() -> AsyncIterator[Venue]:
    state = Venue()

    async def post_orders(request: web.Request) -> web.Response:
        state.bodies.append(await request.read())
        status, body = state.replies.pop(0)
        headers = {"Retry-After": "0"} if status == 429 else None
        return web.json_response(body, status=status, headers=headers)

    app = web.Application()
    app.router.add_post("/orders", post_orders)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    state.url = f"http://127.0.0.1:{runner.addresses[0][1]}"
    try:
        yield state
    finally:
        await runner.cleanup()


def client(url: str) -> ClobClient:
    return ClobClient(url, 137, Signer(KEY), creds=ApiCreds("key", SECRET, "pass"), timeout_s=5)


async def test_more_than_fifteen_or_the_same_order_twice_is_refused_before_sending(venue: Venue) -> None:
    async with client(venue.url) as c:
        with pytest.raises(InvalidInputError, match="at most 15"):
            await c.post_orders([order(i) for i in range(MAX_BATCH_ORDERS + 1)])
        with pytest.raises(InvalidInputError, match="twice"):
            await c.post_orders([order(1), order(1)])
        with pytest.raises(InvalidInputError, match="at least one"):
            await c.post_orders([])
    assert venue.bodies == []
    assert MAX_BATCH_ORDERS == 15


async def test_each_order_gets_its_own_entry_in_the_order_sent(venue: Venue) -> None:
    orders = [order(i) for i in range(1, 6)]
    venue.replies.append(
        (
            200,
            [
                placed(orders[0].order_hash),
                {"success": False, "errorMsg": TICK, "orderID": "", "status": ""},
                placed(orders[3].order_hash),  # an entry for another order than the one sent there
                {"success": True, "orderID": orders[3].order_hash, "makingAmount": "x"},
                placed(orders[4].order_hash.upper().replace("0X", "0x")),
            ],
        )
    )
    async with client(venue.url) as c:
        answers = await c.post_orders(orders)
    # The exact bytes of each order, in one JSON list, in the order given.
    assert venue.bodies == [b"[" + b",".join(o.body for o in orders) + b"]"]
    first, tick, other, unreadable, last = answers
    assert isinstance(first, Placement)
    assert (first.order_id, first.making, first.taking) == (orders[0].order_hash, 2_550_000, 5_000_000)
    assert isinstance(tick, TickSizeViolation)
    assert tick.message == TICK
    assert isinstance(other, OrderOutcomeUnknown)
    assert other.order_hash == orders[2].order_hash
    assert isinstance(unreadable, OrderOutcomeUnknown)
    assert unreadable.order_hash == orders[3].order_hash
    assert isinstance(last, Placement)


@pytest.mark.parametrize(
    "reply",
    [
        (500, {"error": "order timed out"}),
        (200, [{"success": True}]),  # fewer entries than orders: none can be matched to its order
        (200, {"orderID": "0x1"}),
    ],
)
async def test_a_whole_request_without_a_usable_answer_leaves_every_outcome_unknown(
    venue: Venue, reply: tuple[int, Any]
) -> None:
    orders = [order(7), order(8)]
    venue.replies.append(reply)
    async with client(venue.url) as c:
        answers = await c.post_orders(orders)
    assert [type(a) for a in answers] == [OrderOutcomeUnknown, OrderOutcomeUnknown]
    assert [a.order_hash for a in answers if isinstance(a, OrderOutcomeUnknown)] == [
        o.order_hash for o in orders
    ]
    assert [a.body for a in answers if isinstance(a, OrderOutcomeUnknown)] == [o.body for o in orders]


async def test_a_rate_limited_batch_is_sent_again_whole_and_a_refused_one_refuses_each(venue: Venue) -> None:
    orders = [order(9), order(10)]
    venue.replies += [(429, {"error": "Too Many Requests"}), (200, [placed(o.order_hash) for o in orders])]
    async with client(venue.url) as c:
        answers = await c.post_orders(orders)
        assert [type(a) for a in answers] == [Placement, Placement]
        # The same bytes both times: a 429 refuses the whole request before anything is placed.
        assert len(venue.bodies) == 2
        assert venue.bodies[0] == venue.bodies[1]
        venue.replies.append((401, {"error": "Unauthorized/Invalid api key"}))
        refused = await c.post_orders(orders)
    assert [type(a) for a in refused] == [Unauthorized, Unauthorized]
    assert refused[0] is not refused[1]  # each waiter raises an error of its own
