"""Store queries for the Executor watch and fleet rotation: transactions polyhunter sent, debts moved."""

from __future__ import annotations

import pytest

from polyhunter.models import CopyJob, DebtRecord, Step, copy_key
from polyhunter.store import Store, StoreJournal

FOLLOWER = "0x" + "1" * 40
PROXY = "0x" + "2" * 40
LEADER = "0x" + "3" * 40
WORKER = "0x" + "4" * 40


def _job(index: int) -> CopyJob:
    leader_tx = bytes([index]) * 32
    return CopyJob(
        key=copy_key(leader_tx, 1),
        config_id=1,
        follower=FOLLOWER,
        proxy=PROXY,
        leader=LEADER,
        token_id=7,
        side="BUY",
        amount=1_000_000,
        limit_price_ppm=500_000,
        tx_hash=leader_tx,
        log_index=0,
    )


@pytest.mark.asyncio
async def test_journaled_txs_finds_journal_entries_and_repayments_only(store: Store) -> None:
    pulled, pushed, repaid, foreign = (bytes([n]) * 32 for n in (0xA1, 0xA2, 0xA3, 0xEE))
    job = _job(1)
    await store.insert_pending([job], 2**62)
    journal = StoreJournal(store, job.key)
    await journal.record_tx(Step.PULLED, WORKER, 0, pulled)
    await journal.record_tx(Step.PUSHED, WORKER, 1, pushed)
    debt = await store.add_debt(DebtRecord(proxy=PROXY, worker=WORKER, amount=5, trade_key=None))
    assert debt.debt_id > 0
    await store.mark_debt_repaid(debt.debt_id, repaid)

    assert await store.journaled_txs([pulled, foreign, repaid, pushed, pulled]) == {pulled, pushed, repaid}
    assert await store.journaled_txs([foreign]) == set()
    assert await store.journaled_txs([]) == set()
    # More hashes than SQLite binds in one statement still get one answer.
    many = [i.to_bytes(32, "big") for i in range(1, 1200)]
    assert await store.journaled_txs([*many, pushed]) == {pushed}


@pytest.mark.asyncio
async def test_reassign_debt_moves_an_open_debt_only(store: Store) -> None:
    other = "0x" + "5" * 40
    debt = await store.add_debt(DebtRecord(proxy=PROXY, worker=WORKER, amount=7))
    repaid = await store.add_debt(DebtRecord(proxy=PROXY, worker=WORKER, amount=8))
    await store.mark_debt_repaid(repaid.debt_id, bytes(32))
    assert await store.reassign_debt(debt.debt_id, other.upper().replace("0X", "0x")) is True
    assert await store.reassign_debt(repaid.debt_id, other) is False
    assert await store.reassign_debt(10**9, other) is False
    workers = {d.debt_id: d.worker for d in await store.list_debts()}
    assert workers == {debt.debt_id: other, repaid.debt_id: WORKER}
