"""`polyhunter status`: a live terminal view of one or more supervisors, read from each one's `/status`.

Another process's memory cannot be read, so each supervisor publishes a snapshot as `/status` JSON on its
metrics port (`SUPERVISOR_METRICS_ADDR`); this command polls those URLs and renders them with rich, or prints
them as JSON for scripts. An instance that does not answer is one line, and fails a `--once` run.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import time
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import click

from polyhunter.commands._common import echo_json, settings_or_exit
from polyhunter.errors import ConfigError, InvalidInputError
from polyhunter.units import format_usd

if TYPE_CHECKING:
    from rich.console import RenderableType

FETCH_TIMEOUT_S = 10.0
"""How long one instance may take to answer before it counts as unreachable for this round."""
WEI_PER_NATIVE = Decimal(10) ** 18
WILDCARD_TO_LOOPBACK = {"0.0.0.0": "127.0.0.1", "::": "::1"}  # noqa: S104 (we connect, never bind)


@dataclass
class Reading:
    """One instance's answer in one round: its `/status` document, or why there is none."""

    url: str
    status: dict[str, Any] | None = None
    error: str | None = None
    fetched_at: float = field(default_factory=time.monotonic)

    def to_json(self) -> dict[str, Any]:
        if self.status is not None:
            return {"url": self.url, "status": self.status}
        return {"url": self.url, "error": self.error}


def base_url(addr: str) -> str:
    """`SUPERVISOR_METRICS_ADDR` (host:port) as the URL its endpoint answers on."""
    from polyhunter.supervisor.metrics_server import parse_addr

    where = parse_addr(addr)
    if where is None:
        raise ConfigError("SUPERVISOR_METRICS_ADDR is off: no /status to read; pass --url")
    host, port = where
    # A wildcard bind answers on loopback too; connecting to the wildcard itself is not portable.
    host = WILDCARD_TO_LOOPBACK.get(host, host)
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}"


def status_url(url: str) -> str:
    """A base URL (or one already ending in /status) as the `/status` URL; only http(s)."""
    text = url.strip().rstrip("/")
    if not text.startswith(("http://", "https://")):
        raise InvalidInputError(f"--url: {url!r} is not an http(s) URL")
    return text if text.endswith("/status") else text + "/status"


async def fetch_all(urls: list[str]) -> list[Reading]:
    """Every instance's `/status`, read concurrently; a failure is that instance's `error`, never raised."""
    import aiohttp

    timeout = aiohttp.ClientTimeout(total=FETCH_TIMEOUT_S)

    async def one(session: aiohttp.ClientSession, url: str) -> Reading:
        try:
            async with session.get(url) as response:
                if response.status != 200:
                    return Reading(url, error=f"HTTP {response.status}")
                body = await response.json(content_type=None)
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            return Reading(url, error=_why(exc))
        except ValueError:
            return Reading(url, error="answer is not JSON")
        if not isinstance(body, dict):
            return Reading(url, error="answer is not a JSON object")
        return Reading(url, status=body)

    async with aiohttp.ClientSession(timeout=timeout) as session:
        return list(await asyncio.gather(*(one(session, u) for u in urls)))


def _why(exc: BaseException) -> str:
    if isinstance(exc, TimeoutError):
        return f"no answer within {FETCH_TIMEOUT_S:g} s"
    # The exception text of a refused connection names the address, never anything secret.
    return str(exc) or type(exc).__name__


def format_gas(wei: str | None) -> str:
    """Wei (a decimal string, as `/status` sends it) as native units, exactly, up to 6 decimals shown."""
    if wei is None:
        return "?"
    amount = Decimal(int(wei)) / WEI_PER_NATIVE
    return f"{amount.quantize(Decimal('0.000001'), rounding='ROUND_DOWN'):f}"


def _usd(value: Any) -> str:
    return format_usd(int(value)) if isinstance(value, int) else "?"


def _short(text: Any, keep: int = 10) -> str:
    s = str(text) if text is not None else "-"
    return s if len(s) <= keep + 2 else s[:keep] + "…"


def unreachable_line(reading: Reading) -> str:
    """The one line an instance that did not answer gets."""
    return f"{reading.url}: unreachable ({reading.error})"


def per_minute(now: Reading, before: Reading | None) -> dict[str, Decimal]:
    """Copies per minute by status between two rounds of one instance (empty on the first round)."""
    if before is None or before.status is None or now.status is None:
        return {}
    seconds = Decimal(str(now.fetched_at - before.fetched_at))
    if seconds <= 0:
        return {}
    old = before.status.get("copies") or {}
    new = now.status.get("copies") or {}
    return {
        k: (Decimal(int(v) - int(old.get(k, 0))) * 60 / seconds).quantize(Decimal("0.1"))
        for k, v in new.items()
    }


