"""What each fleet wallet has, read from the chain and the CLOB: gas, deposit wallet, pUSD, approvals,
registration on the Executor, API key (`polyhunter fleet status`)."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import ROUND_DOWN, Decimal
from typing import Any, Literal

from polyhunter._core import Signer
from polyhunter.chain import polygon
from polyhunter.chain.aiorpc import AsyncRpc
from polyhunter.chain.deployment import Deployment
from polyhunter.chain.polymarket import deposit_wallet_address
from polyhunter.errors import ChainError
from polyhunter.execution.calls import IS_WORKER, WALLET_OF, address_arg, selector
from polyhunter.fleetsetup.world import FleetWorld, load_world, rpc_urls
from polyhunter.settings import Settings
from polyhunter.venue.client import ClobClient
from polyhunter.venue.errors import VenueError

# An allowance this large is "unlimited": transferFrom may lower a finite max, never by this much.
UNLIMITED = 2**128
BALANCE_OF = selector("balanceOf(address)")
ALLOWANCE = selector("allowance(address,address)")
IS_APPROVED_FOR_ALL = selector("isApprovedForAll(address,address)")

ApiKeyState = Literal["exists", "none", "unreachable", "no_host"]


@dataclass(frozen=True)
class Approval:
    spender: str
    pusd: bool
    ctf: bool


@dataclass(frozen=True)
class WalletStatus:
    """One fleet wallet as the chain and the CLOB see it. Amounts are integers (wei; 6-decimal units)."""

    index: int
    eoa: str
    gas_wei: int
    wallet: str | None
    wallet_source: str | None
    """executor | factory | given | eoa (type 0) | None (unknown)."""
    deployed: bool
    pusd_eoa: int
    pusd_wallet: int
    usdce_eoa: int
    approvals: dict[str, Approval]
    authorised: bool | None
    """The Executor authorises the EOA as a worker (None: no Executor)."""
    registered_wallet: str | None
    api_key: ApiKeyState
    notes: tuple[str, ...] = ()

    @property
    def missing_approvals(self) -> list[tuple[str, str]]:
        """(token, spender name) pairs not yet approved, token being "pusd" or "ctf"."""
        out = []
        for name, approval in self.approvals.items():
            if not approval.pusd:
                out.append(("pusd", name))
            if not approval.ctf:
                out.append(("ctf", name))
        return out

    @property
    def registered(self) -> bool | None:
        """The Executor has this wallet as the EOA's trading wallet (type 0: the EOA needs none)."""
        if self.authorised is None:
            return None
        if self.wallet_source == "eoa":
            return True
        return self.wallet is not None and self.registered_wallet == self.wallet

    @property
    def ready(self) -> bool:
        return (
            self.deployed
            and not self.missing_approvals
            and self.authorised is not False
            and self.registered is not False
            and self.api_key == "exists"
            and self.gas_wei > 0
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "eoa": self.eoa,
            "gas_wei": self.gas_wei,
            "deposit_wallet": self.wallet,
            "deposit_wallet_source": self.wallet_source,
            "deployed": self.deployed,
            "pusd_eoa": self.pusd_eoa,
            "pusd_wallet": self.pusd_wallet,
            "usdce_eoa": self.usdce_eoa,
            "approvals": {
                name: {"spender": a.spender, "pusd": a.pusd, "ctf": a.ctf}
                for name, a in self.approvals.items()
            },
            "authorised": self.authorised,
            "registered_wallet": self.registered_wallet,
            "registered": self.registered,
            "api_key": self.api_key,
            "ready": self.ready,
            "notes": list(self.notes),
        }


async def _uint(rpc: AsyncRpc, to: str, data: bytes) -> int:
    reply = await rpc.call("eth_call", [{"to": to, "data": "0x" + data.hex()}, "latest"])
    if not isinstance(reply, str) or len(reply) < 66:
        raise ChainError(f"eth_call to {to}: empty answer (no contract or wrong interface)")
    return int(reply[:66], 16)


async def _balance(rpc: AsyncRpc, token: str | None, holder: str) -> int:
    if token is None:
        return 0
    return await _uint(rpc, token, BALANCE_OF + address_arg(holder))


