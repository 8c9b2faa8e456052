"""Order paths of the local CLOB beyond the basic flows, judged by the official client: GTD expiry, batches,
cancelling a market, the neg-risk exchange, a FAILED settlement's effect on the taker, deferExec, and the
remaining production refusals with their status codes and exact strings."""

from __future__ import annotations

import time
from collections.abc import Iterator

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
)
from py_clob_client_v2.clob_types import (
    MarketOrderArgsV2,
    OrderArgsV2,
    OrderMarketCancelParams,
    OrderType,
    PartialCreateOrderOptions,
    PostOrdersV2Args,
)

from polyhunter.chain.anvil import Anvil
from polyhunter.localpoly import ClobSettings, LocalClob, MarketMakerSettings
from polyhunter.localpoly import errors as e

pytestmark = pytest.mark.integration


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


# ---------------------------------------------------------------------- GTD


def test_gtd_order_leaves_the_book_a_security_threshold_before_expiry(
    quiet_clob: LocalClob, world: World
) -> None:
    clob = quiet_clob
    admin(clob, eoa_allowlist=[world.eoa.address])
    trader = make_client(clob, world.trader, world.trader_wallet)
    eoa_client = make_client(clob, world.eoa)
    yes, no = str(world.market.yes_token_id), str(world.market.no_token_id)
    expiration = int(time.time()) + 3600
    gtd = trader.create_and_post_order(
        OrderArgsV2(token_id=yes, price=0.50, size=10, side="BUY", expiration=expiration),
        order_type=OrderType.GTD,
    )
    assert gtd["status"] == "live"
    order = trader.get_order(gtd["orderID"])
    assert (order["order_type"], order["expiration"]) == ("GTD", str(expiration))

    # One second before the threshold (60 s before the stated expiration) it is still on the book.
    clob.engine.clock = lambda: expiration - 61
    assert trader.get_order_book(yes)["bids"] == [{"price": "0.5", "size": "10"}]
    clob.engine.clock = lambda: expiration - 60
    assert trader.get_order_book(yes)["bids"] == []
    assert trader.get_order(gtd["orderID"])["status"] == "CANCELED"
    assert trader.get_open_orders() == []
    # A BUY of NO at 0.50 would have minted against it: now nothing crosses.
    fak = OrderArgsV2(token_id=no, price=0.50, size=10, side="BUY")
    assert refused(lambda: eoa_client.create_and_post_order(fak, order_type=OrderType.FAK)) == (
        400,
        {"error": e.FAK_NO_MATCH},
    )


def test_gtd_expiring_in_the_past_or_too_soon_is_refused(clob: LocalClob, world: World) -> None:
    client = make_client(clob, world.trader, world.trader_wallet)
    token = str(world.market.yes_token_id)

    def post(expiration: int) -> tuple[int | None, object]:
        args = OrderArgsV2(token_id=token, price=0.45, size=10, side="BUY", expiration=expiration)
        return refused(lambda: client.create_and_post_order(args, order_type=OrderType.GTD))

    now = int(time.time())
    assert post(now - 5) == (400, {"error": e.EXPIRED})
    assert post(now + 120) == (400, {"error": e.EXPIRES_TOO_SOON.format(seconds=180)})
    assert client.get_open_orders() == []


# ---------------------------------------------------------------------- batches and cancels


def test_batch_of_orders_answers_per_order(clob: LocalClob, world: World) -> None:
    client = make_client(clob, world.trader, world.trader_wallet)
    token = str(world.market.yes_token_id)
    resting = client.create_order(OrderArgsV2(token_id=token, price=0.45, size=10, side="BUY"))
    too_small = client.create_order(OrderArgsV2(token_id=token, price=0.45, size=3, side="BUY"))
    taking = client.create_order(OrderArgsV2(token_id=token, price=0.51, size=10, side="BUY"))
    answers = client.post_orders(
        [
            PostOrdersV2Args(order=resting, orderType=OrderType.GTC),
            PostOrdersV2Args(order=too_small, orderType=OrderType.GTC),
            PostOrdersV2Args(order=taking, orderType=OrderType.FOK),
        ]
    )
    assert [(a["success"], a["status"], a["errorMsg"]) for a in answers] == [
        (True, "live", ""),
        (False, "", "Size (3) lower than the minimum: 5"),
        (True, "matched", ""),
    ]
    (trade_id,) = answers[2]["tradeIDs"]
    assert trade_after_settlement(clob, client, trade_id)["status"] == "CONFIRMED"
    assert [o["id"] for o in client.get_open_orders()] == [answers[0]["orderID"]]
    assert world.tokens(world.trader_wallet, world.market.yes_token_id) == 10 * USD


