"""keccak256 and dedup_key from Rust, checked against eth_utils (pycryptodome's Keccak)."""

from __future__ import annotations

import pytest
from eth_utils import keccak
from hypothesis import given
from hypothesis import strategies as st

import polyhunter
from polyhunter import DecodeError, InvalidInputError, dedup_key, keccak256

u64 = st.integers(min_value=0, max_value=2**64 - 1)
u32 = st.integers(min_value=0, max_value=2**32 - 1)


@given(st.binary(max_size=4096))
def test_keccak256_equals_eth_utils(data: bytes) -> None:
    assert keccak256(data) == keccak(data)


@given(st.binary(min_size=32, max_size=32), u64, u32)
def test_dedup_key_is_keccak_of_packed_fields(tx: bytes, log_index: int, sub_index: int) -> None:
    packed = tx + log_index.to_bytes(8, "big") + sub_index.to_bytes(4, "big")
    assert dedup_key(tx, log_index, sub_index) == keccak(packed)
    assert dedup_key("0x" + tx.hex(), log_index, sub_index) == keccak(packed)


@given(st.binary(min_size=32, max_size=32), u64)
def test_two_argument_form_is_sub_index_zero(tx: bytes, log_index: int) -> None:
    assert dedup_key(tx, log_index) == dedup_key(tx, log_index, 0)
    assert len(dedup_key(tx, log_index)) == polyhunter._core.DEDUP_KEY_LEN == 32


def test_known_answer() -> None:
    # keccak256(b"") is the empty-input constant every Ethereum library carries.
    assert keccak256(b"").hex() == "c5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470"


@pytest.mark.parametrize(
    ("tx_hash", "error", "message"),
    [
        (b"\x00" * 31, InvalidInputError, "32 bytes, got 31"),
        ("ab" * 32, DecodeError, "start with 0x"),
        ("0x" + "ab" * 31, DecodeError, "64 hex digits, got 62"),
        ("0x" + "zz" * 32, DecodeError, "not hex"),
    ],
)
def test_bad_tx_hash_raises_typed_error(tx_hash: bytes | str, error: type[Exception], message: str) -> None:
    with pytest.raises(error, match=message) as info:
        dedup_key(tx_hash, 0)
    # Callers' existing `except ValueError` keeps working.
    assert isinstance(info.value, ValueError)
    assert isinstance(info.value, polyhunter.PolyhunterError)


def test_wrong_type_raises_type_error() -> None:
    with pytest.raises(TypeError, match="bytes or str"):
        dedup_key(12345, 0)  # type: ignore[arg-type]


def test_negative_index_is_rejected() -> None:
    with pytest.raises(OverflowError):
        dedup_key(b"\x00" * 32, -1)
