"""CTFExchangeV2 on anvil, judged by py-clob-client-v2: order hashes, the three match types with exact
balances and events, fees, cancels, and the attacks that must revert."""

from __future__ import annotations

from typing import Any

import pytest
from chain_helpers import events
from eth_utils import keccak
from v2_helpers import (
    BUY,
    EOA,
    ORDER_FILLED_TOPIC0,
    ORDERS_MATCHED_TOPIC0,
    POLY_1271,
    SELL,
    USD,
    V2World,
    as_tuple,
    client_hash,
    cs,
    sign,
    v2_reverts,
)
from web3.types import TxReceipt

from polyhunter.chain.tx import send

pytestmark = pytest.mark.integration

ORDER_TUPLE = "(uint256,address,address,uint256,uint256,uint256,uint8,uint8,uint256,bytes32,bytes32,bytes)"


@pytest.fixture
def world(v2_world: V2World) -> V2World:
    """The V2 world (tests/integration/conftest.py), reverted after each test."""
    return v2_world


def match(
    world: V2World,
    taker: Any,
    makers: list[Any],
    taker_fill: int,
    maker_fills: list[int],
    taker_fee: int = 0,
    maker_fees: list[int] | None = None,
    *,
    condition: bytes | None = None,
    exchange: Any = None,
    sender: Any = None,
) -> TxReceipt:
    """Sends matchOrders as the operator; orders are client orders or already-built tuples."""
    ex = exchange or world.exchange
    call = ex.functions.matchOrders(
        condition or world.condition,
        taker if isinstance(taker, tuple) else as_tuple(taker),
        [m if isinstance(m, tuple) else as_tuple(m) for m in makers],
        taker_fill,
        maker_fills,
        taker_fee,
        maker_fees or [0] * len(makers),
    )
    return send(world.w3, sender or world.operator, call)


def wallet_sell(world: V2World, name: str, token: int, tokens: int, usd: int, **kw: Any) -> Any:
    return sign(
        world,
        world.owners[name],
        maker=world.wallets[name],
        token=token,
        side=SELL,
        maker_amount=tokens,
        taker_amount=usd,
        signature_type=POLY_1271,
        **kw,
    )


def wallet_buy(world: V2World, name: str, token: int, usd: int, tokens: int, **kw: Any) -> Any:
    return sign(
        world,
        world.owners[name],
        maker=world.wallets[name],
        token=token,
        side=BUY,
        maker_amount=usd,
        taker_amount=tokens,
        signature_type=POLY_1271,
        **kw,
    )


def eoa_order(world: V2World, token: int, side: int, maker_amount: int, taker_amount: int, **kw: Any) -> Any:
    return sign(
        world,
        world.trader,
        maker=world.trader.address,
        token=token,
        side=side,
        maker_amount=maker_amount,
        taker_amount=taker_amount,
        signature_type=EOA,
        **kw,
    )


def snapshot_balances(world: V2World, holders: list[str]) -> dict[str, tuple[int, int, int]]:
    return {h: (world.usd(h), world.tokens(h, world.yes), world.tokens(h, world.no)) for h in holders}


def deltas(world: V2World, before: dict[str, tuple[int, int, int]]) -> dict[str, tuple[int, int, int]]:
    after = snapshot_balances(world, list(before))
    return {h: tuple(a - b for a, b in zip(after[h], before[h], strict=True)) for h in before}  # type: ignore[misc]


def filled_rows(world: V2World, receipt: TxReceipt) -> list[tuple[Any, ...]]:
    return [
        (
            "0x" + bytes(e["orderHash"]).hex(),
            e["maker"].lower(),
            e["taker"].lower(),
            e["side"],
            e["tokenId"],
            e["makerAmountFilled"],
            e["takerAmountFilled"],
            e["fee"],
        )
        for e in events(world.exchange, "OrderFilled", receipt)
    ]