def test_cancel_market_orders_by_market_then_by_asset(clob: LocalClob, world: World) -> None:
    client = make_client(clob, world.trader, world.trader_wallet)
    m0, m1 = world.market, world.fee_market

    def place(token: int) -> str:
        answer = client.create_and_post_order(
            OrderArgsV2(token_id=str(token), price=0.40, size=10, side="BUY")
        )
        return str(answer["orderID"])

    yes0, no0, yes1, no1 = (
        place(t) for t in (m0.yes_token_id, m0.no_token_id, m1.yes_token_id, m1.no_token_id)
    )
    by_market = client.cancel_market_orders(OrderMarketCancelParams(market=m0.condition_id))
    assert sorted(by_market["canceled"]) == sorted([yes0, no0])
    by_asset = client.cancel_market_orders(OrderMarketCancelParams(asset_id=str(m1.no_token_id)))
    assert by_asset["canceled"] == [no1]
    assert [o["id"] for o in client.get_open_orders()] == [yes1]
    # The market maker's orders on the same market are not the caller's: they stay.
    assert client.get_order_book(str(m0.yes_token_id))["bids"][-1] == {"price": "0.49", "size": "100"}


# ---------------------------------------------------------------------- the neg-risk exchange


def test_neg_risk_market_trades_on_the_neg_risk_exchange(clob: LocalClob, world: World) -> None:
    client = make_client(clob, world.trader, world.trader_wallet)
    market = world.clob_world.markets[2]
    token, wallet, mm = market.yes_token_id, world.trader_wallet, world.mm_wallet
    assert client.get_neg_risk(str(token)) is True
    pusd0 = world.pusd(wallet)
    answer = client.create_and_post_order(
        OrderArgsV2(token_id=str(token), price=0.51, size=10, side="BUY"), order_type=OrderType.FOK
    )
    trade = trade_after_settlement(clob, client, answer["tradeIDs"][0])
    assert trade["status"] == "CONFIRMED"
    tx = world.w3.eth.get_transaction(trade["transaction_hash"])  # type: ignore[arg-type]
    assert str(tx["to"]).lower() == world.pm.neg_risk_exchange
    receipt = world.w3.eth.get_transaction_receipt(trade["transaction_hash"])  # type: ignore[arg-type]
    assert {str(log["address"]).lower() for log in receipt["logs"] if log["topics"]} >= {
        world.pm.neg_risk_exchange
    }
    rows = fills_of(world, trade["transaction_hash"])
    assert rows[0] == {
        "maker": mm,
        "taker": wallet,
        "side": 1,
        "token": token,
        "making": 10 * USD,
        "taking": 5_100_000,
        "fee": 0,
    }
    assert rows[1]["taker"] == world.pm.neg_risk_exchange
    assert world.pusd(wallet) == pusd0 - 5_100_000
    assert world.tokens(wallet, token) == 10 * USD


def test_order_signed_for_the_wrong_exchange_is_refused_clearly(clob: LocalClob, world: World) -> None:
    admin(clob, eoa_allowlist=[world.eoa.address])
    neg_risk_token = str(world.clob_world.markets[2].yes_token_id)
    standard_token = str(world.market.yes_token_id)
    args = OrderArgsV2(token_id=neg_risk_token, price=0.45, size=10, side="BUY")
    wrong_for_neg_risk = e.WRONG_EXCHANGE.format(signed="standard", expected="neg-risk")
    for client in (make_client(clob, world.trader, world.trader_wallet), make_client(clob, world.eoa)):
        order = client.create_order(args, PartialCreateOrderOptions(neg_risk=False))
        assert refused(lambda o=order, c=client: c.post_order(o)) == (400, {"error": wrong_for_neg_risk})
        reverse = client.create_order(
            OrderArgsV2(token_id=standard_token, price=0.45, size=10, side="BUY"),
            PartialCreateOrderOptions(neg_risk=True),
        )
        assert refused(lambda o=reverse, c=client: c.post_order(o)) == (
            400,
            {"error": e.WRONG_EXCHANGE.format(signed="neg-risk", expected="standard")},
        )
        assert client.get_open_orders() == []


# ---------------------------------------------------------------------- a failed settlement


