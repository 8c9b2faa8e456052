"""`polyhunter demo`: copy real trades on a local chain and verify every balance (see polyhunter.demo)."""

from __future__ import annotations

import sys

import click


@click.command("demo")
@click.option(
    "--home", type=click.Path(file_okay=False), help="Keep the demo's files here (default: a temp dir)."
)
@click.option(
    "--log-level",
    type=click.Choice(("CRITICAL", "ERROR", "WARNING", "INFO", "DEBUG"), case_sensitive=False),
    default="WARNING",
    show_default=True,
    help="Log records at this level and above to stderr, as POLYHUNTER_LOG_FORMAT says.",
)
def demo(home: str | None, log_level: str) -> None:
    """Run the end-to-end copy-trading demo on a local anvil chain; exit 0 only if every balance matches."""
    from polyhunter.demo import main

    sys.exit(0 if main(home, log_level) else 1)


COMMANDS = [demo]
