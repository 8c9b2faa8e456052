"""The pending-transaction source on anvil with automine off: the operator's matchOrders is seen pending
(full objects, hashes fetched one by one, or txpool_content polled), before any block holds it, and gives
one mempool signal per watched maker whose order hash and amounts are those of the OrderFilled row the
block then carries; calls from a non-operator and orders whose signature does not hold give nothing."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest
from chain_helpers import events
from eth_account.signers.local import LocalAccount
from v2_helpers import BUY, EOA, POLY_1271, SELL, USD, V2World, as_tuple, sign
from web3 import Web3

from polyhunter._core import NO_LOG_INDEX, MatchDecoder
from polyhunter.chain.aiorpc import AsyncRpc
from polyhunter.chain.anvil import Anvil
from polyhunter.detector.mempool import MempoolSource, PendingFill

pytestmark = pytest.mark.integration

DEADLINE_S = 120.0


@pytest.fixture
def world(v2_world: V2World) -> Iterator[V2World]:
    """The V2 world with automine off: a transaction stays pending until the test mines it."""
    v2_world.w3.provider.make_request("evm_setAutomine", [False])  # type: ignore[arg-type]
    try:
        yield v2_world
    finally:
        v2_world.w3.provider.make_request("evm_setAutomine", [True])  # type: ignore[arg-type]


def order(world: V2World, who: str, side: int, maker_amount: int, taker_amount: int, **kw: Any) -> Any:
    if who == "trader":
        signer, maker, kind = world.trader, world.trader.address, EOA
    else:
        signer, maker, kind = world.owners[who], world.wallets[who], POLY_1271
    kw.setdefault("signer", signer)
    return sign(
        world,
        maker=maker,
        token=world.yes,
        side=side,
        maker_amount=maker_amount,
        taker_amount=taker_amount,
        signature_type=kind,
        **kw,
    )


def broadcast(world: V2World, sender: LocalAccount, taker: Any, makers: list[Any], fills: list[int]) -> bytes:
    """Signs and sends matchOrders without waiting: with automine off it stays pending."""
    call = world.exchange.functions.matchOrders(
        world.condition, as_tuple(taker), [as_tuple(m) for m in makers], 75 * USD, fills, 0, [0] * len(makers)
    )
    tx = call.build_transaction(
        {
            "from": sender.address,
            "nonce": world.w3.eth.get_transaction_count(sender.address, "pending"),
            "gas": 3_000_000,
        }
    )
    return bytes(world.w3.eth.send_raw_transaction(sender.sign_transaction(tx).raw_transaction))


def mine(w3: Web3) -> None:
    w3.provider.make_request("evm_mine", [])  # type: ignore[arg-type]


def pending(w3: Web3, tx_hash: bytes) -> bool:
    reply = w3.provider.make_request("eth_getTransactionReceipt", ["0x" + tx_hash.hex()])  # type: ignore[arg-type]
    return reply.get("result") is None


async def until(condition: Any, what: str) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + DEADLINE_S
    while not condition():
        assert loop.time() < deadline, f"not within {DEADLINE_S}s: {what}"
        await asyncio.sleep(0.05)


def source(world: V2World, anvil: Anvil, rpc: AsyncRpc, sink: Any, mode: str) -> MempoolSource:
    decoder = MatchDecoder(
        chain_id=world.w3.eth.chain_id,
        exchanges=[world.pm.exchange, world.pm.neg_risk_exchange],
        leaders=[world.wallets["alice"], world.trader.address],
    )
    return MempoolSource(
        rpc=rpc,
        decoder=decoder,
        sink=sink,
        ws_url=None if mode == "txpool" else anvil.ws_url,
        full_objects=mode == "full",
        poll_interval_s=0.1,
    )


@pytest.mark.parametrize("mode", ["full", "hashes", "txpool"])
@pytest.mark.asyncio
async def test_a_watched_fill_is_seen_pending_and_matches_its_log(
    world: V2World, anvil: Anvil, mode: str
) -> None:
    got: list[PendingFill] = []

    async def sink(batch: list[PendingFill]) -> None:
        got.extend(batch)

    stop = asyncio.Event()
    async with AsyncRpc([anvil.rpc_url]) as rpc:
        src = source(world, anvil, rpc, sink, mode)
        runner = asyncio.create_task(src.run(stop))
        try:
            await asyncio.wait_for(src.connected.wait(), DEADLINE_S)
            bob_sell = order(world, "bob", SELL, 100 * USD, 40 * USD)
            eoa_sell = order(world, "trader", SELL, 50 * USD, 22_500_000)
            alice_buy = order(world, "alice", BUY, 75 * USD, 150 * USD)
            tx_hash = broadcast(world, world.operator, alice_buy, [bob_sell, eoa_sell], [100 * USD, 50 * USD])
            await until(lambda: len(got) == 2, "the two watched orders seen pending")
            assert pending(world.w3, tx_hash)  # seen before any block holds it
        finally:
            stop.set()
            await runner
    mine(world.w3)
    receipt = world.w3.eth.get_transaction_receipt(tx_hash)  # type: ignore[arg-type]
    assert receipt["status"] == 1
    rows = {bytes(e["orderHash"]): e for e in events(world.exchange, "OrderFilled", receipt)}
    # The EOA seller (position 1) and Alice's taker order (position 2); Bob is not watched.
    assert [(f.signal.leader, f.signal.side, f.signal.sub_index) for f in got] == [
        (world.trader.address.lower(), "SELL", 1),
        (world.wallets["alice"], "BUY", 2),
    ]
    for fill in got:
        row = rows[fill.order_hash]
        s = fill.signal
        assert row["maker"].lower() == s.leader
        size, usd = (row["takerAmountFilled"], row["makerAmountFilled"])
        if s.side == "SELL":
            size, usd = usd, size
        assert (s.size, s.usd, s.price_num, s.price_den, s.token_id) == (size, usd, usd, size, world.yes)
        assert (s.source, s.tx_hash, s.log_index, s.block_number) == ("mempool", tx_hash, NO_LOG_INDEX, None)
        assert (fill.sender, fill.exchange) == (world.operator.address.lower(), world.pm.exchange)
    assert src.stats.fills == 2
    assert (src.stats.not_operator, src.stats.bad_signatures, src.stats.rejected_calldata) == (0, 0, 0)
    if mode == "hashes":
        assert src.stats.hashes_fetched >= 1


@pytest.mark.parametrize("mode", ["full", "txpool"])
@pytest.mark.asyncio
async def test_non_operators_and_signatures_that_do_not_hold_give_nothing(
    world: V2World, anvil: Anvil, mode: str
) -> None:
    stop = asyncio.Event()
    async with AsyncRpc([anvil.rpc_url]) as rpc:
        src = source(world, anvil, rpc, None, mode)
        got: list[PendingFill] = []

        async def consume() -> None:
            async for fill in src.fills(stop):
                got.append(fill)

        consumer = asyncio.create_task(consume())
        try:
            await asyncio.wait_for(src.connected.wait(), DEADLINE_S)
            bob_sell = order(world, "bob", SELL, 100 * USD, 40 * USD)
            alice_buy = order(world, "alice", BUY, 75 * USD, 150 * USD)
            # Anyone can broadcast the operator's calldata: a trader's copy of it would revert.
            broadcast(world, world.trader, alice_buy, [bob_sell], [100 * USD])
            await until(lambda: src.stats.not_operator == 1, "the non-operator's call refused")
            # Alice's wallet named as maker, but Bob's owner key signed the wrap.
            forged = order(world, "alice", BUY, 75 * USD, 150 * USD, signer=world.owners["bob"])
            broadcast(
                world, world.operator, forged, [order(world, "bob", SELL, 100 * USD, 40 * USD)], [100 * USD]
            )
            await until(lambda: src.stats.bad_signatures == 1, "the forged wrap refused")
            # Calldata that does not decode: a counted reject, not a crash.
            junk = {
                "from": world.operator.address,
                "to": world.exchange.address,
                "data": "0x3c2b4399" + "00" * 37,
                "nonce": world.w3.eth.get_transaction_count(world.operator.address, "pending"),
                "gas": 100_000,
                "maxFeePerGas": 10**10,
                "maxPriorityFeePerGas": 10**9,
                "chainId": world.w3.eth.chain_id,
            }
            world.w3.eth.send_raw_transaction(world.operator.sign_transaction(junk).raw_transaction)
            await until(lambda: src.stats.rejected_calldata == 1, "the undecodable call counted")
            # A real one after them is still taken: the source keeps going.
            real = order(world, "alice", BUY, 75 * USD, 150 * USD)
            broadcast(
                world, world.operator, real, [order(world, "bob", SELL, 100 * USD, 40 * USD)], [100 * USD]
            )
            await until(lambda: len(got) == 1, "the genuine order taken")
        finally:
            stop.set()
            await consumer
    assert got[0].signal.leader == world.wallets["alice"]
    # Each counted once, however often the pool was read.
    assert (src.stats.matches, src.stats.not_operator, src.stats.bad_signatures) == (3, 1, 1)
    assert (src.stats.rejected_calldata, src.stats.errors) == (1, 0)
    mine(world.w3)
