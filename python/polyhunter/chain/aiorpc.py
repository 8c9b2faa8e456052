"""Async JSON-RPC over HTTP with failover: endpoints tried in order, failed ones benched for a while.

`COPY_TRADING_RPC_URLS` lists the endpoints; a transport failure or a 5xx moves the call to the next one
and benches the failed endpoint with exponential backoff, so a dead primary costs one timeout, not one per
call. JSON-RPC errors (the node answered) are not failover reasons: they go back to the caller as
`RpcError` with the node's code and message. `call_raw` returns the response bytes untouched, so that
`eth_getLogs` results go to the Rust decoder without a Python parse. Requests and the replies `call`
parses go through orjson (`polyhunter.fastjson`: exact for integers of any size).
"""

from __future__ import annotations

import itertools
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import aiohttp

from polyhunter import fastjson
from polyhunter.errors import ChainError


def _shown(url: str) -> str:
    """An endpoint as errors and logs may show it: RPC URLs often carry an API key in the path or query."""
    parts = urlsplit(url)
    host = parts.hostname or "?"
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{host}{port}" + ("/***" if parts.path not in ("", "/") or parts.query else "")


class RpcError(ChainError):
    """The node answered with a JSON-RPC error object."""

    def __init__(self, method: str, url: str, code: int, message: str, data: Any = None) -> None:
        self.method, self.url, self.code, self.message, self.data = method, url, code, message, data
        super().__init__(f"{method} on {_shown(url)}: error {code}: {message}")


@dataclass
class Endpoint:
    url: str
    failures: int = 0
    benched_until: float = 0.0
    calls: int = 0
    errors: int = 0
    """Calls this endpoint failed (transport, 5xx, 429): each one moved the call on to the next endpoint."""

    def healthy(self, now: float) -> bool:
        return now >= self.benched_until


@dataclass
class AsyncRpc:
    """A pool of endpoints; one aiohttp session, created lazily, closed by `close()` / `async with`."""

    urls: list[str]
    timeout_s: float = 10.0
    max_bench_s: float = 30.0
    endpoints: list[Endpoint] = field(init=False)
    _session: aiohttp.ClientSession | None = field(default=None, init=False, repr=False)
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1), init=False, repr=False)

    def __post_init__(self) -> None:
        if not self.urls:
            raise ChainError("no RPC URL configured")
        for url in self.urls:
            if not url.startswith(("http://", "https://")):
                raise ChainError(f"RPC URL must be http(s): {_shown(url)!r}")
        self.endpoints = [Endpoint(url) for url in self.urls]

    async def __aenter__(self) -> AsyncRpc:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    def _order(self) -> list[Endpoint]:
        now = time.monotonic()
        healthy = [e for e in self.endpoints if e.healthy(now)]
        # When every endpoint is benched, try them anyway, soonest-back first: better late than never.
        return healthy or sorted(self.endpoints, key=lambda e: e.benched_until)

    def _bench(self, endpoint: Endpoint) -> None:
        endpoint.errors += 1
        endpoint.failures += 1
        endpoint.benched_until = time.monotonic() + min(self.max_bench_s, 0.5 * 2 ** (endpoint.failures - 1))

    async def call_raw(self, method: str, params: list[Any] | None = None) -> tuple[bytes, str]:
        """Returns the raw response body of the first endpoint that answers, and that endpoint's URL."""
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=self.timeout_s))
        body = fastjson.dumps(
            {"jsonrpc": "2.0", "id": next(self._ids), "method": method, "params": params or []}
        )
        errors: list[str] = []
        for endpoint in self._order():
            endpoint.calls += 1
            try:
                async with self._session.post(
                    endpoint.url, data=body, headers={"Content-Type": "application/json"}
                ) as response:
                    if response.status >= 500 or response.status == 429:
                        raise ChainError(f"HTTP {response.status}")
                    raw = await response.read()
            except (aiohttp.ClientError, TimeoutError, ChainError, OSError) as exc:
                self._bench(endpoint)
                errors.append(f"{_shown(endpoint.url)}: {exc or type(exc).__name__}")
                continue
            endpoint.failures = 0
            endpoint.benched_until = 0.0
            return raw, endpoint.url
        raise ChainError(f"{method} failed on every endpoint: {'; '.join(errors)}")

    async def call(self, method: str, params: list[Any] | None = None) -> Any:
        """Calls `method` and returns the parsed `result`; a JSON-RPC error raises `RpcError`."""
        raw, url = await self.call_raw(method, params)
        try:
            reply = fastjson.loads(raw)
        except ValueError as exc:
            raise ChainError(f"{method} on {_shown(url)}: reply is not JSON") from exc
        if not isinstance(reply, dict):
            raise ChainError(f"{method} on {_shown(url)}: reply is not a JSON object")
        error = reply.get("error")
        if error is not None:
            code = error.get("code", 0) if isinstance(error, dict) else 0
            message = error.get("message", str(error)) if isinstance(error, dict) else str(error)
            data = error.get("data") if isinstance(error, dict) else None
            raise RpcError(method, url, int(code), str(message), data)
        return reply.get("result")

    async def block_number(self) -> int:
        return int(await self.call("eth_blockNumber"), 16)

    async def chain_id(self) -> int:
        return int(await self.call("eth_chainId"), 16)
