"""Which event loop a polyhunter process runs on: uvloop where it is importable, asyncio's own when asked.

`POLYHUNTER_EVENT_LOOP` chooses: `uvloop`, `asyncio`, or unset (uvloop where importable, else asyncio). Asking
for uvloop where it is not installed is a `ConfigError`, not a silent fallback: an operator who set it wants
to know. The supervisor's start-up line and the load simulation's result name the loop that really ran
(`loop_name`), so a figure can always be told apart by its loop.
"""

from __future__ import annotations

import asyncio
import gc
import importlib.util
import os
from collections.abc import Callable, Coroutine
from typing import Any, Final, Literal, TypeVar

from polyhunter.errors import ConfigError

T = TypeVar("T")

EventLoopName = Literal["uvloop", "asyncio"]
LOOPS: tuple[EventLoopName, ...] = ("uvloop", "asyncio")
ENV = "POLYHUNTER_EVENT_LOOP"


def uvloop_available() -> bool:
    """Whether uvloop can be imported here (it is not built for Windows)."""
    return importlib.util.find_spec("uvloop") is not None


def resolve(choice: str | None = None) -> EventLoopName:
    """The loop to run: `choice`, else `$POLYHUNTER_EVENT_LOOP`, else uvloop where importable.

    Raises `ConfigError` for an unknown name or for uvloop asked for where it is not installed."""
    raw = choice if choice is not None else os.environ.get(ENV)
    name = (raw or "").strip().lower()
    if not name:
        return "uvloop" if uvloop_available() else "asyncio"
    if name not in LOOPS:
        raise ConfigError(f"{ENV}: must be one of {', '.join(LOOPS)} (got {raw!r})")
    if name == "uvloop" and not uvloop_available():
        raise ConfigError(f"{ENV}: uvloop is not installed here (pip install uvloop), or set it to asyncio")
    return name


def loop_factory(choice: str | None = None) -> Callable[[], asyncio.AbstractEventLoop]:
    """A function making a new loop of the resolved kind (for `asyncio.Runner` and tests)."""
    if resolve(choice) == "uvloop":
        import uvloop

        return uvloop.new_event_loop
    return asyncio.new_event_loop


def run(coro: Coroutine[Any, Any, T], *, loop: str | None = None) -> T:
    """Run `coro` to completion on a fresh loop of the chosen kind (see `resolve`), as `asyncio.run` does:
    remaining tasks cancelled, async generators and the default executor shut down, the loop closed."""
    try:
        factory = loop_factory(loop)
    except ConfigError:
        coro.close()  # never awaited: closed so that no "was never awaited" warning follows the error
        raise
    tune_gc()
    with asyncio.Runner(loop_factory=factory) as runner:
        return runner.run(coro)


GC_THRESHOLDS: Final = (100_000, 20, 100)
"""The collector's thresholds for the long-running commands: a burst of copies allocates several short-lived
objects per job, and CPython's default (a young collection every 700 net allocations, walking every young
object) cost a 10,000-follower burst about a fifth of its time (measured with `loadsim --burst`). Cycles
are still collected, less often; memory stays bounded by the same generations."""


def tune_gc() -> None:
    """Raise the collector's thresholds (never lowers ones set higher by the embedding process)."""
    current = gc.get_threshold()
    if current[0] < GC_THRESHOLDS[0]:
        gc.set_threshold(*GC_THRESHOLDS)


def loop_name(loop: asyncio.AbstractEventLoop | None = None) -> EventLoopName:
    """The kind of `loop` (default: the running one): `uvloop` or `asyncio`."""
    current = loop if loop is not None else asyncio.get_running_loop()
    return "uvloop" if type(current).__module__.split(".", 1)[0] == "uvloop" else "asyncio"


class Wakeup:
    """An `asyncio.Event` for one waiter with a timeout of its own: `wait(timeout_s)` resumes its task in the
    loop iteration after `set()`. (`asyncio.wait_for(event.wait(), t)` runs the wait as a task of its own and
    resumes the caller two iterations later, which a job's hand-off felt.)"""

    __slots__ = ("_set", "_waiter")

    def __init__(self) -> None:
        self._set = False
        self._waiter: asyncio.Future[None] | None = None

    def is_set(self) -> bool:
        return self._set

    def set(self) -> None:
        self._set = True
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def clear(self) -> None:
        self._set = False

    async def wait(self, timeout_s: float) -> bool:
        """Returns True once set (at once when it is), False after `timeout_s` without a `set()`."""
        if self._set:
            return True
        if self._waiter is not None:
            raise RuntimeError("Wakeup has one waiter at a time")
        loop = asyncio.get_running_loop()
        waiter: asyncio.Future[None] = loop.create_future()
        self._waiter = waiter
        timer = loop.call_later(timeout_s, _resolve, waiter)
        try:
            await waiter
        finally:
            timer.cancel()
            self._waiter = None
        return self._set


def _resolve(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_result(None)
