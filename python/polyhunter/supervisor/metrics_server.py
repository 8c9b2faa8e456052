"""The supervisor's operations endpoint (`SUPERVISOR_METRICS_ADDR`): `/metrics`, `/healthz`, `/readyz` and
`/status`, GET only."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import json
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST

from polyhunter.errors import ConfigError

if TYPE_CHECKING:
    from polyhunter.supervisor.app import Supervisor

log = logging.getLogger(__name__)

CHECK_TIMEOUT_S = 5.0
"""How long `/readyz` waits for each of the store, the shared state and the chain."""
STATUS_RECENT = 10
"""How many of the newest copies `/status` lists."""


def parse_addr(addr: str) -> tuple[str, int] | None:
    """`host:port` (IPv6 in brackets) as a (host, port) pair; `off` as None."""
    if addr == "off":
        return None
    host, sep, port = addr.rpartition(":")
    if not sep or not host or not port.isdigit() or int(port) > 65_535:
        raise ConfigError(f"SUPERVISOR_METRICS_ADDR: {addr!r} is not host:port (or off)")
    return host.strip("[]"), int(port)


@dataclass
class Probes:
    """What the endpoint answers with; the supervisor's are built by `supervisor_probes`."""

    metrics: Callable[[], Awaitable[bytes]]
    healthy: Callable[[], bool]
    ready: Callable[[], Awaitable[list[str]]]
    """The reasons the instance is not ready (empty: ready)."""
    status: Callable[[], Awaitable[dict[str, Any]]]


