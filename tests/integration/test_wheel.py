"""The wheel stands alone: installed with its dependencies into a new virtualenv outside the checkout, with
only an anvil on PATH, it runs `chain up --detach`, `demo`, `supervisor --selftest` and `chain down` from any
directory; without anvil, one line says where to get it."""

from __future__ import annotations

import os
import subprocess
import sys
import venv
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

import polyhunter
from polyhunter.chain.anvil import ANVIL_NPM_PACKAGE
from polyhunter.chain.artifacts import CONTRACT_NAMES

ROOT = Path(__file__).resolve().parents[2]
ANVIL_DIR = ROOT / "contracts" / "node_modules" / ANVIL_NPM_PACKAGE / "bin"
# Building the wheel (a cold release build of the extension) and installing its dependencies take minutes on
# a busy machine; the commands themselves deploy a whole local world.
pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.timeout(1800)]

# What the wheel is built from: a wheel in dist/ older than any of these is stale and built again.
_SOURCES = ("python/polyhunter", "rust/src", "rust/Cargo.toml", "Cargo.lock", "pyproject.toml")


def _newest_source_mtime() -> float:
    newest = 0.0
    for name in _SOURCES:
        path = ROOT / name
        files = [path] if path.is_file() else [p for p in path.rglob("*") if p.is_file()]
        newest = max([newest, *(p.stat().st_mtime for p in files if "__pycache__" not in p.parts)])
    return newest


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`make wheel`'s wheel when it is newer than the sources (as in CI), else one built the same way."""
    pattern = f"polyhunter-{polyhunter.__version__}-*.whl"
    built = sorted((ROOT / "dist").glob(pattern))
    if built and built[-1].stat().st_mtime >= _newest_source_mtime():
        return built[-1]
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [sys.executable, "-m", "maturin", "build", "--release", "--out", str(out), "-q"], cwd=ROOT, check=True
    )
    wheels = sorted(out.glob(pattern))
    assert wheels, "maturin build produced no wheel"
    return wheels[-1]


@pytest.fixture(scope="module")
def venv_bin(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The bin/ of a new virtualenv outside the checkout holding the wheel and its declared dependencies."""
    env_dir = tmp_path_factory.mktemp("venv")
    assert ROOT not in env_dir.parents
    venv.create(env_dir, with_pip=True)
    bin_dir = env_dir / "bin"
    subprocess.run(
        [bin_dir / "pip", "install", "-q", "--disable-pip-version-check", str(wheel)],
        check=True,
        cwd=env_dir,
        env=_env(bin_dir, anvil=False),
    )
    return bin_dir


def _env(bin_dir: Path, *, anvil: bool) -> dict[str, str]:
    """A user's environment: none of the checkout's or the test run's settings, PATH with or without anvil."""
    path = [str(bin_dir), "/usr/local/bin", "/usr/bin", "/bin"]
    if anvil:
        path.insert(0, str(ANVIL_DIR))
    env = {"PATH": os.pathsep.join(path), "HOME": os.environ.get("HOME", "/root"), "LC_ALL": "C.UTF-8"}
    # Another run may hold the default metrics port.
    env["SUPERVISOR_METRICS_ADDR"] = "127.0.0.1:0"
    return env


def _run(bin_dir: Path, cwd: Path, *args: str, anvil: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(bin_dir / "polyhunter"), *args],
        cwd=cwd,
        env=_env(bin_dir, anvil=anvil),
        capture_output=True,
        text=True,
        check=False,
    )


@pytest.fixture
def elsewhere(tmp_path: Path) -> Path:
    """A working directory that is not in the checkout, with no `contracts/` above it."""
    cwd = tmp_path / "work"
    cwd.mkdir()
    assert ROOT not in cwd.parents
    assert not any((parent / "contracts").exists() for parent in cwd.parents)
    return cwd


def test_the_wheel_carries_artifacts_local_clob_and_licence_notices(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    for contract in CONTRACT_NAMES:
        assert f"polyhunter/_artifacts/{contract}.json" in names, contract
    assert "polyhunter/localpoly/__main__.py" in names
    licences = {n.split(".dist-info/licenses/", 1)[1] for n in names if ".dist-info/licenses/" in n}
    assert {"LICENSE", "NOTICE", "LICENSES/LGPL-3.0.txt", "LICENSES/GPL-3.0.txt"} <= licences
    notice = zipfile.ZipFile(wheel).read(next(n for n in names if n.endswith("licenses/NOTICE"))).decode()
    assert "ConditionalTokens" in notice
    assert "Lesser General Public License" in notice


def test_installed_wheel_runs_outside_the_source_tree(venv_bin: Path, elsewhere: Path) -> None:
    version = _run(venv_bin, elsewhere, "--version")
    assert version.returncode == 0, version.stderr
    assert version.stdout.strip() == f"polyhunter, version {polyhunter.__version__}"
    help_ = _run(venv_bin, elsewhere, "--help")
    assert help_.returncode == 0, help_.stderr
    assert "Commands:" in help_.stdout
    # The package, its extension and its artifacts came from the new virtualenv, not from the source tree.
    where = subprocess.run(
        [
            str(venv_bin / "python"),
            "-c",
            "import polyhunter._core as c; from polyhunter.chain.artifacts import artifacts_dir; "
            "print(c.__file__); print(artifacts_dir())",
        ],
        cwd=elsewhere,
        env=_env(venv_bin, anvil=False),
        capture_output=True,
        text=True,
        check=True,
    )
    env_dir = str(venv_bin.parent)
    for line in where.stdout.splitlines():
        assert line.startswith(env_dir), line


@pytest.fixture
def local_chain(venv_bin: Path, elsewhere: Path) -> Iterator[Path]:
    """`polyhunter chain up --detach` from the installed wheel, `chain down` however the test ends."""
    up = _run(venv_bin, elsewhere, "chain", "up", "--detach", "--port", "0")
    try:
        assert up.returncode == 0, up.stdout[-2000:] + up.stderr[-4000:]
        yield elsewhere
    finally:
        down = _run(venv_bin, elsewhere, "chain", "down")
        assert down.returncode == 0, down.stderr


def test_chain_up_selftest_and_demo_from_the_installed_wheel(venv_bin: Path, local_chain: Path) -> None:
    assert (local_chain / ".polyhunter" / "deployment.json").is_file()
    status = _run(venv_bin, local_chain, "chain", "status")
    assert status.returncode == 0, status.stderr
    selftest = _run(venv_bin, local_chain, "supervisor", "--selftest")
    assert selftest.returncode == 0, selftest.stdout[-3000:] + selftest.stderr[-3000:]
    demo = _run(venv_bin, local_chain, "demo")
    assert demo.returncode == 0, demo.stdout[-3000:] + demo.stderr[-3000:]


@pytest.mark.parametrize("command", [("chain", "up", "--port", "0"), ("demo",)], ids=["chain-up", "demo"])
def test_without_anvil_one_line_says_where_to_get_it(
    venv_bin: Path, elsewhere: Path, command: tuple[str, ...]
) -> None:
    up = _run(venv_bin, elsewhere, *command, anvil=False)
    assert up.returncode == 1
    lines = up.stderr.strip().splitlines()
    assert len(lines) == 1, up.stderr
    assert ANVIL_NPM_PACKAGE in lines[0]
    assert "POLYHUNTER_ANVIL" in lines[0]
    assert not (elsewhere / ".polyhunter" / "deployment.json").exists()
