"""`polyhunter load-model` prints the earlier supervisor's figures (literal values from its design card)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from polyhunter.cli import main
from polyhunter.errors import InvalidInputError
from polyhunter.loadmodel import LoadParams


def _run(*args: str) -> str:
    result = CliRunner().invoke(main, ["load-model", *args])
    assert result.exit_code == 0, result.output
    return result.output


def test_defaults_print_the_design_figures() -> None:
    out = _run()
    assert "copies/day             50,000,000" in out
    assert "copies/s               578.70" in out
    assert "followers per leader   100" in out
    assert "leader trades/s        5.787" in out
    assert "per-instance /s        20.00" in out
    assert "instances              28.94" in out
    assert "with 2x headroom       58" in out


def test_250_ms_latency() -> None:
    out = _run("--exec-latency-ms", "250")
    assert "per-instance /s        80.00" in out
    assert "(1x 8 / 2x 16 / 3x 24)" in out


def test_json_output() -> None:
    data = json.loads(_run("--json"))["model"]
    assert data["copies_per_day"] == 50_000_000
    assert data["copies_per_s"] == 578.70
    assert data["instances"] == 28.94
    assert data["instances_with_headroom"] == 58


def test_from_loadsim_models_measured_throughput(tmp_path: Path) -> None:
    sim = tmp_path / "sim.json"
    sim.write_text("progress...\n" + json.dumps({"tasks_per_s": 5787.04}) + "\n")
    data = json.loads(_run("--from-loadsim", str(sim), "--json"))
    assert data["measured"]["per_instance_per_s"] == 5787.04
    assert data["measured"]["instances"] == 0.10
    assert data["measured"]["instances_ceil"] == 1


def test_bad_parameters_are_clear_errors() -> None:
    with pytest.raises(InvalidInputError, match="leaders must be positive"):
        LoadParams(leaders=0)
    result = CliRunner().invoke(main, ["load-model", "--workers", "0"])
    assert result.exit_code == 1
    assert "workers must be positive" in result.output
