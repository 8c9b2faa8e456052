"""`polyhunter supervisor --selftest` (the earlier SUPERVISOR_SELFTEST): every stage once, in DRY_RUN.

The configured store and shared state are opened and closed (connectivity, migrations); the synthetic
signal itself runs through a scratch SQLite store and in-memory shared state, so that no synthetic config or
trade ever lands in the store of record. Each stage prints one line; the exit code says whether all passed.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import click

from polyhunter._core import FanoutIndex, LogDecoder
from polyhunter.chain.aiorpc import AsyncRpc
from polyhunter.chain.deployment import Deployment, default_path
from polyhunter.errors import ConfigError
from polyhunter.execution.simulated import DryRunEngine
from polyhunter.loadsim import CTF, EXCHANGE, notification
from polyhunter.models import CopyConfig, TradeStatus
from polyhunter.settings import Settings
from polyhunter.shared import open_shared_state
from polyhunter.shared.memory import MemorySharedState
from polyhunter.store import open_store
from polyhunter.store.sqlite import SqliteStore
from polyhunter.supervisor.guardrails import Guardrails
from polyhunter.supervisor.pipeline import Pipeline, PipelineConfig
from polyhunter.supervisor.startup import apply_address_settings, verify_chain, verify_contracts

LEADER = "0x" + "1e" * 20
FOLLOWER = "0x" + "f0" * 20
PROXY = "0x" + "9a" * 20


async def run_selftest(settings: Settings, echo: Callable[[str], None] = click.echo) -> bool:
    ok = True

    async def stage(name: str, check: Callable[[], Awaitable[str]]) -> None:
        nonlocal ok
        started = time.perf_counter()
        try:
            detail = await check()
        except Exception as exc:  # a self-test reports every failure, whatever its type
            ok = False
            echo(f"FAIL {name}: {type(exc).__name__}: {exc}")
        else:
            echo(f"ok   {name}: {detail} ({(time.perf_counter() - started) * 1000:.1f} ms)")

    async def store_check() -> str:
        store = await open_store(settings)
        try:
            return f"{store.backend}, schema v{await store.schema_version()}"
        finally:
            await store.close()

    async def shared_check() -> str:
        shared = await open_shared_state(settings)
        try:
            first = await shared.first_sighting(b"selftest:" + str(time.time_ns()).encode(), 1000)
            return f"{shared.backend}, dedup {'works' if first else 'FAILED'}"
        finally:
            await shared.close()

    async def chain_check() -> str:
        path = default_path()
        if not path.exists():
            return f"no deployment.json under {path.parent} (skipped)"
        # A file that exists but cannot be read is a failure: the supervisor would refuse to start on it.
        try:
            deployment = Deployment.load(path)
        except ConfigError:
            raise
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise ConfigError(f"deployment file {path} is malformed: {type(exc).__name__}: {exc}") from None
        await verify_chain(settings, deployment)
        async with AsyncRpc(settings.rpc_urls or [deployment.rpc_url]) as rpc:
            chain_id = await rpc.chain_id()
            head = await rpc.block_number()
            await verify_contracts(await apply_address_settings(settings, deployment, rpc), rpc)
        return f"chain {chain_id}, head {head}, contracts have code"

    async def pipeline_check() -> str:
        with tempfile.TemporaryDirectory() as scratch:
            store = SqliteStore(Path(scratch) / "selftest.db")
            await store.open()
            shared = MemorySharedState()
            await shared.open()
            try:
                config = await store.add_config(
                    CopyConfig(
                        follower=FOLLOWER, proxy=PROXY, leader=LEADER, mode="fixed", fixed_usd=10_000_000
                    )
                )
                index = FanoutIndex()
                index.upsert(config)
                engine = DryRunEngine()
                pipeline = Pipeline(
                    store=store,
                    shared=shared,
                    engine=engine,
                    index=index,
                    guardrails=Guardrails(),
                    config=PipelineConfig(consumer="selftest"),
                    decoder=LogDecoder(ctf=CTF, v2_exchanges=[EXCHANGE], leaders=[LEADER]),
                )
                raw = notification(LEADER, 42, "0x" + "5e" * 32, 1, 50_000_000, 100_000_000)
                await pipeline.on_raw(raw, "selftest")
                stats = pipeline.stats
                if stats.signals != 1 or stats.intents != 1 or stats.queued != 1:
                    raise RuntimeError(
                        f"decode/fan-out/queue gave {stats.signals}/{stats.intents}/{stats.queued}"
                    )
                deliveries = await shared.dequeue("selftest", count=10)
                for delivery in deliveries:
                    await pipeline._execute(delivery)  # one job, run inline
                await pipeline.flush_acks()
                skipped = await store.count_trades(TradeStatus.SKIPPED)
                if engine.count != 1 or skipped != 1:
                    raise RuntimeError(f"dry run executed {engine.count} jobs, {skipped} recorded")
                return (
                    "decode 1 signal -> fan-out 1 intent -> PENDING -> queue -> dry run -> SKIPPED(dry_run)"
                )
            finally:
                await shared.close()
                await store.close()

    await stage("settings", _ok(f"shard {settings.supervisor_shard_index}/{settings.supervisor_shard_count}"))
    await stage("store", store_check)
    await stage("shared state", shared_check)
    await stage("chain", chain_check)
    await stage("pipeline", pipeline_check)
    echo("selftest passed" if ok else "selftest FAILED")
    return ok


def _ok(detail: str) -> Callable[[], Awaitable[str]]:
    async def check() -> str:
        return detail

    return check
