"""Where polyhunter finds anvil and the compiled contracts: the user's choice first, then what the installed
package carries, then a checkout; when nothing is found, one line saying where to get it."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from polyhunter.chain import anvil as anvil_module
from polyhunter.chain import artifacts as artifacts_module
from polyhunter.chain.anvil import ANVIL_NPM_PACKAGE, find_anvil
from polyhunter.chain.artifacts import PACKAGE_ARTIFACTS, artifacts_dir
from polyhunter.errors import ToolchainError


def _executable(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("#!/bin/sh\nexit 0\n")
    path.chmod(0o755)
    return path


def test_anvil_on_path_comes_before_the_checkouts(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    on_path = _executable(tmp_path / "bin" / "anvil")
    monkeypatch.delenv("POLYHUNTER_ANVIL", raising=False)
    monkeypatch.setenv("PATH", f"{on_path.parent}{os.pathsep}{os.environ.get('PATH', '')}")
    assert find_anvil() == on_path


def test_the_override_comes_before_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    on_path = _executable(tmp_path / "bin" / "anvil")
    chosen = _executable(tmp_path / "chosen" / "anvil")
    monkeypatch.setenv("PATH", str(on_path.parent))
    monkeypatch.setenv("POLYHUNTER_ANVIL", str(chosen))
    assert find_anvil() == chosen


def test_the_checkouts_npm_binary_is_the_last_resort(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    npm = _executable(tmp_path / "contracts" / "node_modules" / ANVIL_NPM_PACKAGE / "bin" / "anvil")
    monkeypatch.delenv("POLYHUNTER_ANVIL", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    monkeypatch.setattr(anvil_module, "_source_roots", lambda: [tmp_path])
    assert find_anvil() == npm


def test_no_anvil_anywhere_says_where_to_get_one(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("POLYHUNTER_ANVIL", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    monkeypatch.setattr(anvil_module, "_source_roots", lambda: [tmp_path])
    with pytest.raises(ToolchainError) as caught:
        find_anvil()
    message = str(caught.value)
    assert "\n" not in message
    assert "@foundry-rs/anvil-linux-amd64" in message
    assert "POLYHUNTER_ANVIL" in message


def _artifacts(directory: Path) -> Path:
    directory.mkdir(parents=True)
    (directory / "Executor.json").write_text(json.dumps({"abi": []}))
    return directory


def test_the_package_carries_the_artifacts(monkeypatch: pytest.MonkeyPatch) -> None:
    # `make contracts` (run by `make setup`) writes them into the package, where the wheel picks them up.
    monkeypatch.delenv("POLYHUNTER_ARTIFACTS", raising=False)
    assert artifacts_dir() == PACKAGE_ARTIFACTS
    for name in artifacts_module.CONTRACT_NAMES:
        assert (PACKAGE_ARTIFACTS / f"{name}.json").is_file(), name


def test_the_override_comes_before_the_package(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    chosen = _artifacts(tmp_path / "mine")
    monkeypatch.setenv("POLYHUNTER_ARTIFACTS", str(chosen))
    assert artifacts_dir() == chosen


def test_a_checkout_is_the_fallback(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    checkout = _artifacts(tmp_path / "contracts" / "artifacts")
    monkeypatch.delenv("POLYHUNTER_ARTIFACTS", raising=False)
    monkeypatch.setattr(artifacts_module, "PACKAGE_ARTIFACTS", tmp_path / "not-built")
    monkeypatch.setattr(artifacts_module, "_source_roots", lambda: [tmp_path])
    assert artifacts_dir() == checkout


def test_no_artifacts_anywhere_is_one_clear_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("POLYHUNTER_ARTIFACTS", raising=False)
    monkeypatch.setattr(artifacts_module, "PACKAGE_ARTIFACTS", tmp_path / "not-built")
    monkeypatch.setattr(artifacts_module, "_source_roots", lambda: [tmp_path])
    with pytest.raises(ToolchainError, match="make contracts") as caught:
        artifacts_dir()
    assert "\n" not in str(caught.value)
