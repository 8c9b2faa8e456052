"""A real reorg on anvil while the detector's websocket is down: blocks holding leader fills are replaced
(evm_snapshot / evm_revert, then new blocks); anvil sends no `removed: true`, so the detector must find the
fork point from the block hashes it kept, retract what the replaced blocks caused (a copy not yet run is
cancelled, an executed one flagged) and take the new blocks' fills in once.

Parts: the local world on anvil (LocalExchange fills), the real detector, decoder, fan-out, pipeline and
SQLite store; the venue is a recording one that journals before it "sends", as every engine does.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
from wsrelay import WsRelay

from polyhunter._core import FanoutIndex, LogDecoder, keccak256
from polyhunter.chain.aiorpc import AsyncRpc
from polyhunter.chain.local import LocalChain
from polyhunter.detector.chainlogs import ChainLogDetector
from polyhunter.detector.filters import leader_filters
from polyhunter.execution.base import ExecutionResult, JobJournal
from polyhunter.models import CopyConfig, CopyJob, TradeRecord, TradeStatus
from polyhunter.shared.memory import MemorySharedState
from polyhunter.store.sqlite import SqliteStore
from polyhunter.supervisor.guardrails import Guardrails
from polyhunter.supervisor.pipeline import Pipeline, PipelineConfig

pytestmark = pytest.mark.integration

USD = 1_000_000
SHARE = 1_000_000
WORKER = "0x" + "77" * 20


class GatedVenue:
    """Executes a job when the gate is open: journals a (fake) transaction first, like every engine, so a
    job cancelled meanwhile is relinquished, never executed."""

    name = "gated"

    def __init__(self) -> None:
        self.gate = asyncio.Event()
        self.gate.set()
        self.executed: list[CopyJob] = []

    async def execute(self, job: CopyJob, journal: JobJournal) -> ExecutionResult:
        await self.gate.wait()
        await journal.record_tx("FILLED", WORKER, len(self.executed), keccak256(job.key))
        self.executed.append(job)
        return ExecutionResult(TradeStatus.EXECUTED, fill_price_ppm=job.limit_price_ppm, fill_size=1)

    async def close(self) -> None:
        return None


async def until(check: Callable[[], Awaitable[bool]], what: str, timeout_s: float = 60.0) -> None:
    async def loop() -> None:
        while not await check():
            await asyncio.sleep(0.05)

    try:
        await asyncio.wait_for(loop(), timeout_s)
    except TimeoutError:
        raise AssertionError(f"timed out waiting for {what}") from None


async def trades(store: SqliteStore) -> list[TradeRecord]:
    return sorted(await store.list_trades(limit=1000), key=lambda r: r.block_number)


@pytest.mark.asyncio
async def test_blocks_replaced_while_the_websocket_is_down(local_chain: LocalChain, tmp_path: Path) -> None:
    chain = local_chain
    d = chain.deployment
    leader = d.accounts.leaders[0].lower()
    follower = d.accounts.followers[0].lower()
    yes = next(m.yes_token_id for m in d.markets if not m.neg_risk)
    exchanges = [*d.contracts.v2_exchanges, d.contracts.local_exchange or ""]

    store = SqliteStore(tmp_path / "reorg.db", group_commit_ms=1)
    await store.open()
    shared = MemorySharedState()
    await shared.open()
    index = FanoutIndex()
    index.upsert(
        await store.add_config(
            CopyConfig(
                follower=follower,
                proxy=chain.proxy_of(follower).lower(),
                leader=leader,
                mode="fixed",
                fixed_usd=10 * USD,
            )
        )
    )
    venue = GatedVenue()
    pipeline = Pipeline(
        store=store,
        shared=shared,
        engine=venue,
        index=index,
        guardrails=Guardrails(),
        config=PipelineConfig(consumer="reorg-test", drain_interval_ms=20),
        decoder=LogDecoder(ctf=d.contracts.ctf, v2_exchanges=exchanges, leaders=[leader]),
    )
    relay = await WsRelay(d.ws_url).start()
    checkpoints: list[int] = []

    async def load() -> int | None:
        return checkpoints[-1] if checkpoints else None

    async def save(block: int) -> None:
        checkpoints.append(block)

    stop = asyncio.Event()
    async with AsyncRpc([d.rpc_url]) as rpc:
        detector = ChainLogDetector(
            ws_url=relay.url,
            rpc=rpc,
            filters=lambda: leader_filters(exchanges=exchanges, ctf=d.contracts.ctf, leaders=[leader]),
            sink=pipeline.on_raw,
            load_checkpoint=load,
            save_checkpoint=save,
            backoff_initial_s=0.05,
            backoff_max_s=0.2,
        )
        tasks = [asyncio.create_task(detector.run(stop)), asyncio.create_task(pipeline.run_workers(stop))]
        try:
            await asyncio.wait_for(detector.connected.wait(), 30)
            fork = chain.w3.eth.block_number
            snapshot = chain.snapshot()

            # Block fork+1: a fill that is copied and executed. Block fork+2: a fill whose copy waits.
            first = await asyncio.to_thread(chain.trade, leader, "BUY", yes, 100 * SHARE, 50 * USD)

            async def executed_one() -> bool:
                return await store.count_trades(TradeStatus.EXECUTED) == 1

            await until(executed_one, "the first copy executed")
            venue.gate.clear()
            second = await asyncio.to_thread(chain.trade, leader, "BUY", yes, 100 * SHARE, 40 * USD)
            assert (first["blockNumber"], second["blockNumber"]) == (fork + 1, fork + 2)

            async def second_pending() -> bool:
                return await store.count_trades(TradeStatus.PENDING) == 1

            await until(second_pending, "the second copy queued")

            # The websocket goes down; meanwhile both blocks are replaced by a longer chain holding another
            # fill of the leader (a different trade: other amounts, so another transaction).
            await relay.drop(refuse=True)
            chain.revert(snapshot)
            third = await asyncio.to_thread(chain.trade, leader, "BUY", yes, 100 * SHARE, 30 * USD)
            chain.w3.provider.make_request("evm_mine", [])  # type: ignore[arg-type]
            chain.w3.provider.make_request("evm_mine", [])  # type: ignore[arg-type]
            assert third["blockNumber"] == fork + 1
            assert third["transactionHash"] not in (first["transactionHash"], second["transactionHash"])
            relay.accept()

            async def new_fill_taken() -> bool:
                return await store.count_trades() == 3 and detector.stats.reorgs == 1

            await until(new_fill_taken, "the reorg undone and the new block's fill taken in")
            venue.gate.set()

            async def settled() -> bool:
                return await store.count_trades(TradeStatus.EXECUTED) == 2

            await until(settled, "the new block's copy executed")

            records = await trades(store)
            by_tx = {r.tx_hash: r for r in records}
            executed_before = by_tx[bytes(first["transactionHash"])]
            waiting = by_tx[bytes(second["transactionHash"])]
            new = by_tx[bytes(third["transactionHash"])]
            # Executed before the reorg: it stays EXECUTED (what happened on chain) and is flagged.
            assert (executed_before.status, executed_before.reorged) == (TradeStatus.EXECUTED, True)
            # Not run yet: cancelled, never executed, even though its worker was waiting with it.
            assert (waiting.status, waiting.reason, waiting.reorged) == (
                TradeStatus.CANCELLED,
                "reorged",
                True,
            )
            assert waiting.key not in {j.key for j in venue.executed}
            # The new block's fill: one copy, executed once.
            assert (new.status, new.reorged) == (TradeStatus.EXECUTED, False)
            assert [j.key for j in venue.executed].count(new.key) == 1
            assert len(venue.executed) == 2
            assert detector.stats.retracted >= 2
            assert detector.stats.deepest_reorg >= 2
            # The checkpoint went back to the fork point before the new blocks were read.
            lowered = [
                i for i, c in enumerate(checkpoints) if c == fork and max(checkpoints[:i], default=0) > fork
            ]
            assert lowered, checkpoints

            # Another reconnect without a reorg changes nothing: no retraction, no second copy.
            retracted = detector.stats.retracted
            connects = detector.stats.connects
            await relay.drop()

            async def reconnected() -> bool:
                return detector.stats.connects > connects and detector.connected.is_set()

            await until(reconnected, "a reconnect")
            assert detector.stats.retracted == retracted
            assert detector.stats.reorgs == 1
            assert await store.count_trades() == 3
            assert len(venue.executed) == 2
        finally:
            stop.set()
            venue.gate.set()
            await asyncio.wait_for(asyncio.gather(*tasks, return_exceptions=True), 60)
            await relay.stop()
            await shared.close()
            await store.close()
