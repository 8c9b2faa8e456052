"""polyhunter.fastjson: orjson's speed, the standard library's exactness (uint256, fractions as Decimal)."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from polyhunter import fastjson

UINT256_MAX = 2**256 - 1

# JSON values without floats: every integer from int256's range up to uint256's, any text.
scalars = st.none() | st.booleans() | st.integers(-(2**255), UINT256_MAX) | st.text()
values = st.recursive(
    scalars,
    lambda children: st.lists(children, max_size=5) | st.dictionaries(st.text(), children, max_size=5),
    max_leaves=20,
)


@given(values)
def test_every_value_round_trips_exactly(value: Any) -> None:
    encoded = fastjson.dumps(value)
    assert isinstance(encoded, bytes)
    assert fastjson.loads(encoded) == value
    assert fastjson.loads(encoded.decode()) == value
    # What the standard library reads from it is the same value: the bytes are plain compact JSON.
    assert json.loads(encoded) == value


@given(values)
def test_ascii_output_is_byte_for_byte_the_standard_librarys_compact_form(value: Any) -> None:
    expected = json.dumps(value, separators=(",", ":"))
    if expected.isascii() and "\\u" not in expected:
        assert fastjson.dumps(value) == expected.encode()


def test_a_token_id_beyond_64_bits_is_neither_refused_nor_rounded() -> None:
    token_id = (
        71_321_045_679_252_212_594_626_385_532_706_912_750_332_728_571_942_532_289_631_379_312_455_583_992_563
    )
    body = fastjson.dumps({"tokenId": token_id, "side": 0})
    assert body == b'{"tokenId":' + str(token_id).encode() + b',"side":0}'
    assert fastjson.loads(body)["tokenId"] == token_id
    assert fastjson.loads(b"[" + str(-(2**200)).encode() + b"]") == [-(2**200)]
    assert fastjson.loads(str(token_id)) == token_id  # a bare top-level number too


@given(st.decimals(allow_nan=False, allow_infinity=False, places=6))
def test_fractions_come_back_as_exact_decimals_when_asked(price: Decimal) -> None:
    text = f'{{"price":{price},"size":"{price}"}}'.encode()
    decoded = fastjson.loads(text, parse_float=Decimal)
    if "." in str(price) or "E" in str(price):
        assert decoded["price"] == price
        assert isinstance(decoded["price"], Decimal)
    assert decoded["size"] == str(price)  # strings are never touched


def test_text_that_looks_like_a_number_inside_a_string_is_left_alone() -> None:
    assert fastjson.loads(b'{"note":"a:1.5, [2e3"}') == {"note": "a:1.5, [2e3"}


@pytest.mark.parametrize("bad", [b"", b"{", b"NaN", b"\xff\xfe", b'{"a":1,}'])
def test_what_is_not_json_raises_value_error(bad: bytes) -> None:
    with pytest.raises(json.JSONDecodeError):  # a ValueError, as the standard library raises
        fastjson.loads(bad)


def test_what_json_cannot_hold_still_raises_type_error() -> None:
    with pytest.raises(TypeError):
        fastjson.dumps({"price": Decimal("0.5")})  # money is never encoded as a float by accident
    with pytest.raises(TypeError):
        fastjson.dumps({"value": 2**256, "x": object()})
