"""`polyhunter proxy create|deposit|withdraw|limits|pause|resume|show`: a follower manages their own Proxy.

Writes are signed by the Proxy's owner, whose key comes from `FOLLOWER_PRIVATE_KEY` or from an encrypted
keystore file (`--keystore FILE`, its password from `FOLLOWER_KEYSTORE_PASSWORD` or asked for), never from the
command line, where every other user of the machine could read it. Writes on Polygon (chain 137) also need
`--i-understand-mainnet`. Amounts are exact decimal USD (or shares), "12.5", parsed into 6-decimal base units.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from polyhunter.commands._common import echo_json, settings_or_exit
from polyhunter.errors import ConfigError, InvalidInputError, PolyhunterError
from polyhunter.units import format_usd, normalize_address, parse_usd

if TYPE_CHECKING:
    from eth_account.signers.local import LocalAccount

    from polyhunter.chain.proxyowner import OwnerKey, ProxyOwner

FOLLOWER_KEY_ENV = "FOLLOWER_PRIVATE_KEY"
KEYSTORE_PASSWORD_ENV = "FOLLOWER_KEYSTORE_PASSWORD"  # noqa: S105 - a variable's name, not a password
POLYGON_CHAIN_ID = 137
_PRIVATE_KEY = re.compile(r"(0x)?[0-9a-fA-F]{64}")
_SECP256K1_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141


def parse_amount(text: str, what: str) -> int:
    """A positive exact decimal ("12.5") → base units; `InvalidInputError` names `what` and the text."""
    value = parse_usd(text, what)
    if value == 0:
        raise InvalidInputError(f"{what} must be above zero, got {text!r}")
    return value


def parse_withdraw_amount(text: str) -> int | None:
    """`all` → None (everything the Proxy holds), else a positive decimal in base units."""
    if text.strip().lower() == "all":
        return None
    return parse_amount(text, "the amount to withdraw")


def key_from_text(raw: str, source: str) -> LocalAccount:
    """An eth-account `LocalAccount` from 64 hex digits; the error names `source`, never the value."""
    from eth_account import Account

    text = raw.strip()
    if _PRIVATE_KEY.fullmatch(text) is None:
        raise ConfigError(f"{source} must be 64 hex digits (with or without 0x)")
    if not 0 < int(text.removeprefix("0x"), 16) < _SECP256K1_N:
        raise ConfigError(f"{source} is not a valid secp256k1 private key")
    account: LocalAccount = Account.from_key(text if text.startswith("0x") else "0x" + text)
    return account


def key_from_keystore(path: Path, password: str) -> LocalAccount:
    """The account of an encrypted (Web3 Secret Storage) keystore file."""
    from eth_account import Account

    try:
        blob = json.loads(path.read_text())
    except OSError as exc:
        raise ConfigError(f"cannot read the keystore {path}: {exc.strerror or exc}") from None
    except ValueError:
        raise ConfigError(f"the keystore {path} is not JSON") from None
    if not isinstance(blob, dict) or "crypto" not in {k.lower() for k in blob}:
        raise ConfigError(f"the keystore {path} is not an encrypted key file (no 'crypto' section)")
    try:
        secret = Account.decrypt(blob, password)
    except ValueError:
        raise ConfigError(f"the keystore {path} does not open with this password") from None
    except (KeyError, TypeError):
        raise ConfigError(f"the keystore {path} is damaged") from None
    account: LocalAccount = Account.from_key(secret)
    return account


def load_owner_key(keystore: Path | None) -> OwnerKey:
    """The follower's `OwnerKey`: from `--keystore` (password from the environment or a prompt), else from
    FOLLOWER_PRIVATE_KEY; `ConfigError` when neither is given."""
    from polyhunter.chain.proxyowner import OwnerKey

    if keystore is not None:
        password = os.environ.get("FOLLOWER_KEYSTORE_PASSWORD")
        if password is None:
            password = click.prompt(f"password of {keystore}", hide_input=True, err=True)
        return OwnerKey(key_from_keystore(keystore, password))
    raw = os.environ.get("FOLLOWER_PRIVATE_KEY")
    if raw is None or not raw.strip():
        raise ConfigError(
            f"no follower key: set {FOLLOWER_KEY_ENV} or pass --keystore FILE "
            "(never the key on the command line)"
        )
    return OwnerKey(key_from_text(raw, FOLLOWER_KEY_ENV))


def _usd_option(ctx: click.Context, param: click.Parameter, value: str | None) -> int | None:
    if value is None:
        return None
    try:
        return parse_usd(value, f"--{param.name.replace('_', '-') if param.name else 'amount'}")
    except InvalidInputError as exc:
        raise click.BadParameter(str(exc)) from None


def _address_option(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    if value is None:
        return None
    try:
        return normalize_address(value, "address")
    except InvalidInputError as exc:
        raise click.BadParameter(str(exc)) from None


def _token_id_option(ctx: click.Context, param: click.Parameter, value: Any) -> Any:
    values = value if isinstance(value, tuple) else (value,)
    out = []
    for item in values:
        if item is None:
            continue
        if not str(item).isdigit() or int(item) >= 2**256:
            raise click.BadParameter(f"a token id is a decimal uint256, got {item!r}")
        out.append(int(item))
    return tuple(out) if isinstance(value, tuple) else (out[0] if out else None)


_keystore = click.option(
    "--keystore",
    type=click.Path(dir_okay=False, path_type=Path),
    help=f"An encrypted key file of the Proxy's owner (password: {KEYSTORE_PASSWORD_ENV}, else asked). "
    f"Without it the key is {FOLLOWER_KEY_ENV}.",
)
_mainnet = click.option(
    "--i-understand-mainnet", "mainnet_ok", is_flag=True, help="Allow writes on Polygon (137)."
)
_json = click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")


def _run(
    keystore: Path | None,
    mainnet_ok: bool,
    as_json: bool,
    action: str,
    work: Any,
    *,
    write: bool = True,
    owner: str | None = None,
    token_ids: tuple[int, ...] = (),
) -> None:
    """Loads the key and the world, runs `work(handle) -> dict` and prints what it did and the state after."""
    from polyhunter.chain.deployment import Deployment
    from polyhunter.chain.proxyowner import ProxyOwner, connect, load_world

    settings = settings_or_exit()
    try:
        if not write and owner is None and keystore is None and not os.environ.get("FOLLOWER_PRIVATE_KEY"):
            raise ConfigError("whose Proxy? give --owner ADDR (or the owner's key: FOLLOWER_PRIVATE_KEY)")
        key = load_owner_key(keystore) if write or owner is None else None
        try:
            deployment: Deployment | None = Deployment.load()
        except ConfigError:
            deployment = None
        w3, chain_id, url = connect(settings, deployment)
        if write and chain_id == POLYGON_CHAIN_ID and not mainnet_ok:
            raise ConfigError(
                f"chain id {chain_id} is Polygon mainnet: add --i-understand-mainnet to {action} "
                "with real money"
            )
        world = load_world(w3, chain_id, url, settings, deployment)
        address = owner or (key.address if key is not None else "")
        handle = ProxyOwner(w3, world, address, key)
        done: dict[str, Any] = work(handle) or {}
        state = handle.state(token_ids)
    except PolyhunterError as exc:
        raise click.ClickException(str(exc)) from None
    txs = [{"step": step, "tx_hash": tx} for step, tx in handle.txs]
    if as_json:
        fields = {k: v for k, v in done.items() if k != "lines"}
        echo_json({"action": action, "chain_id": chain_id, **fields, "txs": txs, "state": state.to_json()})
        return
    for step, tx in handle.txs:
        click.echo(f"{step}: tx {tx}")
    for line in done.get("lines", []):
        click.echo(line)
    for line in state.lines():
        click.echo(line)


@click.group("proxy")
def proxy() -> None:
    """A follower's Proxy: create, deposit, withdraw, limits, pause, show (signed by the owner's key)."""


@proxy.command("create")
@click.option(
    "--max-per-trade", required=True, callback=_usd_option, metavar="USD", help="Most one copy may move."
)
@click.option("--max-per-day", required=True, callback=_usd_option, metavar="USD", help="Most per UTC day.")
@_keystore
@_mainnet
@_json
def proxy_create(
    max_per_trade: int, max_per_day: int, keystore: Path | None, mainnet_ok: bool, as_json: bool
) -> None:
    """Create the owner's Proxy (one per owner, at an address known in advance) with its limits."""

    def work(handle: ProxyOwner) -> dict[str, Any]:
        address = handle.create(max_per_trade, max_per_day)
        return {"proxy": address, "lines": [f"created Proxy {address}"]}

    _run(keystore, mainnet_ok, as_json, "create", work)


