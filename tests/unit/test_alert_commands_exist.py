"""Every `polyhunter …` command the Prometheus alerts tell an operator to run exists in the CLI, with the
arguments the alert gives it (a renamed command must not leave a page pointing nowhere)."""

from __future__ import annotations

import re
from pathlib import Path

import click
import pytest

from polyhunter.cli import main

ALERTS = Path(__file__).resolve().parents[2] / "deploy" / "prometheus" / "alerts.yml"
COMMAND = re.compile(r"`polyhunter ([^`]+)`")


def named_commands() -> list[tuple[list[str], int, list[str]]]:
    """(command path, count of upper-case placeholders, flags) of every `polyhunter …` an alert names: the
    path is the words before the first placeholder or flag (`executor authorise WORKER --revoke`)."""
    found = []
    for match in COMMAND.finditer(ALERTS.read_text()):
        words = match.group(1).split()
        path: list[str] = []
        for word in words:
            if word.startswith("-") or word.isupper():
                break
            path.append(word)
        # An upper-case word right after a flag is that option's value (`--cap USD`), not an argument.
        arguments = [
            w
            for before, w in zip(["", *words], words, strict=False)
            if w.isupper() and not before.startswith("-")
        ]
        found.append((path, len(arguments), [w for w in words if w.startswith("--")]))
    return found


def test_the_queued_change_alert_names_the_commands_that_list_and_cancel() -> None:
    paths = [" ".join(words) for words, _, _ in named_commands()]
    assert "executor queued" in paths
    assert "executor cancel" in paths


@pytest.mark.parametrize(("words", "placeholders", "flags"), named_commands())
def test_each_command_an_alert_names_exists(words: list[str], placeholders: int, flags: list[str]) -> None:
    command: click.Command | None = main
    with click.Context(main) as ctx:
        for word in words:
            assert isinstance(command, click.Group), f"`polyhunter {' '.join(words)}`: {word} under no group"
            command = command.get_command(ctx, word)
            assert command is not None, f"`polyhunter {' '.join(words)}` is no command"
    assert command is not None
    arguments = [p for p in command.params if isinstance(p, click.Argument)]
    assert len(arguments) >= placeholders, f"`polyhunter {' '.join(words)}` takes {len(arguments)} arguments"
    options = {o for p in command.params if isinstance(p, click.Option) for o in p.opts}
    assert set(flags) <= options, f"`polyhunter {' '.join(words)}` has no {sorted(set(flags) - options)}"
