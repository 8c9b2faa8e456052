"""The CTF id helpers: curve arithmetic against py_ecc, structure of ids, and bad inputs.

Equality with the real ConditionalTokens on chain is proven in tests/integration/test_contracts_exchange.py.
"""

from __future__ import annotations

import pytest
from eth_utils import keccak
from hypothesis import given
from hypothesis import strategies as st
from py_ecc.bn128 import FQ, add, is_on_curve, multiply
from py_ecc.bn128 import G1 as G

from polyhunter.chain import ctf
from polyhunter.errors import InvalidInputError

ORACLE = "0x8c3229ec621644789d7f61faa82c6d0e5f97d43d"


def _point(x: int) -> tuple[int, int]:
    """Lifts a collection id back to its curve point (the inverse of the encoding)."""
    odd = x >> 254 & 1
    x &= (1 << 254) - 1
    y = pow((x**3 + 3) % ctf.P, (ctf.P + 1) // 4, ctf.P)
    if y % 2 != odd:
        y = ctf.P - y
    return x, y


@given(st.integers(1, 2**64), st.integers(1, 2**64))
def test_point_addition_matches_py_ecc(a: int, b: int) -> None:
    p, q = multiply(G, a), multiply(G, b)
    expected = add(p, q)
    got = ctf._ec_add((int(p[0]), int(p[1])), (int(q[0]), int(q[1])))
    if expected is None:
        assert got == (0, 0)
    else:
        assert got == (int(expected[0]), int(expected[1]))


@given(st.binary(min_size=32, max_size=32), st.integers(1, 2**256 - 1))
def test_collection_ids_encode_points_of_the_curve(condition: bytes, index_set: int) -> None:
    x, y = _point(int.from_bytes(ctf.collection_id(bytes(32), condition, index_set)))
    assert is_on_curve((FQ(x), FQ(y)), FQ(3))


@given(st.binary(min_size=32, max_size=32), st.binary(min_size=32, max_size=32))
def test_nested_collections_commute(first: bytes, second: bytes) -> None:
    # Point addition commutes: A then B names the same collection as B then A (why the CTF uses a curve).
    a = ctf.collection_id(bytes(32), first, 1)
    b = ctf.collection_id(bytes(32), second, 2)
    assert ctf.collection_id(a, second, 2) == ctf.collection_id(b, first, 1)


def test_condition_id_is_the_packed_keccak() -> None:
    question = keccak(b"q")
    expected = keccak(bytes.fromhex(ORACLE[2:]) + question + (2).to_bytes(32, "big"))
    assert ctf.condition_id(ORACLE, question) == expected
    assert ctf.condition_id(ORACLE.upper().replace("0X", "0x"), "0x" + question.hex(), 2) == expected


def test_binary_token_ids_differ_and_depend_on_the_collateral() -> None:
    condition = ctf.condition_id(ORACLE, keccak(b"q"))
    yes, no = ctf.binary_token_ids(ORACLE, condition)
    assert yes != no
    assert ctf.binary_token_ids("0x" + "22" * 20, condition) != (yes, no)
    assert yes == ctf.position_id(ORACLE, ctf.collection_id(bytes(32), condition, ctf.YES_INDEX_SET))


@pytest.mark.parametrize(
    "call",
    [
        lambda: ctf.condition_id("0x1234", bytes(32)),
        lambda: ctf.condition_id(ORACLE, bytes(31)),
        lambda: ctf.condition_id(ORACLE, bytes(32), -1),
        lambda: ctf.collection_id(bytes(32), bytes(32), 2**256),
        lambda: ctf.position_id("0x" + "zz" * 20, bytes(32)),
        # x = 4 is not on the curve: 4³ + 3 = 67 has no square root mod P.
        lambda: ctf.collection_id((4).to_bytes(32, "big"), bytes(32), 1),
    ],
)
def test_bad_inputs_are_rejected(call: object) -> None:
    with pytest.raises(InvalidInputError):
        call()  # type: ignore[operator]
