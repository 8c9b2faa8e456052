"""The local CLOB judged by the official py-clob-client-v2: API keys, books, deposit-wallet and EOA orders
settled on chain by `matchOrders`, trades to CONFIRMED, exact balances, and production's refusals."""

from __future__ import annotations

import json
import math
import time
from collections.abc import Iterator
from fractions import Fraction
from types import SimpleNamespace
from typing import Any

import httpx
import pytest
from localpoly_world import (
    USD,
    World,
    admin,
    build_world,
    client_contracts,
    fills_of,
    make_client,
    refused,
    running_clob,
    trade_after_settlement,
    wait_drained,
    wait_settled,
)
from py_clob_client_v2 import ClobClient
from py_clob_client_v2.clob_types import (
    ApiCreds,
    MarketOrderArgsV2,
    OpenOrderParams,
    OrderArgsV2,
    OrderPayload,
    OrderType,
)

from polyhunter.chain.anvil import Anvil
from polyhunter.localpoly import ClobSettings, LocalClob
from polyhunter.localpoly import errors as e

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def world() -> Iterator[World]:
    with Anvil() as node:
        yield build_world(node)


CURRENT: list[LocalClob] = []


@pytest.fixture
def clob(world: World) -> Iterator[LocalClob]:
    settings = ClobSettings()
    with running_clob(world, settings) as server, client_contracts(world):
        CURRENT[:] = [server]
        yield server


def settled_trade(client: ClobClient, trade_id: str) -> dict[str, Any]:
    return trade_after_settlement(CURRENT[0], client, trade_id)


# ---------------------------------------------------------------------- auth and reads


def test_api_key_create_then_derive_same_and_unknown_nonce_refused(clob: LocalClob, world: World) -> None:
    client = ClobClient(clob.url, clob.world.chain_id, key=world.trader.key.hex())
    created = client.create_api_key(nonce=3)
    assert client.derive_api_key(nonce=3) == created
    status, body = refused(lambda: client.derive_api_key(nonce=4))
    assert (status, body) == (400, {"error": e.DERIVE_FAILED})
    forged = ClobClient(
        clob.url,
        clob.world.chain_id,
        key=world.trader.key.hex(),
        creds=ApiCreds(
            created.api_key, "c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0MTI=", created.api_passphrase
        ),
    )
    assert refused(forged.get_open_orders) == (401, {"error": e.UNAUTHORIZED})


def test_books_and_market_parameters_in_the_clients_shapes(clob: LocalClob, world: World) -> None:
    client = make_client(clob, world.trader, world.trader_wallet)
    token = str(world.market.yes_token_id)
    book = client.get_order_book(token)
    # Worst first, the best level last; the market maker's ladder of 100 shares a level.
    assert [lvl["price"] for lvl in book["asks"]] == ["0.53", "0.52", "0.51"]
    assert [lvl["price"] for lvl in book["bids"]] == ["0.47", "0.48", "0.49"]
    assert {lvl["size"] for lvl in book["asks"] + book["bids"]} == {"100"}
    assert client.get_order_book_hash(dict(book)) == book["hash"]
    assert client.get_tick_size(token) == "0.01"
    assert client.get_neg_risk(token) is False
    assert client.get_neg_risk(str(world.clob_world.markets[2].yes_token_id)) is True
    assert client.get_midpoint(token) == {"mid": "0.5"}
    assert client.get_version() == 2
    info = client.get_clob_market_info(world.fee_market.condition_id)
    assert info["fd"] == {"r": 0.02, "e": 1, "to": True}
    assert refused(lambda: client.get_order_book("123")) == (400, {"error": e.NO_ORDERBOOK})


# ---------------------------------------------------------------------- orders settled on chain


