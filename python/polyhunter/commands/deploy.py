"""`polyhunter deploy`: Executor, ProxyFactory and Treasury to any chain, with the owner key from env."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from polyhunter.chain.deployment import Accounts, Contracts, Deployment
from polyhunter.commands._common import settings_or_exit
from polyhunter.errors import PolyhunterError

if TYPE_CHECKING:  # pydantic-settings takes ~100 ms to import: not for `--help`
    from polyhunter.settings import Settings

POLYGON_CHAIN_ID = 137


def _fleet(addresses: tuple[str, ...], fleet_size: int, settings: Settings) -> list[str]:
    """`--fleet` addresses, else the first `fleet_size` wallets of TRADING_MNEMONIC, else none."""
    from web3 import Web3

    from polyhunter.chain.accounts import derive

    if addresses:
        bad = [a for a in addresses if not Web3.is_address(a)]
        if bad:
            raise click.BadParameter(f"not addresses: {', '.join(bad)}", param_hint="--fleet")
        return [a.lower() for a in addresses]
    if settings.trading_mnemonic is None:
        return []
    mnemonic = settings.trading_mnemonic.get_secret_value()
    return [derive(i, mnemonic).address.lower() for i in range(fleet_size)]


def _stored_url(url: str) -> str:
    """What deployment.json keeps of an RPC URL: the URL itself, or without its secret part (credentials, API
    key in the path or the query), in which case the supervisor takes its RPC from COPY_TRADING_RPC_URLS."""
    from polyhunter.settings import mask_url

    return mask_url(url, keep_path=False)


@click.command("deploy")
@click.option("--rpc-url", help="JSON-RPC endpoint (http/https); default the first of COPY_TRADING_RPC_URLS.")
@click.option(
    "--ws-url", default=None, help="WebSocket endpoint for deployment.json (default: from --rpc-url)."
)
@click.option("--collateral", help="Collateral ERC-20 (USDC.e / pUSD on Polygon); default USDC_ADDRESS.")
@click.option("--ctf", help="ConditionalTokens (ERC-1155); default CTF_ADDRESS.")
@click.option("--fleet", multiple=True, help="A worker address to authorise (repeatable).")
@click.option(
    "--fleet-size",
    type=click.IntRange(0, 1000),
    default=4,
    show_default=True,
    help="Without --fleet: authorise this many wallets of TRADING_MNEMONIC.",
)
@click.option("--fee-bps", type=click.IntRange(0, 1000), default=0, show_default=True, help="Copy fee.")
@click.option("--i-understand-mainnet", is_flag=True, help="Allow Polygon mainnet (chain id 137).")
def deploy(
    rpc_url: str | None,
    ws_url: str | None,
    collateral: str | None,
    ctf: str | None,
    fleet: tuple[str, ...],
    fleet_size: int,
    fee_bps: int,
    i_understand_mainnet: bool,
) -> None:
    """Deploy Executor, ProxyFactory and Treasury, allowlist the tokens, authorise the fleet and write
    deployment.json. Settings come from the environment and .env like every other command; the owner key is
    OWNER_PRIVATE_KEY and is never printed, nor is an RPC URL's secret part (deployment.json keeps the URL
    without it)."""
    # web3 and the deploy tooling take a second to import: only this command pays for it.
    from eth_account import Account
    from web3 import Web3
    from web3.exceptions import Web3Exception

    from polyhunter.chain.deploy import deploy_core

    settings = settings_or_exit()
    if settings.owner_private_key is None:
        raise click.ClickException("OWNER_PRIVATE_KEY is not set")
    owner = Account.from_key(settings.owner_private_key.get_secret_value())
    rpc_url = rpc_url or next((u for u in settings.rpc_urls if u.startswith("http")), None)
    if not rpc_url:
        raise click.UsageError("give --rpc-url or set COPY_TRADING_RPC_URLS")
    collateral = collateral or settings.usdc_address
    ctf = ctf or settings.ctf_address
    for name, value in (("--collateral (or USDC_ADDRESS)", collateral), ("--ctf (or CTF_ADDRESS)", ctf)):
        if not value:
            raise click.UsageError(f"{name} is required")
        if not Web3.is_address(value):
            raise click.BadParameter(f"not an address: {value!r}", param_hint=name)
    assert collateral is not None
    assert ctf is not None
    workers = _fleet(fleet, fleet_size, settings)
    shown = _stored_url(rpc_url)
    w3 = Web3(Web3.HTTPProvider(rpc_url))
    try:
        chain_id = w3.eth.chain_id
    except (OSError, ValueError, Web3Exception) as exc:
        # The exception's text may quote the URL: only its type is shown.
        raise click.ClickException(f"{shown} does not answer eth_chainId ({type(exc).__name__})") from None
    if settings.chain_id is not None and chain_id != settings.chain_id:
        raise click.ClickException(f"CHAIN_ID is {settings.chain_id}, but {shown} serves chain {chain_id}")
    if chain_id == POLYGON_CHAIN_ID and not i_understand_mainnet:
        raise click.ClickException(
            "chain id 137 is Polygon mainnet: add --i-understand-mainnet to deploy there"
        )
    for name, value in (("collateral", collateral), ("ctf", ctf)):
        if len(w3.eth.get_code(Web3.to_checksum_address(value))) == 0:
            raise click.ClickException(f"no contract at the {name} address {value}")
    click.echo(f"deploying to chain {chain_id} via {shown} as {owner.address} with {len(workers)} worker(s)")
    from_block = w3.eth.block_number
    try:
        core = deploy_core(w3, owner, collateral=collateral, ctf=ctf, fleet=workers, fee_bps=fee_bps)
    except PolyhunterError as exc:
        raise click.ClickException(f"deploy failed: {exc}") from None
    ws = ws_url or rpc_url.replace("https://", "wss://", 1).replace("http://", "ws://", 1)
    deployment = Deployment(
        chain_id=chain_id,
        rpc_url=shown,
        ws_url=_stored_url(ws),
        contracts=Contracts(
            executor=core.executor,
            proxy_factory=core.proxy_factory,
            treasury=core.treasury,
            collateral=collateral.lower(),
            ctf=ctf.lower(),
        ),
        proxy_init_code_hash=core.proxy_init_code_hash,
        accounts=Accounts(owner=owner.address.lower(), fleet=workers),
        executor_from_block=from_block,
    )
    path = deployment.save()
    click.echo(f"executor {core.executor}\nproxy factory {core.proxy_factory}\ntreasury {core.treasury}")
    click.echo(f"deployment written to {path}")
    if shown != rpc_url or _stored_url(ws) != ws:
        click.echo(
            "deployment.json keeps the RPC URLs without their secret part: set COPY_TRADING_RPC_URLS "
            "(and COPY_TRADING_WS_URL) for the supervisor"
        )


COMMANDS = [deploy]
