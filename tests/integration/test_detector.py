"""The websocket log detector against anvil: live logs, reconnect with backfill, checkpoints.

Logs come from the real Gnosis ConditionalTokens (`prepareCondition` emits `ConditionPreparation`), so
these tests need nothing but anvil and the npm artifact.
"""

from __future__ import annotations

import asyncio
import json
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
from polyhunter.detector.chainlogs import ChainLogDetector
from polyhunter.detector.filters import LogFilter
from polyhunter.detector.intake import Sink

pytestmark = [pytest.mark.integration]
ROOT = Path(__file__).resolve().parents[2]
CTF_ARTIFACT = (
    ROOT
    / "contracts/node_modules/@gnosis.pm/conditional-tokens-contracts/build/contracts/ConditionalTokens.json"
)


class Collector:
    """A sink that records every log (by tx hash and log index) and the origin it came through."""

    def __init__(self) -> None:
        self.logs: dict[tuple[str, int], dict[str, Any]] = {}
        self.deliveries: list[tuple[str, int]] = []
        self.origins: list[str] = []
        self.checkpoints: list[int] = []
        self.changed = asyncio.Event()

    async def sink(self, raw: bytes, origin: str) -> None:
        message = json.loads(raw)
        result = message["params"]["result"] if "params" in message else message["result"]
        for item in result if isinstance(result, list) else [result]:
            key = (item["transactionHash"], int(item["logIndex"], 16))
            self.logs[key] = item
            self.deliveries.append(key)
            self.origins.append(origin)
        self.changed.set()

    async def load(self) -> int | None:
        return self.checkpoints[-1] if self.checkpoints else None

    async def save(self, block: int) -> None:
        self.checkpoints.append(block)

    async def wait_for(self, count: int, within_s: float = 15.0) -> None:
        async def until() -> None:
            while len(self.logs) < count:
                self.changed.clear()
                await self.changed.wait()

        await asyncio.wait_for(until(), within_s)


def _deploy_ctf(w3: Web3) -> Any:
    artifact = json.loads(CTF_ARTIFACT.read_text())
    factory = w3.eth.contract(abi=artifact["abi"], bytecode=artifact["bytecode"])
    tx = factory.constructor().transact({"from": w3.eth.accounts[0]})
    address = w3.eth.wait_for_transaction_receipt(tx)["contractAddress"]
    return w3.eth.contract(address=address, abi=artifact["abi"])


def _prepare(w3: Web3, ctf: Any, n: int) -> None:
    for _ in range(n):
        question = os.urandom(32)
        tx = ctf.functions.prepareCondition(w3.eth.accounts[1], question, 2).transact(
            {"from": w3.eth.accounts[0]}
        )
        assert w3.eth.wait_for_transaction_receipt(tx)["status"] == 1


def _ctf_detector(
    rpc: AsyncRpc, relay: WsRelay, ctf: Any, collector: Collector, sink: Sink
) -> ChainLogDetector:
    """A detector of the CTF's logs through `relay`, checkpointing in `collector`, reconnecting quickly."""
    return ChainLogDetector(
        ws_url=relay.url,
        rpc=rpc,
        filters=lambda: [LogFilter((ctf.address.lower(),), ())],
        sink=sink,
        load_checkpoint=collector.load,
        save_checkpoint=collector.save,
        backoff_initial_s=0.05,
        backoff_max_s=0.2,
    )


@pytest_asyncio.fixture
async def world(anvil: Anvil) -> AsyncIterator[tuple[Web3, Any, WsRelay]]:
    w3 = Web3(Web3.HTTPProvider(anvil.rpc_url))
    ctf = _deploy_ctf(w3)
    relay = await WsRelay(anvil.ws_url).start()
    yield w3, ctf, relay
    await relay.stop()


