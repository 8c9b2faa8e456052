"""Fixtures shared by the integration tests of the local Polymarket V2 contracts."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from v2_helpers import V2World, build_world
from web3 import Web3

from polyhunter.chain.anvil import Anvil


@pytest.fixture(scope="module")
def v2_world_once(anvil: Anvil) -> Iterator[V2World]:
    """The V2 world on the session's anvil, built once per module; the node is put back as it was after."""
    w3 = Web3(Web3.HTTPProvider(anvil.rpc_url))
    before = w3.provider.make_request("evm_snapshot", [])["result"]  # type: ignore[arg-type]
    yield build_world(anvil.rpc_url)
    w3.provider.make_request("evm_revert", [before])  # type: ignore[arg-type]


@pytest.fixture
def v2_world(v2_world_once: V2World) -> Iterator[V2World]:
    """The V2 world for one test; every change the test makes is reverted afterwards."""
    snapshot = v2_world_once.w3.provider.make_request("evm_snapshot", [])["result"]  # type: ignore[arg-type]
    yield v2_world_once
    v2_world_once.w3.provider.make_request("evm_revert", [snapshot])  # type: ignore[arg-type]
