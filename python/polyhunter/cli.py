"""The `polyhunter` command line: one click group; each module of `polyhunter.commands` adds its commands.

Two rules hold for every command, here rather than in each one: a `PolyhunterError` that escapes a command
is one line and exit 1 (never a traceback), and the process ends when the command does, even if a library
left a worker thread behind on an error path (an unclosed aiosqlite connection would otherwise keep the
interpreter waiting forever, which a service manager sees as a live process doing nothing).
"""

from __future__ import annotations

import contextlib
import importlib
import logging
import os
import pkgutil
import sys
import threading
import time
from typing import Any, NoReturn

import click

import polyhunter.commands
from polyhunter import __version__
from polyhunter.errors import PolyhunterError

STRAGGLER_GRACE_S = 3.0
"""How long the exiting process waits for threads still running once the command has returned."""

log = logging.getLogger("polyhunter.cli")


class PolyhunterGroup(click.Group):
    """The root group: typed errors become one line, and the process exits when the command ends."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except PolyhunterError as exc:
            raise click.ClickException(str(exc)) from None

    def main(self, *args: Any, **kwargs: Any) -> Any:
        try:
            return super().main(*args, **kwargs)
        except SystemExit as done:
            # Only as the process's entry point (arguments from sys.argv): a test runner invoking the group
            # in-process passes its arguments and keeps its own threads.
            as_process = not args and kwargs.get("args") is None and kwargs.get("standalone_mode", True)
            if as_process:
                exit_despite_stragglers(done.code)
            raise


def exit_despite_stragglers(code: object, grace_s: float = STRAGGLER_GRACE_S) -> None:
    """Returns if no non-daemon thread outlives the grace period; otherwise ends the process with `code`.

    Threads still doing useful work get `grace_s` to finish; a thread that outlives it was left behind (a
    connection nobody will close), and waiting for it would turn an error exit into a hang.
    """
    deadline = time.monotonic() + grace_s
    for thread in _stragglers():
        thread.join(max(0.0, deadline - time.monotonic()))
    left = _stragglers()
    if not left:
        return
    log.debug("exiting with %d thread(s) left running: %s", len(left), ", ".join(t.name for t in left))
    _hard_exit(code)


def _stragglers() -> list[threading.Thread]:
    current = threading.current_thread()
    return [t for t in threading.enumerate() if t is not current and not t.daemon and t.is_alive()]


def _hard_exit(code: object) -> NoReturn:
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):
            stream.flush()
    logging.shutdown()
    if code is None:
        status = 0
    elif isinstance(code, int):
        status = code
    else:
        print(code, file=sys.stderr)  # what the interpreter prints for sys.exit("message")
        status = 1
    os._exit(status)


@click.group(cls=PolyhunterGroup, context_settings={"help_option_names": ["-h", "--help"]})
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