@pytest.mark.asyncio
async def test_live_logs_reconnect_and_backfill(world: tuple[Web3, Any, WsRelay], anvil: Anvil) -> None:
    w3, ctf, relay = world
    collector = Collector()
    async with AsyncRpc([anvil.rpc_url]) as rpc:
        detector = _ctf_detector(rpc, relay, ctf, collector, collector.sink)
        stop = asyncio.Event()
        task = asyncio.create_task(detector.run(stop))
        await asyncio.wait_for(detector.connected.wait(), 10)
        first_checkpoint = collector.checkpoints[-1]
        assert first_checkpoint == w3.eth.block_number  # a first start copies from the head on

        _prepare(w3, ctf, 3)
        await collector.wait_for(3)
        assert set(collector.origins) == {"ws"}

        # The websocket drops for several blocks while logs keep coming: backfill must bring them all.
        await relay.drop(refuse=True)
        await asyncio.sleep(0.1)
        _prepare(w3, ctf, 4)
        relay.accept()
        await collector.wait_for(7)
        assert "backfill" in collector.origins
        assert detector.stats.connects >= 2

        # Every log of the chain's CTF arrived, and none that is not one.
        expected = {
            (entry["transactionHash"].to_0x_hex(), entry["logIndex"])
            for entry in w3.eth.get_logs({"address": ctf.address, "fromBlock": first_checkpoint + 1})
        }
        assert set(collector.logs) == expected
        assert len(expected) == 7
        # The checkpoint only moves forward.
        assert collector.checkpoints == sorted(collector.checkpoints)
        stop.set()
        await asyncio.wait_for(task, 10)


@pytest.mark.asyncio
async def test_resubscribe_backfills_from_checkpoint(world: tuple[Web3, Any, WsRelay], anvil: Anvil) -> None:
    w3, ctf, relay = world
    collector = Collector()
    watched: list[LogFilter] = [LogFilter(("0x" + "00" * 19 + "01",), ())]  # nothing of interest yet
    async with AsyncRpc([anvil.rpc_url]) as rpc:
        detector = ChainLogDetector(
            ws_url=relay.url,
            rpc=rpc,
            filters=lambda: watched,
            sink=collector.sink,
            load_checkpoint=collector.load,
            save_checkpoint=collector.save,
        )
        stop = asyncio.Event()
        task = asyncio.create_task(detector.run(stop))
        await asyncio.wait_for(detector.connected.wait(), 10)
        _prepare(w3, ctf, 2)
        await asyncio.sleep(0.3)
        assert collector.logs == {}
        # The leader set changes: the new filter applies from the checkpoint, so the two logs arrive.
        watched[:] = [LogFilter((ctf.address.lower(),), ())]
        connects = detector.stats.connects
        detector.resubscribe()
        await collector.wait_for(2)
        assert detector.stats.connects == connects + 1
        stop.set()
        await asyncio.wait_for(task, 10)


@pytest.mark.asyncio
async def test_a_failed_intake_is_backfilled_without_waiting_for_another_block(
    world: tuple[Web3, Any, WsRelay], anvil: Anvil
) -> None:
    """The store or the shared state refuses a live batch that came after its block's header, and no block
    follows (a quiet chain): the detector learns of the failure at once, reconnects and backfills the log;
    the checkpoint never passed it."""
    w3, ctf, relay = world
    collector = Collector()
    refused: list[str] = []
    held: list[str] = []

    def head_first(text: str) -> list[str]:
        # Nodes do not order a block's header and its logs on their streams: send the header first.
        if '"logIndex"' in text:
            held.append(text)
            return []
        if '"parentHash"' in text:
            out = [text, *held]
            held.clear()
            return out
        return [text]

    relay.rewrite = head_first

    async def flaky(raw: bytes, origin: str) -> None:
        if origin == "ws" and not refused:
            refused.append(origin)
            raise ConnectionError("Connection closed by server.")
        await collector.sink(raw, origin)

    async with AsyncRpc([anvil.rpc_url]) as rpc:
        detector = _ctf_detector(rpc, relay, ctf, collector, flaky)
        stop = asyncio.Event()
        task = asyncio.create_task(detector.run(stop))
        await asyncio.wait_for(detector.connected.wait(), 10)
        connects = detector.stats.connects
        _prepare(w3, ctf, 1)  # one block, then none (anvil mines only on transactions)
        await collector.wait_for(1)
        assert refused == ["ws"]
        assert collector.origins == ["backfill"]
        assert detector.stats.connects == connects + 1
        stop.set()
        await asyncio.wait_for(task, 10)