class MetricsServer:
    """An aiohttp server on one address; `start` fails with one ConfigError line if the port is taken."""

    def __init__(self, host: str, port: int, probes: Probes) -> None:
        self.host, self.port, self.probes = host, port, probes
        self._runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    async def start(self) -> None:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._dispatch)
        runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await runner.setup()
        site = web.TCPSite(runner, self.host, self.port, reuse_address=False)
        try:
            await site.start()
        except OSError as exc:
            await runner.cleanup()
            why = "is in use" if exc.errno == errno.EADDRINUSE else f"cannot be bound ({exc.strerror})"
            raise ConfigError(
                f"SUPERVISOR_METRICS_ADDR: {self.host}:{self.port} {why}; "
                "choose another address or set it to off"
            ) from None
        self._runner = runner
        server = site._server  # the bound port when 0 was asked for
        if isinstance(server, asyncio.Server) and server.sockets:
            self.port = int(server.sockets[0].getsockname()[1])
        log.info("metrics on %s/metrics", self.url)

    async def close(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def _dispatch(self, request: web.Request) -> web.StreamResponse:
        routes: dict[str, Callable[[], Awaitable[web.Response]]] = {
            "/metrics": self._metrics,
            "/healthz": self._healthz,
            "/readyz": self._readyz,
            "/status": self._status,
        }
        handler = routes.get(request.path)
        if handler is None:
            return web.Response(status=404, text="not found; try /metrics, /healthz, /readyz or /status\n")
        if request.method != "GET":
            return web.Response(status=405, headers={"Allow": "GET"}, text="GET only\n")
        return await handler()

    async def _metrics(self) -> web.Response:
        body = await self.probes.metrics()
        response = web.Response(body=body)
        # CONTENT_TYPE_LATEST carries its own charset parameter, which aiohttp's content_type refuses.
        response.headers["Content-Type"] = CONTENT_TYPE_LATEST
        return response

    async def _healthz(self) -> web.Response:
        if self.probes.healthy():
            return web.Response(text="ok\n")
        return web.Response(status=503, text="failed\n")

    async def _readyz(self) -> web.Response:
        problems = await self.probes.ready()
        if not problems:
            return web.Response(text="ready\n")
        return web.Response(status=503, text="".join(f"{p}\n" for p in problems))

    async def _status(self) -> web.Response:
        return web.Response(text=json.dumps(await self.probes.status()), content_type="application/json")


async def _check(name: str, probe: Awaitable[Any]) -> str | None:
    try:
        await asyncio.wait_for(probe, CHECK_TIMEOUT_S)
    except Exception as exc:
        return f"{name}: {exc!r}"
    return None


def supervisor_probes(supervisor: Supervisor) -> Probes:
    """The supervisor's answers: its metrics, `failed` for health, store/shared/chain for readiness."""
    from polyhunter.metrics import SupervisorMetrics, fleet_wallets

    metrics = SupervisorMetrics(supervisor)
    supervisor.on_event = metrics.hook(supervisor.on_event)

    def healthy() -> bool:
        return not supervisor.failed.is_set()

    async def ready() -> list[str]:
        sup = supervisor
        if sup.failed.is_set():
            return ["supervisor: a long-running part failed"]
        if not hasattr(sup, "pipeline"):
            return ["supervisor: starting"]
        block: dict[str, Any] = {}

        async def newest() -> None:
            block.update(await sup.rpc.call("eth_getBlockByNumber", ["latest", False]))

        problems = [
            p
            for p in await asyncio.gather(
                _check("store", sup.store.schema_version()),
                _check("shared state", sup.shared.queue_stats()),
                _check("chain", newest()),
            )
            if p is not None
        ]
        if block and not sup.local_chain:
            # A local chain mines on demand: an old head there says nothing about the node's health.
            age = int(time.time()) - int(block["timestamp"], 16)
            limit = sup.settings.supervisor_ready_max_block_age_s
            if age >= limit:
                problems.append(
                    f"chain: newest block is {age} s old (SUPERVISOR_READY_MAX_BLOCK_AGE_S={limit})"
                )
        return problems

    async def status() -> dict[str, Any]:
        snap = await metrics.refresh()
        sup = supervisor
        wallets = []
        for w in fleet_wallets(sup):
            reading = snap.wallets.get(w.address)
            wallets.append(
                {
                    "address": w.address,
                    "gas_wei": str(reading.gas_wei) if reading and reading.gas_wei is not None else None,
                    "collateral": reading.collateral if reading else None,
                    "nonces_in_flight": len(w.nonces.in_flight),
                    "jobs": w.jobs,
                    # Each fleet wallet signs only in the process that holds the consumer lease.
                    "lease_holder": sup._holder,
                }
            )
        recent = []
        if hasattr(sup, "store"):
            with contextlib.suppress(Exception):  # status answers even when the store blinks
                for r in await asyncio.wait_for(sup.store.list_trades(limit=STATUS_RECENT), CHECK_TIMEOUT_S):
                    recent.append(
                        {
                            "key": "0x" + r.key.hex(),
                            "side": r.side,
                            "amount": r.amount,
                            "status": str(r.status),
                            "reason": r.reason,
                            "config_id": r.config_id,
                            "created_at": r.created_at,
                            "latency_ms": r.updated_at - r.created_at,
                        }
                    )
        lag = sup.pipeline.stats.lag_ms if hasattr(sup, "pipeline") else ()
        return {
            "consumer": sup.pipeline.config.consumer if hasattr(sup, "pipeline") else None,
            "failed": sup.failed.is_set(),
            "queue": {
                "depth": snap.queue_depth,
                "in_flight": snap.queue_in_flight,
                "dropped": snap.queue_dropped,
                "dead_letters": snap.dead_letters,
                "lag_max_ms": int(max(lag, default=0.0)),
            },
            "holder": sup._holder,
            "recent": recent,
            "copies": snap.copies,
            "cap_used": snap.cap_used,
            "fleet": wallets,
            "errors": snap.errors,
            "at": int(snap.at),
        }

    return Probes(metrics=metrics.render, healthy=healthy, ready=ready, status=status)


async def serve_supervisor(supervisor: Supervisor) -> MetricsServer | None:
    """Starts the endpoint on `SUPERVISOR_METRICS_ADDR` (None when it is `off`)."""
    where = parse_addr(supervisor.settings.supervisor_metrics_addr)
    if where is None:
        return None
    server = MetricsServer(*where, supervisor_probes(supervisor))
    await server.start()
    return server
