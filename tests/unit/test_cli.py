"""The CLI's entry points and the package's version."""

from __future__ import annotations

import tomllib
from pathlib import Path

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
