"""CREATE2 addresses against EIP-1014's own examples and an independent implementation (eth_utils)."""

from __future__ import annotations

import pytest
from eth_utils import keccak, to_checksum_address
from hypothesis import given
from hypothesis import strategies as st

from polyhunter.chain.create2 import create2_address, proxy_address, proxy_salt
from polyhunter.errors import InvalidInputError


# Examples 0, 1 and 5 from EIP-1014.
@pytest.mark.parametrize(
    ("deployer", "salt", "init_code", "expected"),
    [
        ("0x" + "00" * 20, "0x" + "00" * 32, b"\x00", "0x4D1A2e2bB4F88F0250f26Ffff098B0b30B26BF38"),
        (
            "0xdeadbeef00000000000000000000000000000000",
            "0x" + "00" * 32,
            b"\x00",
            "0xB928f69Bb1D91Cd65274e3c79d8986362984fDA3",
        ),
        ("0x" + "00" * 20, "0x" + "00" * 32, b"", "0xE33C0C7F7df4809055C3ebA6c09CFe4BaF1BD9e0"),
    ],
)
def test_eip1014_examples(deployer: str, salt: str, init_code: bytes, expected: str) -> None:
    assert create2_address(deployer, salt, keccak(init_code)) == expected.lower()


addresses = st.binary(min_size=20, max_size=20).map(lambda b: "0x" + b.hex())


@given(addresses, addresses, st.binary(min_size=32, max_size=32))
def test_proxy_address_matches_independent_formula(factory: str, owner: str, code_hash: bytes) -> None:
    salt = bytes(12) + bytes.fromhex(owner[2:])
    expected = keccak(b"\xff" + bytes.fromhex(factory[2:]) + salt + code_hash)[12:]
    assert proxy_address(factory, owner, code_hash) == "0x" + expected.hex()
    assert proxy_address(to_checksum_address(factory), owner, "0x" + code_hash.hex()) == "0x" + expected.hex()
    assert proxy_salt(owner) == salt


@pytest.mark.parametrize("bad", ["0x1234", "1234" * 10, "0x" + "zz" * 20])
def test_bad_addresses_are_rejected(bad: str) -> None:
    with pytest.raises(InvalidInputError):
        proxy_address(bad, "0x" + "11" * 20, bytes(32))
