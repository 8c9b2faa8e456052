"""HTTP plumbing the local CLOB's servers share: loopback checks, compact JSON answers, request bodies read
as bytes and decoded here (never by aiohttp's charset guess) so that a bad body is a 400, not a 500."""

from __future__ import annotations

import ipaddress
import json
from typing import Any

from aiohttp import web

from polyhunter.localpoly.errors import bad_request

INVALID_JSON = "Invalid JSON payload"


def is_loopback(host: str) -> bool:
    """True for `localhost` and loopback IP literals (127.0.0.0/8, ::1); any other name is not."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def json_response(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    """`data` as compact JSON, the way Polymarket's CLOB answers."""
    return web.Response(
        text=json.dumps(data, separators=(",", ":")),
        status=status,
        content_type="application/json",
        headers=headers,
    )


async def body_text(request: web.Request) -> str:
    """The body as text. JSON is UTF-8 whatever the Content-Type's charset says (an unknown charset made
    aiohttp's `text()` raise), so bytes that are not UTF-8 get the 400 of a malformed payload."""
    raw = await request.read()
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise bad_request(INVALID_JSON) from None


async def body_json(request: web.Request) -> Any:
    """The body parsed as JSON (None when empty); a 400 `Invalid JSON payload` when it is not JSON."""
    text = await body_text(request)
    try:
        return json.loads(text) if text else None
    except json.JSONDecodeError:
        raise bad_request(INVALID_JSON) from None
