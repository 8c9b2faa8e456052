"""The venue's bytes on the wire: a prepared order is what the local CLOB's parser reads back field for
field with the same order hash; answers parsed exactly (no floats, no silent rounding); paginated lists
followed to their last page on a loopback server that pages (the local CLOB answers in one page)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from decimal import Decimal

import pytest
import pytest_asyncio
from aiohttp import web

from polyhunter._core import ExchangeDomain, OrderV2, Signer
from polyhunter.clobauth import ApiCreds, hmac_signature
from polyhunter.errors import DecodeError, InvalidInputError
from polyhunter.localpoly.orders import exchange_domain_separator, parse_order_request
from polyhunter.venue import ClobClient, PreparedOrder, prepare_order
from polyhunter.venue.wire import BalanceAllowance, MarketInfo, OrderBook, Placement, parse_json, units_of

EXCHANGE = "0xe111180000d2663c0091e4f400237545b87b996b"
KEY = "0x" + "42" * 32
SECRET = "c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0MTI="
WALLET = "0x" + "5a" * 20


def signed_order(signature_type: int = 0) -> tuple[OrderV2, object]:
    signer = Signer(KEY)
    maker = WALLET if signature_type == 3 else signer.address
    order = OrderV2(
        salt=2**200 + 7,
        maker=maker,
        signer=maker,
        token_id=2**255 + 3,
        maker_amount=5_100_000,
        taker_amount=10_000_000,
        side="BUY",
        timestamp=1_760_000_000_123,
        signature_type=signature_type,
    )
    return order, signer.sign_order(ExchangeDomain(EXCHANGE, 137), order)


@pytest.mark.parametrize("signature_type", [0, 3])
def test_prepared_order_reads_back_in_the_local_clobs_parser_with_the_same_hash(signature_type: int) -> None:
    order, signed = signed_order(signature_type)
    prepared = prepare_order(order, signed, owner="key-1", order_type="FAK")  # type: ignore[arg-type]
    assert prepared == prepare_order(order, signed, owner="key-1", order_type="FAK")  # type: ignore[arg-type]
    request = parse_order_request(json.loads(prepared.body))
    parsed = request.order
    assert (request.owner, request.order_type, request.post_only, request.expiration) == (
        "key-1",
        "FAK",
        False,
        0,
    )
    assert (parsed.salt, parsed.maker, parsed.signer, parsed.token_id) == (
        order.salt,
        order.maker,
        order.signer,
        order.token_id,
    )
    assert (parsed.maker_amount, parsed.taker_amount, parsed.side, parsed.timestamp) == (
        5_100_000,
        10_000_000,
        "BUY",
        order.timestamp,
    )
    assert parsed.signature == signed.signature  # type: ignore[attr-defined]
    assert "0x" + parsed.order_hash(exchange_domain_separator(EXCHANGE, 137)).hex() == prepared.order_hash
    assert b" " not in prepared.body  # compact: the bytes signed are the bytes sent
    assert repr(prepared) == f"PreparedOrder(order_hash={prepared.order_hash}, {len(prepared.body)} bytes)"


def test_prepare_refuses_inconsistent_envelopes() -> None:
    order, signed = signed_order()
    with pytest.raises(InvalidInputError, match="post-only"):
        prepare_order(order, signed, owner="k", order_type="FOK", post_only=True)  # type: ignore[arg-type]
    with pytest.raises(InvalidInputError, match="GTD"):
        prepare_order(order, signed, owner="k", order_type="GTC", expiration=1)  # type: ignore[arg-type]
    with pytest.raises(InvalidInputError, match="order type"):
        prepare_order(order, signed, owner="k", order_type="IOC")  # type: ignore[arg-type]
    with pytest.raises(InvalidInputError, match="owner"):
        prepare_order(order, signed, owner="")  # type: ignore[arg-type]
    with pytest.raises(InvalidInputError, match="order hash"):
        PreparedOrder(b"{}", "0x1234")
    with pytest.raises(InvalidInputError, match="empty"):
        PreparedOrder(b"", "0x" + "00" * 32)


def test_amounts_and_prices_are_exact() -> None:
    assert units_of("12.5", "size") == 12_500_000
    assert units_of("0.000001", "size") == 1
    assert units_of("", "makingAmount") == 0
    for bad in ("0.0000001", "-1", "1e400x", "NaN", 1.5):
        with pytest.raises(DecodeError):
            units_of(bad, "size")
    data = parse_json(
        b'{"mts":0.01,"mos":5,"c":"0xc","t":[{"t":"1"},{"t":"2"}],"nr":true,"fd":{"r":0.02,"e":1},"tbf":200}'
    )
    info = MarketInfo.from_json(data)
    assert (info.tick_size, info.min_order_size, info.fee_rate) == (
        Decimal("0.01"),
        Decimal(5),
        Decimal("0.02"),
    )
    assert (info.token_ids, info.neg_risk, info.fee_exponent, info.taker_base_fee_bps) == (
        (1, 2),
        True,
        1,
        200,
    )
    book = OrderBook.from_json(
        parse_json(
            b'{"asset_id":"9","market":"0xc","bids":[{"price":"0.47","size":"1"},{"price":"0.49","size":"2.5"}],'
            b'"asks":[{"price":"0.53","size":"3"},{"price":"0.51","size":"4"}]}'
        )
    )
    assert [(lvl.price, lvl.size) for lvl in book.bids] == [
        (Decimal("0.49"), 2_500_000),
        (Decimal("0.47"), 1_000_000),
    ]
    assert [lvl.price for lvl in book.asks] == [Decimal("0.51"), Decimal("0.53")]
    placed = Placement.from_json(
        {"orderID": "0xAB", "status": "matched", "makingAmount": "5.1", "takingAmount": "10"}
    )
    assert (placed.order_id, placed.making, placed.taking, placed.trade_ids) == (
        "0xab",
        5_100_000,
        10_000_000,
        [],
    )
    balance = BalanceAllowance.from_json({"balance": "1000000", "allowances": {"0xAB": "5"}})
    assert (balance.balance, balance.allowances) == (1_000_000, {"0xab": 5})
    with pytest.raises(DecodeError):
        BalanceAllowance.from_json({"balance": "1.5", "allowances": {}})
    with pytest.raises(DecodeError):
        parse_json(b"<html>")


# ---------------------------------------------------------------------- pagination on a paging server

PAGES = {"MA==": ("c1", ["t1", "t2"]), "c1": ("c2", ["t3"]), "c2": ("LTE=", ["t4"])}


def trade(trade_id: str) -> dict[str, str]:
    return {"id": trade_id, "status": "CONFIRMED", "asset_id": "9", "size": "1", "price": "0.5"}


@pytest_asyncio.fixture
async def paging_server() -> AsyncIterator[tuple[str, list[str]]]:
    """`/data/trades` in pages of the cursors above, checking each request's L2 signature."""
    cursors: list[str] = []

    async def trades(request: web.Request) -> web.Response:
        expected = hmac_signature(SECRET, request.headers["POLY_TIMESTAMP"], "GET", request.path, "")
        if request.headers.get("POLY_SIGNATURE") != expected:
            return web.json_response({"error": "Unauthorized/Invalid api key"}, status=401)
        cursor = request.query["next_cursor"]
        cursors.append(cursor)
        if request.query.get("market") != "0xc":
            return web.json_response({"error": "filter lost"}, status=400)
        following, ids = PAGES[cursor]
        return web.json_response({"data": [trade(i) for i in ids], "next_cursor": following})

    async def stuck(request: web.Request) -> web.Response:
        return web.json_response({"data": [], "next_cursor": "same"})

    app = web.Application()
    app.router.add_get("/data/trades", trades)
    app.router.add_get("/data/orders", stuck)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        yield f"http://127.0.0.1:{port}", cursors
    finally:
        await runner.cleanup()


@pytest.mark.asyncio
async def test_trades_follow_next_cursor_to_the_end(paging_server: tuple[str, list[str]]) -> None:
    url, cursors = paging_server
    creds = ApiCreds("key", SECRET, "pass")
    async with ClobClient(url, 137, Signer(KEY), creds=creds) as client:
        got = await client.trades(market="0xc")
        assert [t.trade_id for t in got] == ["t1", "t2", "t3", "t4"]
        assert cursors == ["MA==", "c1", "c2"]
        # A cursor that does not move ends the walk instead of looping.
        assert await client.orders() == []
