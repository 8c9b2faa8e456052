"""`polyhunter debts`: collateral workers fronted for Proxies (Smart Buffer), OPEN until repaid."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from polyhunter.commands._common import echo_json, run_with_store
from polyhunter.models import DebtRecord, DebtStatus
from polyhunter.units import format_usd

if TYPE_CHECKING:  # the store's module loads asyncpg: not for `--help`
    from polyhunter.store import Store


@click.command("debts")
@click.option("--status", type=click.Choice(["open", "repaid", "all"]), default="open", show_default=True)
@click.option("--json", "as_json", is_flag=True)
def debts(status: str, as_json: bool) -> None:
    """List debt records."""

    async def fetch(store: Store) -> list[DebtRecord]:
        return await store.list_debts(None if status == "all" else DebtStatus(status.upper()))

    records = run_with_store(fetch)
    if as_json:
        echo_json([d.to_json() for d in records])
        return
    if not records:
        click.echo(f"no {'' if status == 'all' else status + ' '}debts")
    for d in records:
        click.echo(f"#{d.debt_id}  {d.status}  ${format_usd(d.amount)}  proxy {d.proxy}  worker {d.worker}")


COMMANDS = [debts]
