"""`polyhunter follow add|edit|list|remove|pause|resume`: followers' copy configs in the store.

What the fan-out index would refuse is refused here first, with the flag to fix: one rule per (follower,
leader) pair (`edit` changes it), no follower copying itself or the zero address, a Proxy that is the
follower's own, a band whose minimum is not above its maximum, tiers that neither overlap nor leave gaps, and
sizes beyond sane bounds only with `--i-mean-it`.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
from typing import TYPE_CHECKING, Any, get_args

import click

from polyhunter.chain.create2 import proxy_address
from polyhunter.commands._common import echo_json, run_with_store, settings_or_exit
from polyhunter.errors import InvalidInputError
from polyhunter.models import SIZING_MODES, CopyConfig, Side, Tier
from polyhunter.units import PPM, format_usd, normalize_address, parse_percent_bps, parse_ppm, parse_usd

if TYPE_CHECKING:  # settings (pydantic) and the store (asyncpg): loaded when used, not for `--help`
    from polyhunter.settings import Settings
    from polyhunter.store import Store

DEPLOYMENT = "deployment.json"
ZERO_ADDRESS = "0x" + "00" * 20
#: Sizes past these are refused unless `--i-mean-it`: a typo of one digit should not copy at 100x.
SANE_MAX_RATIO_PPM = 10 * PPM
SANE_MAX_PERCENT_BPS = 5_000
SANE_MAX_TIER_MULTIPLIER_PPM = 10 * PPM


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


def check_tiers(tiers: tuple[Tier, ...]) -> None:
    """Tiers sorted by minimum must tile the leader sizes they cover: each one ends where the next begins,
    and only the last may be open-ended (a gap copies nothing, an overlap is ambiguous)."""
    for (low, high, _), (next_low, _, _) in itertools.pairwise(tiers):
        if high is None:
            raise click.BadParameter(
                f"only the last tier may have no maximum; the tier from {format_usd(low)} is open-ended",
                param_hint="--tier",
            )
        if high > next_low:
            raise click.BadParameter(
                f"tiers overlap: one ends at {format_usd(high)}, the next starts at {format_usd(next_low)}",
                param_hint="--tier",
            )
        if high < next_low:
            raise click.BadParameter(
                f"tiers leave a gap from {format_usd(high)} to {format_usd(next_low)}: make one end where "
                "the next begins",
                param_hint="--tier",
            )


def check_rule(config: CopyConfig, *, i_mean_it: bool) -> None:
    """Refuses what the index or the store would refuse, naming the flag; sizes past sane bounds need
    `--i-mean-it`."""
    if config.follower == config.leader:
        raise click.UsageError("a follower cannot copy itself: --follower and --leader are the same address")
    for flag, value in (
        ("--follower", config.follower),
        ("--leader", config.leader),
        ("--proxy", config.proxy),
    ):
        if value == ZERO_ADDRESS:
            raise click.BadParameter("the zero address is nobody's wallet", param_hint=flag)
    band = (config.min_leader_usd, config.max_leader_usd)
    if band[0] is not None and band[1] is not None and band[0] > band[1]:
        raise click.UsageError("--min-leader-usd is above --max-leader-usd")
    if (
        config.min_price_ppm is not None
        and config.max_price_ppm is not None
        and config.min_price_ppm > config.max_price_ppm
    ):
        raise click.UsageError("--min-price is above --max-price")
    check_tiers(config.tiers)
    if i_mean_it:
        return
    wild = ""
    if config.mode == "ratio" and config.ratio_ppm > SANE_MAX_RATIO_PPM:
        wild = f"a ratio of {config.ratio_ppm / PPM:g}x (above {SANE_MAX_RATIO_PPM // PPM}x)"
    elif config.mode == "percent" and config.percent_bps > SANE_MAX_PERCENT_BPS:
        wild = f"{config.percent_bps / 100:g}% of the balance per copy (above {SANE_MAX_PERCENT_BPS // 100}%)"
    elif config.mode == "tiered" and any(m > SANE_MAX_TIER_MULTIPLIER_PPM for _, _, m in config.tiers):
        wild = f"a tier multiplier above {SANE_MAX_TIER_MULTIPLIER_PPM // PPM}x"
    if wild:
        raise click.UsageError(f"{wild} is past the sane bound: add --i-mean-it if that is what you want")


def check_proxy(settings: Settings, follower: str, proxy: str) -> None:
    """A `--proxy` must be the follower's own (by CREATE2 from the deployment), when the deployment is
    known; without one there is nothing to compare with."""
    if not (settings.home / DEPLOYMENT).exists():
        return
    expected = deployed_proxy(settings, follower)
    if proxy != expected.lower():
        raise click.BadParameter(
            f"{proxy} is not the Proxy of follower {follower} (the deployment's factory makes {expected})",
            param_hint="--proxy",
        )


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
@click.option(
    "--i-mean-it", is_flag=True, help="Accept a ratio above 10x, a percent above 50%, and the like."
)
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
    i_mean_it: bool,
    as_json: bool,
) -> None:
    """Make FOLLOWER copy LEADER (one rule per pair: `follow edit` changes it)."""
    settings = settings_or_exit()
    sizing = _sizing(mode, amount, tiers)
    if proxy is not None:
        check_proxy(settings, follower, proxy)
    config = CopyConfig(
        follower=follower,
        proxy=proxy or deployed_proxy(settings, follower).lower(),
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
    check_rule(config, i_mean_it=i_mean_it)

    async def add(store: Store) -> CopyConfig:
        taken = await store.list_configs(follower=follower, leader=leader)
        if taken:
            raise InvalidInputError(
                f"follower {follower} already copies leader {leader} with config #{taken[0].config_id}: "
                f"change it with `polyhunter follow edit {taken[0].config_id}`"
            )
        return await store.add_config(config)

    stored = run_with_store(add, settings)
    if as_json:
        echo_json(stored.to_json())
    else:
        click.echo(f"added {_describe(stored)}")


@follow.command("edit")
@click.argument("config_id", type=click.IntRange(min=1))
@click.option("--mode", type=click.Choice(SIZING_MODES), help="A new sizing mode (give --amount or --tier).")
@click.option("--amount", help="USD per copy (fixed), multiplier (ratio), percent of balance (percent).")
@click.option("--tier", "tiers", multiple=True, callback=_tiers, help="tiered: MIN_USD:MAX_USD:MULTIPLIER.")
@click.option("--side", type=click.Choice([*get_args(Side), "both"]), help="Copy only this side, or both.")
@click.option("--token", "token_allow", multiple=True, callback=_token_ids, help="Copy only these token ids.")
@click.option("--deny-token", "token_deny", multiple=True, callback=_token_ids, help="Never copy these.")
@click.option("--min-leader-usd", callback=_usd, help="Ignore leader trades below this size (USD).")
@click.option("--max-leader-usd", callback=_usd, help="Ignore leader trades above this size (USD).")
@click.option("--min-price", callback=_price, help="Ignore trades below this price (USD per share).")
@click.option("--max-price", callback=_price, help="Ignore trades above this price (USD per share).")
@click.option("--max-per-trade-usd", callback=_usd, help="Cap on one copy (USD).")
@click.option("--min-size-policy", type=click.Choice(["skip", "bump"]))
@click.option(
    "--i-mean-it", is_flag=True, help="Accept a ratio above 10x, a percent above 50%, and the like."
)
@click.option("--json", "as_json", is_flag=True, help="Print the stored config as JSON.")
def follow_edit(
    config_id: int,
    mode: str | None,
    amount: str | None,
    tiers: tuple[Tier, ...],
    side: str | None,
    token_allow: frozenset[int],
    token_deny: frozenset[int],
    min_leader_usd: int | None,
    max_leader_usd: int | None,
    min_price: int | None,
    max_price: int | None,
    max_per_trade_usd: int | None,
    min_size_policy: str | None,
    i_mean_it: bool,
    as_json: bool,
) -> None:
    """Change the rule of config CONFIG_ID (what is not given stays as it is)."""
    settings = settings_or_exit()

    async def edit(store: Store) -> CopyConfig:
        current = await store.get_config(config_id)
        if current is None:
            raise InvalidInputError(f"no copy config #{config_id}")
        changes: dict[str, Any] = {}
        if mode is not None or amount is not None or tiers:
            new_mode = mode or current.mode
            changes = {"mode": new_mode, "fixed_usd": 0, "ratio_ppm": 0, "percent_bps": 0, "tiers": ()}
            changes.update(_sizing(new_mode, amount, tiers))
        if side is not None:
            changes["side_filter"] = None if side == "both" else side
        named = {
            "token_allow": token_allow or None,
            "token_deny": token_deny or None,
            "min_leader_usd": min_leader_usd,
            "max_leader_usd": max_leader_usd,
            "min_price_ppm": min_price,
            "max_price_ppm": max_price,
            "max_per_trade_usd": max_per_trade_usd,
            "min_size_policy": min_size_policy,
        }
        changes.update({k: v for k, v in named.items() if v is not None})
        if not changes:
            raise click.UsageError("nothing to change: give at least one option")
        config = dataclasses.replace(current, **changes)
        check_rule(config, i_mean_it=i_mean_it)
        stored = await store.update_config(config)
        if stored is None:
            raise InvalidInputError(f"no copy config #{config_id}")
        return stored

    stored = run_with_store(edit, settings)
    if as_json:
        echo_json(stored.to_json())
    else:
        click.echo(f"changed {_describe(stored)}")


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