def test_deposit_wallet_gtc_cancel_then_fok_settles_on_chain(clob: LocalClob, world: World) -> None:
    client = make_client(clob, world.trader, world.trader_wallet)
    token = world.market.yes_token_id
    wallet, mm = world.trader_wallet, world.mm_wallet
    pusd0, mm_pusd0, mm_yes0 = world.pusd(wallet), world.pusd(mm), world.tokens(mm, token)

    resting = client.create_and_post_order(OrderArgsV2(token_id=str(token), price=0.45, size=10, side="BUY"))
    assert resting["status"] == "live"
    assert resting["tradeIDs"] == []
    assert client.get_order(resting["orderID"])["status"] == "LIVE"
    assert [o["id"] for o in client.get_open_orders(OpenOrderParams(asset_id=str(token)))] == [
        resting["orderID"]
    ]
    assert client.cancel_order(OrderPayload(orderID=resting["orderID"]))["canceled"] == [resting["orderID"]]
    assert client.get_order(resting["orderID"])["status"] == "CANCELED"

    answer = client.create_and_post_market_order(
        MarketOrderArgsV2(token_id=str(token), amount=10, side="BUY"), order_type=OrderType.FOK
    )
    assert answer["status"] == "matched"
    (trade_id,) = answer["tradeIDs"]
    trade = settled_trade(client, trade_id)
    assert trade["status"] == "CONFIRMED"
    assert trade["price"] == "0.51"
    assert answer["transactionsHashes"] == [trade["transaction_hash"]]
    # $10 at the worst price 0.51: 19.6078 shares (the client's 4-decimal rounding), paid at the ask's ratio.
    shares = 19_607_800
    paid = shares * 51 // 100
    assert world.pusd(wallet) == pusd0 - paid
    assert world.tokens(wallet, token) == shares
    # The maker got the price and split as much pUSD again into YES+NO to refill its 0.51 ask.
    assert world.pusd(mm) == mm_pusd0 + paid - shares
    rows = fills_of(world, trade["transaction_hash"])
    assert rows == [
        {"maker": mm, "taker": wallet, "side": 1, "token": token, "making": shares, "taking": paid, "fee": 0},
        {
            "maker": wallet,
            "taker": world.pm.exchange,
            "side": 0,
            "token": token,
            "making": paid,
            "taking": shares,
            "fee": 0,
        },
        {"matched": wallet},
    ]
    wait_settled(clob)
    # The market maker refilled its 0.51 level (splitting pUSD for the tokens it sold), after the fill.
    assert client.get_order_book(str(token))["asks"][-1] == {"price": "0.51", "size": "100"}
    assert world.tokens(mm, token) == mm_yes0  # sold 19.6078, split 19.6078 more


def test_allowlisted_eoa_buys_then_sells_back(clob: LocalClob, world: World) -> None:
    admin(clob, eoa_allowlist=[world.eoa.address])
    client = make_client(clob, world.eoa)
    token = world.market.yes_token_id
    eoa = world.eoa.address.lower()
    pusd0 = world.pusd(eoa)
    buy = client.create_and_post_order(
        OrderArgsV2(token_id=str(token), price=0.52, size=150, side="BUY"), order_type=OrderType.FOK
    )
    # 100 from the YES ask at 0.51, then 50 minted against the NO bid at 0.49 (also 0.51 for YES, and older
    # than the 0.52 ask): one matchOrders mixing a COMPLEMENTARY and a MINT leg, two trades.
    assert len(buy["tradeIDs"]) == 2
    rows = [settled_trade(client, t) for t in buy["tradeIDs"]]
    trades = sorted((t["type"], t["price"], t["size"]) for t in rows)
    assert trades == [("COMPLEMENTARY", "0.51", "100"), ("MINT", "0.51", "50")]
    assert world.tokens(eoa, token) == 150 * USD
    assert world.pusd(eoa) == pusd0 - 76_500_000
    sell = client.create_and_post_market_order(
        MarketOrderArgsV2(token_id=str(token), amount=150, side="SELL", price=0.48), order_type=OrderType.FOK
    )
    # 100 to the YES bid at 0.49, 50 merged with the NO ask at 0.51 (0.49 for YES).
    rows = [settled_trade(client, t) for t in sell["tradeIDs"]]
    trades = sorted((t["type"], t["price"]) for t in rows)
    assert trades == [("COMPLEMENTARY", "0.49"), ("MERGE", "0.49")]
    assert world.tokens(eoa, token) == 0
    assert world.pusd(eoa) == pusd0 - 76_500_000 + 73_500_000


def test_taker_fee_is_charged_on_chain(clob: LocalClob, world: World) -> None:
    client = make_client(clob, world.trader, world.trader_wallet)
    token = world.fee_market.yes_token_id
    pusd0, fees0 = world.pusd(world.trader_wallet), world.pusd(world.admin.address)
    answer = client.create_and_post_order(
        OrderArgsV2(token_id=str(token), price=0.51, size=20, side="BUY"), order_type=OrderType.FOK
    )
    trade = settled_trade(client, answer["tradeIDs"][0])
    fee_exact = Fraction(20 * USD) * Fraction(200, 10_000) * Fraction(51, 100) * Fraction(49, 100)
    fee = math.floor(fee_exact / 10 + Fraction(1, 2)) * 10  # half up to 10 base units, exactly
    assert trade["fee"] == str(fee) == "99960"
    assert world.pusd(world.trader_wallet) == pusd0 - 20 * 51 * USD // 100 - fee
    assert world.pusd(world.admin.address) == fees0 + fee
    assert fills_of(world, trade["transaction_hash"])[1]["fee"] == fee