def render(reading: Reading, before: Reading | None = None) -> RenderableType:
    """One instance as rich renderables: header, fleet, queue, copies, caps, the newest copies."""
    from rich.console import Group
    from rich.table import Table
    from rich.text import Text

    if reading.status is None:
        return Text(unreachable_line(reading), style="bold red")
    s = reading.status
    parts: list[RenderableType] = []
    state = Text("FAILED", style="bold red") if s.get("failed") else Text("running", style="green")
    at = s.get("at")
    when = dt.datetime.fromtimestamp(int(at), dt.UTC).strftime("%H:%M:%SZ") if isinstance(at, int) else "?"
    parts.append(
        Text.assemble(
            (reading.url, "bold"),
            "  ",
            state,
            f"  consumer {s.get('consumer') or '-'}",
            f"  holder {_short(s.get('holder'))}  at {when}",
        )
    )
    fleet = Table(title=None, show_edge=False, pad_edge=False, box=None)
    for col in ("wallet", "gas", "collateral", "in-flight nonces", "jobs", "lease holder"):
        fleet.add_column(col, justify="left" if col in ("wallet", "lease holder") else "right")
    for w in s.get("fleet") or []:
        fleet.add_row(
            str(w.get("address")),
            format_gas(w.get("gas_wei")),
            _usd(w.get("collateral")),
            str(w.get("nonces_in_flight", "?")),
            str(w.get("jobs", "?")),
            _short(w.get("lease_holder")),
        )
    parts.append(fleet if s.get("fleet") else Text("fleet: none (a dry-run engine sends nothing)"))
    q = s.get("queue") or {}
    parts.append(
        Text(
            f"queue  depth {q.get('depth', '?')}  in flight {q.get('in_flight', '?')}  "
            f"dropped {q.get('dropped', '?')}  dead letters {q.get('dead_letters', '?')}  "
            f"lag max {q.get('lag_max_ms', '?')} ms"
        )
    )
    rates = per_minute(reading, before)
    copies = s.get("copies") or {}
    shown = [f"{k} {v}" + (f" ({rates[k]}/min)" if k in rates else "") for k, v in sorted(copies.items())]
    parts.append(Text("copies  " + ("  ".join(shown) if shown else "none")))
    parts.append(Text(f"caps used today  {_usd(s.get('cap_used'))} USD"))
    recent = s.get("recent") or []
    if recent:
        table = Table(show_edge=False, pad_edge=False, box=None)
        for col in ("copy", "side", "amount", "status", "latency"):
            table.add_column(col, justify="right" if col in ("amount", "latency") else "left")
        for r in recent:
            status = str(r.get("status")) + (f" {r['reason']}" if r.get("reason") else "")
            table.add_row(
                _short(r.get("key"), 14),
                str(r.get("side")),
                _usd(r.get("amount")),
                status,
                f"{r.get('latency_ms', '?')} ms",
            )
        parts.append(Text("last copies", style="bold"))
        parts.append(table)
    else:
        parts.append(Text("last copies  none yet"))
    for e in s.get("errors") or []:
        parts.append(Text(f"stale: {e}", style="yellow"))
    return Group(*parts)


def render_all(readings: list[Reading], before: dict[str, Reading]) -> RenderableType:
    from rich.console import Group
    from rich.rule import Rule

    items: list[RenderableType] = []
    for i, r in enumerate(readings):
        if i:
            items.append(Rule())
        items.append(render(r, before.get(r.url)))
    return Group(*items)


@click.command("status")
@click.option(
    "--url",
    "urls",
    multiple=True,
    metavar="URL",
    help="An instance's metrics endpoint (repeatable); default: SUPERVISOR_METRICS_ADDR.",
)
@click.option("--once", is_flag=True, help="Read once, print, exit (1 if an instance is unreachable).")
@click.option("--json", "as_json", is_flag=True, help="JSON: a list, one entry per instance.")
@click.option(
    "--interval",
    type=click.FloatRange(0.2, 3600),
    default=2.0,
    show_default=True,
    help="Seconds between refreshes of the live view.",
)
def status(urls: tuple[str, ...], once: bool, as_json: bool, interval: float) -> None:
    """Live view of supervisors: fleet gas and collateral, queue, copies, caps, the last copies."""
    try:
        targets = [status_url(u) for u in urls] or [
            status_url(base_url(settings_or_exit().supervisor_metrics_addr))
        ]
    except (InvalidInputError, ConfigError) as exc:
        raise click.ClickException(str(exc)) from None
    if once:
        readings = asyncio.run(fetch_all(targets))
        if as_json:
            echo_json([r.to_json() for r in readings])
        else:
            _console().print(render_all(readings, {}))
        if any(r.status is None for r in readings):
            raise SystemExit(1)
        return
    with contextlib.suppress(KeyboardInterrupt):  # Ctrl-C is how a live view ends
        asyncio.run(_live(targets, as_json, interval))


def _console() -> Any:
    from rich.console import Console

    console = Console(soft_wrap=False)
    if not console.is_terminal:
        # Piped or captured: full width, so a wallet address never wraps mid-line.
        console = Console(soft_wrap=False, width=200)
    return console


async def _live(targets: list[str], as_json: bool, interval: float) -> None:
    before: dict[str, Reading] = {}
    if as_json:
        while True:
            readings = await fetch_all(targets)
            click.echo(json.dumps([r.to_json() for r in readings]))
            await asyncio.sleep(interval)
    from rich.live import Live

    with Live(console=_console(), auto_refresh=False, screen=False) as live:
        while True:
            readings = await fetch_all(targets)
            live.update(render_all(readings, before), refresh=True)
            before = {r.url: r for r in readings if r.status is not None}
            await asyncio.sleep(interval)


COMMANDS = [status]
