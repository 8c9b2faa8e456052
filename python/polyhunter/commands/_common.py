"""What the state commands share: settings loaded once, a store opened for one command, errors as one line."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import click

from polyhunter.errors import PolyhunterError
from polyhunter.settings import Settings, load_settings
from polyhunter.store import Store, open_store

T = TypeVar("T")


def settings_or_exit() -> Settings:
    """The settings, or exit 1 with one line naming the bad variable."""
    try:
        return load_settings()
    except PolyhunterError as exc:
        raise click.ClickException(str(exc)) from None


def run_with_store(work: Callable[[Store], Awaitable[T]], settings: Settings | None = None) -> T:
    """Open the configured store (migrating it), run `work`, close it; an error exits 1 with one line."""
    chosen = settings or settings_or_exit()

    async def main() -> T:
        store = await open_store(chosen)
        try:
            return await work(store)
        finally:
            await store.close()

    try:
        return asyncio.run(main())
    except PolyhunterError as exc:
        raise click.ClickException(str(exc)) from None


def echo_json(value: Any) -> None:
    click.echo(json.dumps(value, indent=2))