def test_eoa_maker_not_allowlisted_gets_production_refusal(clob: LocalClob, world: World) -> None:
    client = make_client(clob, world.outsider)
    order = OrderArgsV2(token_id=str(world.market.yes_token_id), price=0.45, size=10, side="BUY")
    assert refused(lambda: client.create_and_post_order(order)) == (400, {"error": e.MAKER_NOT_ALLOWED})


# ---------------------------------------------------------------------- production refusals


def test_order_refusals_with_production_strings(clob: LocalClob, world: World) -> None:
    client = make_client(clob, world.trader, world.trader_wallet)
    token = str(world.market.yes_token_id)

    def post(args: Any, order_type: str = OrderType.GTC) -> tuple[int | None, Any]:
        if isinstance(args, MarketOrderArgsV2):
            return refused(lambda: client.post_order(client.create_market_order(args), order_type))
        return refused(lambda: client.post_order(client.create_order(args), order_type))

    assert post(OrderArgsV2(token_id=token, price=0.45, size=3, side="BUY")) == (
        400,
        {"error": "Size (3) lower than the minimum: 5"},
    )
    assert post(MarketOrderArgsV2(token_id=token, amount=0.84, side="BUY", price=0.51), OrderType.FOK) == (
        400,
        {"error": "invalid amount for a marketable BUY order ($0.84), min size: $1"},
    )
    assert post(MarketOrderArgsV2(token_id=token, amount=200, side="BUY", price=0.51), OrderType.FOK) == (
        400,
        {"error": e.FOK_NOT_FILLED},
    )
    assert post(MarketOrderArgsV2(token_id=token, amount=5, side="BUY", price=0.3), OrderType.FAK) == (
        400,
        {"error": e.FAK_NO_MATCH},
    )
    assert post(OrderArgsV2(token_id=token, price=0.40, size=5000, side="BUY")) == (
        400,
        {"error": e.NOT_ENOUGH_BALANCE},
    )
    # The tick changes live: an order made under 0.001 is refused once the market is back at 0.01.
    set_tick = httpx.post(
        f"{clob.url}/_local/tick-size", json={"condition_id": world.market.condition_id, "tick_size": "0.001"}
    )
    assert set_tick.status_code == 200
    client = make_client(clob, world.trader, world.trader_wallet)  # a client that reads the new tick
    fine = client.create_order(OrderArgsV2(token_id=token, price=0.455, size=10, side="BUY"))
    odd = client.create_market_order(MarketOrderArgsV2(token_id=token, amount=5, side="BUY", price=0.513))
    assert refused(lambda: client.post_order(odd, OrderType.FOK)) == (
        400,
        {
            "error": "invalid amounts, the buy orders maker amount supports a max accuracy of 2 decimals, "
            "taker amount a max of 4 decimals"
        },
    )
    httpx.post(
        f"{clob.url}/_local/tick-size", json={"condition_id": world.market.condition_id, "tick_size": "0.01"}
    )
    assert refused(lambda: client.post_order(fine)) == (
        400,
        {"error": "Price (0.455) breaks minimum tick size rule: 0.01"},
    )


def test_signer_must_be_the_api_keys_address(clob: LocalClob, world: World) -> None:
    admin(clob, eoa_allowlist=[world.eoa.address])
    eoa_client = make_client(clob, world.eoa)
    trader = make_client(clob, world.trader, world.trader_wallet)
    order = eoa_client.create_order(
        OrderArgsV2(token_id=str(world.market.yes_token_id), price=0.45, size=10, side="BUY")
    )
    assert refused(lambda: trader.post_order(order)) == (400, {"error": e.SIGNER_NOT_API_KEY})


def _raw_post(client: ClobClient, path: str, body: str) -> httpx.Response:
    headers = client._l2_headers("POST", path, serialized_body=body)
    headers["Content-Type"] = "application/json"
    return httpx.post(f"{client.host}{path}", content=body.encode(), headers=headers)


