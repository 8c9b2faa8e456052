"""Bounded concurrent intake: hand raw batches to the pipeline without waiting for each to be durable.

A batch is durable (PENDING rows committed, jobs queued) a few milliseconds after it is handed over; waiting
for each in turn would cap intake at one batch per commit. Up to `limit` batches are taken in at once
(`SUPERVISOR_FANOUT_CONCURRENCY`), and `drain()` waits for every batch handed over so far, which is what the
detector does before it moves its checkpoint: a checkpoint never passes a batch that is not durable.
A failure also sets `failed` at once, so that the detector need not wait for the next block to learn of it
(with no next block, it would never backfill the lost batch).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

log = logging.getLogger(__name__)

Sink = Callable[[bytes, str], Awaitable[None]]


class BoundedIntake:
    def __init__(self, sink: Sink, limit: int = 25) -> None:
        self.sink = sink
        self._slots = asyncio.Semaphore(limit)
        self._tasks: set[asyncio.Task[None]] = set()
        self._error: BaseException | None = None
        self.submitted = 0
        self.failed = asyncio.Event()
        """Set when a batch fails; cleared by the `drain()` that raises the failure."""

    async def submit(self, raw: bytes, origin: str) -> None:
        """Starts taking `raw` in; returns as soon as a slot is free (not when the batch is durable)."""
        await self._slots.acquire()
        self.submitted += 1
        task = asyncio.create_task(self._run(raw, origin))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _run(self, raw: bytes, origin: str) -> None:
        try:
            await self.sink(raw, origin)
        except Exception as exc:
            # Kept for `drain()`, which raises it: the checkpoint must not move past a failed batch.
            log.error("intake of a %s batch failed: %s", origin, exc)
            if self._error is None:
                self._error = exc
            self.failed.set()
        finally:
            self._slots.release()

    async def drain(self) -> None:
        """Waits for every batch submitted so far; raises the first failure among them (once)."""
        if self._tasks:
            await asyncio.wait(set(self._tasks))
        if self._error is not None:
            error, self._error = self._error, None
            self.failed.clear()
            raise error

    @property
    def in_flight(self) -> int:
        return len(self._tasks)
