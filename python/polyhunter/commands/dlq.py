"""`polyhunter dlq`: the dead-letter list of the store of record (jobs claimed past their delivery limit).

A dead-lettered job stays PENDING and holds its guardrail reservation; no scan queues it again. `retry` hands
it back to the supervisor (its next scan of PENDING jobs queues it); `drop` gives it up (FAILED
`dead_letter_dropped`) and releases its reservation in a Redis shared state. Only a job with nothing journaled
may be retried or dropped: one with a journal may be on chain, and recovery settles it.
"""

from __future__ import annotations

import datetime as dt
from contextlib import AsyncExitStack
from typing import TYPE_CHECKING, Any

import click

from polyhunter.commands._common import echo_json, enter_shared, enter_store, run_async, settings_or_exit
from polyhunter.errors import InvalidInputError
from polyhunter.models import TradeRecord, TradeStatus, now_ms
from polyhunter.units import format_usd

if TYPE_CHECKING:  # the store's module loads asyncpg: not for `--help`
    from polyhunter.store.base import DeadLetter


def parse_key(value: str) -> bytes:
    """A job key given as hex (with or without `0x`), as `dlq list` prints it."""
    text = value.strip().removeprefix("0x")
    try:
        key = bytes.fromhex(text)
    except ValueError:
        raise InvalidInputError(f"KEY: a job key is hex, got {value!r}") from None
    if not key:
        raise InvalidInputError("KEY: a job key is hex, got nothing")
    return key


def _letter_json(letter: DeadLetter) -> dict[str, Any]:
    return {
        "key": "0x" + letter.key.hex(),
        "attempts": letter.attempts,
        "reason": letter.reason,
        "dead_at": letter.dead_at,
        "journaled": len(letter.record.journal),
        "trade": letter.record.to_json(),
    }


@click.group("dlq")
def dlq() -> None:
    """Jobs dead-lettered after too many deliveries: list, retry or drop them."""


@dlq.command("list")
@click.option("--limit", type=click.IntRange(1, 100_000), default=100, show_default=True)
@click.option("--json", "as_json", is_flag=True)
def list_letters(limit: int, as_json: bool) -> None:
    """List dead-lettered jobs, oldest first."""
    settings = settings_or_exit()

    async def body(stack: AsyncExitStack) -> tuple[list[DeadLetter], int]:
        store = await enter_store(stack, settings)
        return await store.dead_letters(limit), await store.count_dead_letters()

    letters, total = run_async(body)
    if as_json:
        echo_json({"count": total, "dead_letters": [_letter_json(x) for x in letters]})
        return
    if not letters:
        click.echo("no dead-lettered jobs")
        return
    for x in letters:
        r = x.record
        amount = format_usd(r.amount) if r.side == "BUY" else f"{format_usd(r.amount)} shares"
        when = dt.datetime.fromtimestamp(x.dead_at / 1000, dt.UTC).strftime("%Y-%m-%d %H:%M:%SZ")
        journaled = f", {len(r.journal)} journaled" if r.journal else ""
        click.echo(
            f"0x{x.key.hex()}  {r.status}{journaled}  {x.reason} after {x.attempts} deliveries at {when}  "
            f"{r.side} {amount}  follower {r.follower}  config #{r.config_id}"
        )
    if total > len(letters):
        click.echo(f"… {total - len(letters)} more (--limit)")


@dlq.command("retry")
@click.argument("key")
@click.option("--json", "as_json", is_flag=True)
def retry(key: str, as_json: bool) -> None:
    """Queue a dead-lettered job again (one with nothing journaled)."""
    settings = settings_or_exit()

    async def body(stack: AsyncExitStack) -> TradeRecord:
        store = await enter_store(stack, settings)
        expires_at = now_ms() + settings.copy_trading_pending_expiry_ms
        return await store.retry_dead_letter(parse_key(key), expires_at)

    record = run_async(body)
    if as_json:
        echo_json({"retried": "0x" + record.key.hex(), "trade": record.to_json()})
        return
    click.echo(
        f"0x{record.key.hex()}: out of the dead-letter list; the supervisor queues it at its next scan of "
        "PENDING jobs"
    )


@dlq.command("drop")
@click.argument("key")
@click.option("--json", "as_json", is_flag=True)
def drop(key: str, as_json: bool) -> None:
    """Give a dead-lettered job up: FAILED, its daily-cap reservation released."""
    from polyhunter.supervisor.guardrails import Guardrails, utc_day  # loads redis: not for `--help`

    settings = settings_or_exit()

    async def body(stack: AsyncExitStack) -> tuple[TradeRecord, bool]:
        store = await enter_store(stack, settings)
        record, failed = await store.drop_dead_letter(parse_key(key))
        released = False
        if failed and settings.shared_redis_url is not None:
            # The copy will not happen: what it reserved is given back where every instance counts it.
            shared = await enter_shared(stack, settings)
            guardrails = Guardrails(
                daily_cap_usd=settings.copy_trading_daily_cap_usd,
                wallet_daily_cap_usd=settings.copy_trading_wallet_daily_cap_usd,
            )
            day = utc_day(dt.datetime.fromtimestamp(record.created_at / 1000, dt.UTC))
            reservations = guardrails.reservations(record.to_job(), day)
            if reservations:
                await shared.release(reservations)
                released = True
        return record, released

    record, released = run_async(body)
    if as_json:
        echo_json({"dropped": "0x" + record.key.hex(), "released": released, "trade": record.to_json()})
        return
    status = "FAILED (dead_letter_dropped)" if record.status is TradeStatus.FAILED else str(record.status)
    note = "; its daily-cap reservation released" if released else ""
    click.echo(f"0x{record.key.hex()}: dropped from the dead-letter list, {status}{note}")


COMMANDS = [dlq]
