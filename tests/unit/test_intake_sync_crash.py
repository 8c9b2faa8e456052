"""Rows committed without their own flush (`POLYHUNTER_INTAKE_SYNC=deferred`) survive a SIGKILL of the process
the moment the insert's await returns: they are in the operating system's cache, which the next process
reads."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from polyhunter.models import TradeStatus
from polyhunter.store import SqliteStore

CHILD = textwrap.dedent(
    """
    import asyncio, os, signal, sys
    from polyhunter.models import CopyJob, copy_key
    from polyhunter.store import SqliteStore

    async def main() -> None:
        store = SqliteStore(sys.argv[1])
        await store.open()
        jobs = [
            CopyJob(
                key=copy_key(bytes(28) + i.to_bytes(4, "big"), 1), config_id=1, follower="0x" + "1" * 40,
                proxy="0x" + "2" * 40, leader="0x" + "3" * 40, token_id=7, side="BUY", amount=5_000_000,
                limit_price_ppm=500_000, tx_hash=b"\\xab" * 32, log_index=i, block_number=1,
            )
            for i in range(250)
        ]
        inserted = await store.insert_pending(jobs, 2**62, "intake-1", claimer="worker-1")
        assert len(inserted) == 250
        assert store._synchronous == "NORMAL"  # the commit had no flush of its own
        os.kill(os.getpid(), signal.SIGKILL)  # no close, no checkpoint, no later commit

    asyncio.run(main())
    """
)


@pytest.mark.asyncio
async def test_deferred_rows_survive_a_sigkill_right_after_the_insert(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    done = await asyncio.to_thread(
        subprocess.run, [sys.executable, "-c", CHILD, str(path)], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == -9, done.stderr
    async with SqliteStore(path) as store:
        assert await store.count_trades(TradeStatus.PENDING) == 250
        claimed = await store.claim_jobs(
            [r.key for r in await store.list_trades(limit=1)], "worker-2", 60_000
        )
        assert claimed.runnable == set()  # still worker-1's claim, made at insert in that same commit
