"""The wheel `make wheel` builds installs into a fresh venv and runs from outside the source tree."""

from __future__ import annotations

import os
import subprocess
import sys
import venv
from pathlib import Path

import pytest

import polyhunter

ROOT = Path(__file__).resolve().parents[2]
pytestmark = [pytest.mark.integration, pytest.mark.slow]


def _wheel() -> Path:
    wheels = sorted((ROOT / "dist").glob(f"polyhunter-{polyhunter.__version__}-*.whl"))
    if not wheels:
        # Not built by `make wheel` yet: build it the same way (cargo reuses the release build).
        subprocess.run(
            [sys.executable, "-m", "maturin", "build", "--release", "--out", str(ROOT / "dist"), "-q"],
            cwd=ROOT,
            check=True,
        )
        wheels = sorted((ROOT / "dist").glob(f"polyhunter-{polyhunter.__version__}-*.whl"))
    assert wheels, "maturin build produced no wheel"
    return wheels[-1]


def test_installed_wheel_runs_outside_the_source_tree(tmp_path: Path) -> None:
    wheel = _wheel()
    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=True)
    bin_dir = env_dir / "bin"
    subprocess.run([bin_dir / "pip", "install", "-q", str(wheel)], check=True, cwd=tmp_path)
    clean_env = {k: v for k, v in os.environ.items() if k not in {"PYTHONPATH", "VIRTUAL_ENV"}}
    version = subprocess.run(
        [bin_dir / "polyhunter", "--version"], cwd=tmp_path, env=clean_env, capture_output=True, text=True
    )
    assert version.returncode == 0, version.stderr
    assert version.stdout.strip() == f"polyhunter, version {polyhunter.__version__}"
    help_ = subprocess.run(
        [bin_dir / "polyhunter", "--help"], cwd=tmp_path, env=clean_env, capture_output=True, text=True
    )
    assert help_.returncode == 0, help_.stderr
    assert "Commands:" in help_.stdout
    # The extension came from the wheel, not from the source tree.
    where = subprocess.run(
        [bin_dir / "python", "-c", "import polyhunter._core as c; print(c.__file__)"],
        cwd=tmp_path,
        env=clean_env,
        capture_output=True,
        text=True,
        check=True,
    )
    assert str(env_dir) in where.stdout
    assert str(ROOT) not in where.stdout.replace(str(env_dir), "")
