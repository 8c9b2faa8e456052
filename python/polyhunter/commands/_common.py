"""What the commands share: settings loaded once, one async runner that closes everything a command opened
(on every path, errors included), errors as one line.

A command's async body receives an `AsyncExitStack` and opens its store, shared state and RPC clients through
it (`enter_store`, `enter_shared`, `stack.push_async_callback(x.close)`): whatever fails afterwards, each is
closed before the process exits, so no aiosqlite thread or aiohttp session outlives the command.

The loop is the one `POLYHUNTER_EVENT_LOOP` names (polyhunter.eventloop): `settings_or_exit` remembers the
settings' choice (so `.env` counts too) and `run_async` runs on it unless told otherwise.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack
from typing import TYPE_CHECKING, Any, TypeVar

import click

from polyhunter.errors import PolyhunterError

if (
    TYPE_CHECKING
):  # settings (pydantic), store (asyncpg), shared state (redis): loaded when used, not for `--help`
    from polyhunter.settings import Settings
    from polyhunter.shared.base import SharedState
    from polyhunter.store import Store

T = TypeVar("T")

_chosen_loop: str | None = None
"""POLYHUNTER_EVENT_LOOP as the last settings loaded by `settings_or_exit` gave it (None: not given)."""


def settings_or_exit(**overrides: Any) -> Settings:
    """The settings, or exit 1 with one line naming the bad variable."""
    from polyhunter.settings import load_settings

    global _chosen_loop
    try:
        settings = load_settings(**overrides)
    except PolyhunterError as exc:
        raise click.ClickException(str(exc)) from None
    _chosen_loop = settings.polyhunter_event_loop
    return settings


def run_async(body: Callable[[AsyncExitStack], Awaitable[T]], *, loop: str | None = None) -> T:
    """Run `body` on a fresh event loop with an exit stack it registers its resources on; every one is
    closed (last opened first) however the body ends. A `PolyhunterError` exits 1 with one line.

    `loop`: `uvloop` or `asyncio`; default the settings' POLYHUNTER_EVENT_LOOP (see `eventloop.resolve`)."""

    from polyhunter import eventloop

    async def main() -> T:
        async with AsyncExitStack() as stack:
            return await body(stack)

    try:
        return eventloop.run(main(), loop=loop if loop is not None else _chosen_loop)
    except PolyhunterError as exc:
        raise click.ClickException(str(exc)) from None


async def enter_store(stack: AsyncExitStack, settings: Settings) -> Store:
    """Open (and migrate) the configured store, closed when `stack` unwinds."""
    from polyhunter.store import open_store

    store = await open_store(settings)
    stack.push_async_callback(store.close)
    return store


async def enter_shared(stack: AsyncExitStack, settings: Settings) -> SharedState:
    """Open the configured shared state, closed when `stack` unwinds."""
    from polyhunter.shared import open_shared_state

    shared = await open_shared_state(settings)
    stack.push_async_callback(shared.close)
    return shared


def run_with_store(work: Callable[[Store], Awaitable[T]], settings: Settings | None = None) -> T:
    """Open the configured store (migrating it), run `work`, close it; an error exits 1 with one line."""
    chosen = settings or settings_or_exit()

    async def body(stack: AsyncExitStack) -> T:
        return await work(await enter_store(stack, chosen))

    return run_async(body)


def echo_json(value: Any) -> None:
    click.echo(json.dumps(value, indent=2))
