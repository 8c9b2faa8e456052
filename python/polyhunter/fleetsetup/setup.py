"""Making each fleet wallet ready for the CLOB, each step only if still needed (`polyhunter fleet setup`)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from web3 import Web3
from web3.exceptions import ContractLogicError, TimeExhausted

from polyhunter._core import Eip1559Tx, Signer, keccak256
from polyhunter.chain import polygon
from polyhunter.chain.deployment import Deployment
from polyhunter.chain.tx import ContractReverted, contract, describe_revert
from polyhunter.errors import ChainError, ConfigError, ExecutionError, PolyhunterError
from polyhunter.execution.calls import address_arg
from polyhunter.fleetsetup.status import ALLOWANCE, WalletStatus, read_fleet
from polyhunter.fleetsetup.world import FleetWorld
from polyhunter.settings import Settings
from polyhunter.venue.client import ClobClient
from polyhunter.venue.errors import VenueError

MAX_UINT256 = 2**256 - 1
ZERO_ADDRESS = "0x" + "00" * 20


class NeedsMainnetConsent(ConfigError):
    """Setup would write on Polygon (chain 137) and `--i-understand-mainnet` was not given."""


@dataclass
class SetupResult:
    """What setup did (or must leave to the operator) for one fleet wallet, and its status afterwards."""

    eoa: str
    actions: list[str] = field(default_factory=list)
    operator_steps: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    status: WalletStatus | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "eoa": self.eoa,
            "actions": self.actions,
            "operator_steps": self.operator_steps,
            "errors": self.errors,
            "status": self.status.to_json() if self.status is not None else None,
        }


@dataclass(frozen=True)
class SetupOptions:
    wrap_to: int | None = None
    """Top each deposit wallet up to this much pUSD (base units), wrapping USDC.e from its EOA."""
    register: bool = False
    mainnet_ok: bool = False
    priority_fee_wei: int = 30 * 10**9
    max_fee_wei: int = 1000 * 10**9


class ChainWriter:
    """Sends one contract call at a time from a Rust `Signer` with web3's gas estimate, waiting for its
    receipt; a revert raises `ContractReverted` naming the step."""

    def __init__(self, w3: Web3, chain_id: int, options: SetupOptions) -> None:
        self.w3 = w3
        self.chain_id = chain_id
        self.options = options

    def send(self, signer: Signer, to: str, data: bytes, context: str) -> str:
        call = {"from": signer.checksum_address, "to": Web3.to_checksum_address(to), "data": data}
        try:
            gas = self.w3.eth.estimate_gas(call)  # type: ignore[arg-type]
        except ContractLogicError as exc:
            raw = _revert_data(exc)
            raise ContractReverted(describe_revert(raw), raw, context) from None
        base = int(self.w3.eth.get_block("latest").get("baseFeePerGas", 0) or 0)
        priority = self.options.priority_fee_wei
        tx = Eip1559Tx(
            chain_id=self.chain_id,
            nonce=self.w3.eth.get_transaction_count(Web3.to_checksum_address(signer.address), "pending"),
            max_fee_per_gas=min(2 * base + priority, max(self.options.max_fee_wei, base + priority)),
            max_priority_fee_per_gas=priority,
            # Estimates on a changing state can fall short by a little: a margin costs nothing unused.
            gas=gas * 6 // 5 + 10_000,
            to=to,
            data=data,
        )
        signed = signer.sign_transaction(tx)
        tx_hash = self.w3.eth.send_raw_transaction(signed.raw)
        try:
            receipt = self.w3.eth.wait_for_transaction_receipt(tx_hash, timeout=180)
        except TimeExhausted:
            raise ExecutionError(
                f"{context}: transaction 0x{signed.hash.hex()} not mined within 180 s"
            ) from None
        if receipt["status"] != 1:
            raise ContractReverted("reverted when mined", b"", context)
        return "0x" + signed.hash.hex()


def _revert_data(exc: ContractLogicError) -> bytes:
    data: Any = exc.data
    if isinstance(data, dict):
        data = data.get("data")
    if isinstance(data, str) and data.startswith("0x"):
        return bytes.fromhex(data[2:])
    return b""


def _encoder(w3: Web3, artifact: str, address: str) -> Callable[..., bytes]:
    handle = contract(w3, artifact, address)

    def encode(function: str, *args: Any) -> bytes:
        return bytes.fromhex(handle.encode_abi(function, list(args))[2:])

    return encode


def planned_writes(status: WalletStatus, world: FleetWorld, options: SetupOptions) -> list[str]:
    """The chain writes setup would make for this wallet now (empty: nothing to change on chain)."""
    plan = []
    if not status.deployed and world.wallet_factory is not None and status.wallet_source != "eoa":
        plan.append("deploy deposit wallet")
    if status.deployed or world.wallet_factory is not None:
        plan += [f"approve {token} to {name}" for token, name in status.missing_approvals]
        if (
            options.wrap_to is not None
            and status.wallet_source != "eoa"
            and status.pusd_wallet < options.wrap_to
        ):
            plan.append("wrap USDC.e into pUSD")
        if options.register and status.authorised is False:
            plan.append("authorise worker")
        if options.register and status.registered is False:
            plan.append("register wallet")
    return plan


def setup_wallet(
    writer: ChainWriter,
    world: FleetWorld,
    signer: Signer,
    status: WalletStatus,
    options: SetupOptions,
    owner: Signer | None,
    result: SetupResult | None = None,
) -> SetupResult:
    """Makes one wallet ready on chain, step by step, each step only if still needed; each step done is
    appended to `result` at once, so that a later failure leaves the record of what happened."""
    result = result if result is not None else SetupResult(status.eoa)
    w3 = writer.w3
    wallet = status.wallet
    eoa_mode = status.wallet_source == "eoa"
    if not status.deployed and not eoa_mode:
        if world.wallet_factory is None:
            result.operator_steps.append(_relayer_step(status, world))
            return result
        encode = _encoder(w3, "DepositWalletFactory", world.wallet_factory)
        writer.send(
            signer, world.wallet_factory, encode("deploy", Web3.to_checksum_address(status.eoa)), "deploy"
        )
        if not w3.eth.get_code(Web3.to_checksum_address(wallet or ZERO_ADDRESS)):
            raise ChainError(f"deposit wallet of {status.eoa} not found at its predicted address {wallet}")
        result.actions.append(f"deployed deposit wallet {wallet}")
    assert wallet is not None
    missing = status.missing_approvals
    if missing:
        pusd = _encoder(w3, "PolyUSD", world.pusd)
        ctf = _encoder(w3, "ConditionalTokens", world.ctf)
        calls: list[tuple[str, int, bytes]] = []
        for token, name in missing:
            spender = Web3.to_checksum_address(world.spenders[name])
            if token == "pusd":  # noqa: S105 - a token's name, not a password
                calls.append((world.pusd, 0, pusd("approve", spender, MAX_UINT256)))
            else:
                calls.append((world.ctf, 0, ctf("setApprovalForAll", spender, True)))
        if eoa_mode:
            for target, _value, data in calls:
                writer.send(signer, target, data, "approve")
        else:
            batch = [(Web3.to_checksum_address(t), v, d) for t, v, d in calls]
            data = _encoder(w3, "DepositWallet", wallet)("execute", batch)
            writer.send(signer, wallet, data, "deposit wallet execute (approvals)")
        result.actions.append(_describe_approvals(missing))
    if options.wrap_to is not None and not eoa_mode and status.pusd_wallet < options.wrap_to:
        _wrap(writer, world, signer, status, options.wrap_to - status.pusd_wallet, result)
    if options.register and world.executor is not None and owner is not None:
        executor = _encoder(w3, "Executor", world.executor)
        if status.authorised is False:
            data = executor("setWorkers", [Web3.to_checksum_address(status.eoa)], True)
            if owner_change(writer, owner, world.executor, data, "setWorkers", result):
                result.actions.append("authorised as a worker on the Executor")
        if status.registered is False:
            data = executor(
                "setWorkerWallet", Web3.to_checksum_address(status.eoa), Web3.to_checksum_address(wallet)
            )
            if owner_change(writer, owner, world.executor, data, "setWorkerWallet", result):
                result.actions.append(f"registered {wallet} as its trading wallet on the Executor")
    elif not options.register and (status.registered is False or status.authorised is False):
        result.operator_steps.append(
            "not registered on the Executor: run `polyhunter fleet setup --register` with OWNER_PRIVATE_KEY"
        )
    return result


def owner_change(
    writer: ChainWriter, owner: Signer, executor: str, data: bytes, context: str, result: SetupResult
) -> bool:
    """Makes the Executor's owner apply the widening admin call `data`; True once it took effect.

    During the Executor's setup phase, or with no change delay, it is sent as is. Otherwise it goes through
    the delay: queued the first time (an action, and an operator step saying when to run setup again),
    executed by a later run once its time has come, left alone while it waits."""
    handle = contract(writer.w3, "Executor", executor)
    delay = int(handle.functions.changeDelay().call())
    if delay == 0 or not handle.functions.setupFinished().call():
        writer.send(owner, executor, data, context)
        return True
    queued = _encoder(writer.w3, "Executor", executor)
    ready_at = int(handle.functions.changeReadyAt(keccak256(data)).call())
    now = int(writer.w3.eth.get_block("latest")["timestamp"])
    if ready_at == 0:
        writer.send(owner, executor, queued("queueChange", data), f"queueChange({context})")
        result.actions.append(f"queued {context} on the Executor (it waits {delay} s)")
        ready_at = now + delay
    elif ready_at <= now:
        writer.send(owner, executor, queued("executeChange", data), f"executeChange({context})")
        return True
    when = datetime.fromtimestamp(ready_at, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    result.operator_steps.append(
        f"{context} is queued on the Executor until {when}: "
        "run `polyhunter fleet setup --register` again then"
    )
    return False


def _describe_approvals(missing: list[tuple[str, str]]) -> str:
    by_spender: dict[str, list[str]] = {}
    for token, name in missing:
        by_spender.setdefault(name, []).append("pUSD" if token == "pusd" else "CTF")  # noqa: S105
    return "approved " + "; ".join(f"{' and '.join(tokens)} to {name}" for name, tokens in by_spender.items())


def _wrap(
    writer: ChainWriter,
    world: FleetWorld,
    signer: Signer,
    status: WalletStatus,
    amount: int,
    result: SetupResult,
) -> None:
    if world.usdce is None or world.onramp is None:
        result.errors.append("--wrap: no USDC.e or onramp address on this chain")
        return
    if status.usdce_eoa < amount:
        result.errors.append(
            f"--wrap: the EOA holds {status.usdce_eoa} USDC.e base units, {amount} are needed; fund it first"
        )
        return
    assert status.wallet is not None
    usdce = _encoder(writer.w3, "MockCollateral", world.usdce)
    onramp = Web3.to_checksum_address(world.onramp)
    allowance = writer.w3.eth.call(
        {
            "to": Web3.to_checksum_address(world.usdce),
            "data": ALLOWANCE + address_arg(status.eoa) + address_arg(onramp),
        }
    )
    if int.from_bytes(bytes(allowance)[:32], "big") < amount:
        writer.send(signer, world.usdce, usdce("approve", onramp, amount), "approve USDC.e to the onramp")
    wrap = _encoder(writer.w3, "CollateralOnramp", world.onramp)
    data = wrap(
        "wrap", Web3.to_checksum_address(world.usdce), Web3.to_checksum_address(status.wallet), amount
    )
    writer.send(signer, world.onramp, data, "onramp wrap")
    result.actions.append(f"wrapped {amount} USDC.e base units into pUSD for {status.wallet}")


def _relayer_step(status: WalletStatus, world: FleetWorld) -> str:
    return (
        f"deposit wallet of {status.eoa}: only Polymarket's relayer deploys it on chain {world.chain_id}. "
        "Log in at polymarket.com with this EOA (or call the relayer's deposit-wallet endpoint through "
        "Polymarket's official client) to create it, then rerun `polyhunter fleet setup --deposit-wallet "
        f"{status.eoa}=<wallet>` (or register it on the Executor with --register)"
    )


def check_consent(world: FleetWorld, plans: dict[str, list[str]], options: SetupOptions) -> None:
    """Refuses (before any write) to change anything on Polygon without `--i-understand-mainnet`."""
    writes = sum(len(p) for p in plans.values())
    if world.chain_id == polygon.POLYGON_CHAIN_ID and writes and not options.mainnet_ok:
        raise NeedsMainnetConsent(
            f"fleet setup would send {writes} transaction step(s) on Polygon mainnet (chain 137), paid in "
            "POL by the fleet EOAs: rerun with --i-understand-mainnet"
        )


async def ensure_api_key(world: FleetWorld, signer: Signer) -> str | None:
    """Derives the EOA's CLOB API key, creating it where the CLOB has none; the credentials are dropped
    when this returns. Returns the action taken ("created CLOB API key") or None."""
    if world.clob_host is None:
        raise ConfigError("no CLOB host: set CLOB_HOST (or run on a deployment with a local CLOB)")
    async with ClobClient(world.clob_host, world.chain_id, signer, timeout_s=10.0, retry_s=2.0) as client:
        try:
            await client.derive_api_key()
        except VenueError as exc:
            if exc.status != 400:
                raise
            await client.create_api_key()
            return "created CLOB API key"
    return None


def run_setup(
    settings: Settings,
    deployment: Deployment | None,
    signers: Sequence[Signer],
    given: dict[str, str],
    options: SetupOptions,
    owner: Signer | None,
) -> tuple[FleetWorld, list[SetupResult]]:
    """`fleet setup`: reads every wallet, refuses mainnet writes without consent, then makes each wallet
    ready (API key, deposit wallet, approvals, wrap, registration) and reads it again."""
    if options.register and owner is None:
        raise ConfigError("--register needs OWNER_PRIVATE_KEY (the Executor's owner registers wallets)")
    world, before = asyncio.run(read_fleet(settings, deployment, signers, given))
    if options.register and world.executor is None:
        raise ConfigError("--register: no Executor with code (EXECUTOR_ADDRESS or deployment.json)")
    plans = {s.eoa: planned_writes(s, world, options) for s in before}
    check_consent(world, plans, options)
    writer = ChainWriter(Web3(Web3.HTTPProvider(world.rpc_urls[0])), world.chain_id, options)
    results = []
    for signer, status in zip(signers, before, strict=True):
        result = SetupResult(status.eoa)
        # The chain steps and the API key fail apart: an unreachable CLOB must not hold back approvals.
        try:
            setup_wallet(writer, world, signer, status, options, owner, result)
        except PolyhunterError as exc:
            result.errors.append(str(exc))
        try:
            action = asyncio.run(ensure_api_key(world, signer))
        except PolyhunterError as exc:
            result.errors.append(f"CLOB API key: {exc}")
        else:
            if action is not None:
                result.actions.insert(0, action)
        results.append(result)
    _world, after = asyncio.run(read_fleet(settings, deployment, signers, given))
    for result, status in zip(results, after, strict=True):
        result.status = status
    return world, results
