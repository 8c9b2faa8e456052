"""The CLI's entry points and the package's version."""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib
from pathlib import Path

import click
from click.testing import CliRunner

import polyhunter
from polyhunter.cli import main

ROOT = Path(__file__).resolve().parents[2]


def test_version_matches_the_crate() -> None:
    crate = tomllib.loads((ROOT / "rust" / "Cargo.toml").read_text())["package"]["version"]
    assert polyhunter.__version__ == crate
    result = CliRunner().invoke(main, ["--version"])
    assert result.exit_code == 0
    assert result.output.strip() == f"polyhunter, version {crate}"


def test_help_lists_the_commands() -> None:
    result = CliRunner().invoke(main, ["--help"])
    assert result.exit_code == 0
    assert "chain" in result.output


def test_chain_status_without_a_chain_is_a_clear_error(tmp_path: Path, monkeypatch: object) -> None:
    result = CliRunner(env={"POLYHUNTER_HOME": str(tmp_path)}).invoke(main, ["chain", "status"])
    assert result.exit_code == 1
    assert "no local chain" in result.output


def test_a_typed_error_escaping_a_command_is_one_line() -> None:
    """The root group turns any `PolyhunterError` a command lets through into `Error: …` and exit 1."""
    from polyhunter.cli import PolyhunterGroup
    from polyhunter.errors import ConfigError

    @click.group(cls=PolyhunterGroup)
    def root() -> None:
        pass

    @root.command()
    def broken() -> None:
        raise ConfigError("SOME_SETTING: is wrong (got 'x')")

    result = CliRunner().invoke(root, ["broken"])
    assert result.exit_code == 1
    assert result.output == "Error: SOME_SETTING: is wrong (got 'x')\n"


def test_the_process_exits_although_a_thread_was_left_running(tmp_path: Path) -> None:
    """A non-daemon thread nobody stops (what an unclosed aiosqlite connection leaves) used to keep the
    interpreter alive forever after the command's error line; the entry point ends the process instead."""
    script = (
        "import sys, threading\n"
        "from polyhunter.cli import main\n"
        "threading.Thread(target=threading.Event().wait, name='left-behind').start()\n"
        "sys.argv = ['polyhunter', 'chain', 'status']\n"
        "main()\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script],
        env={**os.environ, "POLYHUNTER_HOME": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=60,  # only a hang reaches it
    )
    assert done.returncode == 1
    assert done.stderr == "Error: no local chain (polyhunter chain up --detach)\n"
