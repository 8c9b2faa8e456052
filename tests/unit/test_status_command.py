"""`polyhunter status` against a fake `/status` (aiohttp on loopback), run through click's CliRunner."""

from __future__ import annotations

import asyncio
import json
import socket
import threading
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
from aiohttp import web
from click.testing import CliRunner

from polyhunter.commands.status import Reading, base_url, format_gas, per_minute, status, status_url
from polyhunter.errors import ConfigError, InvalidInputError

WALLET = "0x1111111111111111111111111111111111111111"
SNAPSHOT: dict[str, Any] = {
    "consumer": "sup-a",
    "failed": False,
    "holder": "abcdef0123456789",
    "queue": {"depth": 7, "in_flight": 2, "dropped": 0, "dead_letters": 1, "lag_max_ms": 345},
    "copies": {"EXECUTED": 3, "PENDING": 1, "FAILED": 0, "SKIPPED": 2},
    "cap_used": 12_500_000,
    "fleet": [
        {
            "address": WALLET,
            "gas_wei": "1500000000000000000",
            "collateral": 250_000_000,
            "nonces_in_flight": 1,
            "jobs": 4,
            "lease_holder": "abcdef0123456789",
        }
    ],
    "recent": [
        {
            "key": "0x" + "ab" * 32,
            "side": "BUY",
            "amount": 5_000_000,
            "status": "EXECUTED",
            "reason": None,
            "config_id": 1,
            "created_at": 1_700_000_000_000,
            "latency_ms": 812,
        }
    ],
    "errors": [],
    "at": 1_700_000_000,
}


class FakeInstance:
    """A loopback aiohttp server answering `/status` with SNAPSHOT, on its own loop in a thread (the command
    under test runs its own `asyncio.run`)."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.runner: web.AppRunner | None = None
        self.port = 0
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)

    async def _start(self) -> None:
        async def handler(_: web.Request) -> web.Response:
            return web.json_response(SNAPSHOT)

        app = web.Application()
        app.router.add_get("/status", handler)
        self.runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        server = site._server
        assert isinstance(server, asyncio.Server)
        self.port = int(server.sockets[0].getsockname()[1])

    def __enter__(self) -> FakeInstance:
        self.thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self.loop).result(timeout=60)
        return self

    def __exit__(self, *_: object) -> None:
        if self.runner is not None:
            asyncio.run_coroutine_threadsafe(self.runner.cleanup(), self.loop).result(timeout=60)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=60)
        self.loop.close()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


@pytest.fixture
def instance() -> Iterator[FakeInstance]:
    with FakeInstance() as fake:
        yield fake


def closed_port_url() -> str:
    """A loopback URL nobody listens on: a port the kernel handed us, then closed."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def test_once_json_is_a_list_one_entry_per_instance(instance: FakeInstance) -> None:
    result = CliRunner().invoke(
        status, ["--url", instance.url, "--url", instance.url + "/status", "--once", "--json"]
    )
    assert result.exit_code == 0, result.output
    doc = json.loads(result.output)
    assert isinstance(doc, list)
    assert len(doc) == 2
    assert doc[0] == {"url": instance.url + "/status", "status": SNAPSHOT}
    assert doc[1]["status"]["fleet"][0]["address"] == WALLET


def test_text_view_shows_the_wallet_queue_copies_caps_and_last_copies(instance: FakeInstance) -> None:
    result = CliRunner().invoke(status, ["--url", instance.url, "--once"])
    assert result.exit_code == 0, result.output
    out = result.output
    wallet_line = next(line for line in out.splitlines() if WALLET in line)
    assert "1.500000" in wallet_line  # gas: 1.5 native units
    assert "250.00" in wallet_line  # collateral in USD
    assert "abcdef0123…" in wallet_line  # lease holder
    assert "queue  depth 7  in flight 2  dropped 0  dead letters 1  lag max 345 ms" in out
    assert "EXECUTED 3" in out
    assert "SKIPPED 2" in out
    assert "caps used today  12.50 USD" in out
    recent_line = next(line for line in out.splitlines() if "812 ms" in line)
    assert "BUY" in recent_line
    assert "5.00" in recent_line
    assert "EXECUTED" in recent_line
    assert "consumer sup-a" in out


def test_unreachable_instance_is_one_line_and_exit_1(instance: FakeInstance) -> None:
    dead = closed_port_url()
    result = CliRunner().invoke(status, ["--url", dead, "--url", instance.url, "--once"])
    assert result.exit_code == 1
    lines = [line for line in result.output.splitlines() if dead in line]
    assert len(lines) == 1
    assert "unreachable" in lines[0]
    assert WALLET in result.output  # the reachable one is still shown


def test_unreachable_alone_in_json_exits_1_with_its_error() -> None:
    dead = closed_port_url()
    result = CliRunner().invoke(status, ["--url", dead, "--once", "--json"])
    assert result.exit_code == 1
    doc = json.loads(result.output)
    assert doc[0]["url"] == dead + "/status"
    assert doc[0]["error"]
    assert "status" not in doc[0]


def test_default_url_comes_from_the_metrics_address(
    monkeypatch: pytest.MonkeyPatch, instance: FakeInstance
) -> None:
    monkeypatch.setenv("SUPERVISOR_METRICS_ADDR", f"127.0.0.1:{instance.port}")
    result = CliRunner().invoke(status, ["--once", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)[0]["url"] == instance.url + "/status"


def test_urls_and_addresses() -> None:
    assert base_url("0.0.0.0:9464") == "http://127.0.0.1:9464"
    assert base_url("[::1]:9464") == "http://[::1]:9464"
    with pytest.raises(ConfigError, match="off"):
        base_url("off")
    with pytest.raises(InvalidInputError, match="--url"):
        status_url("127.0.0.1:9464")
    assert format_gas("1") == "0.000000"
    assert format_gas("123456789000000000000") == "123.456789"
    assert format_gas(None) == "?"


def test_a_bad_url_is_one_line_exit_1() -> None:
    result = CliRunner().invoke(status, ["--url", "ftp://127.0.0.1/x", "--once"])
    assert result.exit_code == 1
    assert "--url" in result.output
    assert "Traceback" not in result.output


def test_copies_per_minute_between_two_rounds() -> None:
    before = Reading("u", status={"copies": {"EXECUTED": 3, "FAILED": 1}}, fetched_at=100.0)
    now = Reading("u", status={"copies": {"EXECUTED": 9, "FAILED": 1, "SKIPPED": 2}}, fetched_at=130.0)
    assert per_minute(now, before) == {
        "EXECUTED": Decimal("12.0"),
        "FAILED": Decimal("0.0"),
        "SKIPPED": Decimal("4.0"),
    }
    assert per_minute(now, None) == {}
    assert per_minute(now, Reading("u", error="down")) == {}
