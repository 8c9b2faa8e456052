"""The group committer's idle path: a lone write on an idle committer is committed by its caller's own task;
writes arriving meanwhile queue behind it and go in the next transaction; one transaction at a time; a close
during such a commit still ends; a failure reaches its caller."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

import pytest

from polyhunter.errors import StoreError
from polyhunter.store.group_commit import GroupCommitter


class _Backend:
    def __init__(self) -> None:
        self.transactions: list[tuple[list[Any], asyncio.Task[Any] | None]] = []
        self.open = 0
        self.most_open = 0
        self.gate: asyncio.Event | None = None

    async def apply(self, ops: Sequence[Any]) -> list[Any]:
        self.open += 1
        self.most_open = max(self.most_open, self.open)
        try:
            self.transactions.append((list(ops), asyncio.current_task()))
            if self.gate is not None:
                await self.gate.wait()
            if "bad" in ops:
                raise ValueError("refused")
            return [f"ok:{op}" for op in ops]
        finally:
            self.open -= 1


@pytest.mark.asyncio
async def test_an_idle_write_is_committed_by_its_callers_task() -> None:
    backend = _Backend()
    committer = GroupCommitter(backend.apply, window_s=0.002, in_caller=True)
    committer.start()
    try:
        assert await committer.submit("a") == "ok:a"
        assert backend.transactions == [(["a"], asyncio.current_task())]
    finally:
        await committer.close()


@pytest.mark.asyncio
async def test_writes_during_an_idle_commit_queue_behind_it_and_share_the_next_transaction() -> None:
    backend = _Backend()
    backend.gate = asyncio.Event()
    committer = GroupCommitter(backend.apply, window_s=0.002, in_caller=True)
    committer.start()
    try:
        first = asyncio.create_task(committer.submit("a"))
        await asyncio.sleep(0.01)
        later = [asyncio.create_task(committer.submit(op)) for op in ("b", "c")]
        await asyncio.sleep(0.01)
        assert [ops for ops, _ in backend.transactions] == [["a"]]  # b and c wait for a's transaction
        backend.gate.set()
        assert await first == "ok:a"
        assert await asyncio.gather(*later) == ["ok:b", "ok:c"]
        assert [ops for ops, _ in backend.transactions] == [["a"], ["b", "c"]]
        assert backend.transactions[1][1] is not first  # the committer's task took the queued ones
        assert backend.most_open == 1
    finally:
        await committer.close()


@pytest.mark.asyncio
async def test_a_close_during_an_idle_commit_ends_and_a_failure_reaches_its_caller() -> None:
    backend = _Backend()
    committer = GroupCommitter(backend.apply, window_s=0.002, in_caller=True)
    committer.start()
    with pytest.raises(StoreError, match="refused"):
        await committer.submit("bad")
    backend.gate = asyncio.Event()
    write = asyncio.create_task(committer.submit("a"))
    await asyncio.sleep(0.01)
    closing = asyncio.create_task(committer.close())
    await asyncio.sleep(0.01)
    assert not closing.done()  # it waits for the transaction under way
    backend.gate.set()
    assert await write == "ok:a"
    await asyncio.wait_for(closing, 5)
    with pytest.raises(StoreError, match="closed"):
        await committer.submit("b")


@pytest.mark.asyncio
async def test_without_in_caller_every_write_is_the_committers_tasks() -> None:
    backend = _Backend()
    committer = GroupCommitter(backend.apply, window_s=0.002)
    committer.start()
    try:
        assert await committer.submit("a") == "ok:a"
        assert backend.transactions[0][1] is not asyncio.current_task()
    finally:
        await committer.close()
