"""The local CLOB after its review: what the chain refuses never rests or fills, a cancel cannot race a fill,
cached balances are never stale after our own trades, the market maker quotes whole units and both outcomes
together, long-lived tasks survive node errors, start/stop leave nothing behind, bad bodies and a dead node
are answered cleanly, fee rates respect the exchange's cap, and the admin hooks stay local."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import httpx
import pytest
from localpoly_world import (
    USD,
    World,
    admin,
    build_world,
    client_contracts,
    make_client,
    refused,
    run_on,
    running_clob,
    trade_after_settlement,
    wait_drained,
    wait_settled,
)
from py_clob_client_v2.clob_types import BalanceAllowanceParams, OrderArgsV2, OrderType
from py_clob_client_v2.order_utils.model.order_data_v2 import order_to_json_v2
from web3 import Web3

from polyhunter.chain.anvil import Anvil
from polyhunter.chain.tx import contract, send
from polyhunter.errors import ChainError, ConfigError
from polyhunter.localpoly import ClobSettings, LocalClob, MarketMakerSettings
from polyhunter.localpoly import errors as e
from polyhunter.localpoly.balances import COLLATERAL, BalanceCache
from polyhunter.localpoly.onchain import ChainGateway
from polyhunter.localpoly.orders import OrderRequest, SignedOrder, parse_order_request

pytestmark = pytest.mark.integration

SECP256K1_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141


@pytest.fixture(scope="module")
def world() -> Iterator[World]:
    with Anvil() as node:
        yield build_world(node)


@pytest.fixture
def clob(world: World) -> Iterator[LocalClob]:
    with running_clob(world, ClobSettings()) as server, client_contracts(world):
        yield server


@pytest.fixture
def quiet_clob(world: World) -> Iterator[LocalClob]:
    """No market maker: the books hold only what a test puts there."""
    settings = ClobSettings(market_maker=MarketMakerSettings(enabled=False))
    with running_clob(world, settings) as server, client_contracts(world):
        yield server


def _request(client: Any, order: Any, order_type: str) -> OrderRequest:
    return parse_order_request(order_to_json_v2(order, client.creds.api_key, order_type))


# ---------------------------------------------------------------------- 1. what the chain refuses


def test_eoa_signatures_the_exchange_refuses_are_refused_at_admission(clob: LocalClob, world: World) -> None:
    admin(clob, eoa_allowlist=[world.eoa.address])
    client = make_client(clob, world.eoa)
    order = client.create_order(
        OrderArgsV2(token_id=str(world.market.yes_token_id), price=0.45, size=10, side="BUY")
    )
    sig = bytes.fromhex(order.signature.removeprefix("0x"))
    r, s, v = sig[:32], int.from_bytes(sig[32:64], "big"), sig[64]
    # The same signer recovers from both twins, but the exchange's `_recover` takes neither.
    high_s = r + (SECP256K1_N - s).to_bytes(32, "big") + bytes([55 - v])
    low_v = sig[:64] + bytes([v - 27])
    for twin in (high_s, low_v):
        forged = dataclasses.replace(order, signature="0x" + twin.hex())
        refusal = run_on(
            clob, clob.chain.order_refusal(world.pm.exchange, _request(client, forged, "GTC").order)
        )
        assert refusal is not None
        assert "InvalidSignature(bytes32)" in refusal
        assert refused(lambda o=forged: client.post_order(o)) == (400, {"error": e.INVALID_SIGNATURE})
    assert client.get_open_orders() == []
    assert client.post_order(order)["status"] == "live"  # the canonical signature is fine


def _revoke_allowance(world: World) -> None:
    pusd = contract(world.w3, "PolyUSD", world.pm.pusd)
    for exchange in world.pm.exchanges:
        send(world.w3, world.eoa, pusd.functions.approve(Web3.to_checksum_address(exchange), 0))


def _cancel_on_chain(world: World, order: SignedOrder) -> None:
    exchange = contract(world.w3, "CTFExchangeV2", world.pm.exchange)
    fields = list(order.as_abi())
    fields[1:3] = [Web3.to_checksum_address(a) for a in fields[1:3]]  # maker, signer
    send(world.w3, world.eoa, exchange.functions.cancelOrder(tuple(fields)))


@pytest.mark.parametrize("refusal", ["allowance revoked", "cancelled on chain"])
def test_failed_settlement_cancels_a_maker_the_chain_refuses(
    clob: LocalClob, world: World, refusal: str
) -> None:
    admin(clob, eoa_allowlist=[world.eoa.address])
    maker_client = make_client(clob, world.eoa)
    taker = make_client(clob, world.trader, world.trader_wallet)
    yes, no = str(world.market.yes_token_id), str(world.market.no_token_id)
    bid = maker_client.create_order(OrderArgsV2(token_id=yes, price=0.50, size=10, side="BUY"))
    bid_id = maker_client.post_order(bid)["orderID"]
    # Behind the CLOB's back (its cached allowance and order state are now stale):
    if refusal == "allowance revoked":
        _revoke_allowance(world)
    else:
        _cancel_on_chain(world, _request(maker_client, bid, "GTC").order)
    pusd0 = world.pusd(world.trader_wallet)
    # A BUY of NO at 0.50 mints against the YES bid at 0.50: matched, then refused on chain.
    answer = taker.create_and_post_order(
        OrderArgsV2(token_id=no, price=0.50, size=10, side="BUY"), order_type=OrderType.FOK
    )
    (trade_id,) = answer["tradeIDs"]
    assert trade_after_settlement(clob, taker, trade_id)["status"] == "FAILED"
    # The maker is not put back on the book for ever: it is cancelled; the market maker's bid is best again.
    assert maker_client.get_order(bid_id)["status"] == "CANCELED"
    assert taker.get_order_book(yes)["bids"][-1] == {"price": "0.49", "size": "100"}
    assert world.pusd(world.trader_wallet) == pusd0
    # The next taker trades with the market maker instead.
    again = taker.create_and_post_order(
        OrderArgsV2(token_id=no, price=0.51, size=10, side="BUY"), order_type=OrderType.FOK
    )
    assert trade_after_settlement(clob, taker, again["tradeIDs"][0])["status"] == "CONFIRMED"


# ---------------------------------------------------------------------- 2. a cancel cannot race a fill


def test_a_cancel_landing_while_an_order_checks_funds_never_says_canceled_for_a_fill(
    clob: LocalClob, world: World
) -> None:
    admin(clob, eoa_allowlist=[world.eoa.address])
    maker_client = make_client(clob, world.trader, world.trader_wallet)
    taker_client = make_client(clob, world.eoa)
    yes, no = str(world.market.yes_token_id), str(world.market.no_token_id)
    bid_id = maker_client.create_and_post_order(OrderArgsV2(token_id=yes, price=0.50, size=10, side="BUY"))[
        "orderID"
    ]
    taker = _request(
        taker_client,
        taker_client.create_order(OrderArgsV2(token_id=no, price=0.50, size=10, side="BUY")),
        "FOK",
    )
    engine = clob.engine

    async def race() -> tuple[dict[str, Any], dict[str, Any]]:
        entered, gate = asyncio.Event(), asyncio.Event()
        read = clob.balances.balance

        async def held_read(address: str, asset: str) -> int:
            entered.set()
            await gate.wait()
            return await read(address, asset)

        clob.balances.balance = held_read  # type: ignore[method-assign]
        try:
            placing = asyncio.create_task(
                engine.place(taker, taker_client.creds.api_key, world.eoa.address.lower())
            )
            await entered.wait()  # the taker has planned its fill and awaits its funds check
            canceling = asyncio.create_task(engine.cancel([bid_id], world.trader.address.lower()))
            await asyncio.sleep(0)  # the cancel runs as far as it can
            gate.set()
            return await placing, await canceling
        finally:
            clob.balances.balance = read  # type: ignore[method-assign]

    placed, canceled = run_on(clob, race())
    assert placed["status"] == "matched"
    assert canceled == {"canceled": [], "not_canceled": {bid_id: "Order already canceled or matched"}}
    (trade_id,) = placed["tradeIDs"]
    assert trade_after_settlement(clob, maker_client, trade_id)["status"] == "CONFIRMED"
    assert world.tokens(world.trader_wallet, world.market.yes_token_id) == 10 * USD


# ---------------------------------------------------------------------- 3. the balance cache


@pytest.mark.asyncio
async def test_a_balance_read_in_flight_during_forget_is_not_cached(world: World) -> None:
    snapshot = world.w3.provider.make_request("evm_snapshot", [])["result"]  # type: ignore[arg-type]
    chain = ChainGateway(world.clob_world.rpc_url, world.clob_world.wallet_factory)
    try:
        cache = BalanceCache(chain, world.clob_world)
        owner = world.eoa.address.lower()
        entered, gate = asyncio.Event(), asyncio.Event()
        read = chain.erc20_balance

        async def held_read(token: str, address: str) -> int:
            value = await read(token, address)
            entered.set()
            await gate.wait()
            return value

        chain.erc20_balance = held_read  # type: ignore[method-assign]
        in_flight = asyncio.create_task(cache.balance(owner, COLLATERAL))
        await entered.wait()  # the read holds the pre-trade balance
        before = world.pusd(owner)
        pusd = contract(world.w3, "PolyUSD", world.pm.pusd)
        send(world.w3, world.eoa, pusd.functions.transfer(world.admin.address, 7 * USD))
        cache.forget(owner)  # what a settlement of ours does after moving the funds
        gate.set()
        assert await in_flight == before
        chain.erc20_balance = read  # type: ignore[method-assign]
        assert await cache.balance(owner, COLLATERAL) == before - 7 * USD == world.pusd(owner)
    finally:
        chain.close()
        world.w3.provider.make_request("evm_revert", [snapshot])  # type: ignore[arg-type]


# ---------------------------------------------------------------------- 4. the market maker


def test_market_maker_quotes_whole_units_when_its_size_is_not(world: World) -> None:
    # 100.00001 shares at 0.49 would be 49.0000049 pUSD: not whole base units.
    settings = ClobSettings(market_maker=MarketMakerSettings(size=Decimal("100.00001")))
    with running_clob(world, settings) as clob, client_contracts(world):
        client = make_client(clob, world.trader, world.trader_wallet)
        book = client.get_order_book(str(world.market.yes_token_id))
        assert [lvl["price"] for lvl in book["bids"]] == ["0.47", "0.48", "0.49"]
        assert {lvl["size"] for lvl in book["bids"] + book["asks"]} == {"100"}


def test_set_mids_moves_both_outcomes_without_crossing_the_makers_own_quotes(
    clob: LocalClob, world: World
) -> None:
    client = make_client(clob, world.trader, world.trader_wallet)
    yes, no = world.market.yes_token_id, world.market.no_token_id
    run_on(clob, clob.set_mids({yes: Decimal("0.70"), no: Decimal("0.30")}))
    yes_book, no_book = client.get_order_book(str(yes)), client.get_order_book(str(no))
    assert [lvl["price"] for lvl in yes_book["bids"]] == ["0.67", "0.68", "0.69"]
    assert [lvl["price"] for lvl in yes_book["asks"]] == ["0.73", "0.72", "0.71"]
    assert [lvl["price"] for lvl in no_book["bids"]] == ["0.27", "0.28", "0.29"]
    assert [lvl["price"] for lvl in no_book["asks"]] == ["0.33", "0.32", "0.31"]
    best_bids = Decimal(yes_book["bids"][-1]["price"]) + Decimal(no_book["bids"][-1]["price"])
    best_asks = Decimal(yes_book["asks"][-1]["price"]) + Decimal(no_book["asks"][-1]["price"])
    assert best_bids < 1 < best_asks
    assert {lvl["size"] for lvl in yes_book["bids"] + no_book["asks"]} == {"100"}


# ---------------------------------------------------------------------- 5. long-lived tasks, start and stop


def test_confirmations_survive_a_failed_read_of_the_chain_head(clob: LocalClob, world: World) -> None:
    client = make_client(clob, world.trader, world.trader_wallet)
    admin(clob, confirmations=2)
    head = clob.chain.block_number
    failures: list[str] = []

    async def flaky_head() -> int:
        if not failures:
            failures.append("node blip")
            raise ChainError("RPC http://127.0.0.1: connection reset (injected)")
        return await head()

    clob.chain.block_number = flaky_head  # type: ignore[method-assign]
    answer = client.create_and_post_order(
        OrderArgsV2(token_id=str(world.market.yes_token_id), price=0.51, size=10, side="BUY"),
        order_type=OrderType.FOK,
    )
    wait_drained(clob)
    world.w3.provider.make_request("evm_mine", [])  # type: ignore[arg-type]
    wait_settled(clob)
    assert failures == ["node blip"]
    assert clob.engine.trades[answer["tradeIDs"][0]].status == "CONFIRMED"


def test_waiting_for_settlement_fails_loudly_when_the_worker_is_gone(clob: LocalClob, world: World) -> None:
    client = make_client(clob, world.trader, world.trader_wallet)
    run_on(clob, clob.worker.stop())
    client.create_and_post_order(
        OrderArgsV2(token_id=str(world.market.yes_token_id), price=0.51, size=10, side="BUY"),
        order_type=OrderType.FOK,
    )
    with pytest.raises(RuntimeError, match="settlement worker is not running"):
        run_on(clob, clob.settled(), timeout=30)


def test_a_start_failing_halfway_leaves_nothing_running(world: World) -> None:
    clob = LocalClob(dataclasses.replace(world.clob_world), rtds_port=0)

    async def node_down(*args: Any) -> int:
        raise ChainError("RPC http://127.0.0.1: connection refused (injected)")

    # The market maker starts last: its first read fails after the server, worker and feed are up.
    clob.chain.ctf_balance = node_down  # type: ignore[method-assign]

    async def start() -> None:
        with pytest.raises(ChainError, match="injected"):
            await clob.start()
        assert clob.url
        with pytest.raises(httpx.ConnectError):
            async with httpx.AsyncClient() as http:
                await http.get(clob.url + "/ok")
        with pytest.raises(RuntimeError, match="not started"):
            _ = clob.feed.url  # type: ignore[union-attr]  # the feed it started is stopped again
        assert clob.engine.listeners == []

    asyncio.run(start())


def test_stop_stops_the_market_maker(world: World) -> None:
    with running_clob(world, ClobSettings()) as clob:
        assert clob.market_maker is not None
        assert clob.engine.listeners != []
    assert clob.engine.listeners == []


# ---------------------------------------------------------------------- 6. bad bodies and a dead node


def test_bodies_that_are_not_utf8_or_name_an_unknown_charset_are_not_500(
    clob: LocalClob, world: World
) -> None:
    resp = httpx.post(f"{clob.url}/books", content=b'[{"token_id": "\xff\xfe"}]')
    assert (resp.status_code, resp.json()) == (400, {"error": "Invalid JSON payload"})
    client = make_client(clob, world.trader, world.trader_wallet)
    body = '{"orderID":"0x' + "ab" * 32 + '"}'
    headers = client._l2_headers("DELETE", "/order", serialized_body=body)
    headers["Content-Type"] = "application/json; charset=klingon"
    resp = httpx.request("DELETE", f"{clob.url}/order", content=body.encode(), headers=headers)
    assert resp.status_code == 200
    assert resp.json()["not_canceled"] == {"0x" + "ab" * 32: "Order not found or already canceled"}
    resp = httpx.request("DELETE", f"{clob.url}/order", content=b'{"orderID":"\xff"}', headers=headers)
    assert (resp.status_code, resp.json()) == (400, {"error": "Invalid JSON payload"})


def test_a_dead_node_answers_503_not_500(clob: LocalClob, world: World) -> None:
    client = make_client(clob, world.outsider)
    alive = clob.chain.w3
    # Nothing listens on the discard port: every read fails at once, as with a node that went down.
    clob.chain.w3 = Web3(Web3.HTTPProvider("http://127.0.0.1:9", exception_retry_configuration=None))
    try:
        params = BalanceAllowanceParams(asset_type="COLLATERAL", signature_type=0)
        status, body = refused(lambda: client.get_balance_allowance(params))
    finally:
        clob.chain.w3 = alive
    assert (status, body) == (503, {"error": e.CHAIN_UNAVAILABLE})
    assert "127.0.0.1:9" not in str(body)


# ---------------------------------------------------------------------- 7. fees and the exchange's cap


def test_a_market_charging_more_than_the_exchanges_max_fee_rate_is_refused_at_start(world: World) -> None:
    greedy = dataclasses.replace(world.fee_market, taker_fee_rate_bps=600)
    clob = LocalClob(dataclasses.replace(world.clob_world, markets=[world.market, greedy]))

    async def start() -> None:
        with pytest.raises(ConfigError, match=r"600 bps is above .* maxFeeRate of 500 bps"):
            await clob.start()

    asyncio.run(start())


# ---------------------------------------------------------------------- 8. the admin hooks stay local


def test_admin_endpoints_are_refused_when_remote_clients_are_allowed(world: World) -> None:
    with running_clob(world, ClobSettings(), allow_remote=True) as clob:
        settings = httpx.post(f"{clob.url}/_local/settings", json={"trading_mode": "disabled"})
        tick = httpx.post(
            f"{clob.url}/_local/tick-size",
            json={"condition_id": world.market.condition_id, "tick_size": "0.001"},
        )
        for resp in (settings, tick):
            assert (resp.status_code, resp.json()) == (403, {"error": e.ADMIN_REFUSED})
        assert clob.settings.trading_mode == "normal"
        assert clob.engine.market_of(world.market.yes_token_id).tick_size == Decimal("0.01")


# ---------------------------------------------------------------------- 10. the book's depth


def test_an_expired_gtd_order_is_not_depth_even_before_the_sweep(quiet_clob: LocalClob, world: World) -> None:
    import time

    clob = quiet_clob
    client = make_client(clob, world.trader, world.trader_wallet)
    token = world.market.yes_token_id
    expiration = int(time.time()) + 3600
    client.create_and_post_order(
        OrderArgsV2(token_id=str(token), price=0.50, size=10, side="BUY", expiration=expiration),
        order_type=OrderType.GTD,
    )
    assert clob.data.book_json(token)["bids"] == [{"price": "0.5", "size": "10"}]
    clob.engine.clock = lambda: expiration - 60
    # Read without a request (no sweep by the middleware): the expired order is not depth.
    book = clob.data.book_json(token)
    assert book["bids"] == []
    assert clob.data._mid(token) is None