@proxy.command("deposit")
@click.argument("amount")
@click.option("--wrap", is_flag=True, help="Wrap that much USDC.e into pUSD first (V2 collateral).")
@_keystore
@_mainnet
@_json
def proxy_deposit(amount: str, wrap: bool, keystore: Path | None, mainnet_ok: bool, as_json: bool) -> None:
    """Deposit AMOUNT USD of collateral from the owner's wallet into the Proxy."""
    units = _checked(parse_amount, amount, "the amount to deposit")

    def work(handle: ProxyOwner) -> dict[str, Any]:
        handle.deposit(units, wrap=wrap)
        wrapped = " (wrapped from USDC.e)" if wrap else ""
        return {"amount": units, "wrapped": wrap, "lines": [f"deposited {format_usd(units)}{wrapped}"]}

    _run(keystore, mainnet_ok, as_json, "deposit", work)


@proxy.command("withdraw")
@click.argument("amount")
@click.option("--to", callback=_address_option, help="Recipient (default: the owner).")
@click.option("--token-id", callback=_token_id_option, help="Withdraw shares of this outcome token instead.")
@_keystore
@_mainnet
@_json
def proxy_withdraw(
    amount: str, to: str | None, token_id: int | None, keystore: Path | None, mainnet_ok: bool, as_json: bool
) -> None:
    """Withdraw AMOUNT (USD, or shares with --token-id; `all` for everything) from the Proxy."""
    units = _checked(parse_withdraw_amount, amount)

    def work(handle: ProxyOwner) -> dict[str, Any]:
        recipient = to or handle.owner
        sent = handle.withdraw(units, recipient, token_id)
        what = "USD" if token_id is None else f"shares of {token_id}"
        return {
            "amount": sent,
            "token_id": None if token_id is None else str(token_id),
            "to": recipient,
            "lines": [f"withdrew {format_usd(sent)} {what} to {recipient}"],
        }

    _run(keystore, mainnet_ok, as_json, "withdraw", work, token_ids=() if token_id is None else (token_id,))


