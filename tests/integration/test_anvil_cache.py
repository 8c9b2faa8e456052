"""Each anvil we start keeps its historical-state cache in a directory of its own, removed when it stops:
anvil's default (`~/.foundry/anvil/tmp`) kept gigabytes per long run after nodes that did not exit cleanly."""

from __future__ import annotations

from pathlib import Path

import pytest

from polyhunter.chain.anvil import Anvil
from polyhunter.chain.rpc import rpc_call

pytestmark = pytest.mark.integration


def test_the_cache_directory_is_the_nodes_own_and_goes_with_it() -> None:
    node = Anvil().start()
    try:
        command = node.command()
        cache = Path(command[command.index("--cache-path") + 1])
        assert cache.is_dir()
        assert cache.name.startswith("polyhunter-anvil-")
        rpc_call(node.rpc_url, "anvil_mine", [300])
        # Old states stay readable (in memory or in the cache).
        assert rpc_call(node.rpc_url, "eth_getBalance", [f"0x{1:040x}", "0x1"]) == "0x0"
    finally:
        node.stop()
    assert not cache.exists()


def test_a_given_cache_path_is_used_and_left_to_its_owner(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    cache.mkdir()
    (cache / "owner.txt").write_text("kept")
    with Anvil(cache_path=cache) as node:
        command = node.command()
        assert command[command.index("--cache-path") + 1] == str(cache)
    # Not the node's to remove: `chain down` removes its detached node's cache itself.
    assert (cache / "owner.txt").read_text() == "kept"
