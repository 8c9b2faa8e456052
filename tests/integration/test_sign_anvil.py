"""Transactions signed in Rust are accepted and mined by a real node (anvil), batch and single alike."""

from __future__ import annotations

import os
from typing import Any

import pytest

from polyhunter._core import Eip1559Tx, SignedTx, Signer, derive_signers
from polyhunter.chain.anvil import TEST_MNEMONIC, Anvil
from polyhunter.chain.rpc import rpc_call

pytestmark = pytest.mark.integration

GWEI = 10**9
MAX_FEE = 20 * GWEI
TIP = GWEI


def rpc(node: Anvil, method: str, *params: Any) -> Any:
    return rpc_call(node.rpc_url, method, list(params))


def send(node: Anvil, signed: SignedTx) -> dict[str, Any]:
    tx_hash = rpc(node, "eth_sendRawTransaction", "0x" + signed.raw.hex())
    assert tx_hash == "0x" + signed.hash.hex()
    receipt: dict[str, Any] | None = rpc(node, "eth_getTransactionReceipt", tx_hash)
    if receipt is None:  # a node with interval mining: ask it to mine now
        rpc(node, "evm_mine")
        receipt = rpc(node, "eth_getTransactionReceipt", tx_hash)
    assert receipt is not None
    return receipt


def request(chain_id: int, nonce: int, *, to: str | None, gas: int = 21_000, **fields: Any) -> Eip1559Tx:
    return Eip1559Tx(
        chain_id=chain_id,
        nonce=nonce,
        max_fee_per_gas=MAX_FEE,
        max_priority_fee_per_gas=TIP,
        gas=gas,
        to=to,
        **fields,
    )


def nonce_of(node: Anvil, address: str) -> int:
    return int(rpc(node, "eth_getTransactionCount", address, "pending"), 16)


def balance_of(node: Anvil, address: str) -> int:
    return int(rpc(node, "eth_getBalance", address, "latest"), 16)


def test_anvil_mines_a_batch_signed_in_one_call(anvil: Anvil) -> None:
    funder = derive_signers(TEST_MNEMONIC, 1)[0]  # anvil's funded account 0, derived by our fleet code
    fresh = Signer(os.urandom(32))
    recipient = Signer(os.urandom(32)).address
    chain_id = int(rpc(anvil, "eth_chainId"), 16)

    # 1. Fund a fresh address from anvil's first account.
    funding = funder.sign_transaction(
        request(chain_id, nonce_of(anvil, funder.address), to=fresh.address, value=10**18)
    )
    assert int(send(anvil, funding)["status"], 16) == 1
    assert balance_of(anvil, fresh.address) == 10**18

    # 2. The fresh address signs a batch: plain transfers, a call with data and an access list, a creation.
    values = [1_000 + i for i in range(8)]
    requests = [request(chain_id, i, to=recipient, value=value) for i, value in enumerate(values)]
    access_list = [(recipient, [bytes(31) + b"\x01"])]
    requests.append(
        request(
            chain_id,
            len(requests),
            to=recipient,
            gas=60_000,
            value=7,
            data=b"\xca\xfe\xba\xbe",
            access_list=access_list,
        )
    )
    # init code that returns one zero byte of runtime code: PUSH1 1 PUSH1 0 RETURN
    requests.append(request(chain_id, len(requests), to=None, gas=100_000, data=bytes.fromhex("60016000f3")))
    batch = fresh.sign_transactions(requests)
    assert len({s.hash for s in batch}) == len(requests)

    receipts = [send(anvil, signed) for signed in batch]
    assert [int(r["status"], 16) for r in receipts] == [1] * len(requests)
    assert [r["transactionHash"] for r in receipts] == ["0x" + s.hash.hex() for s in batch]
    assert all(r["from"] == fresh.address for r in receipts)
    assert receipts[-1]["contractAddress"] is not None
    assert nonce_of(anvil, fresh.address) == len(requests)
    assert balance_of(anvil, recipient) == sum(values) + 7

    mined = rpc(anvil, "eth_getTransactionByHash", "0x" + batch[-2].hash.hex())
    assert mined["type"] == "0x2"
    assert mined["input"] == "0xcafebabe"
    assert mined["accessList"][0]["address"] == recipient


def test_fee_bumped_copy_mines_under_the_same_nonce(anvil: Anvil) -> None:
    """`with_fees` keeps nonce and payload; anvil mines the copy with the new fees under that nonce."""
    sender = derive_signers(TEST_MNEMONIC, 1, start=3)[0]
    chain_id = int(rpc(anvil, "eth_chainId"), 16)
    original = request(chain_id, nonce_of(anvil, sender.address), to=sender.address, value=1)
    bumped = original.with_fees(MAX_FEE * 11 // 10, TIP * 11 // 10)
    receipt = send(anvil, sender.sign_transaction(bumped))
    assert int(receipt["status"], 16) == 1
    mined = rpc(anvil, "eth_getTransactionByHash", receipt["transactionHash"])
    assert int(mined["nonce"], 16) == original.nonce
    assert int(mined["maxFeePerGas"], 16) == MAX_FEE * 11 // 10
