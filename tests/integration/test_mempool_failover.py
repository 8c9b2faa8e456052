"""The pending-transaction source fails over across every websocket endpoint it is given, as the log
detector does: with the first node killed mid-run, a matchOrders sent pending to the second is seen after
the failover; a first URL dead from the start is skipped. Two real anvil nodes: a bare one (mining off) that
dies, and the session's, which carries the V2 world (automine off)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from typing import Any

import pytest
from eth_account.signers.local import LocalAccount
from v2_helpers import BUY, EOA, POLY_1271, SELL, USD, V2World, as_tuple, sign
from web3 import Web3

from polyhunter._core import MatchDecoder
from polyhunter.chain.aiorpc import AsyncRpc
from polyhunter.chain.anvil import Anvil, free_port
from polyhunter.chain.rpc import rpc_call
from polyhunter.detector.chainlogs import ChainLogDetector, shown_ws
from polyhunter.detector.failover import WsFailover
from polyhunter.detector.mempool import MempoolSource, PendingFill
from polyhunter.errors import ChainError

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


@pytest.fixture
def doomed() -> Iterator[Anvil]:
    """A node of the test's own, mining off (what is sent stays pending), that the test kills."""
    node = Anvil(extra_args=("--no-mining",)).start()
    try:
        yield node
    finally:
        node.stop()


def order(world: V2World, who: str, side: int, maker_amount: int, taker_amount: int) -> Any:
    if who == "trader":
        signer, maker, kind = world.trader, world.trader.address, EOA
    else:
        signer, maker, kind = world.owners[who], world.wallets[who], POLY_1271
    return sign(
        world,
        maker=maker,
        token=world.yes,
        side=side,
        maker_amount=maker_amount,
        taker_amount=taker_amount,
        signature_type=kind,
        signer=signer,
    )


def broadcast(world: V2World, sender: LocalAccount) -> bytes:
    """The operator's matchOrders of Alice's buy against Bob's sell, sent without waiting (stays pending)."""
    taker = order(world, "alice", BUY, 75 * USD, 150 * USD)
    maker = order(world, "bob", SELL, 100 * USD, 40 * USD)
    call = world.exchange.functions.matchOrders(
        world.condition, as_tuple(taker), [as_tuple(maker)], 75 * USD, [100 * USD], 0, [0]
    )
    tx = call.build_transaction(
        {
            "from": sender.address,
            "nonce": world.w3.eth.get_transaction_count(sender.address, "pending"),
            "gas": 3_000_000,
        }
    )
    return bytes(world.w3.eth.send_raw_transaction(sender.sign_transaction(tx).raw_transaction))


def pending(w3: Web3, tx_hash: bytes) -> bool:
    reply = w3.provider.make_request("eth_getTransactionReceipt", ["0x" + tx_hash.hex()])  # type: ignore[arg-type]
    return reply.get("result") is None


async def until(condition: Any, what: str) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + DEADLINE_S
    while not condition():
        assert loop.time() < deadline, f"not within {DEADLINE_S}s: {what}"
        await asyncio.sleep(0.05)


def source(world: V2World, rpc: AsyncRpc, urls: list[str], sink: Any) -> MempoolSource:
    decoder = MatchDecoder(
        chain_id=world.w3.eth.chain_id,
        exchanges=[world.pm.exchange, world.pm.neg_risk_exchange],
        leaders=[world.wallets["alice"]],
    )
    return MempoolSource(
        rpc=rpc, decoder=decoder, sink=sink, ws_url=urls, backoff_initial_s=0.05, backoff_max_s=0.2
    )


def reconnect_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if "reconnecting to" in r.getMessage()]


