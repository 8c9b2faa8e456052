"""`polyhunter config show|check`: the effective settings (secrets masked) and a start-up check."""

from __future__ import annotations

from contextlib import AsyncExitStack
from typing import TYPE_CHECKING

import click

from polyhunter.commands._common import echo_json, enter_shared, enter_store, run_async, settings_or_exit
from polyhunter.errors import PolyhunterError

if TYPE_CHECKING:  # pydantic-settings takes ~100 ms to import: not for `--help`
    from polyhunter.settings import Settings


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


async def check_chain(settings: Settings) -> tuple[str, list[str]]:
    """On a production chain: (a summary, one line per problem), the problems being a missing setting, a
    wrong chain id or an address the profile uses without code. Elsewhere: what the RPC serves, if set."""
    # RPC clients load aiohttp and websockets: when the check runs, not for `--help`.
    from polyhunter.chain.aiorpc import AsyncRpc
    from polyhunter.chain.profile import chain_profile, check_profile, is_production_chain
    from polyhunter.supervisor.startup import served_chain_id, shown

    http = [u for u in settings.rpc_urls if u.startswith("http")]
    if not is_production_chain(settings.chain_id):
        urls = [*settings.rpc_urls, *settings.ws_urls]
        if not urls:
            return "chain from deployment.json", []
        # Every endpoint, not only the first that answers: a failover RPC on another chain would otherwise
        # show up only the day the first one fails.
        served = {url: await served_chain_id(url) for url in urls}
        first = served[urls[0]]
        problems = [
            f"{shown(url)} serves chain {chain}, {shown(urls[0])} chain {first}"
            for url, chain in served.items()
            if chain != first
        ]
        if problems:
            return "", problems
        if is_production_chain(first) and settings.chain_id is None:
            return "", [f"CHAIN_ID: unset, but the RPC serves chain {first}: set CHAIN_ID={first}"]
        if settings.chain_id is not None and first != settings.chain_id:
            return "", [f"CHAIN_ID: {settings.chain_id}, but the RPC serves chain {first}"]
        return f"chain {first} ({len(urls)} endpoint{'s' if len(urls) > 1 else ''})", []
    try:
        profile = chain_profile(settings)
    except PolyhunterError as exc:
        return "", [str(exc)]
    if not http:
        return "", [f"COPY_TRADING_RPC_URLS: required on chain {profile.chain_id} (an http or https URL)"]
    async with AsyncRpc(http) as rpc:
        checked = await check_profile(profile, rpc)
    if not checked.ok:
        return "", checked.missing
    adapters = [
        f"{e.role} {e.address}" for e in checked.profile.entries if e.source.endswith("(the one with code)")
    ]
    summary = f"chain {profile.chain_id}: code at all {len(profile.uses())} addresses used"
    return summary + "".join(f", {a}" for a in adapters), []


@config.command("check")
def config_check() -> None:
    """Validate the settings, find code at every contract address used, reach the store and the shared
    state, as start-up does. Prints one line per problem and exits 1 if there is any."""
    from polyhunter.chain.profile import is_production_chain

    settings = settings_or_exit()

    async def check(stack: AsyncExitStack) -> tuple[list[str], list[str]]:
        chain, problems = await check_chain(settings)
        store = await enter_store(stack, settings)
        state = await enter_shared(stack, settings)
        version = await store.schema_version()
        parts = [chain, f"store {store.backend} (schema v{version})", f"shared state {state.backend}"]
        if is_production_chain(settings.chain_id):
            real = not settings.is_dry_run(local_chain=False)
            parts.append("REAL TRADING" if real else "DRY_RUN (ENABLE_REAL_TRADING=true to trade)")
        return [p for p in parts if p], problems

    summary, problems = run_async(check)
    for line in problems:
        click.echo(f"error: {line}", err=True)
    if problems:
        raise SystemExit(1)
    click.echo(f"ok: {', '.join(summary)}")


COMMANDS = [config]
