"""The L2 HMAC (`polyhunter.clobauth.hmac_signature`) against py-clob-client-v2's published vector and code.

The vector is the one py-clob-client-v2 pins in its own tests (tests/signing/test_hmac.py of
Polymarket/py-clob-client-v2); the installed 1.2.1's `build_hmac_signature` is the reference for the rest.
Bodies are the exact strings sent: a dict body is the caller's to serialise, once, before signing and sending.
"""

from __future__ import annotations

import base64

from hypothesis import given
from hypothesis import strategies as st
from py_clob_client_v2.signing.hmac import build_hmac_signature

from polyhunter.clobauth import hmac_signature

VECTOR_SECRET = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="
VECTOR_SIGNATURE = "ZwAdJKvoYRlEKDkNMwd5BuwNNtg93kNaR_oU2HrfVvc="


def test_published_vector() -> None:
    got = hmac_signature(VECTOR_SECRET, "1000000", "test-sign", "/orders", '{"hash": "0x123"}')
    assert got == VECTOR_SIGNATURE


def test_each_part_is_signed() -> None:
    base = ("1000000", "POST", "/orders", '{"hash": "0x123"}')
    signatures = {
        hmac_signature(VECTOR_SECRET, *base),
        hmac_signature(VECTOR_SECRET, "1000001", *base[1:]),
        hmac_signature(VECTOR_SECRET, base[0], "GET", *base[2:]),
        hmac_signature(VECTOR_SECRET, *base[:2], "/order", base[3]),
        hmac_signature(VECTOR_SECRET, *base[:3], '{"hash": "0x124"}'),
        hmac_signature("BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB=", *base),
    }
    assert len(signatures) == 6


def test_single_quotes_are_signed_as_double_like_the_official_client() -> None:
    # The official client signs `body.replace("'", '"')` but sends the body unchanged.
    single = hmac_signature(VECTOR_SECRET, "1000000", "test-sign", "/orders", "{'hash': '0x123'}")
    assert single == VECTOR_SIGNATURE


secrets = st.binary(min_size=1, max_size=64).map(lambda b: base64.urlsafe_b64encode(b).decode())
timestamps = st.integers(min_value=0, max_value=2**40).map(str)
methods = st.sampled_from(["GET", "POST", "DELETE", "PUT"])
paths = st.text(alphabet=st.characters(min_codepoint=33, max_codepoint=126), max_size=60).map(
    lambda p: "/" + p
)
bodies = st.text(max_size=300)


@given(secret=secrets, timestamp=timestamps, method=methods, path=paths, body=bodies)
def test_equal_to_py_clob_client(secret: str, timestamp: str, method: str, path: str, body: str) -> None:
    # An empty body is omitted by both: `timestamp + method + path` alone.
    assert hmac_signature(secret, timestamp, method, path, body) == build_hmac_signature(
        secret, timestamp, method, path, body
    )
