"""Signer and EIP-1559 signing from Rust, checked byte for byte against eth-account on random transactions."""

from __future__ import annotations

import pickle
from typing import Any

import pytest
from eth_account import Account
from eth_utils import keccak, to_checksum_address
from hypothesis import given
from hypothesis import strategies as st

from polyhunter import InvalidInputError
from polyhunter._core import Eip1559Tx, SignedTx, Signer, recover_address

CURVE_ORDER = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
ANVIL_KEY_0 = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80"

keys = st.integers(min_value=1, max_value=CURVE_ORDER - 1).map(lambda k: k.to_bytes(32, "big"))
u64 = st.integers(min_value=0, max_value=2**64 - 1)
u128 = st.integers(min_value=0, max_value=2**128 - 1)
u256 = st.integers(min_value=0, max_value=2**256 - 1)
addresses = st.binary(min_size=20, max_size=20).map(to_checksum_address)
access_lists = st.lists(
    st.tuples(addresses, st.lists(st.binary(min_size=32, max_size=32), max_size=3)), max_size=3
)


@st.composite
def transactions(draw: st.DrawFn) -> dict[str, Any]:
    return {
        "chain_id": draw(u64),
        "nonce": draw(u64),
        "max_fee_per_gas": draw(u128),
        "max_priority_fee_per_gas": draw(u128),
        "gas": draw(u64),
        "to": draw(st.none() | addresses),
        "value": draw(u256),
        "data": draw(st.binary(max_size=300)),
        "access_list": draw(access_lists),
    }