def h(world: V2World, order: Any) -> str:
    return "0x" + client_hash(world, order).hex()


# --- the protocol's constants ------------------------------------------------------------------------------


def test_selector_and_topics_are_polymarkets(world: V2World) -> None:
    signature = f"matchOrders(bytes32,{ORDER_TUPLE},{ORDER_TUPLE}[],uint256,uint256[],uint256,uint256[])"
    assert keccak(text=signature)[:4].hex() == "3c2b4399"
    abi_fn = next(i for i in world.exchange.abi if i.get("name") == "matchOrders")
    assert world.exchange.get_function_by_name("matchOrders").abi == abi_fn
    calldata = world.exchange.encode_abi("matchOrders", [bytes(32), as_tuple_blank(), [], 0, [], 0, []])
    assert calldata[:10] == "0x3c2b4399"
    filled = "OrderFilled(bytes32,address,address,uint8,uint256,uint256,uint256,uint256,bytes32,bytes32)"
    matched = "OrdersMatched(bytes32,address,uint8,uint256,uint256,uint256)"
    assert "0x" + keccak(text=filled).hex() == ORDER_FILLED_TOPIC0
    assert "0x" + keccak(text=matched).hex() == ORDERS_MATCHED_TOPIC0


def as_tuple_blank() -> tuple[Any, ...]:
    return (0, cs("0x" + "00" * 20), cs("0x" + "00" * 20), 0, 0, 0, 0, 0, 0, bytes(32), bytes(32), b"")


def test_hash_order_equals_the_clients_order_id_on_each_exchange(world: V2World) -> None:
    for exchange, contract_ in (
        (world.pm.exchange, world.exchange),
        (world.pm.neg_risk_exchange, world.neg_exchange),
    ):
        order = wallet_buy(world, "alice", world.yes, 40 * USD, 100 * USD, exchange=exchange)
        assert bytes(contract_.functions.hashOrder(as_tuple(order)).call()) == client_hash(
            world, order, exchange
        )
        contract_.functions.validateOrder(as_tuple(order)).call()  # does not revert
    assert world.exchange.functions.negRisk().call() is False
    assert world.neg_exchange.functions.negRisk().call() is True
    domain = world.exchange.functions.domainSeparator().call()
    assert bytes(domain) != bytes(world.neg_exchange.functions.domainSeparator().call())


# --- match types -------------------------------------------------------------------------------------------


def test_complementary_taker_buy_against_wallet_and_eoa_sellers(world: V2World) -> None:
    alice, bob, trader, ex = (
        world.wallets["alice"],
        world.wallets["bob"],
        world.trader.address.lower(),
        world.pm.exchange,
    )
    bob_sell = wallet_sell(world, "bob", world.yes, 100 * USD, 40 * USD)  # 100 YES at 0.40
    eoa_sell = eoa_order(world, world.yes, SELL, 50 * USD, 22_500_000)  # 50 YES at 0.45
    alice_buy = wallet_buy(world, "alice", world.yes, 75 * USD, 150 * USD)  # up to 150 YES at 0.50
    before = snapshot_balances(world, [alice, bob, trader, world.admin.address.lower()])

    receipt = match(
        world, alice_buy, [bob_sell, eoa_sell], 75 * USD, [100 * USD, 50 * USD], taker_fee=625_000
    )

    # Alice pays the sellers' prices (62.5) plus a 1 % fee, and gets all 150 YES.
    assert deltas(world, before) == {
        alice: (-63_125_000, 150 * USD, 0),
        bob: (40 * USD, -100 * USD, 0),
        trader: (22_500_000, -50 * USD, 0),
        world.admin.address.lower(): (625_000, 0, 0),
    }
    assert filled_rows(world, receipt) == [
        (h(world, bob_sell), bob, alice, SELL, world.yes, 100 * USD, 40 * USD, 0),
        (h(world, eoa_sell), trader, alice, SELL, world.yes, 50 * USD, 22_500_000, 0),
        (h(world, alice_buy), alice, ex, BUY, world.yes, 62_500_000, 150 * USD, 625_000),
    ]
    [matched] = events(world.exchange, "OrdersMatched", receipt)
    assert ("0x" + bytes(matched["takerOrderHash"]).hex(), matched["takerOrderMaker"].lower()) == (
        h(world, alice_buy),
        alice,
    )
    assert (
        matched["side"],
        matched["tokenId"],
        matched["makerAmountFilled"],
        matched["takerAmountFilled"],
    ) == (
        BUY,
        world.yes,
        62_500_000,
        150 * USD,
    )
    exchange_logs = [log for log in receipt["logs"] if log["address"].lower() == ex]
    topics = ["0x" + bytes(log["topics"][0]).hex() for log in exchange_logs]
    fee_topic = "0x" + keccak(text="FeeCharged(address,uint256)").hex()
    assert topics == [
        ORDER_FILLED_TOPIC0,
        ORDER_FILLED_TOPIC0,
        fee_topic,
        ORDER_FILLED_TOPIC0,
        ORDERS_MATCHED_TOPIC0,
    ]
    status = world.exchange.functions.getOrderStatus(client_hash(world, alice_buy)).call()
    assert tuple(status) == (False, 12_500_000)
    assert tuple(world.exchange.functions.getOrderStatus(client_hash(world, bob_sell)).call()) == (True, 0)


