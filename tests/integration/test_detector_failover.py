"""The detector's websocket endpoints fail over in order, and its receive queue stays bounded under a flood
without losing a notification.

Two loopback relays stand in front of one anvil, so that one endpoint can refuse while the other serves;
logs come from the real Gnosis ConditionalTokens (`prepareCondition`).
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from web3 import Web3
from wsrelay import WsRelay

from polyhunter.chain.aiorpc import AsyncRpc
from polyhunter.chain.anvil import Anvil
from polyhunter.detector.chainlogs import ChainLogDetector, shown_ws
from polyhunter.detector.filters import LogFilter

pytestmark = [pytest.mark.integration]
ROOT = Path(__file__).resolve().parents[2]
CTF_ARTIFACT = (
    ROOT
    / "contracts/node_modules/@gnosis.pm/conditional-tokens-contracts/build/contracts/ConditionalTokens.json"
)


class Checkpoints:
    def __init__(self) -> None:
        self.saved: list[int] = []

    async def load(self) -> int | None:
        return self.saved[-1] if self.saved else None

    async def save(self, block: int) -> None:
        self.saved.append(block)


async def _until(condition: Any, within_s: float = 30.0) -> None:
    async def poll() -> None:
        while not condition():
            await asyncio.sleep(0.01)

    await asyncio.wait_for(poll(), within_s)


def _deploy_ctf(w3: Web3) -> Any:
    artifact = json.loads(CTF_ARTIFACT.read_text())
    factory = w3.eth.contract(abi=artifact["abi"], bytecode=artifact["bytecode"])
    tx = factory.constructor().transact({"from": w3.eth.accounts[0]})
    address = w3.eth.wait_for_transaction_receipt(tx)["contractAddress"]
    return w3.eth.contract(address=address, abi=artifact["abi"])


def _prepare(w3: Web3, ctf: Any, n: int) -> None:
    for _ in range(n):
        tx = ctf.functions.prepareCondition(w3.eth.accounts[1], os.urandom(32), 2).transact(
            {"from": w3.eth.accounts[0]}
        )
        assert w3.eth.wait_for_transaction_receipt(tx)["status"] == 1


@pytest_asyncio.fixture
async def relays(anvil: Anvil) -> AsyncIterator[tuple[Web3, Any, WsRelay, WsRelay]]:
    w3 = Web3(Web3.HTTPProvider(anvil.rpc_url))
    ctf = _deploy_ctf(w3)
    first = await WsRelay(anvil.ws_url).start()
    second = await WsRelay(anvil.ws_url).start()
    yield w3, ctf, first, second
    await first.stop()
    await second.stop()


@pytest.mark.asyncio
async def test_endpoints_fail_over_in_order_and_the_log_states_the_delay(
    relays: tuple[Web3, Any, WsRelay, WsRelay], anvil: Anvil, caplog: pytest.LogCaptureFixture
) -> None:
    w3, ctf, first, second = relays
    first.refusing = True  # the primary refuses from the start: the detector must come up on the second
    seen: dict[tuple[str, int], str] = {}
    checkpoints = Checkpoints()

    async def sink(raw: bytes, origin: str) -> None:
        message = json.loads(raw)
        result = message["params"]["result"] if "params" in message else message["result"]
        for item in result if isinstance(result, list) else [result]:
            seen[(item["transactionHash"], int(item["logIndex"], 16))] = origin

    caplog.set_level(logging.WARNING, logger="polyhunter.detector.chainlogs")
    async with AsyncRpc([anvil.rpc_url]) as rpc:
        detector = ChainLogDetector(
            ws_url=[first.url, second.url],
            rpc=rpc,
            filters=lambda: [LogFilter((ctf.address.lower(),), ())],
            sink=sink,
            load_checkpoint=checkpoints.load,
            save_checkpoint=checkpoints.save,
            backoff_initial_s=0.05,
            backoff_max_s=0.2,
        )
        stop = asyncio.Event()
        task = asyncio.create_task(detector.run(stop))
        await asyncio.wait_for(detector.connected.wait(), 20)
        assert detector.stats.endpoint == shown_ws(second.url)
        assert detector.stats.failovers >= 1
        start = checkpoints.saved[0]
        _prepare(w3, ctf, 2)
        await _until(lambda: len(seen) == 2)

        # The second endpoint goes away; the first is back: the detector moves to it and backfills.
        first.accept()
        connects = detector.stats.connects
        await second.drop(refuse=True)
        _prepare(w3, ctf, 3)
        await _until(lambda: detector.stats.connects > connects and detector.connected.is_set())
        assert detector.stats.endpoint == shown_ws(first.url)
        await _until(lambda: len(seen) == 5)
        expected = {
            (entry["transactionHash"].to_0x_hex(), entry["logIndex"])
            for entry in w3.eth.get_logs({"address": ctf.address, "fromBlock": start + 1})
        }
        assert set(seen) == expected
        stop.set()
        await asyncio.wait_for(task, 10)

    # Each reconnect line names the endpoint it goes to and the delay it waits; the last one is the
    # delay the detector recorded as waited.
    lines = [r.getMessage() for r in caplog.records if "reconnecting to" in r.getMessage()]
    assert any(f"reconnecting to {shown_ws(second.url)} in " in line for line in lines)
    assert lines[-1].endswith(
        f"reconnecting to {shown_ws(first.url)} in {detector.stats.last_reconnect_delay_s:.2f}s"
    )


def test_the_reconnect_delay_grows_only_after_every_endpoint_failed() -> None:
    detector = ChainLogDetector(
        ws_url=["ws://127.0.0.1:1", "ws://127.0.0.1:2"],
        rpc=AsyncRpc(["http://127.0.0.1:9"]),
        filters=list,
        sink=None,  # type: ignore[arg-type]  # never called: no connection is made
        load_checkpoint=None,  # type: ignore[arg-type]
        save_checkpoint=None,  # type: ignore[arg-type]
        backoff_initial_s=0.2,
        backoff_max_s=1.0,
    )
    assert [detector.reconnect_delay(n) for n in range(1, 8)] == [0.2, 0.2, 0.4, 0.4, 0.8, 0.8, 1.0]
    assert detector.ws_urls == ["ws://127.0.0.1:1", "ws://127.0.0.1:2"]


def test_an_api_key_in_a_websocket_url_is_never_shown() -> None:
    assert shown_ws("wss://127.0.0.1:8546/v2/SECRETKEY") == "wss://127.0.0.1:8546/***"
    assert shown_ws("ws://127.0.0.1:8546?key=SECRET") == "ws://127.0.0.1:8546/***"
    assert shown_ws("ws://127.0.0.1:8546") == "ws://127.0.0.1:8546"


@pytest.mark.asyncio
async def test_a_flood_is_held_in_a_bounded_queue_and_every_notification_arrives(
    relays: tuple[Web3, Any, WsRelay, WsRelay], anvil: Anvil
) -> None:
    w3, ctf, relay, _ = relays
    bound, flood = 16, 1500
    received: list[int] = []
    gate = asyncio.Event()
    checkpoints = Checkpoints()

    async def sink(raw: bytes, origin: str) -> None:
        await gate.wait()  # a stalled intake (a slow store): the detector must not buffer without bound
        received.append(int(json.loads(raw)["params"]["result"]["logIndex"], 16))

    async with AsyncRpc([anvil.rpc_url]) as rpc:
        detector = ChainLogDetector(
            ws_url=relay.url,
            rpc=rpc,
            filters=lambda: [LogFilter((ctf.address.lower(),), ())],
            sink=sink,
            load_checkpoint=checkpoints.load,
            save_checkpoint=checkpoints.save,
            intake_limit=1,
            receive_queue_max=bound,
        )
        stop = asyncio.Event()
        task = asyncio.create_task(detector.run(stop))
        await asyncio.wait_for(detector.connected.wait(), 20)
        head = w3.eth.get_block("latest")
        # Notifications shaped as a node sends them (compact JSON), for the head block: no reorg is implied.
        template = {
            "address": ctf.address.lower(),
            "topics": ["0x" + "ab" * 32],
            "data": "0x",
            "blockNumber": hex(head["number"]),
            "blockHash": head["hash"].to_0x_hex(),
            "transactionHash": "0x" + "cd" * 32,
            "transactionIndex": "0x0",
            "removed": False,
        }

        async def send_all() -> None:
            for i in range(flood):
                params = {"subscription": "0xf100d", "result": {**template, "logIndex": hex(i)}}
                message = {"jsonrpc": "2.0", "method": "eth_subscription", "params": params}
                await relay.inject(json.dumps(message, separators=(",", ":")))

        sizes: list[int] = []

        def flood_taken_in() -> bool:
            sizes.append(detector.queued)
            return sender.done() and len(received) >= flood

        sender = asyncio.create_task(send_all())
        # While the intake is stalled, the queue fills up to its bound and no further.
        await _until(lambda: detector.queued >= bound)
        for _ in range(200):  # time for an unbounded queue to take in far more than the bound
            sizes.append(detector.queued)
            await asyncio.sleep(0.005)
        gate.set()
        await _until(flood_taken_in, 120)
        await sender
        assert max(sizes) == bound
        assert received == list(range(flood))  # every one, once, in order
        assert detector.stats.connects == 1  # the reader waited: no reconnect was needed
        assert detector.stats.notifications == flood
        stop.set()
        await asyncio.wait_for(task, 10)
