"""`polyhunter report` as a user runs it (a subprocess on a SQLite home): --json, --csv and --plot carry the
scripted scenario's hand-computed figures (test_report_scenario), here without redemptions recorded:

    F realised 0.918 from its sale; T2 still held: 3 shares at the given midpoint 0.90 = 2.70 less 0.8997
    = 1.8003; T1 9 × 0.55 − 3.987 = 0.963; unrealised 2.7633. G unrealised 0.30.
"""

from __future__ import annotations

import asyncio
import csv
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from test_report_scenario import T1, T2, F, G, L, scenario

from polyhunter.models import now_ms
from polyhunter.store import SQLITE_FILE, SqliteStore


def _cli(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL", "SUPERVISOR_REDIS_URL")
    }
    env["POLYHUNTER_HOME"] = str(home)
    return subprocess.run(
        [sys.executable, "-m", "polyhunter.cli", "report", *args],
        env=env,
        cwd=home,
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, int]:
    path = tmp_path_factory.mktemp("report-home")
    t0 = now_ms() + 10_000

    async def write() -> None:
        async with SqliteStore(path / SQLITE_FILE) as store:
            await scenario(store, t0)

    asyncio.run(write())
    return path, t0


def _args(t0: int) -> list[str]:
    return [
        "--until",
        str(t0 + 100_000),
        "--no-chain",
        "--no-quotes",
        "--mid",
        f"{T1}=0.55",
        "--mid",
        f"{T2}=0.9",
    ]


def test_json(home: tuple[Path, int]) -> None:
    path, t0 = home
    done = _cli(path, *_args(t0), "--json")
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    g, f = data["followers"]
    assert (f["address"], f["realised_fills"], f["realised_redemptions"]) == (F, 918_000, 0)
    assert (f["unrealised"], f["volume"], f["fees"]) == (2_763_300, 11_096_700, 36_000)
    assert (f["slippage_p50_bps"], f["slippage_p95_bps"], f["delay_p50_ms"], f["delay_p95_ms"]) == (
        50,
        250,
        800,
        2_000,
    )
    assert f["copies"] == {"EXECUTED": 4, "FAILED": 1, "SKIPPED": 1}
    assert (g["address"], g["unrealised"]) == (G, 300_000)
    assert [x["address"] for x in data["leaders"]] == [L]
    assert data["leaders"][0]["unrealised"] == 3_063_300


def test_csv(home: tuple[Path, int]) -> None:
    path, t0 = home
    done = _cli(path, *_args(t0), "--csv", "--follower", F)
    assert done.returncode == 0, done.stderr
    rows = list(csv.DictReader(io.StringIO(done.stdout)))
    assert [(r["scope"], r["address"]) for r in rows] == [("follower", F), ("leader", L)]
    assert rows[0]["copies_executed"] == "4"
    assert (rows[0]["realised"], rows[0]["unrealised"], rows[0]["gas_wei"]) == (
        "918000",
        "2763300",
        "4500000000000000",
    )


def test_plot_writes_a_png(home: tuple[Path, int]) -> None:
    path, t0 = home
    picture = path / "report.png"
    done = _cli(path, *_args(t0), "--plot", str(picture))
    assert done.returncode == 0, done.stderr
    assert f"plot written to {picture}" in done.stdout
    assert f"follower {F}: copies EXECUTED 4, FAILED 1, SKIPPED 1; volume 11.0967 USD" in done.stdout
    assert picture.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert picture.stat().st_size > 10_000


def test_bad_input_is_one_line(home: tuple[Path, int]) -> None:
    path, _ = home
    done = _cli(path, "--since", "last tuesday", "--no-chain", "--no-quotes")
    assert done.returncode == 2
    assert "--since must be `now`, a duration ago" in done.stderr
    assert "Traceback" not in done.stderr
    done = _cli(path, "--mid", "12=abc", "--no-chain", "--no-quotes")
    assert done.returncode == 2
    assert "--mid takes TOKEN_ID=PRICE" in done.stderr


def test_when_and_mid_parsing() -> None:
    from fractions import Fraction

    from polyhunter.commands.report import parse_mid, parse_when
    from polyhunter.errors import InvalidInputError

    now = 1_800_000_000_000
    assert parse_when("now", now, "--until") == now
    assert parse_when("90m", now, "--since") == now - 90 * 60_000
    assert parse_when("7d", now, "--since") == now - 7 * 86_400_000
    assert parse_when("2w", now, "--since") == now - 14 * 86_400_000
    assert parse_when("1700000000000", now, "--since") == 1_700_000_000_000
    assert parse_when("2026-11-01", now, "--since") == 1_793_491_200_000  # midnight UTC
    assert parse_when("2026-11-01T01:00:00+01:00", now, "--since") == 1_793_491_200_000
    with pytest.raises(InvalidInputError, match="--since must be"):
        parse_when("yesterday-ish", now, "--since")
    assert parse_mid(f"{T1}=0.55") == (T1, Fraction(11, 20))
    with pytest.raises(InvalidInputError, match="TOKEN_ID=PRICE"):
        parse_mid("0.55")
