"""Checkpoints a SQLite store's write-ahead log from a thread of its own, so that no commit waits for one.

SQLite's automatic checkpoint runs inside the commit that crosses its threshold: that commit copies thousands
of pages back into the database file and flushes it before its caller's await returns (a leader's fill
waited 15-20 ms for one). Here the store's connections keep only a distant automatic threshold (a safety
valve, `SAFETY_PAGES`) and this thread runs a PASSIVE checkpoint every `interval_s`: it copies what no reader
still needs, never takes the write lock and never blocks a commit, and it runs on the other core.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from pathlib import Path

log = logging.getLogger(__name__)

SAFETY_PAGES = 40_000
"""The store's connections checkpoint by themselves only past this many WAL pages (160 MB at 4 KiB), which
happens only when this thread cannot keep up or is stopped."""


class WalCheckpointer:
    """A thread with its own connection that checkpoints `path`'s WAL every `interval_s` until `stop()`."""

    def __init__(self, path: Path, pragmas: tuple[str, ...], interval_s: float = 0.1) -> None:
        self._path = path
        self._pragmas = pragmas
        self._interval_s = interval_s
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.checkpoints = 0
        """PASSIVE checkpoints run (each copies what it can; most copy a few pages)."""
        self.wal_frames = 0
        """Frames in the WAL at the last checkpoint, and how many of them were in the database after it."""
        self.checkpointed = 0
        self.behind = 0
        """Checkpoints that left frames in the WAL (a reader still needed them, or another checkpoint ran)."""
        self.failures = 0
        """Checkpoints that raised (the thread goes on; the last error is kept)."""
        self.error: BaseException | None = None
        """The last failure, kept for the tests and the logs; the thread goes on after one."""

    def start(self) -> None:
        conn = sqlite3.connect(self._path, isolation_level=None, check_same_thread=False)
        try:
            for pragma in self._pragmas:
                conn.execute(f"PRAGMA {pragma}").fetchall()
        except BaseException:
            conn.close()
            raise
        # A daemon: a process that exits without closing its store is not held open by this thread.
        self._thread = threading.Thread(target=self._run, args=(conn,), name="sqlite-checkpoint", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Ends the thread after one last checkpoint (blocks for it: call it off the event loop)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None

    def _run(self, conn: sqlite3.Connection) -> None:
        last_warning = 0.0
        try:
            while True:
                stopping = self._stop.wait(self._interval_s)
                try:
                    busy, frames, copied = conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
                except sqlite3.Error as exc:
                    self.error = exc
                    self.failures += 1
                    if time.monotonic() - last_warning > 60:
                        last_warning = time.monotonic()
                        log.warning("WAL checkpoint of %s failed (retried): %s", self._path, exc)
                else:
                    self.checkpoints += 1
                    self.wal_frames, self.checkpointed = int(frames), int(copied)
                    self.behind += int(bool(busy) or copied < frames)
                if stopping:
                    return
        finally:
            conn.close()
