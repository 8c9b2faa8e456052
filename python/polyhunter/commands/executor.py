"""`polyhunter executor show|workers|queued|authorise|pause|fee|cancel`: the Executor's owner manages who may
move Proxies' funds, how much per hour, the pause switch and the copy fee, and cancels queued changes.

Writes are signed by the Executor's owner, whose key comes from `OWNER_PRIVATE_KEY` or from an encrypted
keystore file (`--keystore FILE`, its password from `OWNER_KEYSTORE_PASSWORD` or asked for), never from the
command line. Writes on Polygon (chain 137) also need `--i-understand-mainnet`. A change the Executor makes
wait (authorising a worker, raising a cap, changing the fee or treasury) is queued by the first run, which
says when it becomes effective; running the same command again then applies it. Pausing, deauthorising and
lowering a cap apply at once. `queued` lists every change still queued (its id, decoded call and ready time,
as the supervisor's Executor watch logs it) and `cancel ID` drops one before it is executed.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from polyhunter.commands._common import echo_json, settings_or_exit
from polyhunter.errors import ConfigError, InvalidInputError, PolyhunterError
from polyhunter.units import format_usd, normalize_address, parse_usd

if TYPE_CHECKING:
    from eth_account.signers.local import LocalAccount

    from polyhunter.chain.deployment import Deployment
    from polyhunter.commands._executor_admin import Change, ExecutorAdmin
    from polyhunter.settings import Settings

OWNER_KEY_ENV = "OWNER_PRIVATE_KEY"
KEYSTORE_PASSWORD_ENV = "OWNER_KEYSTORE_PASSWORD"  # noqa: S105 - a variable's name, not a password
POLYGON_CHAIN_ID = 137
LOCAL_CHAIN_IDS = frozenset({31337, 1337})
MAX_FEE_BPS = 1_000


def load_owner_account(settings: Settings, keystore: Path | None) -> LocalAccount:
    """The Executor owner's key: `--keystore` (password from OWNER_KEYSTORE_PASSWORD or a prompt), else
    OWNER_PRIVATE_KEY; `ConfigError` when neither is given."""
    from polyhunter.commands.proxy import key_from_keystore, key_from_text

    if keystore is not None:
        password = os.environ.get("OWNER_KEYSTORE_PASSWORD")
        if password is None:
            password = click.prompt(f"password of {keystore}", hide_input=True, err=True)
        return key_from_keystore(keystore, password)
    if settings.owner_private_key is None:
        raise ConfigError(
            f"no owner key: set {OWNER_KEY_ENV} or pass --keystore FILE (never the key on the command line)"
        )
    return key_from_text(settings.owner_private_key.get_secret_value(), OWNER_KEY_ENV)


def _deployment() -> Deployment | None:
    from polyhunter.chain.deployment import Deployment

    try:
        return Deployment.load()
    except ConfigError:
        return None


def open_admin(
    settings: Settings, keystore: Path | None, *, write: bool, mainnet_ok: bool, action: str
) -> tuple[ExecutorAdmin, int, Deployment | None]:
    """The Executor (EXECUTOR_ADDRESS, else deployment.json's for the RPC's chain) on the configured RPC,
    with the owner's key for a write (checked to be the owner before anything is sent)."""
    from polyhunter.chain.proxyowner import connect
    from polyhunter.commands._executor_admin import ExecutorAdmin

    deployment = _deployment()
    w3, chain_id, _url = connect(settings, deployment)
    if write and chain_id == POLYGON_CHAIN_ID and not mainnet_ok:
        raise ConfigError(
            f"chain id {chain_id} is Polygon mainnet: add --i-understand-mainnet to {action} "
            "on the live Executor"
        )
    address = settings.executor_address
    if address is None and deployment is not None and deployment.chain_id == chain_id:
        address = deployment.contracts.executor
    if address is None:
        raise ConfigError(f"no Executor on chain {chain_id}: set EXECUTOR_ADDRESS or run `polyhunter deploy`")
    owner = load_owner_account(settings, keystore) if write else None
    known = deployment is not None and deployment.contracts.executor.lower() == address.lower()
    admin = ExecutorAdmin(
        w3, address, owner, first_block=deployment.executor_from_block if known and deployment else None
    )
    if write:
        admin.check_owner()
    return admin, chain_id, deployment


def fleet_addresses(settings: Settings, chain_id: int, deployment: Deployment | None) -> list[str]:
    """The configured fleet's addresses (on a local chain with no key configured, the test mnemonic's)."""
    from polyhunter.chain.anvil import TEST_MNEMONIC
    from polyhunter.execution.fleet import fleet_signers

    try:
        signers = fleet_signers(
            settings, default_mnemonic=TEST_MNEMONIC if chain_id in LOCAL_CHAIN_IDS else None
        )
    except ConfigError:
        signers = []
    found = [s.address for s in signers]
    if deployment is not None and deployment.chain_id == chain_id:
        found += [a.lower() for a in deployment.accounts.fleet]
    return list(dict.fromkeys(found))


