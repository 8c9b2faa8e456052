"""Helpers shared by the contract tests: expecting a named revert, checksums, events of a receipt."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from web3 import Web3
from web3.contract import Contract
from web3.logs import DISCARD
from web3.types import TxReceipt

from polyhunter.chain.tx import ContractReverted


def cs(address: str) -> str:
    return Web3.to_checksum_address(address)


@contextmanager
def reverts(error_name: str) -> Iterator[None]:
    """Asserts that the block raises `ContractReverted` with the custom error `error_name`."""
    with pytest.raises(ContractReverted) as info:
        yield
    assert info.value.error_name == error_name, info.value.error


def events(contract: Contract, name: str, receipt: TxReceipt) -> list[dict[str, Any]]:
    """The `name` events `contract` emitted in `receipt`, decoded by web3.py, as plain dicts."""
    decoded = getattr(contract.events, name)().process_receipt(receipt, errors=DISCARD)
    return [{"log_index": e["logIndex"], "address": e["address"].lower(), **e["args"]} for e in decoded]
