"""The operations endpoint on loopback: GET only (405), unknown paths 404, /healthz and /readyz answer 200 or
503 from their probes, a port in use is one ConfigError line, `off` serves nothing."""

from __future__ import annotations

import socket
from typing import Any

import aiohttp
import pytest

from polyhunter.errors import ConfigError
from polyhunter.supervisor.metrics_server import MetricsServer, Probes, parse_addr


class State:
    def __init__(self) -> None:
        self.healthy = True
        self.problems: list[str] = []


def probes(state: State) -> Probes:
    async def metrics() -> bytes:
        return b"# HELP polyhunter_up x\n# TYPE polyhunter_up gauge\npolyhunter_up 1.0\n"

    async def ready() -> list[str]:
        return list(state.problems)

    async def status() -> dict[str, Any]:
        return {"queue": {"depth": 3}}

    return Probes(metrics=metrics, healthy=lambda: state.healthy, ready=ready, status=status)


async def get(url: str, method: str = "GET") -> tuple[int, str, dict[str, str]]:
    async with aiohttp.ClientSession() as session, session.request(method, url) as response:
        return response.status, await response.text(), dict(response.headers)


@pytest.mark.asyncio
async def test_routes_methods_and_probes() -> None:
    state = State()
    server = MetricsServer("127.0.0.1", 0, probes(state))
    await server.start()
    try:
        assert server.port != 0
        status, body, headers = await get(server.url + "/metrics")
        assert status == 200
        assert "polyhunter_up 1.0" in body
        assert headers["Content-Type"].startswith("text/plain")
        assert (await get(server.url + "/healthz"))[0] == 200
        assert (await get(server.url + "/readyz"))[:2] == (200, "ready\n")
        status, body, headers = await get(server.url + "/status")
        assert status == 200
        assert '"depth": 3' in body
        assert headers["Content-Type"].startswith("application/json")

        for method in ("POST", "PUT", "DELETE", "PATCH"):
            status, _, headers = await get(server.url + "/metrics", method)
            assert status == 405
            assert headers["Allow"] == "GET"
        assert (await get(server.url + "/"))[0] == 404
        assert (await get(server.url + "/metrics/extra"))[0] == 404
        assert (await get(server.url + "/nope", "POST"))[0] == 404

        state.problems = ["chain: newest block is 99 s old"]
        assert (await get(server.url + "/readyz"))[:2] == (503, "chain: newest block is 99 s old\n")
        state.healthy = False
        assert (await get(server.url + "/healthz"))[0] == 503
    finally:
        await server.close()


@pytest.mark.asyncio
async def test_a_port_in_use_is_one_config_error_line() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        server = MetricsServer("127.0.0.1", port, probes(State()))
        with pytest.raises(ConfigError) as caught:
            await server.start()
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith(f"SUPERVISOR_METRICS_ADDR: 127.0.0.1:{port} is in use")


def test_addresses() -> None:
    assert parse_addr("off") is None
    assert parse_addr("127.0.0.1:9464") == ("127.0.0.1", 9464)
    assert parse_addr("[::1]:0") == ("::1", 0)
    for bad in ("9464", "host:", ":80", "127.0.0.1:70000"):
        with pytest.raises(ConfigError):
            parse_addr(bad)