def report(as_json: bool, action: str, chain_id: int, admin: ExecutorAdmin, changes: list[Change]) -> None:
    """What a write did: each change's line (or JSON), and whether a re-run is needed to finish."""
    pending = [c for c in changes if c.pending]
    if as_json:
        echo_json(
            {
                "action": action,
                "chain_id": chain_id,
                "executor": admin.address,
                "changes": [c.to_json() for c in changes],
                "pending": bool(pending),
                "effective_from": max((c.ready_at or 0 for c in pending), default=None),
            }
        )
        return
    for change in changes:
        click.echo(change.line())
    if not pending:
        click.echo("all changes in effect")


def _run(work: Any) -> None:
    try:
        work()
    except PolyhunterError as exc:
        raise click.ClickException(str(exc)) from None


_keystore = click.option(
    "--keystore",
    type=click.Path(dir_okay=False, path_type=Path),
    help=f"An encrypted key file of the Executor's owner (password: {KEYSTORE_PASSWORD_ENV}, else asked). "
    f"Without it: {OWNER_KEY_ENV}.",
)
_mainnet = click.option(
    "--i-understand-mainnet", "mainnet_ok", is_flag=True, help="Allow writes on Polygon (137)."
)
_json = click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
_from_block = click.option(
    "--from-block",
    type=click.IntRange(min=0),
    default=0,
    show_default=True,
    help="First block searched for the Executor's events (its deployment block spares the RPC a long scan).",
)


def _addresses(values: tuple[str, ...], what: str) -> list[str]:
    try:
        return [normalize_address(v, what) for v in values]
    except InvalidInputError as exc:
        raise click.BadParameter(str(exc)) from None


@click.group("executor")
def executor() -> None:
    """The Executor's owner: workers, hourly caps, pause, fee, queued changes (the owner's key signs)."""


@executor.command("show")
@_from_block
@_json
def executor_show(from_block: int, as_json: bool) -> None:
    """Show the Executor: owner, pause, fee and treasury, change delay, default cap, queued changes."""
    settings = settings_or_exit()

    def work() -> None:
        admin, chain_id, _ = open_admin(settings, None, write=False, mainnet_ok=False, action="show")
        state = admin.state()
        state["queued_changes"] = admin.queued_changes(from_block)
        if as_json:
            echo_json({"chain_id": chain_id, **state})
            return
        from polyhunter.commands._executor_admin import when

        click.echo(f"Executor {state['executor']} on chain {chain_id}")
        click.echo(f"  owner {state['owner']}")
        click.echo(f"  paused: {'YES' if state['paused'] else 'no'}")
        click.echo(f"  fee: {state['fee_bps']} bps to treasury {state['treasury'] or '-'}")
        phase = "after setup" if state["setup_finished"] else "setup phase: changes apply at once"
        click.echo(f"  change delay: {state['change_delay_s']} s ({phase})")
        click.echo(f"  default worker cap: {format_usd(state['default_worker_cap'])} USD per rolling hour")
        for change in state["queued_changes"]:
            click.echo(f"  queued: {change['call']} (effective from {when(change['ready_at'])})")

    _run(work)


@executor.command("workers")
@_from_block
@_json
def executor_workers(from_block: int, as_json: bool) -> None:
    """List the workers (authorised ever, or in the configured fleet): cap, pulled this hour, wallet, gas."""
    settings = settings_or_exit()

    def work() -> None:
        admin, chain_id, deployment = open_admin(settings, None, write=False, mainnet_ok=False, action="list")
        fleet = fleet_addresses(settings, chain_id, deployment)
        addresses = list(dict.fromkeys([*admin.known_workers(from_block), *fleet]))
        views = [admin.worker(a) for a in addresses]
        if as_json:
            rows = [{**v.to_json(), "in_fleet": v.address in fleet} for v in views]
            echo_json({"chain_id": chain_id, "executor": admin.address, "workers": rows})
            return
        for v in views:
            flags = ("authorised" if v.authorised else "NOT authorised") + (
                ", configured fleet" if v.address in fleet else ""
            )
            click.echo(
                f"{v.address}  {flags}; cap {format_usd(v.cap)} USD/h, "
                f"pulled {format_usd(v.pulled_in_window)}, room {format_usd(v.room)}; "
                f"wallet {v.wallet or '-'}; gas {v.gas_wei} wei"
            )
        click.echo(f"{sum(v.authorised for v in views)} of {len(views)} authorised")

    _run(work)


def _cap(ctx: click.Context, param: click.Parameter, value: str | None) -> int | None:
    if value is None:
        return None
    try:
        return parse_usd(value, "--cap")
    except PolyhunterError as exc:
        raise click.BadParameter(str(exc)) from None