def test_complementary_taker_sell_against_a_wallet_buyer_with_fees(world: V2World) -> None:
    alice, bob, admin = world.wallets["alice"], world.wallets["bob"], world.admin.address.lower()
    bob_sell = wallet_sell(world, "bob", world.yes, 100 * USD, 40 * USD)
    alice_buy = wallet_buy(world, "alice", world.yes, 45 * USD, 100 * USD)
    before = snapshot_balances(world, [alice, bob, admin])

    receipt = match(
        world, bob_sell, [alice_buy], 100 * USD, [45 * USD], taker_fee=450_000, maker_fees=[200_000]
    )

    # Bob sells at Alice's price (45), less his fee; Alice pays 45 plus her fee.
    assert deltas(world, before) == {
        alice: (-45_200_000, 100 * USD, 0),
        bob: (44_550_000, -100 * USD, 0),
        admin: (650_000, 0, 0),
    }
    assert filled_rows(world, receipt) == [
        (h(world, alice_buy), alice, bob, BUY, world.yes, 45 * USD, 100 * USD, 200_000),
        (h(world, bob_sell), bob, world.pm.exchange, SELL, world.yes, 100 * USD, 45 * USD, 450_000),
    ]
    assert world.usd(world.pm.exchange) == 0


def test_mint_taker_buy_yes_against_an_eoa_buying_no(world: V2World) -> None:
    alice, trader = world.wallets["alice"], world.trader.address.lower()
    alice_buy = wallet_buy(world, "alice", world.yes, 60 * USD, 100 * USD)  # YES at 0.60
    eoa_buy_no = eoa_order(world, world.no, BUY, 45 * USD, 100 * USD)  # NO at 0.45
    before = snapshot_balances(world, [alice, trader, world.pm.ctf])

    receipt = match(world, alice_buy, [eoa_buy_no], 60 * USD, [45 * USD])

    # 100 pUSD split into 100 YES + 100 NO: the NO buyer pays its 45, Alice the remaining 55.
    assert deltas(world, before) == {
        alice: (-55 * USD, 100 * USD, 0),
        trader: (-45 * USD, 0, 100 * USD),
        world.pm.ctf: (100 * USD, 0, 0),
    }
    assert filled_rows(world, receipt) == [
        (h(world, eoa_buy_no), trader, alice, BUY, world.no, 45 * USD, 100 * USD, 0),
        (h(world, alice_buy), alice, world.pm.exchange, BUY, world.yes, 55 * USD, 100 * USD, 0),
    ]
    assert (world.usd(world.pm.exchange), world.tokens(world.pm.exchange, world.yes)) == (0, 0)


