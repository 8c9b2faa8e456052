"""A loopback JSON-RPC endpoint in front of a real anvil that refuses `eth_getLogs` over more than `limit`
blocks the way hosted providers word it; everything else (and every range it accepts) is anvil's answer.

Only the refusal is ours: anvil serves any range, production providers do not.
"""

from __future__ import annotations

import json
import threading
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

# How three providers refuse a range (messages as they send them; see polyhunter.chain.logscan).
STYLES = ("range", "suggest", "results")


@dataclass
class LogsRequest:
    """One `eth_getLogs` the endpoint saw: its resolved range, topics and whether it was refused."""

    from_block: int
    to_block: int
    topics: list[Any]
    refused: bool


@dataclass
class LimitedRpc:
    """Forwards to `upstream`; `eth_getLogs` over more than `limit` blocks gets a provider's refusal."""

    upstream: str
    limit: int
    style: str = "range"
    seen: list[LogsRequest] = field(default_factory=list)
    url: str = ""
    lock: threading.Lock = field(default_factory=threading.Lock)

    def forward(self, body: bytes) -> bytes:
        request = urllib.request.Request(self.upstream, body, {"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=120) as reply:
            data: bytes = reply.read()
            return data

    def call(self, method: str, params: list[Any]) -> Any:
        body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": params}).encode()
        return json.loads(self.forward(body))["result"]

    def block(self, tag: Any) -> int:
        if tag is None or tag in ("latest", "pending", "safe", "finalized"):
            return int(self.call("eth_blockNumber", []), 16)
        if tag == "earliest":
            return 0
        return int(tag, 16)

    def answer(self, body: bytes) -> bytes:
        message = json.loads(body)
        if message.get("method") != "eth_getLogs":
            return self.forward(body)
        query = message["params"][0]
        low, high = self.block(query.get("fromBlock")), self.block(query.get("toBlock"))
        refused = high - low + 1 > self.limit
        with self.lock:
            self.seen.append(LogsRequest(low, high, list(query.get("topics") or []), refused))
        if not refused:
            return self.forward(body)
        error = self.refusal(low, high)
        return json.dumps({"jsonrpc": "2.0", "id": message.get("id"), "error": error}).encode()

    def refusal(self, low: int, high: int) -> dict[str, Any]:
        span = high - low + 1
        if self.style == "suggest":
            good = hex(low + self.limit // 2 - 1)
            return {
                "code": -32602,
                "message": "Log response size exceeded. You can make eth_getLogs requests with up to a "
                f"{self.limit} block range. Based on your parameters, this block range should work: "
                f"[{hex(low)}, {good}]",
            }
        if self.style == "results":
            return {"code": -32005, "message": "query returned more than 10000 results"}
        return {"code": -32602, "message": f"range {span} exceeds limit of {self.limit}"}

    def logs_requests(self, topic0: str) -> list[LogsRequest]:
        with self.lock:
            return [r for r in self.seen if r.topics and str(r.topics[0]).lower() == topic0.lower()]


def _handler(rpc: LimitedRpc) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            reply = rpc.answer(body)
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(reply)))
            self.end_headers()
            self.wfile.write(reply)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler


@contextmanager
def limited_rpc(upstream: str, limit: int, style: str = "range") -> Iterator[LimitedRpc]:
    """A `LimitedRpc` serving on a free loopback port for the block's duration."""
    assert style in STYLES
    rpc = LimitedRpc(upstream, limit, style)
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(rpc))
    rpc.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield rpc
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
