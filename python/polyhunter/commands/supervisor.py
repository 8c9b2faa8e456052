"""`polyhunter supervisor`: watch the chain and copy leaders' fills; `--selftest` checks every stage once."""

from __future__ import annotations

import asyncio
import logging
import signal
import sys

import click

from polyhunter.chain.deployment import Deployment
from polyhunter.commands._common import settings_or_exit
from polyhunter.errors import PolyhunterError
from polyhunter.supervisor.app import Supervisor
from polyhunter.supervisor.selftest import run_selftest


def _deployment(settings_home: object) -> Deployment:
    try:
        return Deployment.load()
    except (OSError, PolyhunterError, ValueError, KeyError) as exc:
        raise click.ClickException(
            f"no usable deployment.json under POLYHUNTER_HOME ({exc}); run `polyhunter chain up` or "
            "`polyhunter deploy` first"
        ) from None


async def _run(supervisor: Supervisor) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await supervisor.start()
    try:
        await stop.wait()
        logging.getLogger("polyhunter").info("signal received: stopping intake, draining executions")
    finally:
        await supervisor.stop()


@click.command("supervisor")
@click.option(
    "--selftest", is_flag=True, help="Boot everything, push one synthetic signal in DRY_RUN, exit 0/1."
)
@click.option("--log-level", default="INFO", show_default=True)
def supervisor(selftest: bool, log_level: str) -> None:
    """Run the copy-trading supervisor on the configured chain, store and shared state."""
    logging.basicConfig(
        level=log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr
    )
    settings = settings_or_exit()
    if selftest:
        ok = asyncio.run(run_selftest(settings))
        sys.exit(0 if ok else 1)
    deployment = _deployment(settings.home)
    try:
        asyncio.run(_run(Supervisor(settings, deployment)))
    except PolyhunterError as exc:
        raise click.ClickException(str(exc)) from None


COMMANDS = [supervisor]