def test_merge_taker_sell_yes_against_a_wallet_selling_no(world: V2World) -> None:
    bob, carol = world.wallets["bob"], world.wallets["carol"]
    bob_sell = wallet_sell(world, "bob", world.yes, 100 * USD, 50 * USD)  # YES at 0.50
    carol_sell_no = wallet_sell(world, "carol", world.no, 100 * USD, 45 * USD)  # NO at 0.45
    before = snapshot_balances(world, [bob, carol, world.pm.ctf])

    receipt = match(world, bob_sell, [carol_sell_no], 100 * USD, [100 * USD])

    # 100 YES + 100 NO merge into 100 pUSD: Carol gets her 45, Bob the remaining 55.
    assert deltas(world, before) == {
        bob: (55 * USD, -100 * USD, 0),
        carol: (45 * USD, 0, -100 * USD),
        world.pm.ctf: (-100 * USD, 0, 0),
    }
    assert filled_rows(world, receipt) == [
        (h(world, carol_sell_no), carol, bob, SELL, world.no, 100 * USD, 45 * USD, 0),
        (h(world, bob_sell), bob, world.pm.exchange, SELL, world.yes, 100 * USD, 55 * USD, 0),
    ]


def test_one_taker_against_a_seller_and_a_complement_buyer(world: V2World) -> None:
    alice, bob, trader = world.wallets["alice"], world.wallets["bob"], world.trader.address.lower()
    alice_buy = wallet_buy(world, "alice", world.yes, 60 * USD, 100 * USD)
    bob_sell = wallet_sell(world, "bob", world.yes, 50 * USD, 25 * USD)  # 50 YES at 0.50
    eoa_buy_no = eoa_order(world, world.no, BUY, 20 * USD, 50 * USD)  # 50 NO at 0.40
    before = snapshot_balances(world, [alice, bob, trader])

    match(world, alice_buy, [bob_sell, eoa_buy_no], 60 * USD, [50 * USD, 20 * USD])

    # 50 YES from Bob for 25, 50 YES minted for 50 - 20 = 30: Alice pays 55 for 100 YES.
    assert deltas(world, before) == {
        alice: (-55 * USD, 100 * USD, 0),
        bob: (25 * USD, -50 * USD, 0),
        trader: (-20 * USD, 0, 50 * USD),
    }


# --- attacks -----------------------------------------------------------------------------------------------


def test_forged_and_tampered_signatures_revert(world: V2World) -> None:
    bob_sell = wallet_sell(world, "bob", world.yes, 100 * USD, 40 * USD)
    # Carol's key signs an order of Alice's wallet.
    forged = sign(
        world,
        world.owners["carol"],
        maker=world.wallets["alice"],
        token=world.yes,
        side=BUY,
        maker_amount=40 * USD,
        taker_amount=100 * USD,
        signature_type=POLY_1271,
    )
    with v2_reverts("InvalidSignature"):
        match(world, forged, [bob_sell], 40 * USD, [100 * USD])
    # An EOA order whose maker is the trader but whose key is Alice's.
    eoa_forged = sign(
        world,
        world.owners["alice"],
        maker=world.owners["alice"].address,
        token=world.yes,
        side=BUY,
        maker_amount=40 * USD,
        taker_amount=100 * USD,
        signature_type=EOA,
    )
    with v2_reverts("InvalidSignature"):
        match(
            world,
            as_tuple(eoa_forged, maker=cs(world.trader.address), signer=cs(world.trader.address)),
            [bob_sell],
            40 * USD,
            [100 * USD],
        )
    # A genuine order with its price changed after signing.
    genuine = wallet_buy(world, "alice", world.yes, 40 * USD, 100 * USD)
    with v2_reverts("InvalidSignature"):
        match(world, as_tuple(genuine, takerAmount=200 * USD), [bob_sell], 40 * USD, [100 * USD])
    # Signature types 1 and 2 are not modelled: refused.
    for kind in (1, 2):
        with v2_reverts("InvalidSignature"):
            world.exchange.functions.validateOrder(as_tuple(genuine, signatureType=kind)).call()
    # The signer must be the maker.
    with v2_reverts("InvalidSignature"):
        world.exchange.functions.validateOrder(as_tuple(genuine, signer=cs(world.trader.address))).call()


