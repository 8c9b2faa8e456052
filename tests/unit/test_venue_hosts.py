"""CLOB hosts: https anywhere, http on loopback only (the L2 headers carry the passphrase)."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest

from polyhunter._core import Signer
from polyhunter.errors import ConfigError
from polyhunter.venue import PRODUCTION_HOST, ClobClient, check_host

PROD = urlsplit(PRODUCTION_HOST).netloc  # the host name alone; no test dials it
PLAIN = "http://clob.example.com"  # plain http to a host off loopback (a reserved name; never dialed)

KEY = "0x" + "11" * 32


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        (PRODUCTION_HOST, PRODUCTION_HOST),
        (PRODUCTION_HOST + "/", PRODUCTION_HOST),
        (PRODUCTION_HOST + ":8443", PRODUCTION_HOST + ":8443"),
        ("http://127.0.0.1:8080", "http://127.0.0.1:8080"),
        ("http://127.0.0.1", "http://127.0.0.1"),
        ("http://localhost:1", "http://localhost:1"),
        ("http://[::1]:9000/", "http://[::1]:9000"),
    ],
)
def test_accepted_hosts(url: str, expected: str) -> None:
    assert check_host(url) == expected


@pytest.mark.parametrize(
    ("url", "says"),
    [
        (PLAIN, "plain http is refused off loopback"),
        (PLAIN + ":8080", "plain http is refused off loopback"),
        ("http://localhost.example.com", "plain http is refused off loopback"),
        ("http://127.0.0.1.example.com:80", "plain http is refused off loopback"),
        ("ws://127.0.0.1", "scheme 'ws' refused"),
        (PROD, "has no host name"),
        ("https://user:hunter2@clob.example.com", "credentials in the URL are refused"),
        (f"https://{PROD}/?key=1", "a query or fragment is refused"),
        (f"https://{PROD}:99999", "is not a URL"),
    ],
)
def test_refused_hosts(url: str, says: str) -> None:
    with pytest.raises(ConfigError, match=says) as info:
        check_host(url)
    assert "hunter2" not in str(info.value)


def test_the_client_refuses_before_any_session() -> None:
    with pytest.raises(ConfigError, match="plain http"):
        ClobClient(PLAIN, 137, Signer(KEY))
    with pytest.raises(ConfigError, match="signature type 5"):
        ClobClient(PRODUCTION_HOST, 137, Signer(KEY), signature_type=5)
    client = ClobClient(PRODUCTION_HOST, 137, Signer(KEY), signature_type=3, funder="0x" + "AB" * 20)
    assert client.funder == "0x" + "ab" * 20
    assert (
        repr(client) == f"ClobClient(host='{PRODUCTION_HOST}', address={client.signer.address}, api_key=None)"
    )
