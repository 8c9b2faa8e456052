"""Start-up with bad settings stops with one line naming the setting and never prints a secret."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from polyhunter.store.migrations import LATEST

pytestmark = pytest.mark.integration

CLEAN = {
    k: v
    for k, v in os.environ.items()
    if k
    not in {"DATABASE_URL", "REDIS_URL", "SUPERVISOR_REDIS_URL", "TRADING_MNEMONIC", "TRADING_PRIVATE_KEY"}
}


def check(tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "polyhunter.cli", "config", "check"],
        env={**CLEAN, "POLYHUNTER_HOME": str(tmp_path / "home"), **env},
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.mark.parametrize(
    ("env", "named", "secret"),
    [
        (
            {"DATABASE_URL": "postgresql://polyhunter:s3cr3tpw@127.0.0.1:1/nowhere"},
            "DATABASE_URL:",
            "s3cr3tpw",
        ),
        ({"REDIS_URL": "redis://:s3cr3tpw@127.0.0.1:1/0"}, "REDIS_URL:", "s3cr3tpw"),
        ({"TRADING_MNEMONIC": "abandon " * 11 + "s3cr3tpw"}, "TRADING_MNEMONIC:", "s3cr3tpw"),
        ({"COPY_TRADING_WALLET_DAILY_CAP_USD": "-1"}, "COPY_TRADING_WALLET_DAILY_CAP_USD:", None),
        ({"PROXY_FACTORY_ADDRESS": "0xnothex"}, "PROXY_FACTORY_ADDRESS:", None),
    ],
)
def test_bad_setting_stops_start_up_with_one_line(
    tmp_path: Path, env: dict[str, str], named: str, secret: str | None
) -> None:
    done = check(tmp_path, **env)
    assert done.returncode == 1
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith(f"Error: {named}")
    assert "Traceback" not in done.stderr
    if secret:
        assert secret not in done.stderr + done.stdout


def test_good_settings_start_on_every_back_end(
    tmp_path: Path, pg_url: str, redis_url: str, redis_prefix: str
) -> None:
    embedded = check(tmp_path)
    assert embedded.returncode == 0, embedded.stderr
    assert "store sqlite" in embedded.stdout
    assert "shared state memory" in embedded.stdout
    served = check(
        tmp_path, DATABASE_URL=pg_url, SUPERVISOR_REDIS_URL=redis_url, SUPERVISOR_REDIS_PREFIX="phcheck"
    )
    assert served.returncode == 0, served.stderr
    assert f"store postgres (schema v{LATEST}), shared state redis" in served.stdout