@executor.command("authorise")
@click.argument("workers", nargs=-1, required=True)
@click.option("--revoke", is_flag=True, help="Deauthorise them instead (immediate).")
@click.option(
    "--cap", "cap", callback=_cap, metavar="USD", help="Also set each one's cap, USD per rolling hour."
)
@_keystore
@_mainnet
@_json
def executor_authorise(
    workers: tuple[str, ...],
    revoke: bool,
    cap: int | None,
    keystore: Path | None,
    mainnet_ok: bool,
    as_json: bool,
) -> None:
    """Authorise WORKERS on the Executor (queued if the delay applies: run again once effective)."""
    settings = settings_or_exit()
    chosen = _addresses(workers, "WORKER")

    def work() -> None:
        action = "revoke" if revoke else "authorise"
        admin, chain_id, _ = open_admin(settings, keystore, write=True, mainnet_ok=mainnet_ok, action=action)
        changes = []
        if revoke:
            changes += [admin.authorise(w, False) for w in chosen]
        for worker in chosen:
            if cap is not None:  # a lower cap before authorising: the worker never has more than asked
                changes.append(admin.set_cap(worker, cap))
            if not revoke:
                changes.append(admin.authorise(worker, True))
        report(as_json, action, chain_id, admin, changes)

    _run(work)


@executor.command("queued")
@_from_block
@_json
def executor_queued(from_block: int, as_json: bool) -> None:
    """List the changes queued on the Executor and not yet executed or cancelled: id, call, ready time."""
    settings = settings_or_exit()

    def work() -> None:
        from polyhunter.commands._executor_admin import when

        admin, chain_id, _ = open_admin(settings, None, write=False, mainnet_ok=False, action="list")
        changes = admin.queued(from_block)
        now = admin.now()
        if as_json:
            rows = [
                {"id": "0x" + c.id.hex(), "call": c.call, "ready_at": c.ready_at, "ready": c.ready_at <= now}
                for c in changes
            ]
            echo_json({"chain_id": chain_id, "executor": admin.address, "now": now, "queued_changes": rows})
            return
        for c in changes:
            state = "ready now" if c.ready_at <= now else f"ready from {when(c.ready_at)}"
            click.echo(f"0x{c.id.hex()}  {c.call}  ({state})")
        click.echo(
            f"{len(changes)} change(s) queued on {admin.address}"
            + ("; `polyhunter executor cancel ID` drops one" if changes else "")
        )

    _run(work)


@executor.command("cancel")
@click.argument("change_id", metavar="ID")
@_keystore
@_mainnet
@_json
def executor_cancel(change_id: str, keystore: Path | None, mainnet_ok: bool, as_json: bool) -> None:
    """Cancel the queued change ID (from `executor queued`) before it is executed (immediate)."""
    from polyhunter.commands._executor_admin import parse_change_id

    settings = settings_or_exit()
    try:
        chosen = parse_change_id(change_id)
    except InvalidInputError as exc:
        raise click.BadParameter(str(exc), param_hint="ID") from None

    def work() -> None:
        admin, chain_id, _ = open_admin(
            settings, keystore, write=True, mainnet_ok=mainnet_ok, action="cancel"
        )
        change, tx_hash = admin.cancel(chosen)
        if as_json:
            echo_json(
                {
                    "action": "cancel",
                    "chain_id": chain_id,
                    "executor": admin.address,
                    "id": "0x" + change.id.hex(),
                    "call": change.call,
                    "ready_at": change.ready_at,
                    "tx_hash": tx_hash,
                }
            )
            return
        click.echo(f"cancelled {change.call} (id 0x{change.id.hex()}, tx {tx_hash})")

    _run(work)


@executor.command("pause")
@click.option("--resume", is_flag=True, help="Unpause instead.")
@_keystore
@_mainnet
@_json
def executor_pause(resume: bool, keystore: Path | None, mainnet_ok: bool, as_json: bool) -> None:
    """Pause the Executor at once: no worker can pull, push or repay until --resume."""
    settings = settings_or_exit()

    def work() -> None:
        action = "resume" if resume else "pause"
        admin, chain_id, _ = open_admin(settings, keystore, write=True, mainnet_ok=mainnet_ok, action=action)
        report(as_json, action, chain_id, admin, [admin.set_paused(not resume)])

    _run(work)


@executor.command("fee")
@click.option(
    "--bps", type=click.IntRange(0, MAX_FEE_BPS), required=True, help="The copy fee, basis points (max 1000)."
)
@click.option("--treasury", help="Where fees go (default: the current treasury).")
@_keystore
@_mainnet
@_json
def executor_fee(
    bps: int, treasury: str | None, keystore: Path | None, mainnet_ok: bool, as_json: bool
) -> None:
    """Set the copy fee and treasury (a rise or a new treasury waits the delay; a cut is immediate)."""
    settings = settings_or_exit()
    chosen = _addresses((treasury,), "--treasury")[0] if treasury is not None else None

    def work() -> None:
        admin, chain_id, _ = open_admin(settings, keystore, write=True, mainnet_ok=mainnet_ok, action="fee")
        report(as_json, "fee", chain_id, admin, [admin.set_fee(chosen, bps)])

    _run(work)


COMMANDS = [executor]
