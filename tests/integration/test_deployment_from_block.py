"""deployment.json records a block at or before the Executor's creation, and the admin commands read the
Executor's events from it instead of searching the chain's code history."""

from __future__ import annotations

import pytest
from web3 import Web3

from polyhunter.chain.anvil import Anvil
from polyhunter.chain.deployment import Deployment
from polyhunter.commands._executor_admin import ExecutorAdmin

pytestmark = pytest.mark.integration


def test_the_executor_is_created_after_the_recorded_block(local_deployment: tuple[Anvil, Deployment]) -> None:
    anvil, deployment = local_deployment
    start = deployment.executor_from_block
    assert start is not None
    w3 = Web3(Web3.HTTPProvider(anvil.rpc_url))
    executor = Web3.to_checksum_address(deployment.contracts.executor)
    assert w3.eth.get_code(executor, block_identifier=start) == b""  # not there yet at the recorded block
    assert w3.eth.get_code(executor) != b""
    admin = ExecutorAdmin(w3, executor, first_block=start)
    assert admin.first_block() == start
    # Every worker the deployment authorised is found from there.
    fleet = {a.lower() for a in deployment.accounts.fleet}
    assert fleet
    assert {w.lower() for w in admin.known_workers()} >= fleet


def test_the_recorded_block_survives_the_file_and_older_files_load_without_it(
    local_deployment: tuple[Anvil, Deployment],
) -> None:
    _, deployment = local_deployment
    data = deployment.to_json()
    assert Deployment.from_json(data).executor_from_block == deployment.executor_from_block
    data.pop("executor_from_block")
    assert Deployment.from_json(data).executor_from_block is None
