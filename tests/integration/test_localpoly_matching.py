"""MINT and MERGE matching on the local CLOB, judged by the official client: a BUY crosses the other outcome's
BUYs, a SELL its SELLs, settled by `matchOrders` with exact pUSD and token balances and OrderFilled rows, and
price-time priority across both books of a market."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from localpoly_world import (
    USD,
    World,
    admin,
    build_world,
    client_contracts,
    fills_of,
    make_client,
    running_clob,
    trade_after_settlement,
)
from py_clob_client_v2.clob_types import OrderArgsV2, OrderType

from polyhunter.chain.anvil import Anvil
from polyhunter.localpoly import ClobSettings, LocalClob, MarketMakerSettings

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def world() -> Iterator[World]:
    with Anvil() as node:
        yield build_world(node)


@pytest.fixture
def quiet_clob(world: World) -> Iterator[LocalClob]:
    """No market maker: the books hold only what a test puts there."""
    settings = ClobSettings(market_maker=MarketMakerSettings(enabled=False))
    with running_clob(world, settings) as server, client_contracts(world):
        yield server


@pytest.fixture
def clob(world: World) -> Iterator[LocalClob]:
    with running_clob(world, ClobSettings()) as server, client_contracts(world):
        yield server


def test_mint_then_merge_between_a_deposit_wallet_and_an_eoa(quiet_clob: LocalClob, world: World) -> None:
    clob = quiet_clob
    admin(clob, eoa_allowlist=[world.eoa.address])
    trader = make_client(clob, world.trader, world.trader_wallet)
    eoa_client = make_client(clob, world.eoa)
    yes, no = world.market.yes_token_id, world.market.no_token_id
    wallet, eoa, exchange = world.trader_wallet, world.eoa.address.lower(), world.pm.exchange
    wallet0, eoa0 = world.pusd(wallet), world.pusd(eoa)

    # MINT: the wallet bids 0.45 for NO; a BUY of YES at 0.60 crosses it (0.60 + 0.45 >= 1) and pays only
    # what the split leaves, 0.55 a share.
    bid = trader.create_and_post_order(OrderArgsV2(token_id=str(no), price=0.45, size=20, side="BUY"))
    assert bid["status"] == "live"
    buy = eoa_client.create_and_post_order(
        OrderArgsV2(token_id=str(yes), price=0.60, size=20, side="BUY"), order_type=OrderType.FOK
    )
    assert (buy["status"], buy["makingAmount"], buy["takingAmount"]) == ("matched", "11", "20")
    (trade_id,) = buy["tradeIDs"]
    trade = trade_after_settlement(clob, eoa_client, trade_id)
    assert (trade["type"], trade["status"], trade["price"], trade["size"]) == (
        "MINT",
        "CONFIRMED",
        "0.55",
        "20",
    )
    maker_order = trade["maker_orders"][0]
    assert (maker_order["asset_id"], maker_order["price"], maker_order["side"]) == (str(no), "0.45", "BUY")
    assert fills_of(world, trade["transaction_hash"]) == [
        {
            "maker": wallet,
            "taker": eoa,
            "side": 0,
            "token": no,
            "making": 9 * USD,
            "taking": 20 * USD,
            "fee": 0,
        },
        {
            "maker": eoa,
            "taker": exchange,
            "side": 0,
            "token": yes,
            "making": 11 * USD,
            "taking": 20 * USD,
            "fee": 0,
        },
        {"matched": eoa},
    ]
    assert (world.pusd(wallet), world.tokens(wallet, no)) == (wallet0 - 9 * USD, 20 * USD)
    assert (world.pusd(eoa), world.tokens(eoa, yes)) == (eoa0 - 11 * USD, 20 * USD)
    assert trader.get_order(bid["orderID"])["status"] == "MATCHED"

    # MERGE: the wallet asks 0.40 for its NO; a SELL of YES at 0.50 crosses it (0.50 + 0.40 <= 1) and gets
    # what the merge leaves, 0.60 a share.
    ask = trader.create_and_post_order(OrderArgsV2(token_id=str(no), price=0.40, size=20, side="SELL"))
    assert ask["status"] == "live"
    sell = eoa_client.create_and_post_order(
        OrderArgsV2(token_id=str(yes), price=0.50, size=20, side="SELL"), order_type=OrderType.FOK
    )
    assert (sell["makingAmount"], sell["takingAmount"]) == ("20", "12")
    trade = trade_after_settlement(clob, eoa_client, sell["tradeIDs"][0])
    assert (trade["type"], trade["status"], trade["price"]) == ("MERGE", "CONFIRMED", "0.6")
    assert fills_of(world, trade["transaction_hash"]) == [
        {
            "maker": wallet,
            "taker": eoa,
            "side": 1,
            "token": no,
            "making": 20 * USD,
            "taking": 8 * USD,
            "fee": 0,
        },
        {
            "maker": eoa,
            "taker": exchange,
            "side": 1,
            "token": yes,
            "making": 20 * USD,
            "taking": 12 * USD,
            "fee": 0,
        },
        {"matched": eoa},
    ]
    # 20 pairs minted for 9 + 11 and merged back for 8 + 12: each side is one dollar off, nothing is left.
    assert (world.pusd(wallet), world.tokens(wallet, no)) == (wallet0 - USD, 0)
    assert (world.pusd(eoa), world.tokens(eoa, yes)) == (eoa0 + USD, 0)
    assert world.pusd(exchange) == 0


def test_price_time_priority_across_both_books_in_one_match(clob: LocalClob, world: World) -> None:
    admin(clob, eoa_allowlist=[world.eoa.address])
    trader = make_client(clob, world.trader, world.trader_wallet)
    eoa_client = make_client(clob, world.eoa)
    yes, no = world.market.yes_token_id, world.market.no_token_id
    mm, wallet, eoa = world.mm_wallet, world.trader_wallet, world.eoa.address.lower()
    eoa0, wallet0 = world.pusd(eoa), world.pusd(wallet)
    # The market maker quotes YES asks 0.51/0.52/0.53 and NO bids 0.49/0.48/0.47 (YES first, so older).
    # The wallet's NO bid at 0.49 is as good for YES as the best ask but younger than both 0.51 quotes.
    trader.create_and_post_order(OrderArgsV2(token_id=str(no), price=0.49, size=10, side="BUY"))
    buy = eoa_client.create_and_post_order(
        OrderArgsV2(token_id=str(yes), price=0.52, size=215, side="BUY"), order_type=OrderType.FOK
    )
    trades = [trade_after_settlement(clob, eoa_client, t) for t in buy["tradeIDs"]]
    seen = [(t["type"], t["maker_orders"][0]["maker_address"], t["price"], t["size"]) for t in trades]
    assert seen == [
        ("COMPLEMENTARY", mm, "0.51", "100"),  # best price, oldest
        ("MINT", mm, "0.51", "100"),  # same price, younger
        ("MINT", wallet, "0.51", "10"),  # same price, youngest
        ("COMPLEMENTARY", mm, "0.52", "5"),  # next price: the 0.52 ask is older than the 0.48 NO bid
    ]
    assert len({t["transaction_hash"] for t in trades}) == 1  # one matchOrders mixing both match types
    assert world.pusd(eoa) == eoa0 - (51 * USD + 51 * USD + 5_100_000 + 2_600_000)
    assert world.tokens(eoa, yes) == 215 * USD
    assert world.pusd(wallet) == wallet0 - 4_900_000
    assert world.tokens(wallet, no) == 10 * USD


def test_buys_of_both_outcomes_below_one_do_not_cross(quiet_clob: LocalClob, world: World) -> None:
    admin(quiet_clob, eoa_allowlist=[world.eoa.address])
    trader = make_client(quiet_clob, world.trader, world.trader_wallet)
    eoa_client = make_client(quiet_clob, world.eoa)
    trader.create_and_post_order(
        OrderArgsV2(token_id=str(world.market.no_token_id), price=0.45, size=20, side="BUY")
    )
    # 0.54 + 0.45 < 1: both rest, the books show each at its own price.
    answer = eoa_client.create_and_post_order(
        OrderArgsV2(token_id=str(world.market.yes_token_id), price=0.54, size=20, side="BUY")
    )
    assert (answer["status"], answer["tradeIDs"]) == ("live", [])
    assert eoa_client.get_order_book(str(world.market.yes_token_id))["bids"] == [
        {"price": "0.54", "size": "20"}
    ]
    assert eoa_client.get_order_book(str(world.market.no_token_id))["bids"] == [
        {"price": "0.45", "size": "20"}
    ]
