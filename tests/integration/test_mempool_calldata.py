"""The Rust `matchOrders` decoder against the chain: for COMPLEMENTARY, MINT, MERGE and mixed matches that
the local Polymarket V2 exchange settles, what the transaction's calldata says equals what its
`OrderFilled` rows say, order by order (hash, maker, side, token, amounts, fee), and signatures check out
(EOA by recovery, POLY_1271 by the wallet's owner)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from chain_helpers import events
from v2_helpers import BUY, EOA, POLY_1271, SELL, USD, V2World, as_tuple, client_hash, cs, sign
from web3.types import TxReceipt

from polyhunter._core import MatchDecoder, PendingMatch
from polyhunter.chain.tx import contract, send

pytestmark = pytest.mark.integration


@pytest.fixture
def world(v2_world: V2World) -> V2World:
    return v2_world


def order(
    world: V2World, who: str, token: int, side: int, maker_amount: int, taker_amount: int, **kw: Any
) -> Any:
    """`who` is a deposit-wallet owner's name (POLY_1271) or "trader" (the EOA)."""
    if who == "trader":
        signer, maker, kind = world.trader, world.trader.address, EOA
    else:
        signer, maker, kind = world.owners[who], world.wallets[who], POLY_1271
    return sign(
        world,
        signer,
        maker=maker,
        token=token,
        side=side,
        maker_amount=maker_amount,
        taker_amount=taker_amount,
        signature_type=kind,
        **kw,
    )


def settle(
    world: V2World,
    taker: Any,
    makers: list[Any],
    taker_fill: int,
    fills: list[int],
    taker_fee: int = 0,
    fees: list[int] | None = None,
    *,
    neg_risk: bool = False,
) -> TxReceipt:
    exchange = world.neg_exchange if neg_risk else world.exchange
    call = exchange.functions.matchOrders(
        world.condition,
        as_tuple(taker),
        [as_tuple(m) for m in makers],
        taker_fill,
        fills,
        taker_fee,
        fees or [0] * len(makers),
    )
    return send(world.w3, world.operator, call)


def pending_view(world: V2World, receipt: TxReceipt) -> PendingMatch:
    """The mined transaction as a node returns it, through the decoder's JSON path."""
    tx_hash = "0x" + bytes(receipt["transactionHash"]).hex()
    response = world.w3.provider.make_request("eth_getTransactionByHash", [tx_hash])  # type: ignore[arg-type]
    decoder = MatchDecoder(
        chain_id=world.w3.eth.chain_id, exchanges=[world.pm.exchange, world.pm.neg_risk_exchange]
    )
    out = decoder.decode_transactions(json.dumps(response))
    assert (out.rejects, out.ignored, out.hashes) == ([], 0, [])
    [found] = out.matches
    assert found.tx_hash == bytes(receipt["transactionHash"])
    assert found.sender == world.operator.address.lower()
    return found


def assert_calldata_equals_logs(
    world: V2World, receipt: TxReceipt, *, neg_risk: bool = False
) -> PendingMatch:
    found = pending_view(world, receipt)
    exchange = world.neg_exchange if neg_risk else world.exchange
    rows = [
        (
            bytes(e["orderHash"]),
            e["maker"].lower(),
            "BUY" if e["side"] == BUY else "SELL",
            e["tokenId"],
            e["makerAmountFilled"],
            e["takerAmountFilled"],
            e["fee"],
        )
        for e in events(exchange, "OrderFilled", receipt)
    ]
    said = [(f.order_hash, f.maker, f.side, f.token_id, f.making, f.taking, f.fee) for f in found.call.fills]
    assert said == rows
    assert found.call.exchange == exchange.address.lower()
    for fill in found.call.fills:
        if fill.signature_type == EOA:
            assert fill.signature_status == "valid"
        else:
            owner = contract(world.w3, "DepositWallet", fill.maker).functions.owner().call()
            assert (fill.signature_status, fill.wrap_signer) == ("needs_owner", owner.lower())
    return found


def test_complementary_taker_buy_with_fees(world: V2World) -> None:
    bob_sell = order(world, "bob", world.yes, SELL, 100 * USD, 40 * USD)
    eoa_sell = order(world, "trader", world.yes, SELL, 50 * USD, 22_500_000)
    alice_buy = order(world, "alice", world.yes, BUY, 75 * USD, 150 * USD)
    receipt = settle(world, alice_buy, [bob_sell, eoa_sell], 75 * USD, [100 * USD, 50 * USD], 625_000)
    found = assert_calldata_equals_logs(world, receipt)
    assert [f.match_type for f in found.call.fills] == ["COMPLEMENTARY", "COMPLEMENTARY", None]
    assert found.call.fills[2].order_hash == client_hash(world, alice_buy)


def test_complementary_taker_sell_partial_fill(world: V2World) -> None:
    alice_buy = order(world, "alice", world.yes, BUY, 45 * USD, 100 * USD)
    bob_sell = order(world, "bob", world.yes, SELL, 100 * USD, 40 * USD)
    # Alice's BUY fills 27 of its 45 (60 shares at her 0.45); Bob sells 60 of his 100.
    receipt = settle(world, bob_sell, [alice_buy], 100 * USD, [27 * USD], 100_000, [50_000])
    found = assert_calldata_equals_logs(world, receipt)
    assert [(f.size, f.usd) for f in found.call.fills] == [(60 * USD, 27 * USD), (60 * USD, 27 * USD)]


def test_mint(world: V2World) -> None:
    alice_buy = order(world, "alice", world.yes, BUY, 60 * USD, 100 * USD)
    eoa_buy_no = order(world, "trader", world.no, BUY, 45 * USD, 100 * USD)
    receipt = settle(world, alice_buy, [eoa_buy_no], 60 * USD, [45 * USD])
    found = assert_calldata_equals_logs(world, receipt)
    assert [f.match_type for f in found.call.fills] == ["MINT", None]
    assert found.call.fills[1].price == (55 * USD, 100 * USD)


def test_merge(world: V2World) -> None:
    bob_sell = order(world, "bob", world.yes, SELL, 100 * USD, 50 * USD)
    carol_sell_no = order(world, "carol", world.no, SELL, 100 * USD, 45 * USD)
    receipt = settle(world, bob_sell, [carol_sell_no], 100 * USD, [100 * USD])
    found = assert_calldata_equals_logs(world, receipt)
    assert [f.match_type for f in found.call.fills] == ["MERGE", None]


def test_mixed_complementary_and_mint_on_the_neg_risk_exchange(world: V2World) -> None:
    ex = world.pm.neg_risk_exchange
    alice_buy = order(world, "alice", world.yes, BUY, 60 * USD, 100 * USD, exchange=ex)
    bob_sell = order(world, "bob", world.yes, SELL, 50 * USD, 25 * USD, exchange=ex)
    eoa_buy_no = order(world, "trader", world.no, BUY, 20 * USD, 50 * USD, exchange=ex)
    ctf = contract(world.w3, "ConditionalTokens", world.pm.ctf)
    for owner in ("alice", "bob"):
        assert ctf.functions.isApprovedForAll(cs(world.wallets[owner]), cs(ex)).call()
    receipt = settle(world, alice_buy, [bob_sell, eoa_buy_no], 60 * USD, [50 * USD, 20 * USD], neg_risk=True)
    found = assert_calldata_equals_logs(world, receipt, neg_risk=True)
    assert [f.match_type for f in found.call.fills] == ["COMPLEMENTARY", "MINT", None]
    # The standard exchange's domain would give other hashes: the decoder used the neg-risk one.
    assert found.call.fills[2].order_hash == client_hash(world, alice_buy, ex)
