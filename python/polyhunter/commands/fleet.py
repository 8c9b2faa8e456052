"""`polyhunter fleet status|setup|rotate`: each fleet wallet's readiness for the CLOB, the steps that make it
ready (deposit wallet, approvals, pUSD, registration on the Executor, API key), and moving the fleet to a new
derivation (`rotate`, see `commands/_rotate.py`)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from polyhunter._core import Signer
from polyhunter.chain.anvil import TEST_MNEMONIC
from polyhunter.chain.deployment import Deployment
from polyhunter.commands._common import echo_json, settings_or_exit
from polyhunter.errors import ConfigError, PolyhunterError
from polyhunter.units import format_usd, parse_usd

if TYPE_CHECKING:  # the set-up loads web3, eth-account, aiohttp: where a command runs, not for `--help`
    from contextlib import AsyncExitStack

    from rich.table import Table

    from polyhunter.fleetsetup import FleetWorld, SetupResult, WalletStatus
    from polyhunter.settings import Settings

# Chains on which, with no key configured, the fleet is the local world's (the public test mnemonic).
LOCAL_CHAIN_IDS = frozenset({31337, 1337})


def _deployment() -> Deployment | None:
    try:
        return Deployment.load()
    except ConfigError:
        return None


def _signers(settings: Settings, deployment: Deployment | None) -> list[Signer]:
    from polyhunter.execution.fleet import fleet_signers

    local = deployment is not None and deployment.chain_id in LOCAL_CHAIN_IDS
    return fleet_signers(settings, default_mnemonic=TEST_MNEMONIC if local else None)


def _world_json(world: FleetWorld) -> dict[str, Any]:
    return {
        "chain_id": world.chain_id,
        "signature_type": world.signature_type,
        "pusd": world.pusd,
        "ctf": world.ctf,
        "executor": world.executor,
        "spenders": world.spenders,
        "deposit_wallet_factory": world.wallet_factory,
        "clob_host": world.clob_host,
        "notes": list(world.notes),
    }


def _yes(value: bool | None) -> str:
    return "-" if value is None else "yes" if value else "NO"


def _approvals(status: WalletStatus) -> str:
    """`done/needed` (pUSD allowance and CTF operator per spender); `--json` names the missing ones."""
    needed = 2 * len(status.approvals)
    return f"{needed - len(status.missing_approvals)}/{needed}"


def _table(world: FleetWorld, statuses: list[WalletStatus]) -> Table:
    from rich.table import Table

    from polyhunter.fleetsetup import format_native

    coin = "POL" if world.chain_id in (137, 80002) else "ETH"
    table = Table(title=f"fleet on chain {world.chain_id} (signature type {world.signature_type})")
    table.add_column("#")
    table.add_column("EOA", no_wrap=True, min_width=42)
    table.add_column(f"gas {coin}")
    table.add_column("deposit wallet", no_wrap=True, min_width=42)
    for column in ("deployed", "pUSD EOA", "pUSD wallet", "approvals", "worker", "registered", "API key"):
        table.add_column(column)
    table.add_column("ready")
    for s in statuses:
        table.add_row(
            str(s.index),
            s.eoa,
            format_native(s.gas_wei),
            s.wallet or "unknown",
            f"{_yes(s.deployed)} ({s.wallet_source})" if s.wallet_source else _yes(s.deployed),
            format_usd(s.pusd_eoa),
            format_usd(s.pusd_wallet),
            _approvals(s),
            _yes(s.authorised),
            _yes(s.registered),
            s.api_key,
            _yes(s.ready),
        )
    return table


def _echo_table(world: FleetWorld, statuses: list[WalletStatus]) -> None:
    from rich.console import Console

    # Wide enough for two addresses per row: a narrow terminal would wrap them mid-address.
    console = Console(width=max(220, Console().width), highlight=False)
    console.print(_table(world, statuses))
    for note in world.notes:
        click.echo(f"note: {note}")
    for s in statuses:
        for note in s.notes:
            click.echo(f"note: wallet {s.index} ({s.eoa}): {note}")
    ready = sum(1 for s in statuses if s.ready)
    click.echo(f"Fleet: {ready}/{len(statuses)} ready for the CLOB")


def _given(settings: Settings, values: tuple[str, ...]) -> dict[str, str]:
    """CLOB_DEPOSIT_WALLETS, with `--deposit-wallet` options winning for the EOAs they name."""
    from polyhunter.fleetsetup import parse_given_wallets

    try:
        return {**settings.clob_deposit_wallets, **parse_given_wallets(values)}
    except PolyhunterError as exc:
        raise click.BadParameter(str(exc), param_hint="--deposit-wallet") from None


DEPOSIT_WALLET_HELP = (
    "EOA=WALLET: a fleet EOA's deposit wallet made by Polymarket (production; repeatable; "
    "adds to CLOB_DEPOSIT_WALLETS)."
)


@click.group()
def fleet() -> None:
    """The operator fleet's wallets: readiness for the CLOB and its set-up."""


