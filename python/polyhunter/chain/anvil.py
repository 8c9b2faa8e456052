"""Starts and stops anvil (from the npm package `@foundry-rs/anvil-linux-amd64`) on a free loopback port.

Used by the pytest fixtures and by `polyhunter chain up`. The binary is found, in order, at
`$POLYHUNTER_ANVIL`, on `PATH`, then in `contracts/node_modules` of a checkout (the one `make setup` fills):
an installed wheel has no checkout, and an anvil the user chose comes before ours.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import IO, Self

from polyhunter.chain.rpc import rpc_call
from polyhunter.errors import ChainError, ToolchainError

LOOPBACK = "127.0.0.1"
DEFAULT_CHAIN_ID = 31337
#: The mnemonic anvil and hardhat fund by default; for local chains only, never for real money.
TEST_MNEMONIC = "test test test test test test test test test test test junk"

ANVIL_NPM_PACKAGE = "@foundry-rs/anvil-linux-amd64"
_NPM_BINARY = Path("node_modules") / ANVIL_NPM_PACKAGE / "bin" / "anvil"


def _source_roots() -> list[Path]:
    """Directories that may hold the project's `contracts/`: the cwd's ancestors and the package's."""
    roots: list[Path] = []
    for start in (Path.cwd(), Path(__file__).resolve()):
        roots.extend([start, *start.parents])
    return roots


def find_anvil() -> Path:
    """Returns the anvil binary's path or raises `ToolchainError` saying how to get one."""
    override = os.environ.get("POLYHUNTER_ANVIL")
    if override:
        path = Path(override)
        if path.is_file() and os.access(path, os.X_OK):
            return path
        raise ToolchainError(f"POLYHUNTER_ANVIL={override!r} is not an executable file")
    on_path = shutil.which("anvil")
    if on_path:
        return Path(on_path)
    for root in _source_roots():
        candidate = root / "contracts" / _NPM_BINARY
        if candidate.is_file():
            return candidate
    raise ToolchainError(
        f"anvil not found: install the npm package {ANVIL_NPM_PACKAGE} (`npm install -g {ANVIL_NPM_PACKAGE}` "
        "puts anvil on PATH) or set POLYHUNTER_ANVIL to an anvil binary"
    )


def port_in_use(port: int) -> bool:
    """Whether something already listens on loopback `port` (a socket lingering in TIME_WAIT does not count,
    as anvil itself would bind over it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((LOOPBACK, port))
        except OSError:
            return True
        return False


def free_port() -> int:
    """A TCP port on loopback that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOOPBACK, 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class Anvil:
    """One anvil process on loopback; a context manager that always stops what it started."""

    port: int = 0
    chain_id: int = DEFAULT_CHAIN_ID
    block_time: float | None = None
    accounts: int = 10
    mnemonic: str = TEST_MNEMONIC
    extra_args: Sequence[str] = ()
    log_path: Path | None = None
    cache_path: Path | None = None
    """Where anvil persists the historical states it moves out of memory (`--cache-path`). By default a
    directory of its own that `stop()` removes: anvil's own default, `~/.foundry/anvil/tmp`, keeps them
    after a node that did not exit cleanly (gigabytes per long run)."""
    process: subprocess.Popen[bytes] | None = field(default=None, init=False, repr=False)
    _log: IO[bytes] | None = field(default=None, init=False, repr=False)
    _own_cache: Path | None = field(default=None, init=False, repr=False)

    @property
    def rpc_url(self) -> str:
        return f"http://{LOOPBACK}:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://{LOOPBACK}:{self.port}"

    def command(self) -> list[str]:
        args = [
            str(find_anvil()),
            "--host",
            LOOPBACK,
            "--port",
            str(self.port),
            "--chain-id",
            str(self.chain_id),
            "--accounts",
            str(self.accounts),
            "--mnemonic",
            self.mnemonic,
            "--silent",
        ]
        if self.block_time is not None:
            args += ["--block-time", str(self.block_time)]
        cache = self.cache_path or self._own_cache
        if cache is not None:
            args += ["--cache-path", str(cache)]
        return args + list(self.extra_args)

    def start(self, *, timeout: float = 30.0, detach: bool = False) -> Self:
        """Starts anvil and returns once it answers `eth_chainId` with the expected id.

        With `port=0` a free port is picked; a port lost to a race is retried with another one.
        `detach=True` puts anvil in its own session so that it outlives this process.
        """
        if self.process is not None:
            raise ToolchainError("anvil is already started")
        pick_port = self.port == 0
        if not pick_port and port_in_use(self.port):
            # Anvil would fail to bind and exit, but the node already there answers eth_chainId: without this
            # check the caller would deploy into that other chain and report a dead process as running.
            raise ToolchainError(
                f"port {self.port} on {LOOPBACK} is already in use: stop what listens there, or pick another "
                "port (0 picks a free one)"
            )
        if self.cache_path is None and self._own_cache is None:
            self._own_cache = Path(tempfile.mkdtemp(prefix="polyhunter-anvil-"))
        for _attempt in range(3):
            if pick_port:
                self.port = free_port()
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
            if self._wait_ready(timeout):
                return self
            self.stop()
            if not pick_port:
                break
        raise ToolchainError(f"anvil did not become ready on {self.rpc_url} within {timeout:.0f}s")

    def _wait_ready(self, timeout: float) -> bool:
        assert self.process is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                return False
            try:
                chain_id = int(rpc_call(self.rpc_url, "eth_chainId", timeout=1.0), 16)
            except ChainError:
                time.sleep(0.05)
                continue
            if chain_id != self.chain_id:
                raise ToolchainError(f"{self.rpc_url} answers chain id {chain_id}, not {self.chain_id}")
            # An answer from a node that is not ours (we lost the port in a race) comes with our process gone.
            return self.process.poll() is None
        return False

    def stop(self, timeout: float = 10.0) -> None:
        """Stops anvil (SIGTERM, then SIGKILL after `timeout`); safe to call twice."""
        process, self.process = self.process, None
        terminate(process, timeout)
        if self._log is not None:
            self._log.close()
            self._log = None
        cache, self._own_cache = self._own_cache, None
        if cache is not None:
            shutil.rmtree(cache, ignore_errors=True)

    def __enter__(self) -> Self:
        return self.start() if self.process is None else self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def terminate(process: subprocess.Popen[bytes] | None, timeout: float = 10.0) -> None:
    """Stops a child process of ours: SIGTERM, then SIGKILL after `timeout`; nothing if it already exited."""
    if process is not None and process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def is_running(pid: int, marker: bytes = b"anvil") -> bool:
    """Whether `pid` is a live process whose command line holds `marker` (not a reused pid)."""
    try:
        return marker in Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False


def stop_pid(pid: int, timeout: float = 10.0, *, marker: bytes = b"anvil") -> bool:
    """Stops a detached process of ours by pid (anvil, or with `marker=b"polyhunter.localpoly"` the local
    CLOB); returns False when no such process with that pid was running."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False
    if marker not in cmdline:  # the pid was reused by another program: leave it alone
        return False
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return False
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.05)
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)
    return True
