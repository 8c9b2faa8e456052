"""`polyhunter config show|check`: the effective settings (secrets masked) and a start-up check."""

from __future__ import annotations

import asyncio

import click

from polyhunter.commands._common import echo_json, settings_or_exit
from polyhunter.errors import PolyhunterError
from polyhunter.shared import open_shared_state
from polyhunter.store import open_store


@click.group()
def config() -> None:
    """Settings from the environment and .env."""


@config.command("show")
@click.option("--json", "as_json", is_flag=True)
def config_show(as_json: bool) -> None:
    """Print every setting by its environment name, secrets masked."""
    values = settings_or_exit().masked()
    if as_json:
        echo_json(values)
        return
    for name, value in values.items():
        shown = "" if value is None else ",".join(map(str, value)) if isinstance(value, list) else value
        click.echo(f"{name}={shown}")


@config.command("check")
def config_check() -> None:
    """Validate the settings and reach the store and the shared state, as start-up does."""
    settings = settings_or_exit()

    async def check() -> str:
        store = await open_store(settings)
        try:
            state = await open_shared_state(settings)
            await state.close()
            version = await store.schema_version()
            return f"store {store.backend} (schema v{version}), shared state {state.backend}"
        finally:
            await store.close()

    try:
        click.echo(f"ok: {asyncio.run(check())}")
    except PolyhunterError as exc:
        raise click.ClickException(str(exc)) from None


COMMANDS = [config]
