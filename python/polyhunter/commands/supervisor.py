"""`polyhunter supervisor`: watch the chain and copy leaders' fills; `--selftest` checks every stage once."""

from __future__ import annotations

import asyncio
import logging
import signal
import sys
from typing import TYPE_CHECKING, Any

import click

from polyhunter.chain.deployment import Deployment
from polyhunter.commands._common import run_async, settings_or_exit
from polyhunter.errors import PolyhunterError
from polyhunter.logformat import configure_logging, short_token_id

if TYPE_CHECKING:  # the supervisor loads aiohttp, asyncpg, redis, websockets: when it runs, not for `--help`
    from polyhunter.settings import Settings
    from polyhunter.supervisor.app import Supervisor

log = logging.getLogger("polyhunter.supervisor")


def log_event(kind: str, data: dict[str, Any]) -> None:
    """A log line per leader fill detected. Each copy's outcome is logged once, by the pipeline."""
    if kind == "signal":
        s = data["signal"]
        log.info(
            "detected leader %s %s %d of token %s (tx 0x%s log %d, block %s)",
            s.leader,
            s.side,
            s.size,
            short_token_id(s.token_id),
            s.tx_hash.hex(),
            s.log_index,
            s.block_number,
        )


def _deployment(settings: Settings) -> Deployment:
    """The production profile on CHAIN_ID 137/80002 (every address checked for code), else deployment.json."""
    from polyhunter.chain.profile import is_production_chain
    from polyhunter.supervisor.app import load_deployment

    if is_production_chain(settings.chain_id):
        return run_async(lambda _stack: load_deployment(settings))
    try:
        return Deployment.load()
    except (OSError, PolyhunterError, ValueError, KeyError, TypeError) as exc:
        raise click.ClickException(
            f"no usable deployment.json under POLYHUNTER_HOME ({exc}); run `polyhunter chain up` or "
            "`polyhunter deploy` first"
        ) from None


async def _run(supervisor: Supervisor) -> bool:
    """Runs until SIGINT/SIGTERM (True) or until a part of the supervisor dies (False)."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await supervisor.start()  # closes what it opened if it fails
    try:
        signalled = asyncio.create_task(stop.wait())
        broken = asyncio.create_task(supervisor.failed.wait())
        await asyncio.wait({signalled, broken}, return_when=asyncio.FIRST_COMPLETED)
        signalled.cancel()
        broken.cancel()
        if supervisor.failed.is_set():
            logging.getLogger("polyhunter").critical("a supervisor task died: stopping (exit 1)")
            return False
        logging.getLogger("polyhunter").info("signal received: stopping intake, draining executions")
        return True
    finally:
        await supervisor.stop()


def _require_ready(settings: Settings) -> None:
    """`polyhunter ready`'s checks: a fatal failure stops start-up with the same lines (the first fatal one
    as the error), warnings are logged and start-up goes on."""
    from polyhunter.supervisor.readiness import check_readiness

    report = run_async(lambda _stack: check_readiness(settings))
    if not report.ready:
        for line in report.lines():
            click.echo(line, err=True)
        raise click.ClickException(report.fatal[0].detail)
    for check in report.warnings:
        log.warning("%s", check.line())
    log.info("ready: %d checks, %d warnings", len(report.checks), len(report.warnings))


LOG_LEVELS = ("CRITICAL", "ERROR", "WARNING", "INFO", "DEBUG")


@click.command("supervisor")
@click.option(
    "--selftest", is_flag=True, help="Boot everything, push one synthetic signal in DRY_RUN, exit 0/1."
)
@click.option(
    "--log-level", type=click.Choice(LOG_LEVELS, case_sensitive=False), default="INFO", show_default=True
)
@click.option("--skip-ready", is_flag=True, help="Start without running `polyhunter ready`'s checks first.")
def supervisor(selftest: bool, log_level: str, skip_ready: bool) -> None:
    """Run the copy-trading supervisor on the configured chain, store and shared state."""
    from polyhunter.supervisor.app import Supervisor
    from polyhunter.supervisor.selftest import run_selftest

    configure_logging(log_level)
    settings = settings_or_exit()
    configure_logging(log_level, fmt=settings.polyhunter_log_format)  # `.env` may set the format too
    if selftest:
        ok = run_async(lambda _stack: run_selftest(settings))
        sys.exit(0 if ok else 1)
    if not skip_ready:
        _require_ready(settings)
    deployment = _deployment(settings)
    clean = run_async(lambda _stack: _run(Supervisor(settings, deployment, on_event=log_event)))
    if not clean:
        sys.exit(1)


COMMANDS = [supervisor]
