"""`polyhunter loadsim` runs on POLYHUNTER_EVENT_LOOP's loop and says which, in its summary and its JSON."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from polyhunter.cli import main


@pytest.mark.parametrize("loop", ["uvloop", "asyncio"])
def test_loadsim_reports_the_loop_it_ran_on(loop: str, tmp_path: Path) -> None:
    runner = CliRunner(env={"POLYHUNTER_EVENT_LOOP": loop, "POLYHUNTER_HOME": str(tmp_path)})
    args = [
        "loadsim",
        "--duration",
        "0.3",
        "--events-per-s",
        "20",
        "--followers",
        "2",
        "--leaders",
        "1",
        "--json",
    ]
    result = runner.invoke(main, args)
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout.strip().splitlines()[-1])
    assert data["event_loop"] == loop
    assert data["executed"] > 0
    assert result.stderr.strip().splitlines()[-1].endswith(f"| loop {loop}")


def test_a_loop_that_is_not_installed_is_one_line(tmp_path: Path) -> None:
    runner = CliRunner(env={"POLYHUNTER_EVENT_LOOP": "trio", "POLYHUNTER_HOME": str(tmp_path)})
    result = runner.invoke(main, ["loadsim", "--duration", "0.3", "--json"])
    assert result.exit_code == 1
    assert "POLYHUNTER_EVENT_LOOP" in result.stderr
