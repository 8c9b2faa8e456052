"""`polyhunter trades`: the copy trades in the store, newest first."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from polyhunter.commands._common import echo_json, run_with_store
from polyhunter.commands.follow import _address
from polyhunter.models import TradeRecord, TradeStatus
from polyhunter.units import format_usd

if TYPE_CHECKING:  # the store's module loads asyncpg: not for `--help`
    from polyhunter.store import Store


@click.command("trades")
@click.option("--status", type=click.Choice([s.value for s in TradeStatus], case_sensitive=False))
@click.option("--follower", callback=_address)
@click.option("--limit", type=click.IntRange(1, 100_000), default=50, show_default=True)
@click.option("--json", "as_json", is_flag=True)
def trades(status: str | None, follower: str | None, limit: int, as_json: bool) -> None:
    """List copy trades (PENDING, EXECUTED, FAILED, SKIPPED, CANCELLED)."""

    async def fetch(store: Store) -> list[TradeRecord]:
        chosen = None if status is None else TradeStatus(status.upper())
        return await store.list_trades(status=chosen, follower=follower, limit=limit)

    records = run_with_store(fetch)
    if as_json:
        echo_json([r.to_json() for r in records])
        return
    if not records:
        click.echo("no copy trades")
    for r in records:
        amount = format_usd(r.amount) if r.side == "BUY" else f"{format_usd(r.amount)} shares"
        why = f" ({r.reason})" if r.reason else ""
        flag = " REORGED" if r.reorged else ""
        click.echo(
            f"0x{r.key.hex()[:12]}…  {r.status}{why}{flag}  {r.side} {amount}  follower {r.follower}  "
            f"config #{r.config_id}  leader tx 0x{r.tx_hash.hex()[:12]}…"
        )


COMMANDS = [trades]
