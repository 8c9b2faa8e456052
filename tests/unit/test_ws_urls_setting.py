"""COPY_TRADING_WS_URLS: websocket endpoints in failover order, like COPY_TRADING_RPC_URLS."""

from __future__ import annotations

import pytest

from polyhunter.errors import ConfigError
from polyhunter.settings import load_settings


@pytest.fixture(autouse=True)
def _clean(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("COPY_TRADING_WS_URLS", raising=False)
    monkeypatch.delenv("COPY_TRADING_WS_URL", raising=False)


def test_a_comma_list_in_failover_order(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COPY_TRADING_WS_URLS", " ws://127.0.0.1:8546 , wss://127.0.0.1:8547/key/SECRET ")
    monkeypatch.setenv("COPY_TRADING_WS_URL", "ws://127.0.0.1:9999")
    settings = load_settings()
    assert settings.ws_urls == ["ws://127.0.0.1:8546", "wss://127.0.0.1:8547/key/SECRET"]
    # `config show` never prints the secret part.
    shown = settings.masked()["COPY_TRADING_WS_URLS"]
    assert shown[0] == "ws://127.0.0.1:8546"
    assert "SECRET" not in str(shown)


def test_the_single_url_when_the_list_is_unset(monkeypatch: pytest.MonkeyPatch) -> None:
    assert load_settings().ws_urls == []
    monkeypatch.setenv("COPY_TRADING_WS_URL", "ws://127.0.0.1:8546")
    assert load_settings().ws_urls == ["ws://127.0.0.1:8546"]


def test_an_http_url_in_the_websocket_list_is_refused_without_echoing_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("COPY_TRADING_WS_URLS", "ws://127.0.0.1:8546,http://127.0.0.1:8545/SECRET")
    with pytest.raises(
        ConfigError, match=r"^COPY_TRADING_WS_URLS: must be a URL with scheme ws or wss"
    ) as err:
        load_settings()
    assert "SECRET" not in str(err.value)
