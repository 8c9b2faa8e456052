"""The `polyhunter` command line: one click group; each module of `polyhunter.commands` adds its commands."""

from __future__ import annotations

import importlib
import pkgutil

import click

import polyhunter.commands
from polyhunter import __version__


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "-V", "--version", prog_name="polyhunter")
def main() -> None:
    """polyhunter: mirror Polymarket leaders' fills for many followers, safely and fast."""


def _register() -> None:
    for info in sorted(pkgutil.iter_modules(polyhunter.commands.__path__), key=lambda m: m.name):
        module = importlib.import_module(f"polyhunter.commands.{info.name}")
        for command in getattr(module, "COMMANDS", ()):
            main.add_command(command)


_register()

if __name__ == "__main__":
    main()