def test_replayed_and_over_filled_orders_revert(world: V2World) -> None:
    bob_sell = wallet_sell(world, "bob", world.yes, 100 * USD, 40 * USD)
    alice_buy = wallet_buy(world, "alice", world.yes, 80 * USD, 200 * USD)
    with v2_reverts("MakingGtRemaining"):
        match(world, alice_buy, [bob_sell], 80 * USD, [101 * USD])
    with v2_reverts("TakerFillExceeded"):  # the sellers' 40 exceed the taker fill the operator allowed
        match(world, alice_buy, [bob_sell], 39 * USD, [100 * USD])
    match(world, alice_buy, [bob_sell], 80 * USD, [100 * USD])
    with v2_reverts("OrderFilledOrCancelled"):  # Bob's order is spent: replaying it is refused
        match(world, alice_buy, [bob_sell], 80 * USD, [100 * USD])
    with v2_reverts("OrderFilledOrCancelled"):
        world.exchange.functions.validateOrder(as_tuple(bob_sell)).call()
    # Alice's order has 40 left; 101 YES at 0.40 would take 40.4 of it.
    eoa_sell = eoa_order(world, world.yes, SELL, 200 * USD, 80 * USD)
    with v2_reverts("MakingGtRemaining"):
        match(world, alice_buy, [eoa_sell], 80 * USD, [101 * USD])
    match(world, alice_buy, [eoa_sell], 80 * USD, [100 * USD])
    assert tuple(world.exchange.functions.getOrderStatus(client_hash(world, alice_buy)).call()) == (True, 0)


def test_wrong_domain_chain_or_exchange_is_refused(world: V2World) -> None:
    bob_sell = wallet_sell(world, "bob", world.yes, 100 * USD, 40 * USD)
    cases = [
        wallet_buy(world, "alice", world.yes, 40 * USD, 100 * USD, version="1"),
        wallet_buy(world, "alice", world.yes, 40 * USD, 100 * USD, chain_id=137),
        wallet_buy(world, "alice", world.yes, 40 * USD, 100 * USD, exchange=world.pm.neg_risk_exchange),
        eoa_order(world, world.yes, BUY, 40 * USD, 100 * USD, version="1"),
        eoa_order(world, world.yes, BUY, 40 * USD, 100 * USD, chain_id=137),
        eoa_order(world, world.yes, BUY, 40 * USD, 100 * USD, exchange=world.pm.neg_risk_exchange),
    ]
    for order in cases:
        with v2_reverts("InvalidSignature"):
            match(world, order, [bob_sell], 40 * USD, [100 * USD])
    # Signed for the neg-risk exchange, the order settles there (and only there).
    neg_sell = wallet_sell(world, "bob", world.yes, 100 * USD, 40 * USD, exchange=world.pm.neg_risk_exchange)
    match(world, cases[2], [neg_sell], 40 * USD, [100 * USD], exchange=world.neg_exchange)
    assert world.tokens(world.wallets["alice"], world.yes) == 600 * USD