@pytest.mark.asyncio
async def test_pending_fills_are_seen_on_the_second_node_once_the_first_is_killed(
    world: V2World, anvil: Anvil, doomed: Anvil, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="polyhunter.detector.mempool")
    got: list[PendingFill] = []

    async def sink(batch: list[PendingFill]) -> None:
        got.extend(batch)

    stop = asyncio.Event()
    async with AsyncRpc([anvil.rpc_url]) as rpc:
        src = source(world, rpc, [doomed.ws_url, anvil.ws_url], sink)
        assert src.ws_urls == [doomed.ws_url, anvil.ws_url]
        runner = asyncio.create_task(src.run(stop))
        try:
            await asyncio.wait_for(src.connected.wait(), DEADLINE_S)
            assert (src.stats.endpoint, src.stats.connects, src.stats.failovers) == (
                shown_ws(doomed.ws_url),
                1,
                0,
            )
            # The source really reads the first node: a transfer left pending there reaches it.
            accounts = rpc_call(doomed.rpc_url, "eth_accounts")
            rpc_call(
                doomed.rpc_url,
                "eth_sendTransaction",
                [{"from": accounts[0], "to": accounts[1], "value": "0x1"}],
            )
            await until(lambda: src.stats.transactions >= 1, "the first node's pending transfer read")

            assert doomed.process is not None
            doomed.process.kill()  # the node dies; its websocket goes with it
            await asyncio.to_thread(doomed.stop)
            await until(lambda: src.stats.connects == 2 and src.connected.is_set(), "reconnected")
            assert src.stats.endpoint == shown_ws(anvil.ws_url)
            assert src.stats.failovers == 1

            tx_hash = broadcast(world, world.operator)
            await until(lambda: len(got) == 1, "Alice's order seen pending on the second node")
            assert pending(world.w3, tx_hash)  # seen before any block holds it
        finally:
            stop.set()
            await asyncio.wait_for(runner, DEADLINE_S)
    fill = got[0]
    assert (fill.tx_hash, fill.signal.leader, fill.signal.side, fill.signal.source) == (
        tx_hash,
        world.wallets["alice"],
        "BUY",
        "mempool",
    )
    # The reconnect line names where it goes and the delay it waits, as the log detector's does.
    lines = reconnect_lines(caplog)
    assert len(lines) == 1
    assert f"connection to {shown_ws(doomed.ws_url)} lost" in lines[0]
    assert lines[0].endswith(
        f"reconnecting to {shown_ws(anvil.ws_url)} in {src.stats.last_reconnect_delay_s:.2f}s"
    )


@pytest.mark.asyncio
async def test_a_first_url_dead_from_the_start_is_skipped(
    world: V2World, anvil: Anvil, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="polyhunter.detector.mempool")
    dead = f"ws://127.0.0.1:{free_port()}"  # nothing listens there
    stop = asyncio.Event()
    async with AsyncRpc([anvil.rpc_url]) as rpc:
        # Iterated rather than given a sink: the failover holds on that path too.
        src = source(world, rpc, [dead, anvil.ws_url], None)
        got: list[PendingFill] = []

        async def consume() -> None:
            async for fill in src.fills(stop):
                got.append(fill)

        consumer = asyncio.create_task(consume())
        try:
            await asyncio.wait_for(src.connected.wait(), DEADLINE_S)
            assert src.stats.endpoint == shown_ws(anvil.ws_url)
            assert (src.stats.connects, src.stats.failovers) == (1, 1)
            assert src.stats.errors >= 1
            tx_hash = broadcast(world, world.operator)
            await until(lambda: len(got) == 1, "Alice's order seen pending past the dead endpoint")
            assert pending(world.w3, tx_hash)
        finally:
            stop.set()
            await asyncio.wait_for(consumer, DEADLINE_S)
    assert (got[0].tx_hash, got[0].signal.leader) == (tx_hash, world.wallets["alice"])
    lines = reconnect_lines(caplog)
    assert f"connection to {shown_ws(dead)} lost" in lines[0]
    assert lines[0].endswith(
        f"reconnecting to {shown_ws(anvil.ws_url)} in {src.stats.last_reconnect_delay_s:.2f}s"
    )


def test_the_delay_rule_is_the_log_detector_s() -> None:
    """One rule for both sources: the delay doubles only once every endpoint has failed in a row."""
    for endpoints in (1, 2, 3):
        urls = [f"ws://127.0.0.1:{port}" for port in range(1, endpoints + 1)]
        detector = ChainLogDetector(
            ws_url=urls,
            rpc=AsyncRpc(["http://127.0.0.1:9"]),
            filters=list,
            sink=None,  # type: ignore[arg-type]  # never called: no connection is made
            load_checkpoint=None,  # type: ignore[arg-type]
            save_checkpoint=None,  # type: ignore[arg-type]
            backoff_initial_s=0.2,
            backoff_max_s=1.0,
        )
        failover = WsFailover(urls, backoff_initial_s=0.2, backoff_max_s=1.0)
        assert [failover.reconnect_delay(n) for n in range(1, 12)] == [
            detector.reconnect_delay(n) for n in range(1, 12)
        ]
    two = WsFailover(["ws://127.0.0.1:1", "ws://127.0.0.1:2"], backoff_initial_s=0.2, backoff_max_s=1.0)
    delays = [two.failed(was_connected=False) for _ in range(5)]
    # Jitter keeps each delay within half to one and a half of its base: 0.2, 0.2, 0.4, 0.4, 0.8.
    for delay, base in zip(delays, [0.2, 0.2, 0.4, 0.4, 0.8], strict=True):
        assert base * 0.5 <= delay <= base * 1.5
    assert (two.failovers, two.url) == (5, "ws://127.0.0.1:2")
    two.failed(was_connected=True)  # a connection that had worked starts a new round
    assert two.failures == 1


def test_bad_failover_settings_are_refused() -> None:
    with pytest.raises(ChainError, match="no websocket URL"):
        WsFailover([])
    with pytest.raises(ChainError, match="backoff"):
        WsFailover(["ws://127.0.0.1:1"], backoff_initial_s=0.0)
