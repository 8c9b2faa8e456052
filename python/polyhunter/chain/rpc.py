"""A minimal synchronous JSON-RPC client (stdlib only) for tooling: readiness probes, the CLI, tests.

The supervisor's hot path uses its own async clients; this one exists so that starting a node or
checking a deployment needs no third-party package.
"""

from __future__ import annotations

import itertools
import json
import urllib.error
import urllib.request
from typing import Any

from polyhunter.errors import ChainError

_ids = itertools.count(1)


def rpc_call(url: str, method: str, params: list[Any] | None = None, *, timeout: float = 10.0) -> Any:
    """Calls `method` on the node at `url` and returns its `result`; raises `ChainError` on any failure."""
    if not url.startswith(("http://", "https://")):
        raise ChainError(f"RPC URL must be http(s): {url!r}")
    body = json.dumps({"jsonrpc": "2.0", "id": next(_ids), "method": method, "params": params or []})
    request = urllib.request.Request(  # noqa: S310 - scheme checked above
        url, data=body.encode(), headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
            reply = json.loads(response.read())
    except (urllib.error.URLError, OSError, json.JSONDecodeError) as exc:
        raise ChainError(f"{method} to {url} failed: {exc}") from exc
    if not isinstance(reply, dict):
        raise ChainError(f"{method} to {url}: reply is not a JSON object")
    if reply.get("error") is not None:
        raise ChainError(f"{method} to {url} returned an error: {reply['error']}")
    if "result" not in reply:
        raise ChainError(f"{method} to {url}: reply has neither result nor error")
    return reply["result"]
