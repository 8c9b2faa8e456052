"""The operator fleet: N signers derived in Rust, each with its nonce allocator and its ownership lease.

Signers come from `TRADING_MNEMONIC` (m/44'/60'/0'/0/i, `SUPERVISOR_WORKER_POOL_SIZE` of them from
`TRADING_ACCOUNT_START`) or one `TRADING_PRIVATE_KEY`. A wallet sends only while this instance holds its lease
in the shared state (Redis when several instances run): the lease is renewed at a third of its TTL and judged
locally against a deadline taken *before* each renewal was asked, so a holder that stops renewing stops
sending before anyone else can take the wallet over.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from polyhunter._core import Signer, derive_signers
from polyhunter.chain.aiorpc import AsyncRpc
from polyhunter.errors import ChainError, ConfigError, ExecutionError
from polyhunter.execution.background import cancel
from polyhunter.execution.calls import IS_WORKER, address_arg
from polyhunter.execution.nonces import NonceAllocator
from polyhunter.settings import Settings
from polyhunter.shared.base import SharedState

log = logging.getLogger(__name__)


class LeaseLost(ExecutionError):
    """This instance no longer owns the wallet: it must not send from it."""


OnGain = Callable[[list["OperatorWallet"]], Awaitable[None]]
"""Called with the wallets newly owned (their nonces must be resynced before use)."""


def fleet_signers(settings: Settings, default_mnemonic: str | None = None) -> list[Signer]:
    """The fleet from `TRADING_MNEMONIC` (N = `SUPERVISOR_WORKER_POOL_SIZE` from `TRADING_ACCOUNT_START`) or
    `TRADING_PRIVATE_KEY`."""
    if settings.trading_mnemonic is not None:
        return derive_signers(
            settings.trading_mnemonic.get_secret_value(),
            settings.supervisor_worker_pool_size,
            start=settings.trading_account_start,
        )
    if settings.trading_private_key is not None:
        return [Signer(settings.trading_private_key.get_secret_value())]
    if default_mnemonic is not None:
        return derive_signers(default_mnemonic, settings.supervisor_worker_pool_size)
    raise ConfigError("TRADING_MNEMONIC or TRADING_PRIVATE_KEY: no operator wallet configured")


def _process_space() -> str:
    """Which process table a pid belongs to: this boot of the kernel and this pid namespace ("" if unknown).

    Two containers may share a host name but not both of these, so a pid is only ever judged in its own
    table."""
    try:
        boot = Path("/proc/sys/kernel/random/boot_id").read_text().strip()
        pidns = os.stat("/proc/self/ns/pid").st_ino
    except OSError:
        return ""
    return f"{boot}.{pidns}"


def instance_id() -> str:
    """This process's lease holder id: host, process table, pid, and a random part (a reused pid is
    someone else)."""
    return f"{socket.gethostname()}/{_process_space()}/{os.getpid()}/{uuid.uuid4().hex[:8]}"


def holder_is_dead(holder: str) -> bool:
    """True only when `holder` (an `instance_id`) is a process of this host's process table that no longer
    exists: its leases can be taken over at once instead of after their TTL. Anything else (another host,
    another container, an id of another shape, a pid that exists) is presumed alive."""
    parts = holder.split("/")
    if len(parts) != 4 or not parts[2].isdigit():
        return False
    host, space, pid = parts[0], parts[1], int(parts[2])
    if not space or host != socket.gethostname() or space != _process_space() or pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except OSError:  # exists, owned by someone else
        return False
    return _zombie(pid)


def _zombie(pid: int) -> bool:
    """A process that has exited but whose parent has not reaped it yet still answers signal 0."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    # The state follows the command name, which is in parentheses and may itself hold any character.
    return stat[stat.rfind(")") + 2 : stat.rfind(")") + 3] == "Z"


@dataclass(eq=False)
class OperatorWallet:
    """One fleet wallet as the engine uses it."""

    signer: Signer
    nonces: NonceAllocator = field(init=False)
    jobs: int = 0
    """Jobs using this wallet now (the one-per-wallet model caps this at 1)."""
    lease_until: float = float("inf")
    """Monotonic deadline of this instance's ownership (inf: no shared state, sole owner)."""
    owned: bool = True
    ready: bool = True
    synced: bool = True
    """Whether the nonce allocator follows the chain since this instance took the lease: a wallet taken over
    from another instance is not checked out before its resync (else its first nonce is a stale one)."""
    reserved_float: int = 0
    """Collateral promised to Smart Buffer buys in flight."""

    def __post_init__(self) -> None:
        self.nonces = NonceAllocator(self.signer.address)

    @property
    def address(self) -> str:
        return self.signer.address

    def may_send(self) -> bool:
        return self.owned and time.monotonic() < self.lease_until

    def check_lease(self) -> None:
        if not self.may_send():
            raise LeaseLost(f"wallet {self.address}: lease lost, not sending")

    def __repr__(self) -> str:
        return f"OperatorWallet({self.address}, jobs={self.jobs}, owned={self.owned})"