@proxy.command("limits")
@click.option("--max-per-trade", callback=_usd_option, metavar="USD", help="Most one copy may move.")
@click.option("--max-per-day", callback=_usd_option, metavar="USD", help="Most per UTC day.")
@_keystore
@_mainnet
@_json
def proxy_limits(
    max_per_trade: int | None, max_per_day: int | None, keystore: Path | None, mainnet_ok: bool, as_json: bool
) -> None:
    """Set the Proxy's on-chain limits, which the Executor can never exceed (an omitted one is kept)."""
    if max_per_trade is None and max_per_day is None:
        raise click.UsageError("give --max-per-trade, --max-per-day or both")

    def work(handle: ProxyOwner) -> dict[str, Any]:
        per_trade, per_day = handle.set_limits(max_per_trade, max_per_day)
        line = f"limits set: max per trade {format_usd(per_trade)}, max per day {format_usd(per_day)}"
        return {"lines": [line]}

    _run(keystore, mainnet_ok, as_json, "limits", work)


@proxy.command("pause")
@click.option("--resume", is_flag=True, help="Lift the pause instead.")
@_keystore
@_mainnet
@_json
def proxy_pause(resume: bool, keystore: Path | None, mainnet_ok: bool, as_json: bool) -> None:
    """Pause the Proxy: the Executor can move nothing out of it (deposits and withdrawals still work)."""

    def work(handle: ProxyOwner) -> dict[str, Any]:
        handle.set_paused(not resume)
        return {"lines": ["resumed" if resume else "paused"]}

    _run(keystore, mainnet_ok, as_json, "resume" if resume else "pause", work)


@proxy.command("show")
@click.option("--owner", callback=_address_option, help="Whose Proxy (default: the key's owner).")
@click.option(
    "--token-id", "token_ids", multiple=True, callback=_token_id_option, help="Also show this position."
)
@_keystore
@_json
def proxy_show(owner: str | None, token_ids: tuple[int, ...], keystore: Path | None, as_json: bool) -> None:
    """Show the Proxy: owner, collateral, positions, limits, paused; and the owner's own balances."""
    _run(keystore, False, as_json, "show", lambda handle: {}, write=False, owner=owner, token_ids=token_ids)


def _checked(parse: Any, *args: Any) -> Any:
    try:
        return parse(*args)
    except InvalidInputError as exc:
        raise click.BadParameter(str(exc), param_hint="AMOUNT") from None


COMMANDS = [proxy]