def test_failed_settlement_cancels_the_taker_and_restores_the_makers(clob: LocalClob, world: World) -> None:
    client = make_client(clob, world.trader, world.trader_wallet)
    yes, no = str(world.market.yes_token_id), str(world.market.no_token_id)
    wallet = world.trader_wallet
    pusd0 = world.pusd(wallet)
    admin(clob, fail_next_settlements=1, settle_retries=0)
    # 100 from the 0.51 ask, 100 minted against the 0.49 NO bid, 50 left to rest at 0.51.
    answer = client.create_and_post_order(OrderArgsV2(token_id=yes, price=0.51, size=250, side="BUY"))
    assert answer["status"] == "matched"
    trades = [trade_after_settlement(clob, client, t) for t in answer["tradeIDs"]]
    assert [t["status"] for t in trades] == ["FAILED", "FAILED"]
    # The taker does not stay LIVE with a remainder that would cross the makers it failed to trade with.
    order = client.get_order(answer["orderID"])
    assert (order["status"], order["size_matched"]) == ("CANCELED", "0")
    assert client.get_open_orders() == []
    book = client.get_order_book(yes)
    assert book["bids"][-1] == {"price": "0.49", "size": "100"}
    assert book["asks"][-1] == {"price": "0.51", "size": "100"}
    assert client.get_order_book(no)["bids"][-1] == {"price": "0.49", "size": "100"}
    assert world.pusd(wallet) == pusd0
    # What the failed match held is released: the whole balance can be committed again.
    again = client.create_and_post_order(
        OrderArgsV2(token_id=yes, price=0.51, size=10, side="BUY"), order_type=OrderType.FOK
    )
    assert trade_after_settlement(clob, client, again["tradeIDs"][0])["status"] == "CONFIRMED"
    assert world.pusd(wallet) == pusd0 - 5_100_000


# ---------------------------------------------------------------------- refusals


def test_defer_exec_is_refused_not_ignored(clob: LocalClob, world: World) -> None:
    client = make_client(clob, world.trader, world.trader_wallet)
    args = OrderArgsV2(token_id=str(world.market.yes_token_id), price=0.45, size=10, side="BUY")
    assert refused(lambda: client.create_and_post_order(args, defer_exec=True)) == (
        400,
        {"error": e.DEFER_EXEC_UNSUPPORTED},
    )
    assert client.get_open_orders() == []


def test_sell_amount_precision_refused_with_production_string(clob: LocalClob, world: World) -> None:
    client = make_client(clob, world.trader, world.trader_wallet)
    token = str(world.market.yes_token_id)
    set_tick = httpx.post(
        f"{clob.url}/_local/tick-size", json={"condition_id": world.market.condition_id, "tick_size": "0.001"}
    )
    assert set_tick.status_code == 200
    client = make_client(clob, world.trader, world.trader_wallet)
    # 10.01 shares at 0.513: the client's taker amount is 5.13513 pUSD, five decimals.
    odd = client.create_market_order(
        MarketOrderArgsV2(token_id=token, amount=10.01, side="SELL", price=0.513)
    )
    assert (odd.makerAmount, odd.takerAmount) == ("10010000", "5135130")
    assert refused(lambda: client.post_order(odd, OrderType.FOK)) == (
        400,
        {
            "error": "invalid amounts, the sell orders maker amount supports a max accuracy of 2 decimals, "
            "taker amount a max of 4 decimals"
        },
    )


def test_restart_window_answers_425_with_production_body(clob: LocalClob, world: World) -> None:
    admin(clob, restart_until=time.time() + 30)
    resp = httpx.get(f"{clob.url}/book", params={"token_id": str(world.market.yes_token_id)})
    assert (resp.status_code, resp.json()) == (425, {"error": e.RESTARTING})
    assert int(resp.headers["Retry-After"]) >= 1


def test_a_dropped_settlement_transaction_is_sent_again(clob: LocalClob, world: World) -> None:
    client = make_client(clob, world.trader, world.trader_wallet)
    wallet, token = world.trader_wallet, world.market.yes_token_id
    pusd0 = world.pusd(wallet)
    rpc = world.w3.provider.make_request
    rpc("evm_setAutomine", [False])  # type: ignore[arg-type]
    try:
        answer = client.post_order(
            client.create_order(OrderArgsV2(token_id=str(token), price=0.51, size=10, side="BUY")),
            OrderType.FOK,
        )
        trade = clob.engine.trades[answer["tradeIDs"][0]]
        deadline = time.monotonic() + 30
        while not trade.transaction_hash and time.monotonic() < deadline:
            time.sleep(0.02)
        dropped = trade.transaction_hash
        assert dropped
        # The node forgets the pending matchOrders (as a node may after a restart or a reorg).
        assert rpc("anvil_dropTransaction", [dropped])["result"] == dropped  # type: ignore[arg-type]
    finally:
        rpc("evm_setAutomine", [True])  # type: ignore[arg-type]
    rpc("evm_mine", [])  # type: ignore[arg-type]
    assert trade_after_settlement(clob, client, trade.trade_id)["status"] == "CONFIRMED"
    assert trade.history == ["MATCHED", "RETRYING", "MINED", "CONFIRMED"]
    assert trade.transaction_hash != dropped
    assert world.pusd(wallet) == pusd0 - 5_100_000
    assert world.tokens(wallet, token) == 10 * USD
