"""`polyhunter --help` and each command's `--help` import none of the heavy libraries, and the lazy registry
of commands agrees with the command modules."""

from __future__ import annotations

import importlib
import json
import pkgutil
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

import polyhunter.commands
from polyhunter.cli import LAZY_COMMANDS, SUMMARY_WIDTH, load_command, main

# What made `polyhunter --help` take 1.3 s: none of these may load before a command actually runs. The
# settings model counts too (pydantic-settings alone takes ~100 ms of the 200 ms a help may take).
HEAVY = (
    "web3",
    "eth_account",
    "eth_abi",
    "matplotlib",
    "aiohttp",
    "asyncpg",
    "redis",
    "websockets",
    "pydantic",
    "pydantic_settings",
)


# Runs the command line in a fresh interpreter and writes down every module loaded by then. sys.modules, not
# `-X importtime`: importtime does not report a module loaded through importlib.import_module.
_DRIVER = """
import json, sys
from polyhunter.cli import main
try:
    main(sys.argv[2:], prog_name="polyhunter")
finally:
    with open(sys.argv[1], "w") as out:
        json.dump(sorted(sys.modules), out)
"""


def _imported(args: list[str], cwd: Path) -> set[str]:
    """The modules loaded by the time `polyhunter ARGS` exits (exit 0 required)."""
    record = cwd / "modules.json"
    done = subprocess.run(
        [sys.executable, "-c", _DRIVER, str(record), *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "Usage: polyhunter" in done.stdout
    modules: set[str] = set(json.loads(record.read_text()))
    assert "click" in modules
    return modules


def _heavy(modules: set[str]) -> list[str]:
    return sorted({m.split(".")[0] for m in modules} & set(HEAVY))


def test_root_help_imports_no_command_module_and_no_heavy_library(tmp_path: Path) -> None:
    modules = _imported(["--help"], tmp_path)
    assert _heavy(modules) == []
    assert sorted(m for m in modules if m.startswith("polyhunter.commands.")) == []


@pytest.mark.parametrize("name", sorted(LAZY_COMMANDS))
def test_a_command_help_imports_no_heavy_library(name: str, tmp_path: Path) -> None:
    modules = _imported([name, "--help"], tmp_path)
    assert _heavy(modules) == []
    assert LAZY_COMMANDS[name][0] in modules


def test_every_registered_command_loads_with_its_registered_summary() -> None:
    for name, (module_name, summary) in LAZY_COMMANDS.items():
        command = load_command(name)
        assert command.name == name
        assert command.callback is not None
        assert command.callback.__module__ == module_name
        assert summary == command.get_short_help_str(SUMMARY_WIDTH), name


def test_every_command_module_is_registered() -> None:
    registered = {(module, name) for name, (module, _summary) in LAZY_COMMANDS.items()}
    found = set()
    for info in pkgutil.iter_modules(polyhunter.commands.__path__):
        module = importlib.import_module(f"polyhunter.commands.{info.name}")
        found.update((module.__name__, command.name) for command in getattr(module, "COMMANDS", ()))
    assert found == registered


def test_root_help_lists_every_registered_command() -> None:
    listed = CliRunner().invoke(main, ["--help"], terminal_width=200)
    assert listed.exit_code == 0, listed.output
    section = listed.output.split("Commands:", 1)[1]
    names = [line.split()[0] for line in section.splitlines() if line.strip()]
    assert names == sorted(LAZY_COMMANDS)


def test_an_unknown_command_is_a_usage_error() -> None:
    done = CliRunner().invoke(main, ["no-such-command"])
    assert done.exit_code == 2
    assert "No such command 'no-such-command'" in done.output
