"""Starts and stops the local Polymarket (the CLOB V2 server and its activity feed) as a process beside anvil.

`polyhunter chain up` runs `python -m polyhunter.localpoly` on the deployment it just wrote; the server
derives the operator's and the market maker's keys from the local world's accounts itself, so no key crosses
a command line or an environment. It binds loopback only; this helper waits until `GET /time` answers.
"""

from __future__ import annotations

import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import IO, Self

from polyhunter.chain.anvil import LOOPBACK, free_port, terminate
from polyhunter.errors import ToolchainError


@dataclass
class LocalClobProcess:
    """One local CLOB server process; a context manager that always stops what it started."""

    deployment_path: Path
    port: int = 0
    rtds_port: int = 0
    log_path: Path | None = None
    process: subprocess.Popen[bytes] | None = field(default=None, init=False, repr=False)
    _log: IO[bytes] | None = field(default=None, init=False, repr=False)

    @property
    def url(self) -> str:
        return f"http://{LOOPBACK}:{self.port}"

    @property
    def rtds_url(self) -> str:
        return f"ws://{LOOPBACK}:{self.rtds_port}"

    def command(self) -> list[str]:
        return [
            sys.executable,
            "-m",
            "polyhunter.localpoly",
            "--deployment",
            str(self.deployment_path),
            "--host",
            LOOPBACK,
            "--port",
            str(self.port),
            "--rtds-port",
            str(self.rtds_port),
        ]

    def start(self, *, timeout: float = 60.0, detach: bool = False) -> Self:
        """Starts the server and returns once it answers. Port 0 picks free ports. `detach=True` puts it in
        its own session so that it outlives this process."""
        if self.process is not None:
            raise ToolchainError("the local CLOB is already started")
        if self.port == 0:
            self.port = free_port()
        if self.rtds_port == 0:
            self.rtds_port = free_port()
        if self.log_path is not None:
            self.log_path.parent.mkdir(parents=True, exist_ok=True)
            self._log = self.log_path.open("ab")
        self.process = subprocess.Popen(  # noqa: S603 - our own argv, no shell
            self.command(),
            stdin=subprocess.DEVNULL,
            stdout=self._log or subprocess.DEVNULL,
            stderr=subprocess.STDOUT if self._log else subprocess.DEVNULL,
            start_new_session=detach,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                code = self.process.returncode
                self.stop()
                where = f" (see {self.log_path})" if self.log_path else ""
                raise ToolchainError(f"the local CLOB exited with code {code} while starting{where}")
            try:
                with urllib.request.urlopen(self.url + "/time", timeout=1.0) as reply:  # noqa: S310 - loopback
                    if reply.status == 200:
                        return self
            except (urllib.error.URLError, OSError):
                time.sleep(0.1)
        self.stop()
        raise ToolchainError(f"the local CLOB did not answer on {self.url} within {timeout:.0f}s")

    def stop(self, timeout: float = 10.0) -> None:
        """Stops the server (SIGTERM, then SIGKILL after `timeout`); safe to call twice."""
        process, self.process = self.process, None
        terminate(process, timeout)
        if self._log is not None:
            self._log.close()
            self._log = None

    def __enter__(self) -> Self:
        return self.start() if self.process is None else self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()
