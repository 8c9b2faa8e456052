"""`polyhunter demo`: copy real trades on a local chain and verify every balance (see polyhunter.demo)."""

from __future__ import annotations

import sys

import click


@click.command("demo")
@click.option(
    "--home", type=click.Path(file_okay=False), help="Keep the demo's files here (default: a temp dir)."
)
def demo(home: str | None) -> None:
    """Run the end-to-end copy-trading demo on a local anvil chain; exit 0 only if every balance matches."""
    from polyhunter.demo import main

    sys.exit(0 if main(home) else 1)


COMMANDS = [demo]
