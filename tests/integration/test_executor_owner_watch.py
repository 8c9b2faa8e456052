"""The Executor watch reports what the Executor's owner does, on anvil with the real contracts: a queued
widening change is logged once (its decoded call, id and readiness), counted and kept as queued until it is
executed or cancelled; a narrowing change is logged and counted, never queued; a restarted watch logs nothing
twice and still knows what was queued before it; a reorg that takes a `ChangeQueued` away drops it."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from types import SimpleNamespace

import pytest
import pytest_asyncio
from chain_helpers import cs
from prometheus_client import generate_latest
from prometheus_client.utils import floatToGoString

from polyhunter._core import keccak256
from polyhunter.chain.aiorpc import AsyncRpc
from polyhunter.chain.deploy import deploy_core
from polyhunter.chain.local import LocalChain
from polyhunter.chain.tx import send
from polyhunter.commands._executor_admin import ExecutorAdmin
from polyhunter.execution.owner_actions import utc
from polyhunter.execution.watch import ExecutorWatch, owner_events, watched_events
from polyhunter.metrics import SupervisorMetrics
from polyhunter.shared.memory import MemorySharedState
from polyhunter.store.sqlite import SqliteStore

pytestmark = [pytest.mark.integration, pytest.mark.asyncio]

USD = 1_000_000
DELAY_S = 3600
LOGGER = "polyhunter.execution.watch"


@pytest_asyncio.fixture
async def store(tmp_path: Path) -> AsyncIterator[SqliteStore]:
    s = SqliteStore(tmp_path / "s.db", group_commit_ms=0.5)
    await s.open()
    yield s
    await s.close()


@pytest_asyncio.fixture
async def rpc(local_chain: LocalChain) -> AsyncIterator[AsyncRpc]:
    client = AsyncRpc([local_chain.deployment.rpc_url])
    yield client
    await client.close()


def delayed_admin(chain: LocalChain) -> ExecutorAdmin:
    """An Executor past its setup, whose widening changes wait DELAY_S (the production shape)."""
    c = chain.deployment.contracts
    core = deploy_core(
        chain.w3,
        chain.accounts.owner,
        collateral=c.collateral,
        ctf=c.ctf,
        fleet=chain.deployment.accounts.fleet[:1],
        change_delay_s=DELAY_S,
        worker_cap=100 * USD,
        finish_setup=True,
    )
    return ExecutorAdmin(chain.w3, core.executor, chain.accounts.owner)


def watch_of(
    rpc: AsyncRpc,
    store: SqliteStore,
    executor: str,
    start_block: int | None = None,
    grace_s: float = 0,
    clock: Callable[[], float] = time.monotonic,
) -> ExecutorWatch:
    return ExecutorWatch(
        rpc, store, executor, chain_id=31337, grace_s=grace_s, start_block=start_block, clock=clock
    )


def warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == LOGGER and r.levelno == logging.WARNING]


def exposition(watch: ExecutorWatch) -> str:
    supervisor = SimpleNamespace(failed=asyncio.Event(), engine=None, executor_watch=watch)
    return generate_latest(SupervisorMetrics(supervisor).registry).decode()


def cancel(chain: LocalChain, admin: ExecutorAdmin, change_id: bytes) -> None:
    send(chain.w3, chain.accounts.owner, admin.handle.functions.cancelChange(change_id))


def head(chain: LocalChain) -> int:
    return int(chain.w3.eth.block_number)


async def test_the_owner_events_are_every_executor_event_no_worker_or_factory_emits() -> None:
    names = {s.name for s in owner_events().values()}
    assert {
        "ChangeQueued",
        "ChangeExecuted",
        "ChangeCancelled",
        "WorkerSet",
        "TokenSet",
        "PausedSet",
        "FeeSet",
        "FactorySet",
        "WorkerWalletSet",
        "WorkerCapSet",
        "OwnershipTransferStarted",
        "OwnershipTransferred",
        "SetupFinished",
        "DebtReassigned",
    } <= names
    value_moving = {s.name for s in watched_events().values()}
    assert not names & (value_moving | {"Pushed", "PushedFrom", "DebtRecorded", "ProxyRegistered"})
    assert not {n for n in names if n.startswith(("Proxy", "Pulled", "Pushed"))}


async def test_a_queued_widening_change_is_reported_once_and_tracked_until_cancelled(
    local_chain: LocalChain, rpc: AsyncRpc, store: SqliteStore, caplog: pytest.LogCaptureFixture
) -> None:
    admin = delayed_admin(local_chain)
    worker = local_chain.deployment.accounts.fleet[0].lower()
    watch = watch_of(rpc, store, admin.address, start_block=head(local_chain) + 1)
    await watch.scan()
    assert (watch.stats.queued_changes, watch.stats.next_change_ready_at) == (0, 0)

    queued = admin.set_cap(worker, 500 * USD)
    assert queued.status == "queued"
    assert queued.ready_at is not None
    change_id = keccak256(admin.encode("setWorkerCap", cs(worker), 500 * USD))
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        await watch.scan()
    [message] = warnings(caplog)
    assert f"setWorkerCap(worker={worker}, cap={500 * USD})" in message
    assert f"0x{change_id.hex()}" in message
    assert f"ready at {utc(queued.ready_at)}, in {DELAY_S // 60} minutes" in message
    assert "polyhunter executor show" in message
    assert watch.stats.owner_actions == {"ChangeQueued": 1}
    assert (watch.stats.queued_changes, watch.stats.next_change_ready_at) == (1, queued.ready_at)
    [kept] = watch.queued.changes()
    assert (kept.id, kept.call) == (change_id, f"setWorkerCap(worker={worker}, cap={500 * USD})")
    text = exposition(watch)
    assert 'polyhunter_executor_owner_actions_total{event="ChangeQueued"} 1.0' in text
    assert "polyhunter_executor_queued_changes 1.0" in text
    assert (
        f"polyhunter_executor_next_change_ready_timestamp_seconds {floatToGoString(queued.ready_at)}" in text
    )

    caplog.clear()
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        await watch.scan()  # the same blocks re-read (rescan): nothing reported again
    assert warnings(caplog) == []
    assert watch.stats.owner_actions == {"ChangeQueued": 1}

    cancel(local_chain, admin, change_id)
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        await watch.scan()
    [cancelled] = warnings(caplog)
    assert f"ChangeCancelled(id=0x{change_id.hex()})" in cancelled
    assert f"setWorkerCap(worker={worker}, cap={500 * USD})" in cancelled
    assert watch.stats.owner_actions == {"ChangeQueued": 1, "ChangeCancelled": 1}
    assert (watch.stats.queued_changes, watch.stats.next_change_ready_at) == (0, 0)
    assert "polyhunter_executor_queued_changes 0.0" in exposition(watch)


async def test_a_narrowing_change_is_reported_and_counted_but_never_queued(
    local_chain: LocalChain, rpc: AsyncRpc, store: SqliteStore, caplog: pytest.LogCaptureFixture
) -> None:
    admin = delayed_admin(local_chain)
    worker = local_chain.deployment.accounts.fleet[0].lower()
    watch = watch_of(rpc, store, admin.address, start_block=head(local_chain) + 1)
    assert admin.set_cap(worker, 10 * USD).status == "done"  # lowering a cap applies at once
    assert admin.set_paused(True).status == "done"
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        await watch.scan()
    messages = warnings(caplog)
    assert len(messages) == 2
    assert f"WorkerCapSet(worker={worker}, cap={10 * USD})" in messages[0]
    assert "PausedSet(paused=True)" in messages[1]
    assert watch.stats.owner_actions == {"WorkerCapSet": 1, "PausedSet": 1}
    assert (watch.stats.queued_changes, watch.stats.next_change_ready_at) == (0, 0)


async def test_an_executed_change_leaves_the_queue_and_its_effect_is_reported(
    local_chain: LocalChain, rpc: AsyncRpc, store: SqliteStore, caplog: pytest.LogCaptureFixture
) -> None:
    admin = delayed_admin(local_chain)
    newcomer = local_chain.deployment.accounts.fleet[1].lower()
    watch = watch_of(rpc, store, admin.address, start_block=head(local_chain) + 1)
    assert admin.authorise(newcomer).status == "queued"
    await watch.scan()
    assert watch.stats.queued_changes == 1
    local_chain.w3.provider.make_request("evm_increaseTime", [DELAY_S + 1])  # type: ignore[arg-type]
    local_chain.w3.provider.make_request("anvil_mine", ["0x1"])  # type: ignore[arg-type]
    assert admin.authorise(newcomer).status == "done"  # the re-run executes it
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        await watch.scan()
    messages = warnings(caplog)
    assert [m.split("(")[0].removeprefix("Executor owner action: ") for m in messages] == [
        "WorkerSet",
        "ChangeExecuted",
    ]
    assert f"call=setWorker(worker={newcomer}, authorised=True)" in messages[1]
    assert watch.stats.owner_actions == {"ChangeQueued": 1, "WorkerSet": 1, "ChangeExecuted": 1}
    assert (watch.stats.queued_changes, watch.stats.next_change_ready_at) == (0, 0)


async def test_a_restarted_watch_reports_nothing_twice_and_still_knows_the_queued_change(
    local_chain: LocalChain, rpc: AsyncRpc, store: SqliteStore, caplog: pytest.LogCaptureFixture
) -> None:
    admin = delayed_admin(local_chain)
    worker = local_chain.deployment.accounts.fleet[0].lower()
    before = watch_of(rpc, store, admin.address, start_block=head(local_chain) + 1)
    queued = admin.set_cap(worker, 700 * USD)
    assert queued.status == "queued"
    await before.scan()
    assert before.stats.owner_actions == {"ChangeQueued": 1}

    caplog.clear()
    after = watch_of(rpc, store, admin.address)  # from the checkpoints only
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        await after.scan()
    assert warnings(caplog) == []
    assert not after.stats.owner_actions
    assert (after.stats.queued_changes, after.stats.next_change_ready_at) == (1, queued.ready_at)
    [kept] = after.queued.changes()
    assert kept.call == f"setWorkerCap(worker={worker}, cap={700 * USD})"

    cancel(local_chain, admin, kept.id)
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        await after.scan()
    [cancelled] = warnings(caplog)
    assert f"dropping the queued setWorkerCap(worker={worker}, cap={700 * USD})" in cancelled
    assert after.stats.queued_changes == 0


async def test_a_change_queued_behind_a_suspect_in_its_grace_is_not_reported_again_after_a_restart(
    local_chain: LocalChain, rpc: AsyncRpc, store: SqliteStore, caplog: pytest.LogCaptureFixture
) -> None:
    """The value watch's checkpoint stays before a pull still in its grace, so a restart re-reads the blocks
    after it: the owner events there were reported already (their own checkpoint says so)."""
    d = local_chain.deployment
    start = head(local_chain) + 1
    watch = watch_of(rpc, store, d.contracts.executor, start_block=start, grace_s=60, clock=lambda: 100.0)
    local_chain.pull_collateral(d.accounts.fleet[0], local_chain.proxy_of(d.accounts.followers[0]), USD)
    call = bytes.fromhex(
        local_chain.executor.encode_abi("setWorkerCap", [cs(d.accounts.fleet[0]), 9 * USD])[2:]
    )
    send(local_chain.w3, local_chain.accounts.owner, local_chain.executor.functions.queueChange(call))
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        assert await watch.scan() == []  # the pull waits out its grace
    assert len(warnings(caplog)) == 1
    assert watch.stats.queued_changes == 1
    saved = await store.get_checkpoint(watch.source)
    assert saved is not None
    assert saved < head(local_chain)  # held back before the pull

    caplog.clear()
    again = watch_of(rpc, store, d.contracts.executor, grace_s=60, clock=lambda: 100.0)
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        await again.scan()  # re-reads the pull and the ChangeQueued after it
    assert warnings(caplog) == []
    assert not again.stats.owner_actions
    assert again.stats.events == 1  # the pull is judged again, as before this change
    assert again.stats.queued_changes == 1


async def test_a_reorg_that_takes_the_queueing_away_drops_the_change(
    local_chain: LocalChain, rpc: AsyncRpc, store: SqliteStore
) -> None:
    admin = delayed_admin(local_chain)
    watch = watch_of(rpc, store, admin.address, start_block=head(local_chain) + 1)
    fork = local_chain.snapshot()
    assert admin.set_cap(local_chain.deployment.accounts.fleet[0], 300 * USD).status == "queued"
    await watch.scan()
    assert watch.stats.queued_changes == 1
    local_chain.revert(fork)  # the replacement branch never queued it
    local_chain.w3.provider.make_request("anvil_mine", ["0x3"])  # type: ignore[arg-type]
    await watch.scan()
    assert (watch.stats.queued_changes, watch.stats.next_change_ready_at) == (0, 0)


async def test_only_the_holder_exports_the_queue_and_a_successor_knows_it_without_reporting_it_again(
    local_chain: LocalChain, rpc: AsyncRpc, store: SqliteStore, caplog: pytest.LogCaptureFixture
) -> None:
    """With several supervisors, the instance holding the watch's lease exports the queued changes; the
    others export none (a stale copy would keep the alert up after a cancel). One that takes the lease over
    rebuilds the queue from the shared checkpoint and reports only what is new."""
    admin = delayed_admin(local_chain)
    worker = local_chain.deployment.accounts.fleet[0].lower()
    shared = MemorySharedState()
    start = head(local_chain) + 1
    first, second = (
        ExecutorWatch(
            rpc, store, admin.address, chain_id=31337, grace_s=0, start_block=start, shared=shared, holder=h
        )
        for h in ("first", "second")
    )
    assert admin.set_cap(worker, 400 * USD).status == "queued"
    await first.tick()
    await second.tick()
    assert (first.stats.queued_changes, second.stats.queued_changes) == (1, 0)
    assert (first.stats.owner_actions, second.stats.owner_actions) == ({"ChangeQueued": 1}, {})

    await shared.release_lease(first.source, "first")  # the first instance stops
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        await second.tick()
    assert warnings(caplog) == []
    assert second.stats.queued_changes == 1
    [kept] = second.queued.changes()
    await first.tick()  # restarted, it finds the lease taken: its old copy of the queue is dropped
    assert (first.stats.queued_changes, first.stats.next_change_ready_at) == (0, 0)
    cancel(local_chain, admin, kept.id)
    await second.tick()
    assert second.stats.owner_actions == {"ChangeCancelled": 1}
    assert second.stats.queued_changes == 0
