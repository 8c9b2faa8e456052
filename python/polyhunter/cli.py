"""The `polyhunter` command line: one click group whose commands are imported only when they run.

Commands are registered by name in `LAZY_COMMANDS` (the module that defines each, and the one-line summary
`polyhunter --help` lists), so `--help` never imports web3, eth-account, the stores or the venue: the
module of a command is imported on first use, and only that one. A test checks that the summaries match the
commands and that every module of `polyhunter.commands` is registered.

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
import sys
import threading
import time
from typing import Any, NoReturn

import click

from polyhunter import __version__
from polyhunter.errors import PolyhunterError

STRAGGLER_GRACE_S = 3.0
"""How long the exiting process waits for threads still running once the command has returned."""

log = logging.getLogger("polyhunter.cli")

SUMMARY_WIDTH = 100
"""A registered summary is its command's `get_short_help_str(SUMMARY_WIDTH)` (a unit test checks it)."""

#: name -> (module defining it in its `COMMANDS`, the summary `polyhunter --help` shows). Keep sorted.
LAZY_COMMANDS: dict[str, tuple[str, str]] = {
    "chain": (
        "polyhunter.commands.chain",
        "The local chain: anvil on loopback with polyhunter's contracts, the real CTF and a local exchange.",
    ),
    "config": ("polyhunter.commands.config", "Settings from the environment and .env."),
    "debts": ("polyhunter.commands.debts", "List debt records."),
    "demo": (
        "polyhunter.commands.demo",
        "Run the end-to-end copy-trading demo on a local anvil chain; exit 0 only if every balance matches.",
    ),
    "deploy": (
        "polyhunter.commands.deploy",
        "Deploy Executor, ProxyFactory and Treasury, allowlist the tokens, authorise the fleet and write...",
    ),
    "dlq": (
        "polyhunter.commands.dlq",
        "Jobs dead-lettered after too many deliveries: list, retry or drop them.",
    ),
    "executor": (
        "polyhunter.commands.executor",
        "The Executor's owner: workers, hourly caps, pause, fee, queued changes (the owner's key signs).",
    ),
    "fleet": (
        "polyhunter.commands.fleet",
        "The operator fleet's wallets: readiness for the CLOB and its set-up.",
    ),
    "follow": ("polyhunter.commands.follow", "Who copies whom: followers' copy configs."),
    "load-model": (
        "polyhunter.commands.loadmodel",
        "Capacity model: copies/s a user base makes and the instances it needs.",
    ),
    "loadsim": (
        "polyhunter.commands.loadsim",
        "Push synthetic leader signals through decoder, dispatcher, guardrails, queue, workers and store.",
    ),
    "proxy": (
        "polyhunter.commands.proxy",
        "A follower's Proxy: create, deposit, withdraw, limits, pause, show (signed by the owner's key).",
    ),
    "ready": (
        "polyhunter.commands.ready",
        "Check that the supervisor can go live: settings, RPCs, contracts, Executor, fleet, gas, store,...",
    ),
    "report": (
        "polyhunter.commands.report",
        "Copy quality and profit per follower and per leader over a period: text, --json, --csv, --plot.",
    ),
    "status": (
        "polyhunter.commands.status",
        "Live view of supervisors: fleet gas and collateral, queue, copies, caps, the last copies.",
    ),
    "supervisor": (
        "polyhunter.commands.supervisor",
        "Run the copy-trading supervisor on the configured chain, store and shared state.",
    ),
    "trades": (
        "polyhunter.commands.trades",
        "List copy trades (PENDING, EXECUTED, FAILED, SKIPPED, CANCELLED).",
    ),
}


class PolyhunterGroup(click.Group):
    """The root group: commands load on first use, typed errors become one line, and the process exits when
    the command ends."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(set(self.commands) | set(LAZY_COMMANDS))

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        command = self.commands.get(cmd_name)
        if command is None and cmd_name in LAZY_COMMANDS:
            command = load_command(cmd_name)
            self.add_command(command)
        return command

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        # The summaries of commands not loaded yet come from the registry: listing them imports nothing.
        names = self.list_commands(ctx)
        if not names:
            return
        limit = formatter.width - 6 - max(len(name) for name in names)
        rows = []
        for name in names:
            loaded = self.commands.get(name)
            if loaded is not None:
                if loaded.hidden:
                    continue
                rows.append((name, loaded.get_short_help_str(limit)))
            else:
                summary = click.Command(name, help=LAZY_COMMANDS[name][1])
                rows.append((name, summary.get_short_help_str(limit)))
        with formatter.section("Commands"):
            formatter.write_dl(rows)

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


def load_command(name: str) -> click.Command:
    """Imports the module that defines command `name` (a key of `LAZY_COMMANDS`) and returns the command."""
    module_name, _summary = LAZY_COMMANDS[name]
    module = importlib.import_module(module_name)
    for command in getattr(module, "COMMANDS", ()):
        if command.name == name:
            return command  # type: ignore[no-any-return]
    raise LookupError(f"{module_name} defines no command {name!r} in its COMMANDS")


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


if __name__ == "__main__":
    main()