class WalletLeases:
    """Holds the leases of the fleet's wallets in the shared state; without one, this instance owns all."""

    def __init__(
        self,
        shared: SharedState | None,
        wallets: Sequence[OperatorWallet],
        *,
        chain_id: int,
        ttl_ms: int = 30_000,
        holder: str | None = None,
    ) -> None:
        self.shared = shared
        self.wallets = list(wallets)
        self.chain_id = chain_id
        self.ttl_ms = ttl_ms
        self.holder = holder or instance_id()
        self._task: asyncio.Task[None] | None = None
        self.renew = True
        """Tests turn renewal off to let a lease expire."""
        if shared is not None:
            for wallet in self.wallets:  # owned only once the lease is taken
                wallet.owned, wallet.lease_until = False, 0.0

    def name(self, wallet: OperatorWallet) -> str:
        return f"wallet:{self.chain_id}:{wallet.address}"

    async def acquire_all(self) -> list[OperatorWallet]:
        """Takes (or renews) every lease it can; returns the wallets newly owned."""
        if self.shared is None:
            return []
        gained = []
        # The margin: a renewal's answer may arrive late; trust it only from the moment it was asked.
        margin = self.ttl_ms / 10_000
        for wallet in self.wallets:
            asked = time.monotonic()
            if wallet.owned and wallet.lease_until > asked:
                ok = await self.shared.renew_lease(self.name(wallet), self.holder, self.ttl_ms)
            else:
                ok = await self._acquire(wallet)
                if ok:
                    wallet.synced = False  # until the owner of `on_gain` resyncs its nonces
                    gained.append(wallet)
            if ok:
                wallet.owned = True
                wallet.lease_until = asked + self.ttl_ms / 1000 - margin
            else:
                if wallet.owned and wallet.lease_until != float("inf"):
                    log.warning("wallet %s: lease lost to another instance", wallet.address)
                wallet.owned = False
                wallet.lease_until = 0.0
        return gained

    async def _acquire(self, wallet: OperatorWallet) -> bool:
        """Takes the lease if free, or at once from a crashed process of this host (see `holder_is_dead`)."""
        assert self.shared is not None
        name = self.name(wallet)
        if await self.shared.acquire_lease(name, self.holder, self.ttl_ms):
            return True
        holder = await self.shared.lease_holder(name)
        if holder is None or not holder_is_dead(holder):
            return False
        # Compare-and-delete: only the dead holder's lease goes, never one a live process took meanwhile.
        if not await self.shared.release_lease(name, holder):
            return False
        log.warning(
            "wallet %s: lease taken over from %s, a process that no longer exists", wallet.address, holder
        )
        return await self.shared.acquire_lease(name, self.holder, self.ttl_ms)

    def start(self, on_gain: OnGain | None = None) -> None:
        if self.shared is not None and self._task is None:
            self._task = asyncio.create_task(self._run(on_gain), name="wallet-leases")

    async def _run(self, on_gain: OnGain | None) -> None:
        while True:
            await asyncio.sleep(self.ttl_ms / 3000)
            if not self.renew:
                continue
            try:
                gained = await self.acquire_all()
            except Exception:
                log.exception("renewing wallet leases failed")
                continue
            if gained and on_gain is not None:
                await on_gain(gained)

    async def close(self) -> None:
        await cancel(self._task)
        self._task = None
        if self.shared is not None:
            for wallet in self.wallets:
                if wallet.owned:
                    with contextlib.suppress(Exception):
                        await self.shared.release_lease(self.name(wallet), self.holder)
                wallet.owned = False


async def check_fleet(
    rpc: AsyncRpc, executor: str, wallets: Sequence[OperatorWallet], min_gas_wei: int
) -> list[OperatorWallet]:
    """Marks each wallet ready if the Executor authorises it and it holds at least `min_gas_wei`; logs
    `Fleet: k/N ready` and the reason for each wallet that is not."""

    async def check(wallet: OperatorWallet) -> str | None:
        try:
            data = "0x" + (IS_WORKER + address_arg(wallet.address)).hex()
            authorised = int(await rpc.call("eth_call", [{"to": executor, "data": data}, "latest"]), 16) == 1
            balance = int(await rpc.call("eth_getBalance", [wallet.address, "latest"]), 16)
        except ChainError as exc:
            return f"unreachable ({exc})"
        if not authorised:
            return "not an authorised worker on the Executor"
        if balance < min_gas_wei:
            return f"gas {balance} wei below {min_gas_wei}"
        return None

    problems = await asyncio.gather(*(check(w) for w in wallets))
    for wallet, problem in zip(wallets, problems, strict=True):
        wallet.ready = problem is None or problem.startswith("gas")
        if problem is not None:
            log.warning("fleet wallet %s: %s", wallet.address, problem)
    ready = sum(1 for p in problems if p is None)
    log.info("Fleet: %d/%d ready", ready, len(wallets))
    return [w for w, p in zip(wallets, problems, strict=True) if p is None]