def test_malformed_payloads_answer_400_never_500(clob: LocalClob, world: World) -> None:
    client = make_client(clob, world.trader, world.trader_wallet)
    order = client.create_order(
        OrderArgsV2(token_id=str(world.market.yes_token_id), price=0.45, size=10, side="BUY")
    )
    from py_clob_client_v2.order_utils.model.order_data_v2 import order_to_json_v2

    good = order_to_json_v2(order, client.creds.api_key, OrderType.GTC)
    v1 = json.loads(json.dumps(good))
    del v1["order"]["timestamp"]
    v1["order"].update(nonce="0", feeRateBps="0", taker="0x" + "0" * 40)
    wrong_type = json.loads(json.dumps(good))
    wrong_type["order"]["makerAmount"] = [1]
    cases = {
        "{": "Invalid JSON payload",
        json.dumps(v1): e.INVALID_VERSION,
        json.dumps(wrong_type): "invalid order: makerAmount must be an unsigned integer",
        json.dumps([good]): "Invalid order payload",
    }
    for body, message in cases.items():
        resp = _raw_post(client, "/order", body)
        assert (resp.status_code, resp.json()) == (400, {"error": message})
    batch = [SimpleNamespace(order=order, orderType=OrderType.GTC)] * 16
    assert refused(lambda: client.post_orders(batch)) == (
        400,
        {"error": "too many orders in payload, max allowed: 15"},
    )


# ---------------------------------------------------------------------- switches


def test_modes_restart_and_rate_limits(clob: LocalClob, world: World) -> None:
    client = make_client(clob, world.trader, world.trader_wallet)
    token = str(world.market.yes_token_id)
    args = OrderArgsV2(token_id=token, price=0.45, size=10, side="BUY")
    live = client.create_and_post_order(args)
    admin(clob, trading_mode="cancel_only")
    assert refused(lambda: client.create_and_post_order(args)) == (503, {"error": e.CANCEL_ONLY})
    assert client.cancel_all()["canceled"] == [live["orderID"]]
    admin(clob, trading_mode="disabled")
    assert refused(lambda: client.create_and_post_order(args)) == (503, {"error": e.TRADING_DISABLED})
    assert refused(client.cancel_all) == (503, {"error": e.TRADING_DISABLED})
    admin(clob, trading_mode="post_only", retry_after_s=7)
    assert refused(lambda: client.create_and_post_order(args)) == (
        503,
        {"error": "post_only_mode", "retry_after_seconds": 7},
    )
    assert client.create_and_post_order(args, post_only=True)["status"] == "live"
    crossing = OrderArgsV2(token_id=token, price=0.51, size=10, side="BUY")
    assert refused(lambda: client.create_and_post_order(crossing, post_only=True)) == (
        400,
        {"error": e.POST_ONLY_CROSSES},
    )
    admin(clob, trading_mode="normal", restart_until=time.time() + 30)
    resp = httpx.get(f"{clob.url}/book", params={"token_id": token})
    assert resp.status_code == 425
    assert int(resp.headers["Retry-After"]) > 0
    # A window far longer than the test: the three requests land in it however slow the machine is.
    admin(clob, restart_until=0.0, rate_limits={"GET /book": 2}, rate_window_s=3600.0)
    codes = [httpx.get(f"{clob.url}/book", params={"token_id": token}).status_code for _ in range(3)]
    assert codes == [200, 200, 429]
    limited = httpx.get(f"{clob.url}/book", params={"token_id": token})
    assert limited.json() == {"error": e.RATE_LIMITED}
    assert int(limited.headers["Retry-After"]) >= 1
    # A limit of 0 refuses every call with a 429 and a whole window to wait (not a 500).
    admin(clob, rate_limits={"GET /book": 0}, rate_window_s=30.0)
    blocked = httpx.get(f"{clob.url}/book", params={"token_id": token})
    assert blocked.status_code == 429
    assert 1 <= int(blocked.headers["Retry-After"]) <= 31


def test_post_timing_out_still_places_the_order(clob: LocalClob, world: World) -> None:
    client = make_client(clob, world.trader, world.trader_wallet)
    admin(clob, timeout_next_posts=1)
    args = OrderArgsV2(token_id=str(world.market.yes_token_id), price=0.44, size=10, side="BUY")
    assert refused(lambda: client.create_and_post_order(args)) == (500, {"error": e.ORDER_TIMED_OUT})
    (placed,) = client.get_open_orders()
    assert placed["price"] == "0.44"
    assert placed["status"] == "LIVE"


