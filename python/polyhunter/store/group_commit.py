"""Group commit: many callers' small writes applied in one transaction; each await returns after the commit.

Callers `submit` an operation and await its result. One task drains everything submitted meanwhile and hands
it to the back end's `apply`, which runs the whole batch in one transaction and returns one result per
operation. Under load the batch is whatever queued while the last commit ran, so the number of transactions
falls as the rate rises; while commits follow each other it first waits `window_s` so that more gather. An
idle committer commits at once: a lone write (a leader's fill when nothing else happens) waits for its own
commit only, and (`in_caller`, for a back end whose transaction a cancelled caller cannot cut short) is
committed by its caller's own task: no hand-over to the committer's task and back, one loop iteration each
way. A failed batch is retried one operation per transaction, so one bad write fails alone.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from polyhunter.errors import StoreError

Apply = Callable[[Sequence[Any]], Awaitable[list[Any]]]


class GroupCommitter:
    """Batches operations into transactions; `batches` counts the transactions committed."""

    def __init__(
        self, apply: Apply, window_s: float = 0.002, max_batch: int = 5000, *, in_caller: bool = False
    ) -> None:
        self._apply = apply
        self._in_caller = in_caller
        """Whether an idle committer commits a lone write in its caller's task: only for an `apply` that a
        cancelled caller cannot cut short once it started (SQLite's: synchronous, or a shielded thread);
        otherwise the committer's task commits every write, whatever happens to its caller."""
        self._window_s = window_s
        self._max_batch = max_batch
        self._queue: list[tuple[Any, asyncio.Future[Any]]] = []
        self._wake = asyncio.Event()
        self._closing = False
        self._task: asyncio.Task[None] | None = None
        self.batches = 0
        self.operations = 0
        self._last_commit = 0.0
        """When the last commit ended (event-loop time)."""
        self._committing = False
        """A transaction is being committed (by the committer's task or by an idle caller's)."""

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(), name="store-group-commit")

    async def submit(self, op: Any) -> Any:
        """Queue `op`; return its result once the transaction holding it has committed."""
        if self._closing or self._task is None:
            raise StoreError("the store is closed")
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Any] = loop.create_future()
        if (
            self._in_caller
            and not self._committing
            and not self._queue
            and loop.time() - self._last_commit >= self._window_s
        ):
            await self._commit_guarded([(op, future)])
            return future.result()
        self._queue.append((op, future))
        self._wake.set()
        return await future

    async def close(self) -> None:
        """Commit everything already submitted, then stop."""
        self._closing = True
        self._wake.set()
        if self._task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _run(self) -> None:
        while True:
            await self._wake.wait()
            if self._committing:
                # A caller commits its own operation: it wakes this task when it is done and more waits.
                self._wake.clear()
                continue
            loop = asyncio.get_running_loop()
            busy = loop.time() - self._last_commit < self._window_s
            if busy and len(self._queue) < self._max_batch and not self._closing:
                await asyncio.sleep(self._window_s)
            batch, self._queue = self._queue[: self._max_batch], self._queue[self._max_batch :]
            if not self._queue:
                self._wake.clear()
            if not batch:
                if self._closing:
                    return
                continue
            await self._commit_guarded(batch)

    async def _commit_guarded(self, batch: list[tuple[Any, asyncio.Future[Any]]]) -> None:
        """One transaction at a time, whichever task commits it."""
        self._committing = True
        try:
            await self._commit(batch)
        finally:
            self._committing = False
            self._last_commit = asyncio.get_running_loop().time()
            if self._queue or self._closing:
                self._wake.set()

    async def _commit(self, batch: list[tuple[Any, asyncio.Future[Any]]]) -> None:
        try:
            results = await self._apply([op for op, _ in batch])
        except Exception:  # retried one by one below; each failure goes to its caller
            await self._commit_one_by_one(batch)
            return
        self.batches += 1
        self.operations += len(batch)
        for (_, future), result in zip(batch, results, strict=True):
            if not future.done():
                future.set_result(result)

    async def _commit_one_by_one(self, batch: list[tuple[Any, asyncio.Future[Any]]]) -> None:
        for op, future in batch:
            try:
                (result,) = await self._apply([op])
            except Exception as exc:  # handed to the caller that submitted it
                if not future.done():
                    future.set_exception(
                        exc if isinstance(exc, StoreError) else StoreError(f"store write failed: {exc}")
                    )
                continue
            self.batches += 1
            self.operations += 1
            if not future.done():
                future.set_result(result)
