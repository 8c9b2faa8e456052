"""A loopback websocket relay in front of anvil, for fault tests: drop clients, refuse for a while, inject.

Clients connect to the relay; each connection is forwarded to the upstream node. The test can cut every
connection (as a network failure would), keep refusing new ones until told otherwise, and inject a message
of its own into every client stream (e.g. a copy of a log notification with `"removed": true`).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable

from websockets.asyncio.client import connect
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed


class WsRelay:
    def __init__(self, upstream: str) -> None:
        self.upstream = upstream
        self.refusing = False
        self.clients: set[ServerConnection] = set()
        self.seen: list[str] = []  # every upstream message relayed to a client
        self.rewrite: Callable[[str], list[str]] | None = None
        self._server: Server | None = None
        self.port = 0

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    async def start(self) -> WsRelay:
        self._server = await serve(self._handle, "127.0.0.1", 0, max_size=None)
        self.port = next(iter(self._server.sockets)).getsockname()[1]
        return self

    async def stop(self) -> None:
        await self.drop()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    async def drop(self, *, refuse: bool = False) -> None:
        """Cuts every client connection; with `refuse`, new ones are refused until `accept()`."""
        self.refusing = refuse
        for client in list(self.clients):
            client.transport.abort()  # a reset, as a network failure gives, not a polite close
        while self.clients:  # handlers remove themselves as they unwind
            await asyncio.sleep(0.01)

    def accept(self) -> None:
        self.refusing = False

    async def inject(self, message: str) -> None:
        for client in list(self.clients):
            with contextlib.suppress(ConnectionClosed):
                await client.send(message)

    async def _handle(self, client: ServerConnection) -> None:
        if self.refusing:
            await client.close(code=1013)
            return
        self.clients.add(client)
        try:
            async with connect(self.upstream, max_size=None) as upstream:

                async def down() -> None:
                    async for message in upstream:
                        text = message if isinstance(message, str) else message.decode()
                        self.seen.append(text)
                        for out in self.rewrite(text) if self.rewrite else [text]:
                            await client.send(out)

                async def up() -> None:
                    async for message in client:
                        await upstream.send(message)

                tasks = [asyncio.create_task(down()), asyncio.create_task(up())]
                _, pending = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
                for task in pending:
                    task.cancel()
                for task in tasks:
                    with contextlib.suppress(asyncio.CancelledError, ConnectionClosed):
                        await task
        except (OSError, ConnectionClosed):
            pass
        finally:
            self.clients.discard(client)