@fleet.command("status")
@click.option("--deposit-wallet", "given", multiple=True, help=DEPOSIT_WALLET_HELP)
@click.option("--json", "as_json", is_flag=True, help="Print the status as JSON.")
def fleet_status(given: tuple[str, ...], as_json: bool) -> None:
    """Show per fleet wallet: gas, deposit wallet, pUSD, approvals, registration and CLOB API key."""
    import asyncio

    from polyhunter.fleetsetup import read_fleet

    settings = settings_or_exit()
    chosen = _given(settings, given)
    deployment = _deployment()
    try:
        world, statuses = asyncio.run(
            read_fleet(settings, deployment, _signers(settings, deployment), chosen)
        )
    except PolyhunterError as exc:
        raise click.ClickException(str(exc)) from None
    if as_json:
        echo_json({"world": _world_json(world), "wallets": [s.to_json() for s in statuses]})
    else:
        _echo_table(world, statuses)


def _wrap_amount(ctx: click.Context, param: click.Parameter, value: str | None) -> int | None:
    if value is None:
        return None
    try:
        amount = parse_usd(value, param.opts[0])
    except PolyhunterError as exc:
        raise click.BadParameter(str(exc)) from None
    if amount == 0:
        raise click.BadParameter("must be above zero")
    return amount


def _describe(result: SetupResult) -> list[str]:
    lines = [f"  did: {a}" for a in result.actions]
    lines += [f"  operator must: {step}" for step in result.operator_steps]
    lines += [f"  error: {e}" for e in result.errors]
    return lines or ["  nothing to change (already set up)"]


@fleet.command("setup")
@click.option(
    "--wrap",
    "wrap_to",
    callback=_wrap_amount,
    metavar="USD",
    help="Top each deposit wallet up to USD pUSD, wrapping USDC.e from its EOA through the onramp.",
)
@click.option(
    "--register",
    is_flag=True,
    help="With OWNER_PRIVATE_KEY: authorise each EOA on the Executor and register its deposit wallet.",
)
@click.option("--deposit-wallet", "given", multiple=True, help=DEPOSIT_WALLET_HELP)
@click.option("--i-understand-mainnet", "mainnet_ok", is_flag=True, help="Allow writes on Polygon (137).")
@click.option("--json", "as_json", is_flag=True, help="Print what was done and the status as JSON.")
def fleet_setup(
    wrap_to: int | None, register: bool, given: tuple[str, ...], mainnet_ok: bool, as_json: bool
) -> None:
    """Make every fleet wallet ready for the CLOB; a second run changes nothing and says so."""
    from polyhunter.fleetsetup import SetupOptions, run_setup

    settings = settings_or_exit()
    chosen = _given(settings, given)
    deployment = _deployment()
    owner_key = settings.owner_private_key
    options = SetupOptions(
        wrap_to=wrap_to,
        register=register,
        mainnet_ok=mainnet_ok,
        priority_fee_wei=settings.copy_trading_priority_fee_gwei * 10**9,
        max_fee_wei=settings.copy_trading_max_fee_gwei * 10**9,
    )
    try:
        owner = Signer(owner_key.get_secret_value()) if owner_key is not None and register else None
        world, results = run_setup(
            settings, deployment, _signers(settings, deployment), chosen, options, owner
        )
    except PolyhunterError as exc:
        raise click.ClickException(str(exc)) from None
    changed = any(r.actions for r in results)
    ready = sum(1 for r in results if r.status is not None and r.status.ready)
    if as_json:
        echo_json(
            {
                "world": _world_json(world),
                "changed": changed,
                "ready": ready,
                "wallets": [r.to_json() for r in results],
            }
        )
    else:
        for result in results:
            index = result.status.index if result.status is not None else "?"
            click.echo(f"wallet {index} {result.eoa}:")
            for line in _describe(result):
                click.echo(line)
        summary = "changes made" if changed else "nothing changed: the fleet was already set up"
        click.echo(f"Fleet: {ready}/{len(results)} ready for the CLOB; {summary}")
    if any(r.errors for r in results):
        raise SystemExit(1)


NEW_MNEMONIC_ENV = "NEW_TRADING_MNEMONIC"


def _new_fleet(
    settings: Settings, deployment: Deployment | None, start: int | None, size: int
) -> list[Signer]:
    """The new derivation: NEW_TRADING_MNEMONIC from index `start` (default 0), else the current words from
    `start`, which must then be given (the current fleet's indices are the ones to leave)."""
    from polyhunter._core import derive_signers

    words = os.environ.get("NEW_TRADING_MNEMONIC")
    if words is None or not words.strip():
        if start is None:
            raise ConfigError(
                f"fleet rotate: set {NEW_MNEMONIC_ENV} (the new fleet's words) or give --start N "
                "(new indices of TRADING_MNEMONIC)"
            )
        local = deployment is not None and deployment.chain_id in LOCAL_CHAIN_IDS
        current = settings.trading_mnemonic
        if current is None and not local:
            raise ConfigError("fleet rotate --start: TRADING_MNEMONIC is not set")
        words = current.get_secret_value() if current is not None else TEST_MNEMONIC
    return derive_signers(words.strip(), size, start=start or 0)