@pytest.mark.parametrize(("failures", "final"), [(1, "CONFIRMED"), (5, "FAILED")])
def test_settlement_retries_then_succeeds_or_fails(
    clob: LocalClob, world: World, failures: int, final: str
) -> None:
    client = make_client(clob, world.trader, world.trader_wallet)
    token = world.market.yes_token_id
    pusd0 = world.pusd(world.trader_wallet)
    admin(clob, fail_next_settlements=failures, settle_retries=2)
    answer = client.create_and_post_order(
        OrderArgsV2(token_id=str(token), price=0.51, size=10, side="BUY"), order_type=OrderType.FOK
    )
    (trade_id,) = answer["tradeIDs"]
    trade = clob.engine.trades[trade_id]
    assert settled_trade(client, trade_id)["status"] == final
    if final == "FAILED":
        assert trade.history == ["MATCHED", "RETRYING", "RETRYING", "FAILED"]
        assert world.pusd(world.trader_wallet) == pusd0
        # The maker's order was not consumed: it is back on the book, whole.
        assert client.get_order_book(str(token))["asks"][-1] == {"price": "0.51", "size": "100"}
    else:
        assert trade.history == ["MATCHED", "RETRYING", "MINED", "CONFIRMED"]
        assert world.pusd(world.trader_wallet) == pusd0 - 10 * 51 * USD // 100


# ---------------------------------------------------------------------- the server is a server


def test_refuses_non_loopback_hosts_and_polygon_chain_ids(world: World) -> None:
    from dataclasses import replace

    from polyhunter.errors import ConfigError

    with pytest.raises(ConfigError, match="loopback only"):
        LocalClob(world.clob_world, host="0.0.0.0")
    for chain_id in (137, 80002):
        with pytest.raises(ConfigError, match="never runs against chain id"):
            LocalClob(replace(world.clob_world, chain_id=chain_id))


def test_confirmations_and_a_settlement_pending_in_the_mempool(clob: LocalClob, world: World) -> None:
    client = make_client(clob, world.trader, world.trader_wallet)
    token = str(world.market.yes_token_id)
    admin(clob, confirmations=2)
    world.w3.provider.make_request("evm_setAutomine", [False])  # type: ignore[arg-type]
    try:
        answer = client.create_and_post_order(
            OrderArgsV2(token_id=token, price=0.51, size=10, side="BUY"), order_type=OrderType.FOK
        )
        trade = clob.engine.trades[answer["tradeIDs"][0]]
        # Broadcast, not mined: the trade carries its hash and stays MATCHED while the block is not made.
        assert trade.status == "MATCHED"
        assert world.w3.eth.get_transaction(trade.transaction_hash)["blockNumber"] is None  # type: ignore[arg-type]
    finally:
        world.w3.provider.make_request("evm_setAutomine", [True])  # type: ignore[arg-type]
    world.w3.provider.make_request("evm_mine", [])  # type: ignore[arg-type]
    wait_drained(clob)
    assert trade.history[:2] == ["MATCHED", "MINED"]
    # The second block (the market maker's refill, or this one) confirms it.
    world.w3.provider.make_request("evm_mine", [])  # type: ignore[arg-type]
    assert settled_trade(client, trade.trade_id)["status"] == "CONFIRMED"
    assert trade.history == ["MATCHED", "MINED", "CONFIRMED"]


class RecordingFeed:
    def __init__(self) -> None:
        self.trades: list[Any] = []

    def publish(self, trade: Any) -> None:
        self.trades.append(trade)


def test_each_filled_order_is_published_to_the_feed_with_its_transaction(world: World) -> None:
    from decimal import Decimal

    feed = RecordingFeed()
    with running_clob(world, ClobSettings(), feed=feed) as server, client_contracts(world):
        CURRENT[:] = [server]
        client = make_client(server, world.trader, world.trader_wallet)
        token = world.market.yes_token_id
        answer = client.create_and_post_order(
            OrderArgsV2(token_id=str(token), price=0.51, size=10, side="BUY"), order_type=OrderType.FOK
        )
        trade = settled_trade(client, answer["tradeIDs"][0])
    published = sorted((t.proxy_wallet, t.side, t.size, t.price, t.transaction_hash) for t in feed.trades)
    tx = trade["transaction_hash"]
    assert published == sorted(
        [
            (world.trader_wallet, "BUY", Decimal(10), Decimal("0.51"), tx),
            (world.mm_wallet, "SELL", Decimal(10), Decimal("0.51"), tx),
        ]
    )
    assert {t.asset for t in feed.trades} == {str(token)}
