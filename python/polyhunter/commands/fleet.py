"""`polyhunter fleet status|setup`: each fleet wallet's readiness for the CLOB, and the steps that make it
ready (deposit wallet, approvals, pUSD, registration on the Executor, API key)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import click

from polyhunter._core import Signer
from polyhunter.chain.anvil import TEST_MNEMONIC
from polyhunter.chain.deployment import Deployment
from polyhunter.commands._common import echo_json, settings_or_exit
from polyhunter.errors import ConfigError, PolyhunterError
from polyhunter.units import format_usd, parse_usd

if TYPE_CHECKING:  # the set-up loads web3, eth-account, aiohttp: where a command runs, not for `--help`
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
        amount = parse_usd(value, "--wrap")
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


COMMANDS = [fleet]
