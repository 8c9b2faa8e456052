"""`polyhunter report`: copy quality and profit per follower and per leader over a period (text, JSON, CSV,
a plot)."""

from __future__ import annotations

import datetime as dt
import re
import secrets
from contextlib import AsyncExitStack
from decimal import Decimal, InvalidOperation
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from polyhunter.commands._common import echo_json, enter_store, run_async, settings_or_exit
from polyhunter.commands.follow import _address
from polyhunter.errors import ConfigError, InvalidInputError

if TYPE_CHECKING:  # the report's modules load the store (asyncpg): not for `--help`
    from polyhunter.report.summary import Report
    from polyhunter.settings import Settings

_RELATIVE = re.compile(r"(\d+)\s*([mhdw])")
_UNIT_MS = {"m": 60_000, "h": 3_600_000, "d": 86_400_000, "w": 7 * 86_400_000}


def parse_when(text: str, now_ms: int, what: str) -> int:
    """A time as ms since the epoch: `now`, a duration ago (`90m`, `24h`, `7d`, `2w`), an ISO 8601 date or
    date-time (UTC unless it says otherwise), or integer ms."""
    raw = text.strip().lower()
    if raw == "now":
        return now_ms
    relative = _RELATIVE.fullmatch(raw)
    if relative:
        return now_ms - int(relative.group(1)) * _UNIT_MS[relative.group(2)]
    if raw.isdigit():
        return int(raw)
    try:
        when = dt.datetime.fromisoformat(text.strip())
    except ValueError:
        raise InvalidInputError(
            f"{what} must be `now`, a duration ago (24h, 7d), an ISO date or ms since the epoch, got {text!r}"
        ) from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return int(when.timestamp() * 1000)


def parse_mid(text: str) -> tuple[int, Fraction]:
    """`TOKEN=PRICE` (decimal token id, price in dollars) → (token id, exact price)."""
    token, sep, price = text.partition("=")
    try:
        if not sep:
            raise ValueError
        return int(token.strip()), Fraction(Decimal(price.strip()))
    except (ValueError, InvalidOperation):
        raise InvalidInputError(f"--mid takes TOKEN_ID=PRICE (e.g. 1234=0.55), got {text!r}") from None


async def _chain_balances(settings: Settings) -> Any:
    from polyhunter.chain.deployment import Deployment
    from polyhunter.chain.proxyowner import connect, load_world
    from polyhunter.report.sources import ChainBalances

    try:
        deployment: Deployment | None = Deployment.load()
    except ConfigError:
        deployment = None
    try:
        w3, chain_id, url = connect(settings, deployment)
    except ConfigError as exc:
        raise ConfigError(f"{exc} (or pass --no-chain to report holdings from the copies alone)") from None
    world = load_world(w3, chain_id, url, settings, deployment)
    return ChainBalances(w3, world.ctf)


async def _venue_midpoints(stack: AsyncExitStack, settings: Settings) -> Any:
    from polyhunter._core import Signer
    from polyhunter.chain.deployment import Deployment
    from polyhunter.report.sources import BookMidpoints
    from polyhunter.venue.client import ClobClient

    host = settings.clob_url
    chain_id = settings.chain_id
    if host is None:
        try:
            deployment = Deployment.load()
        except ConfigError:
            deployment = None
        host = deployment.clob_url if deployment is not None else None
        chain_id = chain_id or (deployment.chain_id if deployment is not None else None)
    if not host:
        raise ConfigError(
            "no venue for midpoints: set CLOB_HOST, run `polyhunter chain up`, or pass --no-quotes"
        )
    # Public reads (`GET /book`) need no key: any signer will do, none is used.
    client = ClobClient(host, chain_id or 0, Signer(secrets.token_bytes(32).hex()))
    stack.push_async_callback(client.close)
    return BookMidpoints(client)


@click.command("report")
@click.option("--since", default="0", show_default=True, help="Start: now, 24h, 7d, an ISO date, or ms.")
@click.option("--until", default="now", show_default=True, help="End (exclusive), as --since.")
@click.option("--follower", callback=_address, help="Only this follower.")
@click.option("--leader", callback=_address, help="Only this leader.")
@click.option("--chain/--no-chain", default=True, show_default=True, help="Holdings from the CTF on chain.")
@click.option(
    "--quotes/--no-quotes", default=True, show_default=True, help="Midpoints from the venue's books."
)
@click.option("--mid", "mids", multiple=True, metavar="TOKEN=PRICE", help="A midpoint given by hand.")
@click.option("--json", "as_json", is_flag=True, help="One JSON document (money in base units).")
@click.option("--csv", "as_csv", is_flag=True, help="One CSV row per follower and per leader.")
@click.option("--plot", type=click.Path(dir_okay=False, path_type=Path), help="Draw to FILE.png.")
def report(
    since: str,
    until: str,
    follower: str | None,
    leader: str | None,
    chain: bool,
    quotes: bool,
    mids: tuple[str, ...],
    as_json: bool,
    as_csv: bool,
    plot: Path | None,
) -> None:
    """Copy quality and profit per follower and per leader over a period: text, --json, --csv, --plot.

    Per follower and per leader: copies by status, volume, slippage and delay p50/p95, gas and fees,
    realised PnL from fills and redemptions, unrealised PnL at the midpoint; per follower, its holdings on
    chain beside the copies'. Money is collateral base units in JSON and CSV."""
    from polyhunter.models import now_ms

    if as_json and as_csv:
        raise click.UsageError("--json and --csv exclude each other")
    settings = settings_or_exit()
    now = now_ms()
    try:
        since_ms = parse_when(since, now, "--since")
        until_ms = parse_when(until, now, "--until") if until.strip().lower() != "now" else now + 1
        fixed = dict(parse_mid(m) for m in mids)
    except InvalidInputError as exc:
        raise click.BadParameter(str(exc)) from None
    if since_ms >= until_ms:
        raise click.BadParameter(f"--since ({since_ms}) must come before --until ({until_ms})")

    async def body(stack: AsyncExitStack) -> Report:
        from polyhunter.report.sources import FixedMidpoints, StoreRedemptions
        from polyhunter.report.summary import build_report

        store = await enter_store(stack, settings)
        balances = await _chain_balances(settings) if chain else None
        venue = await _venue_midpoints(stack, settings) if quotes else None
        midpoints = FixedMidpoints(fixed, venue) if fixed or venue is not None else None
        return await build_report(
            store,
            since_ms,
            until_ms,
            follower=follower,
            leader=leader,
            midpoints=midpoints,
            balances=balances,
            redemptions=StoreRedemptions(store),
        )

    result = run_async(body)
    if plot is not None:
        from polyhunter.report.plot import draw

        draw(result, plot)
    if as_json:
        echo_json(result.to_json())
    elif as_csv:
        click.echo(result.to_csv(), nl=False)
    else:
        click.echo(result.to_text())
    if plot is not None and not (as_json or as_csv):
        click.echo(f"plot written to {plot}")


COMMANDS = [report]
