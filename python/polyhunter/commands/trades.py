"""`polyhunter trades`: the copy trades in the store, newest first, with their fill, price, time taken and
transactions."""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING

import click

from polyhunter.commands._common import echo_json, run_with_store
from polyhunter.commands.follow import _address
from polyhunter.logformat import short_token_id
from polyhunter.models import TradeRecord, TradeStatus
from polyhunter.units import PPM, format_usd

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
        click.echo(describe(r))


def _price(ppm: int | None) -> str:
    return "?" if ppm is None else str(Decimal(ppm) / PPM)


def describe(r: TradeRecord) -> str:
    """Two lines for one copy: what it was, and how it went (fill, price, time taken, our transactions)."""
    amount = f"{format_usd(r.amount)} USD" if r.side == "BUY" else f"{format_usd(r.amount)} shares"
    why = f" ({r.reason})" if r.reason else ""
    flag = " REORGED" if r.reorged else ""
    head = (
        f"0x{r.key.hex()[:12]}…  {r.status}{why}{flag}  {r.side} {amount} of {short_token_id(r.token_id)}  "
        f"follower {r.follower}  config #{r.config_id}"
    )
    if r.copy_size is not None:
        fill = f"fill {format_usd(r.copy_size)} shares @ {_price(r.copy_price_ppm)}"
    else:
        fill = "no fill"
    slippage = f", slippage {r.slippage_bps} bps" if r.slippage_bps is not None else ""
    # The record's own clock: from its PENDING row to its outcome (the leader's log came a little before).
    took = f", {r.updated_at - r.created_at} ms to {r.status}" if r.status != TradeStatus.PENDING else ""
    txs = ", ".join(f"0x{h.hex()}" for h in r.tx_hashes) or "none"
    return (
        f"{head}\n    {fill} (leader @ {_price(r.leader_price_ppm)}{slippage}){took}; our tx {txs}; "
        f"leader tx 0x{r.tx_hash.hex()}"
    )


COMMANDS = [trades]
