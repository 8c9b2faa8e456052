"""`polyhunter ready`: every readiness check as a line with ✓/✗ and its fix; exit 1 when a fatal one fails."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

import click

from polyhunter.commands._common import echo_json, run_async
from polyhunter.errors import PolyhunterError

if TYPE_CHECKING:  # the checks load web3, aiohttp, asyncpg, redis: when they run, not for `--help`
    from polyhunter.supervisor.readiness import Readiness


def readiness_report() -> Readiness:
    """The checks for the environment's settings (a bad setting is the one fatal line)."""
    from polyhunter.settings import load_settings
    from polyhunter.supervisor.readiness import Readiness, check_readiness, settings_check

    try:
        settings = load_settings()
    except PolyhunterError as exc:
        return Readiness([settings_check(None, str(exc))])
    return run_async(lambda _stack: check_readiness(settings))


@click.command("ready")
@click.option("--json", "as_json", is_flag=True, help="One JSON object: ready, counts and every check.")
def ready(as_json: bool) -> None:
    """Check that the supervisor can go live: settings, RPCs, contracts, Executor, fleet, gas, store, Redis,
    and with the CLOB venue its keys, wallets and geoblock. Exit 0 when nothing fatal fails."""
    report = readiness_report()
    if as_json:
        echo_json(report.to_json())
    else:
        for line in report.lines():
            click.echo(line)
    sys.exit(0 if report.ready else 1)


COMMANDS = [ready]
