"""`polyhunter follow add|list|remove|pause|resume`: followers' copy configs in the store."""

from __future__ import annotations

import json
from typing import Any, get_args

import click

from polyhunter.chain.create2 import proxy_address
from polyhunter.commands._common import echo_json, run_with_store, settings_or_exit
from polyhunter.errors import InvalidInputError
from polyhunter.models import SIZING_MODES, CopyConfig, Side, Tier
from polyhunter.settings import Settings
from polyhunter.store import Store
from polyhunter.units import PPM, format_usd, normalize_address, parse_percent_bps, parse_ppm, parse_usd

DEPLOYMENT = "deployment.json"


def _address(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    if value is None:
        return None
    try:
        return normalize_address(value, "address")
    except InvalidInputError as exc:
        raise click.BadParameter(str(exc)) from None


def _usd(ctx: click.Context, param: click.Parameter, value: str | None) -> int | None:
    if value is None:
        return None
    try:
        return parse_usd(value, "USD amount")
    except InvalidInputError as exc:
        raise click.BadParameter(str(exc)) from None


def _price(ctx: click.Context, param: click.Parameter, value: str | None) -> int | None:
    if value is None:
        return None
    try:
        ppm = parse_ppm(value, "price")
    except InvalidInputError as exc:
        raise click.BadParameter(str(exc)) from None
    if ppm > PPM:
        raise click.BadParameter(f"a price is at most 1 (USD per share), got {value!r}")
    return ppm


def _token_ids(ctx: click.Context, param: click.Parameter, values: tuple[str, ...]) -> frozenset[int]:
    out = set()
    for value in values:
        if not value.isdigit() or int(value) >= 2**256:
            raise click.BadParameter(f"a token id is a decimal uint256, got {value!r}")
        out.add(int(value))
    return frozenset(out)


def _tiers(ctx: click.Context, param: click.Parameter, values: tuple[str, ...]) -> tuple[Tier, ...]:
    tiers: list[Tier] = []
    for value in values:
        parts = value.split(":")
        if len(parts) != 3:
            raise click.BadParameter(
                f"a tier is MIN_USD:MAX_USD:MULTIPLIER (MAX_USD may be empty), got {value!r}"
            )
        try:
            low = parse_usd(parts[0] or "0", "tier minimum")
            high = parse_usd(parts[1], "tier maximum") if parts[1] else None
            multiplier = parse_ppm(parts[2], "tier multiplier")
        except InvalidInputError as exc:
            raise click.BadParameter(str(exc)) from None
        if high is not None and high <= low:
            raise click.BadParameter(f"a tier's maximum must be above its minimum, got {value!r}")
        tiers.append((low, high, multiplier))
    return tuple(sorted(tiers))


def _sizing(mode: str, amount: str | None, tiers: tuple[Tier, ...]) -> dict[str, Any]:
    """--amount: USD for fixed, a multiplier for ratio, a percent for percent; tiered takes --tier."""
    if mode == "tiered":
        if not tiers:
            raise click.UsageError("--mode tiered needs at least one --tier MIN_USD:MAX_USD:MULTIPLIER")
        return {"tiers": tiers}
    if amount is None:
        raise click.UsageError(f"--mode {mode} needs --amount")
    try:
        if mode == "fixed":
            value, field = parse_usd(amount, "USD"), "fixed_usd"
        elif mode == "ratio":
            value, field = parse_ppm(amount, "multiplier"), "ratio_ppm"
        else:
            value, field = parse_percent_bps(amount, "percent"), "percent_bps"
            if value > 10_000:
                raise InvalidInputError(f"--amount (percent) is at most 100, got {amount!r}")
    except InvalidInputError as exc:
        raise click.BadParameter(str(exc), param_hint="--amount") from None
    if value == 0:
        raise click.BadParameter("must be above zero", param_hint="--amount")
    return {field: value}


def deployed_proxy(settings: Settings, follower: str) -> str:
    """The follower's Proxy address by CREATE2 from `$POLYHUNTER_HOME/deployment.json` (no chain needed)."""
    path = settings.home / DEPLOYMENT
    if not path.exists():
        raise click.ClickException(f"no deployment at {path}: give the follower's Proxy with --proxy")
    try:
        deployment = json.loads(path.read_text())
        factory = deployment["contracts"]["proxy_factory"]
        init_code_hash = deployment["proxy_init_code_hash"]
        return proxy_address(factory, follower, init_code_hash)
    except (ValueError, KeyError, TypeError) as exc:
        raise click.ClickException(
            f"{path} has no usable contracts.proxy_factory / proxy_init_code_hash ({exc}): give --proxy"
        ) from None


def _describe(config: CopyConfig) -> str:
    if config.mode == "fixed":
        size = f"${format_usd(config.fixed_usd)}"
    elif config.mode == "ratio":
        size = f"x{config.ratio_ppm / PPM:g}"
    elif config.mode == "percent":
        size = f"{config.percent_bps / 100:g}%"
    else:
        size = f"{len(config.tiers)} tiers"
    state = "active" if config.enabled else "paused"
    return (
        f"#{config.config_id}  {state:6}  follower {config.follower}  proxy {config.proxy}  "
        f"leader {config.leader}  {config.mode} {size}"
    )


@click.group()
def follow() -> None:
    """Who copies whom: followers' copy configs."""


@follow.command("add")
@click.option(
    "--follower", required=True, callback=_address, help="The follower's wallet (owner of its Proxy)."
)
@click.option("--leader", required=True, callback=_address, help="The wallet to copy.")
@click.option("--mode", type=click.Choice(SIZING_MODES), default="fixed", show_default=True)
@click.option("--amount", help="USD per copy (fixed), multiplier (ratio), percent of balance (percent).")
@click.option("--tier", "tiers", multiple=True, callback=_tiers, help="tiered: MIN_USD:MAX_USD:MULTIPLIER.")
@click.option(
    "--proxy", callback=_address, help="The follower's Proxy (default: computed from the deployment)."
)
@click.option("--side", type=click.Choice(get_args(Side)), help="Copy only this side (default: both).")
@click.option("--token", "token_allow", multiple=True, callback=_token_ids, help="Copy only these token ids.")
@click.option("--deny-token", "token_deny", multiple=True, callback=_token_ids, help="Never copy these.")
@click.option("--min-leader-usd", callback=_usd, help="Ignore leader trades below this size (USD).")
@click.option("--max-leader-usd", callback=_usd, help="Ignore leader trades above this size (USD).")
@click.option("--min-price", callback=_price, help="Ignore trades below this price (USD per share).")
@click.option("--max-price", callback=_price, help="Ignore trades above this price (USD per share).")
@click.option("--max-per-trade-usd", callback=_usd, help="Cap on one copy (USD).")
@click.option("--min-size-policy", type=click.Choice(["skip", "bump"]), default="skip", show_default=True)
@click.option("--paused", is_flag=True, help="Store it paused.")
@click.option("--json", "as_json", is_flag=True, help="Print the stored config as JSON.")
def follow_add(
    follower: str,
    leader: str,
    mode: str,
    amount: str | None,
    tiers: tuple[Tier, ...],
    proxy: str | None,
    side: Side | None,
    token_allow: frozenset[int],
    token_deny: frozenset[int],
    min_leader_usd: int | None,
    max_leader_usd: int | None,
    min_price: int | None,
    max_price: int | None,
    max_per_trade_usd: int | None,
    min_size_policy: str,
    paused: bool,
    as_json: bool,
) -> None:
    """Make FOLLOWER copy LEADER."""
    settings = settings_or_exit()
    sizing = _sizing(mode, amount, tiers)
    if min_price is not None and max_price is not None and min_price > max_price:
        raise click.UsageError("--min-price is above --max-price")
    config = CopyConfig(
        follower=follower,
        proxy=proxy or deployed_proxy(settings, follower),
        leader=leader,
        mode=mode,  # type: ignore[arg-type]
        token_allow=token_allow,
        token_deny=token_deny,
        side_filter=side,
        min_leader_usd=min_leader_usd,
        max_leader_usd=max_leader_usd,
        min_price_ppm=min_price,
        max_price_ppm=max_price,
        max_per_trade_usd=max_per_trade_usd,
        min_size_policy=min_size_policy,  # type: ignore[arg-type]
        enabled=not paused,
        **sizing,
    )

    async def add(store: Store) -> CopyConfig:
        return await store.add_config(config)

    stored = run_with_store(add, settings)
    if as_json:
        echo_json(stored.to_json())
    else:
        click.echo(f"added {_describe(stored)}")


@follow.command("list")
@click.option("--follower", callback=_address)
@click.option("--leader", callback=_address)
@click.option("--json", "as_json", is_flag=True)
def follow_list(follower: str | None, leader: str | None, as_json: bool) -> None:
    """List copy configs."""

    async def fetch(store: Store) -> list[CopyConfig]:
        return await store.list_configs(follower=follower, leader=leader)

    configs = run_with_store(fetch)
    if as_json:
        echo_json([c.to_json() for c in configs])
    elif not configs:
        click.echo("no copy configs (polyhunter follow add …)")
    else:
        for config in configs:
            click.echo(_describe(config))


def _set_enabled(config_id: int, enabled: bool) -> None:
    async def change(store: Store) -> CopyConfig | None:
        return await store.set_enabled(config_id, enabled)

    config = run_with_store(change)
    if config is None:
        raise click.ClickException(f"no copy config #{config_id}")
    click.echo(f"{'resumed' if enabled else 'paused'} {_describe(config)}")


@follow.command("pause")
@click.argument("config_id", type=click.IntRange(min=1))
def follow_pause(config_id: int) -> None:
    """Stop copying with config CONFIG_ID (kept; resume brings it back)."""
    _set_enabled(config_id, False)


@follow.command("resume")
@click.argument("config_id", type=click.IntRange(min=1))
def follow_resume(config_id: int) -> None:
    """Copy again with a paused config."""
    _set_enabled(config_id, True)


@follow.command("remove")
@click.argument("config_id", type=click.IntRange(min=1))
def follow_remove(config_id: int) -> None:
    """Remove config CONFIG_ID."""

    async def remove(store: Store) -> bool:
        return await store.remove_config(config_id)

    if not run_with_store(remove):
        raise click.ClickException(f"no copy config #{config_id}")
    click.echo(f"removed copy config #{config_id}")


COMMANDS = [follow]
