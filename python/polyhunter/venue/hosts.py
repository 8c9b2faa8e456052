"""Which CLOB hosts the client may talk to: https anywhere, plain http on loopback only.

Every L2 request carries the API key's passphrase in a header, so a plain-http host off this machine would
hand it to the network. The check runs before any session exists.
"""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

from polyhunter.errors import ConfigError

PRODUCTION_HOST = "https://clob.polymarket.com"
PRODUCTION_FEED_URL = "wss://ws-live-data.polymarket.com"
"""Polymarket's real-time data service (RTDS): the activity feed of every trade."""


def is_loopback(host: str) -> bool:
    """True for `localhost` and loopback IP literals (127.0.0.0/8, ::1); any other name is not."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_host(url: str) -> str:
    """`url` without a trailing slash when it is an https URL or an http URL of a loopback host; else
    `ConfigError` naming the URL's scheme and host (a URL with a user or password is refused too)."""
    try:
        parts = urlsplit(url.strip())
        hostname = parts.hostname or ""
        _ = parts.port  # a malformed port raises here
    except ValueError:
        raise ConfigError(f"CLOB host: {url!r} is not a URL") from None
    if not hostname:
        raise ConfigError(f"CLOB host: {url!r} has no host name")
    if parts.username is not None or parts.password is not None:
        raise ConfigError(f"CLOB host for {hostname}: credentials in the URL are refused")
    if parts.query or parts.fragment:
        raise ConfigError(f"CLOB host {parts.scheme}://{hostname}: a query or fragment is refused")
    if parts.scheme == "https":
        pass
    elif parts.scheme == "http":
        if not is_loopback(hostname):
            raise ConfigError(
                f"CLOB host http://{hostname}: plain http is refused off loopback (the L2 headers carry "
                "the API passphrase); use https"
            )
    else:
        raise ConfigError(f"CLOB host {url!r}: scheme {parts.scheme!r} refused (https, or http on loopback)")
    return url.strip().rstrip("/")