def test_only_operators_settle_and_not_while_paused(world: V2World) -> None:
    bob_sell = wallet_sell(world, "bob", world.yes, 100 * USD, 40 * USD)
    alice_buy = wallet_buy(world, "alice", world.yes, 40 * USD, 100 * USD)
    with v2_reverts("NotOperator"):
        match(world, alice_buy, [bob_sell], 40 * USD, [100 * USD], sender=world.owners["alice"])
    with v2_reverts("NotAdmin"):
        send(world.w3, world.operator, world.exchange.functions.pauseTrading())
    send(world.w3, world.admin, world.exchange.functions.pauseTrading())
    assert world.exchange.functions.paused().call() is True
    with v2_reverts("TradingIsPaused"):
        match(world, alice_buy, [bob_sell], 40 * USD, [100 * USD])
    send(world.w3, world.admin, world.exchange.functions.unpauseTrading())
    match(world, alice_buy, [bob_sell], 40 * USD, [100 * USD])
    send(world.w3, world.admin, world.exchange.functions.removeOperator(cs(world.operator.address)))
    assert world.exchange.functions.isOperator(cs(world.operator.address)).call() is False


def test_tokens_must_belong_to_the_condition_and_prices_must_cross(world: V2World) -> None:
    bob_sell = wallet_sell(world, "bob", world.yes, 100 * USD, 40 * USD)
    alice_buy = wallet_buy(world, "alice", world.yes, 40 * USD, 100 * USD)
    with v2_reverts("TokenNotOfCondition"):
        match(world, alice_buy, [bob_sell], 40 * USD, [100 * USD], condition=world.other_condition)
    other = wallet_sell(world, "bob", world.other_yes, 100 * USD, 40 * USD)
    with v2_reverts("TokenNotOfCondition"):
        match(world, alice_buy, [other], 40 * USD, [100 * USD])
    cheap_buy = wallet_buy(world, "alice", world.yes, 39 * USD, 100 * USD)  # 0.39 < 0.40
    with v2_reverts("NotCrossing"):
        match(world, cheap_buy, [bob_sell], 39 * USD, [100 * USD])
    no_buy = eoa_order(world, world.no, BUY, 40 * USD, 100 * USD)  # 0.40 + 0.39 < 1: no mint
    with v2_reverts("NotCrossing"):
        match(world, cheap_buy, [no_buy], 39 * USD, [40 * USD])
    with v2_reverts("MismatchedTokenIds"):  # a seller of NO is no counterparty of a YES buyer
        match(
            world,
            alice_buy,
            [wallet_sell(world, "bob", world.no, 100 * USD, 40 * USD)],
            40 * USD,
            [100 * USD],
        )


def test_fees_above_the_max_rate_revert(world: V2World) -> None:
    bob_sell = wallet_sell(world, "bob", world.yes, 100 * USD, 40 * USD)
    alice_buy = wallet_buy(world, "alice", world.yes, 40 * USD, 100 * USD)
    with v2_reverts("FeeExceedsMaxRate"):  # 5 % of 40 is 2
        match(world, alice_buy, [bob_sell], 40 * USD, [100 * USD], taker_fee=2_000_001)
    with v2_reverts("FeeExceedsMaxRate"):
        match(world, alice_buy, [bob_sell], 40 * USD, [100 * USD], maker_fees=[2_000_001])
    send(world.w3, world.admin, world.exchange.functions.setMaxFeeRate(1_000))
    match(world, alice_buy, [bob_sell], 40 * USD, [100 * USD], taker_fee=4 * USD)
    assert world.usd(world.admin.address) == 4 * USD