def _rotation_lines(rotation: Any, start: int | None) -> list[str]:
    from polyhunter.commands._executor_admin import when

    lines = [f"  {s.status}: {s.what}" + (f" (tx {s.tx_hash})" if s.tx_hash else "") for s in rotation.steps]
    if rotation.pending:
        lines.append(
            f"the new workers are effective from {when(rotation.effective_from)}: "
            "run `polyhunter fleet rotate` again then to finish (the old fleet keeps working meanwhile)"
        )
    elif rotation.failed:
        lines.append("some steps failed (above): fix them and run `polyhunter fleet rotate` again")
    else:
        words = f"{NEW_MNEMONIC_ENV}'s words as TRADING_MNEMONIC" if os.environ.get(NEW_MNEMONIC_ENV) else ""
        index = f"TRADING_ACCOUNT_START={start or 0}"
        lines.append(
            f"rotation complete{'' if rotation.changed else ' (nothing left to do)'}: "
            f"restart the supervisors with {words + ' and ' if words else ''}{index}"
        )
    return lines


@fleet.command("rotate")
@click.option(
    "--start",
    type=click.IntRange(0, 2**31 - 1),
    help=f"First index of the new fleet (on {NEW_MNEMONIC_ENV}, default 0; on TRADING_MNEMONIC, required).",
)
@click.option("--size", type=click.IntRange(1, 10_000), help="New fleet size (default: the current one's).")
@click.option(
    "--cap", "cap", callback=_wrap_amount, metavar="USD", help="Each new worker's cap, USD per hour."
)
@click.option(
    "--keystore",
    type=click.Path(dir_okay=False, path_type=Path),
    help="An encrypted key file of the Executor's owner (password: OWNER_KEYSTORE_PASSWORD, else asked). "
    "Without it: OWNER_PRIVATE_KEY.",
)
@click.option("--i-understand-mainnet", "mainnet_ok", is_flag=True, help="Allow writes on Polygon (137).")
@click.option("--json", "as_json", is_flag=True, help="Print the steps as JSON.")
def fleet_rotate(
    start: int | None,
    size: int | None,
    cap: int | None,
    keystore: Path | None,
    mainnet_ok: bool,
    as_json: bool,
) -> None:
    """Move the fleet to a new derivation: authorise the new workers (waiting the Executor's delay: run again
    then), deauthorise the old, move their open debts, sweep their floats, deposit wallets and gas."""
    from polyhunter.commands._common import enter_store, run_async
    from polyhunter.commands._rotate import FleetRotation, journal_recorders
    from polyhunter.commands.executor import open_admin
    from polyhunter.fleetsetup import SetupOptions
    from polyhunter.models import DebtStatus

    settings = settings_or_exit()

    async def body(stack: AsyncExitStack) -> Any:
        admin, chain_id, deployment = open_admin(
            settings, keystore, write=True, mainnet_ok=mainnet_ok, action="rotate the fleet"
        )
        old = _signers(settings, deployment)
        new = _new_fleet(settings, deployment, start, size or len(old))
        ours = deployment if deployment is not None and deployment.chain_id == chain_id else None
        collateral = settings.usdc_address or (ours.contracts.collateral if ours is not None else None)
        ctf = settings.ctf_address or (ours.contracts.ctf if ours is not None else None)
        if not collateral or not ctf:
            raise ConfigError("fleet rotate: USDC_ADDRESS and CTF_ADDRESS (or deployment.json) are needed")
        tokens = [
            t for m in (ours.markets if ours is not None else []) for t in (m.yes_token_id, m.no_token_id)
        ]
        rotation = FleetRotation(
            admin,
            chain_id,
            old,
            new,
            collateral=collateral,
            ctf=ctf,
            token_ids=tokens,
            options=SetupOptions(
                priority_fee_wei=settings.copy_trading_priority_fee_gwei * 10**9,
                max_fee_wei=settings.copy_trading_max_fee_gwei * 10**9,
            ),
        )
        if rotation.authorise_new(cap):
            rotation.deauthorise_old()
            store = await enter_store(stack, settings)
            debts = await store.list_debts(DebtStatus.OPEN)
            # The journal names who recorded each debt on chain, which after an earlier rotation is in
            # neither fleet: without it the rotation would have to search the Executor's whole history.
            rotation.move_debts(debts, await journal_recorders(store, debts))
            for debt_id, heir in rotation.result.moved_debts:
                await store.reassign_debt(debt_id, heir)
            rotation.sweep()
        return rotation.result

    result = run_async(body)
    if as_json:
        echo_json(result.to_json())
    else:
        click.echo(f"fleet rotate: {len(result.old)} old workers -> {len(result.new)} new")
        for line in _rotation_lines(result, start):
            click.echo(line)
    if result.failed:
        raise SystemExit(1)


COMMANDS = [fleet]