async def api_key_state(world: FleetWorld, signer: Signer) -> ApiKeyState:
    """Whether the CLOB has an API key for this EOA (an L1 derive; the credentials are dropped at once)."""
    if world.clob_host is None:
        return "no_host"
    try:
        async with ClobClient(world.clob_host, world.chain_id, signer, timeout_s=10.0, retry_s=2.0) as client:
            await client.derive_api_key()
    except VenueError as exc:
        return "none" if exc.status == 400 else "unreachable"
    return "exists"


async def wallet_status(
    rpc: AsyncRpc, world: FleetWorld, index: int, signer: Signer, given: dict[str, str]
) -> WalletStatus:
    """Reads one fleet wallet's state from the chain and the CLOB."""
    eoa = signer.address
    notes: list[str] = []
    registered: str | None = None
    authorised: bool | None = None
    if world.executor is not None:
        authorised = await _uint(rpc, world.executor, IS_WORKER + address_arg(eoa)) == 1
        word = await _uint(rpc, world.executor, WALLET_OF + address_arg(eoa))
        registered = None if word == 0 else "0x" + word.to_bytes(20, "big").hex()
    wallet: str | None
    source: str | None
    if world.signature_type == 0:
        wallet, source = eoa, "eoa"
    elif registered is not None:
        wallet, source = registered, "executor"
        if eoa in given and given[eoa] != registered:
            notes.append(
                f"--deposit-wallet {given[eoa]} differs from the Executor's registration {registered}"
            )
    elif eoa in given:
        wallet, source = given[eoa], "given"
    elif world.wallet_factory is not None and world.wallet_init_code_hash is not None:
        wallet = deposit_wallet_address(world.wallet_factory, eoa, world.wallet_init_code_hash).lower()
        source = "factory"
    else:
        wallet, source = None, None
    deployed = wallet is not None and await polygon.has_code(rpc, wallet)
    approvals: dict[str, Approval] = {}
    if wallet is not None and deployed:
        for name, spender in world.spenders.items():
            allowance = await _uint(rpc, world.pusd, ALLOWANCE + address_arg(wallet) + address_arg(spender))
            operator = await _uint(
                rpc, world.ctf, IS_APPROVED_FOR_ALL + address_arg(wallet) + address_arg(spender)
            )
            approvals[name] = Approval(spender, allowance >= UNLIMITED, operator == 1)
    else:
        approvals = {name: Approval(spender, False, False) for name, spender in world.spenders.items()}
    gas = int(await rpc.call("eth_getBalance", [eoa, "latest"]), 16)
    return WalletStatus(
        index=index,
        eoa=eoa,
        gas_wei=gas,
        wallet=wallet,
        wallet_source=source,
        deployed=deployed,
        pusd_eoa=await _balance(rpc, world.pusd, eoa),
        pusd_wallet=await _balance(rpc, world.pusd, wallet) if deployed and wallet != eoa and wallet else 0,
        usdce_eoa=await _balance(rpc, world.usdce, eoa),
        approvals=approvals,
        authorised=authorised,
        registered_wallet=registered,
        api_key=await api_key_state(world, signer),
        notes=tuple(notes),
    )


async def fleet_status(
    rpc: AsyncRpc, world: FleetWorld, signers: Sequence[Signer], given: dict[str, str] | None = None
) -> list[WalletStatus]:
    """Every fleet wallet's status, read concurrently."""
    chosen = {k.lower(): v.lower() for k, v in (given or {}).items()}
    return list(
        await asyncio.gather(*(wallet_status(rpc, world, i, s, chosen) for i, s in enumerate(signers)))
    )


def format_native(wei: int, places: int = 4) -> str:
    """Wei as the native coin (ETH / POL) with `places` decimals, rounded down (never shows more gas than
    there is)."""
    return str(Decimal(wei).scaleb(-18).quantize(Decimal(1).scaleb(-places), rounding=ROUND_DOWN))


async def read_fleet(
    settings: Settings, deployment: Deployment | None, signers: Sequence[Signer], given: dict[str, str]
) -> tuple[FleetWorld, list[WalletStatus]]:
    """The world and every wallet's status (the `fleet status` command)."""
    async with AsyncRpc(rpc_urls(settings, deployment)) as rpc:
        world = await load_world(settings, deployment, rpc)
        return world, await fleet_status(rpc, world, signers, given)