def eth_account_dict(tx: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {
        "type": 2,
        "chainId": tx["chain_id"],
        "nonce": tx["nonce"],
        "maxFeePerGas": tx["max_fee_per_gas"],
        "maxPriorityFeePerGas": tx["max_priority_fee_per_gas"],
        "gas": tx["gas"],
        "value": tx["value"],
        "data": tx["data"],
        "accessList": [
            {"address": address, "storageKeys": ["0x" + key.hex() for key in keys]}
            for address, keys in tx["access_list"]
        ],
    }
    if tx["to"] is not None:
        out["to"] = tx["to"]
    return out


@given(keys, transactions())
def test_eip1559_equals_eth_account_byte_for_byte(key: bytes, tx: dict[str, Any]) -> None:
    ours = Signer(key).sign_transaction(Eip1559Tx(**tx))
    reference = Account.sign_transaction(eth_account_dict(tx), key)
    assert ours.raw == bytes(reference.raw_transaction)
    assert ours.hash == bytes(reference.hash)
    assert ours.hash == keccak(ours.raw)


@given(keys, st.lists(transactions(), max_size=5))
def test_batch_equals_one_by_one(key: bytes, txs: list[dict[str, Any]]) -> None:
    signer = Signer(key)
    requests = [Eip1559Tx(**tx) for tx in txs]
    batch = signer.sign_transactions(requests)
    assert [s.raw for s in batch] == [signer.sign_transaction(r).raw for r in requests]
    assert all(isinstance(s, SignedTx) for s in batch)


@given(keys, st.binary(min_size=32, max_size=32))
def test_sign_hash_equals_eth_account_and_recovers(key: bytes, digest: bytes) -> None:
    signer = Signer(key)
    sig = signer.sign_hash(digest)
    assert sig == bytes(Account._sign_hash(digest, key).signature)
    assert sig[64] in (27, 28)
    assert recover_address(digest, sig) == signer.address
    assert Account._recover_hash(digest, signature=sig).lower() == signer.address


@given(keys)
def test_address_equals_eth_account(key: bytes) -> None:
    signer = Signer(key)
    expected = Account.from_key(key).address
    assert signer.address == expected.lower()
    assert signer.checksum_address == expected
    assert Signer("0x" + key.hex()).address == signer.address
    assert Signer(key.hex()).address == signer.address


def test_eip1559_known_answer_from_eth_account() -> None:
    """Pinned literal (eth-account 0.14), so a change in both libraries at once would still be caught."""
    tx = Eip1559Tx(
        chain_id=31337,
        nonce=0,
        max_fee_per_gas=2_000_000_000,
        max_priority_fee_per_gas=1_000_000_000,
        gas=100_000,
        to=None,
        data=b"\x60\x00",
    )
    signed = Signer(ANVIL_KEY_0).sign_transaction(tx)
    assert signed.hash.hex() == "0f7a96895ee9657c15870101af164bd64f33c2fee2702798e8087b24b8e01979"
    assert signed.raw.hex().startswith("02f85b827a6980843b9aca008477359400830186a08080826000c001a0")


def test_fields_read_back_and_with_fees_keeps_the_rest() -> None:
    tx = Eip1559Tx(
        chain_id=137,
        nonce=5,
        max_fee_per_gas=100,
        max_priority_fee_per_gas=10,
        gas=21_000,
        to="0x4bFb41d5B3570DeFd03C39a9A4D8dE6Bd8B8982E",
        value=2**200,
        data=b"\x01",
        access_list=[
            {"address": "0xC011a7E12a19f7B1f670d46F03B03f3342E82DFB", "storageKeys": ["0x" + "00" * 32]}
        ],
    )
    assert (tx.chain_id, tx.nonce, tx.gas, tx.value, tx.data) == (137, 5, 21_000, 2**200, b"\x01")
    assert tx.to == "0x4bfb41d5b3570defd03c39a9a4d8de6bd8b8982e"
    assert tx.access_list == [("0xc011a7e12a19f7b1f670d46f03b03f3342e82dfb", [bytes(32)])]
    bumped = tx.with_fees(111, 11)
    assert (bumped.max_fee_per_gas, bumped.max_priority_fee_per_gas) == (111, 11)
    assert (bumped.nonce, bumped.to, bumped.value, bumped.data) == (tx.nonce, tx.to, tx.value, tx.data)
    assert (tx.max_fee_per_gas, tx.max_priority_fee_per_gas) == (100, 10)


BASE = {
    "chain_id": 1,
    "nonce": 0,
    "max_fee_per_gas": 1,
    "max_priority_fee_per_gas": 1,
    "gas": 21_000,
    "to": None,
}


@pytest.mark.parametrize(
    ("change", "error", "words"),
    [
        ({"value": -1}, InvalidInputError, "uint256"),
        ({"value": 2**256}, InvalidInputError, "uint256"),
        ({"nonce": 2**64}, InvalidInputError, "nonce"),
        ({"max_fee_per_gas": 2**128}, InvalidInputError, "max_fee_per_gas"),
        ({"gas": -5}, InvalidInputError, "gas"),
        ({"value": 1.5}, TypeError, "int"),
        ({"to": "0x1234"}, InvalidInputError, "40 hex"),
        ({"access_list": [("0x" + "11" * 20, [b"short"])]}, InvalidInputError, "32 bytes"),
    ],
)
def test_bad_fields_raise_with_reason(change: dict[str, Any], error: type[Exception], words: str) -> None:
    with pytest.raises(error, match=words):
        Eip1559Tx(**{**BASE, **change})


SECRET_HEX = "4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318"


def test_key_never_appears_in_repr_str_or_pickle() -> None:
    signer = Signer("0x" + SECRET_HEX)
    for shown in (repr(signer), str(signer), f"{signer}"):
        assert SECRET_HEX not in shown.lower()
        assert bytes.fromhex(SECRET_HEX).hex() not in shown
        assert signer.checksum_address in shown
    with pytest.raises(TypeError):
        pickle.dumps(signer)
    assert not any("key" in name or "secret" in name for name in dir(signer))


@pytest.mark.parametrize(
    "bad_key",
    [
        "0x" + SECRET_HEX[:-2] + "zz",  # not hex
        SECRET_HEX[:-1],  # 63 digits
        "0x" + "00" * 32,  # zero scalar
        "0x" + format(CURVE_ORDER, "064x"),  # the curve order itself
        bytes.fromhex(SECRET_HEX)[:31],  # 31 raw bytes
    ],
)
def test_bad_keys_raise_without_echoing_them(bad_key: str | bytes) -> None:
    with pytest.raises(InvalidInputError) as info:
        Signer(bad_key)
    message = str(info.value)
    text = bad_key if isinstance(bad_key, str) else bad_key.hex()
    assert text.removeprefix("0x")[:16] not in message
    assert "private key" in message


def test_wrong_key_type_is_a_type_error() -> None:
    with pytest.raises(TypeError, match="private key"):
        Signer(12345)  # type: ignore[arg-type]