def test_cancel_by_the_maker_only_then_unfillable(world: V2World) -> None:
    from polyhunter.chain import polymarket

    bob_sell = wallet_sell(world, "bob", world.yes, 100 * USD, 40 * USD)
    eoa_sell = eoa_order(world, world.yes, SELL, 100 * USD, 40 * USD)
    alice_buy = wallet_buy(world, "alice", world.yes, 40 * USD, 100 * USD)
    with v2_reverts("NotOrderMaker"):
        send(world.w3, world.owners["bob"], world.exchange.functions.cancelOrder(as_tuple(bob_sell)))
    cancel = world.exchange.encode_abi("cancelOrders", [[as_tuple(bob_sell)]])
    receipt = polymarket.wallet_execute(
        world.w3,
        world.owners["bob"],
        world.wallets["bob"],
        [(world.pm.exchange, 0, bytes.fromhex(cancel[2:]))],
    )
    [row] = events(world.exchange, "OrderCancelled", receipt)
    assert bytes(row["orderHash"]) == client_hash(world, bob_sell)
    send(world.w3, world.trader, world.exchange.functions.cancelOrder(as_tuple(eoa_sell)))
    for order in (bob_sell, eoa_sell):
        with v2_reverts("OrderFilledOrCancelled"):
            match(world, alice_buy, [order], 40 * USD, [100 * USD])
    assert tuple(world.exchange.functions.getOrderStatus(client_hash(world, eoa_sell)).call()) == (True, 0)


def test_registry_is_admin_only_and_both_ways(world: V2World) -> None:
    ex = world.exchange
    assert ex.functions.getComplement(world.yes).call() == world.no
    assert ex.functions.getComplement(world.no).call() == world.yes
    assert bytes(ex.functions.getConditionId(world.no).call()) == world.condition
    with v2_reverts("UnknownToken"):
        ex.functions.getComplement(12345).call()
    with v2_reverts("NotAdmin"):
        send(world.w3, world.operator, ex.functions.registerToken(1, 2, b"\x01" * 32))
    with v2_reverts("AlreadyRegistered"):
        send(world.w3, world.admin, ex.functions.registerToken(world.yes, 7, b"\x01" * 32))


def test_seller_fees_come_out_of_proceeds_in_complementary_and_merge_legs(world: V2World) -> None:
    alice, bob, carol, admin = (
        world.wallets["alice"],
        world.wallets["bob"],
        world.wallets["carol"],
        world.admin.address.lower(),
    )
    # A maker SELL's fee: the buyer pays the seller's price, the seller gets it less the fee.
    bob_sell = wallet_sell(world, "bob", world.yes, 100 * USD, 40 * USD)
    alice_buy = wallet_buy(world, "alice", world.yes, 40 * USD, 100 * USD)
    before = snapshot_balances(world, [alice, bob, admin])
    match(world, alice_buy, [bob_sell], 40 * USD, [100 * USD], maker_fees=[400_000])
    assert deltas(world, before) == {
        alice: (-40 * USD, 100 * USD, 0),
        bob: (39_600_000, -100 * USD, 0),
        admin: (400_000, 0, 0),
    }
    # MERGE with a fee on each side: both come out of what each seller receives.
    bob_sell_yes = wallet_sell(world, "bob", world.yes, 100 * USD, 50 * USD)
    carol_sell_no = wallet_sell(world, "carol", world.no, 100 * USD, 45 * USD)
    before = snapshot_balances(world, [bob, carol, admin])
    receipt = match(
        world, bob_sell_yes, [carol_sell_no], 100 * USD, [100 * USD], taker_fee=550_000, maker_fees=[450_000]
    )
    assert deltas(world, before) == {
        bob: (54_450_000, -100 * USD, 0),
        carol: (44_550_000, 0, -100 * USD),
        admin: (1 * USD, 0, 0),
    }
    charged = [e["amount"] for e in events(world.exchange, "FeeCharged", receipt)]
    assert charged == [450_000, 550_000]
    with v2_reverts("FeeExceedsProceeds"):  # with no max rate, a seller's fee is still capped by its proceeds
        send(world.w3, world.admin, world.exchange.functions.setMaxFeeRate(0))
        sell = wallet_sell(world, "bob", world.yes, 10 * USD, 1 * USD)
        buy = wallet_buy(world, "alice", world.yes, 1 * USD, 10 * USD)
        match(world, buy, [sell], 1 * USD, [10 * USD], maker_fees=[1_000_001])
