"""Finding anvil and picking ports, without starting a node."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from polyhunter.chain.anvil import Anvil, find_anvil, free_port
from polyhunter.errors import ToolchainError


def test_find_anvil_honours_override(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake = tmp_path / "anvil"
    fake.write_text("#!/bin/sh\n")
    fake.chmod(0o755)
    monkeypatch.setenv("POLYHUNTER_ANVIL", str(fake))
    assert find_anvil() == fake


def test_bad_override_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("POLYHUNTER_ANVIL", str(tmp_path / "missing"))
    with pytest.raises(ToolchainError, match="POLYHUNTER_ANVIL"):
        find_anvil()


def test_npm_binary_is_found_from_the_source_tree(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("POLYHUNTER_ANVIL", raising=False)
    path = find_anvil()
    assert path.is_file()
    assert os.access(path, os.X_OK)


def test_free_port_is_usable() -> None:
    port = free_port()
    assert 1024 <= port <= 65535


def test_command_binds_loopback_only() -> None:
    node = Anvil(port=1234, block_time=2)
    cmd = node.command()
    assert cmd[cmd.index("--host") + 1] == "127.0.0.1"
    assert cmd[cmd.index("--block-time") + 1] == "2"
    assert node.rpc_url == "http://127.0.0.1:1234"
