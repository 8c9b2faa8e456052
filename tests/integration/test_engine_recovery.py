"""Recovery on anvil: an engine process killed at a fault point is reconciled from the chain after a
restart (no second transaction; after the pull the Proxy ends whole), and stale PENDING records expire to
FAILED unless their transactions mined."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from engine_world import World, engine, fresh_world, job, stop, store_at

from polyhunter.execution.base import tokens_for_usd
from polyhunter.execution.recovery import Recovery
from polyhunter.models import Step, TradeStatus
from polyhunter.store.base import StoreJournal

pytestmark = [pytest.mark.integration, pytest.mark.asyncio]

HERE = Path(__file__).parent


@pytest.fixture
def w() -> Iterator[World]:
    yield from fresh_world()


def run_child(w: World, tmp_path: Path, key: bytes, fault: str) -> int:
    deployment = w.deployment.save(tmp_path / "deployment.json")
    env = {**os.environ, "POLYHUNTER_FAULTPOINT": fault, "PYTHONPATH": str(HERE)}
    child = subprocess.run(
        [sys.executable, str(HERE / "engine_child.py"), str(deployment), str(tmp_path / "s.db"), key.hex()],
        env=env,
        capture_output=True,
        timeout=120,
        check=False,
    )
    return child.returncode


async def test_kill_after_final_broadcast_is_reconciled_without_a_second_transaction(
    w: World, tmp_path: Path
) -> None:
    j = job(w, 5)
    store = await store_at(tmp_path / "s.db", [j])
    await store.close()
    assert run_child(w, tmp_path, j.key, "after_broadcast") == -signal.SIGKILL
    store = await store_at(tmp_path / "s.db")
    record = await store.get_trade(j.key)
    assert record is not None
    assert record.status is TradeStatus.PENDING  # the kill came before any bookkeeping
    assert [e.step for e in record.journal] == [Step.PULLED, Step.FILLED, Step.PUSHED]
    eng = engine(w, wallets=1)
    wallet = eng.wallets[0].address
    await eng.start()
    nonce_after_crash = w.nonce(wallet)
    try:
        recovery = Recovery(eng, store)
        assert await recovery.reconcile_pending(min_age_ms=0) == 1
    finally:
        await stop(eng)
    assert eng.sent == 0
    assert w.nonce(wallet) == nonce_after_crash  # no second transaction
    record = await store.get_trade(j.key)
    assert record is not None
    assert record.status is TradeStatus.EXECUTED
    tokens = tokens_for_usd(j.amount, j.limit_price_ppm)
    assert record.copy_size == tokens
    assert w.chain.tokens_of(w.proxy(5), w.token) == tokens
    await store.close()


async def test_kill_after_pull_returns_the_funds_and_the_proxy_ends_whole(w: World, tmp_path: Path) -> None:
    j = job(w, 6)
    collateral = w.chain.collateral_of(w.proxy(6))
    tokens = w.chain.tokens_of(w.proxy(6), w.token)
    store = await store_at(tmp_path / "s.db", [j])
    await store.close()
    assert run_child(w, tmp_path, j.key, "after_pull") == -signal.SIGKILL
    assert w.chain.collateral_of(w.proxy(6)) == collateral - j.amount  # pulled, then killed
    store = await store_at(tmp_path / "s.db")
    eng = engine(w, wallets=1)
    await eng.start()
    try:
        recovery = Recovery(eng, store)
        assert await recovery.reconcile_pending(min_age_ms=0) == 1
        assert await recovery.reconcile_pending(min_age_ms=0) == 0  # decided once
    finally:
        await stop(eng)
    assert eng.sent == 1  # the return, and no second pull
    assert w.chain.collateral_of(w.proxy(6)) == collateral  # whole, to the base unit
    assert w.chain.tokens_of(w.proxy(6), w.token) == tokens
    record = await store.get_trade(j.key)
    assert record is not None
    assert record.status is TradeStatus.FAILED
    assert [e.step for e in record.journal] == [Step.PULLED, Step.RETURNED]
    await store.close()


async def test_stale_pending_expires_to_failed_unless_its_transactions_mined(
    w: World, tmp_path: Path
) -> None:
    never, mined = job(w, 7), job(w, 8)
    store = await store_at(tmp_path / "s.db", [never, mined], expires_at=1)  # both long expired
    eng = engine(w, wallets=1)
    await eng.start()
    try:
        # `mined` ran to the end, but its outcome never reached the store (a lost update).
        result = await eng.execute(mined, StoreJournal(store, mined.key))
        assert result.status is TradeStatus.EXECUTED
        recovery = Recovery(eng, store)
        assert await recovery.expire_stale() == 2
    finally:
        await stop(eng)
    never_record = await store.get_trade(never.key)
    mined_record = await store.get_trade(mined.key)
    assert never_record is not None
    assert mined_record is not None
    assert never_record.status is TradeStatus.FAILED
    assert mined_record.status is TradeStatus.EXECUTED
    assert set(mined_record.tx_hashes) == set(result.tx_hashes)
    await store.close()
