"""Which websocket endpoint a subscription source uses next, and how long it waits before it reconnects.

Endpoints (`COPY_TRADING_WS_URLS`) are tried in failover order: a connection that fails or drops moves to the
next one. The base delay doubles (up to `backoff_max_s`) only once every endpoint has failed in a row, so a
dead primary costs one short pause, not a backoff; a connection that had worked starts a new round. The delay
really waited carries jitter (0.5x to 1.5x of the base) so that instances do not reconnect in step.

`ChainLogDetector.reconnect_delay` is `reconnect_delay` over its own endpoints.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from polyhunter.errors import ChainError


def shown_ws(url: str) -> str:
    """A websocket endpoint as logs may show it: scheme, host and port; a path or query (often an API
    key) masked."""
    parts = urlsplit(url)
    port = f":{parts.port}" if parts.port else ""
    masked = "/***" if parts.path not in ("", "/") or parts.query else ""
    return f"{parts.scheme}://{parts.hostname or '?'}{port}{masked}"


def reconnect_delay(failures: int, endpoints: int, initial_s: float, max_s: float) -> float:
    """The base delay (before jitter) after `failures` failed connections in a row among `endpoints`."""
    rounds = max(0, failures - 1) // max(1, endpoints)
    return min(max_s, initial_s * float(2**rounds))


@dataclass
class WsFailover:
    """The rotation through websocket endpoints of one source: the current URL and the next delay."""

    urls: Sequence[str]
    backoff_initial_s: float = 0.2
    backoff_max_s: float = 5.0
    current: int = 0
    """Index in `urls` of the endpoint to connect to."""
    failures: int = 0
    """Failed connections in a row (a connection that had worked counts as the first of a new round)."""
    failovers: int = 0
    """Reconnects that moved to another endpoint."""
    _urls: list[str] = field(default_factory=list, init=False, repr=False)

    def __post_init__(self) -> None:
        self._urls = list(self.urls)
        if not self._urls:
            raise ChainError("no websocket URL configured")
        if self.backoff_initial_s <= 0 or self.backoff_max_s < self.backoff_initial_s:
            raise ChainError(
                f"reconnect backoff must be positive and its maximum at least its start "
                f"(got {self.backoff_initial_s}s, max {self.backoff_max_s}s)"
            )

    @property
    def url(self) -> str:
        """The endpoint to connect to now."""
        return self._urls[self.current]

    @property
    def shown(self) -> str:
        """The current endpoint as logs and stats show it (path and query masked)."""
        return shown_ws(self.url)

    def reconnect_delay(self, failures: int) -> float:
        """The base delay (before jitter) after `failures` failed connections in a row."""
        return reconnect_delay(failures, len(self._urls), self.backoff_initial_s, self.backoff_max_s)

    def succeeded(self) -> None:
        """A session ended without a fault (a resubscription): the same endpoint again, at once."""
        self.failures = 0

    def failed(self, was_connected: bool) -> float:
        """Records a failed (or dropped) connection, moves to the next endpoint, and returns the delay to
        wait before connecting to it, jitter included."""
        self.failures = 1 if was_connected else self.failures + 1
        if len(self._urls) > 1:
            self.current = (self.current + 1) % len(self._urls)
            self.failovers += 1
        return self.reconnect_delay(self.failures) * (0.5 + random.random())  # noqa: S311 - jitter
