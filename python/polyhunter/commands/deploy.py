"""`polyhunter deploy`: Executor, ProxyFactory and Treasury to any chain, with the owner key from env."""

from __future__ import annotations

import os

import click

from polyhunter.chain.deployment import Accounts, Contracts, Deployment
from polyhunter.errors import PolyhunterError

POLYGON_CHAIN_ID = 137


def _fleet(addresses: tuple[str, ...], fleet_size: int) -> list[str]:
    """`--fleet` addresses, else the first `fleet_size` wallets of TRADING_MNEMONIC, else none."""
    from web3 import Web3

    from polyhunter.chain.accounts import derive

    if addresses:
        bad = [a for a in addresses if not Web3.is_address(a)]
        if bad:
            raise click.BadParameter(f"not addresses: {', '.join(bad)}", param_hint="--fleet")
        return [a.lower() for a in addresses]
    mnemonic = os.environ.get("TRADING_MNEMONIC")
    if not mnemonic:
        return []
    return [derive(i, mnemonic).address.lower() for i in range(fleet_size)]


@click.command("deploy")
@click.option("--rpc-url", required=True, help="JSON-RPC endpoint (http/https).")
@click.option(
    "--ws-url", default=None, help="WebSocket endpoint for deployment.json (default: from --rpc-url)."
)
@click.option("--collateral", required=True, help="Collateral ERC-20 (USDC.e / pUSD on Polygon).")
@click.option("--ctf", required=True, help="ConditionalTokens (ERC-1155).")
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
    rpc_url: str,
    ws_url: str | None,
    collateral: str,
    ctf: str,
    fleet: tuple[str, ...],
    fleet_size: int,
    fee_bps: int,
    i_understand_mainnet: bool,
) -> None:
    """Deploy Executor, ProxyFactory and Treasury, allowlist the tokens, authorise the fleet and write
    deployment.json. The owner key comes from OWNER_PRIVATE_KEY and is never printed."""
    # web3 and the deploy tooling take a second to import: only this command pays for it.
    from eth_account import Account
    from web3 import Web3
    from web3.exceptions import Web3Exception

    from polyhunter.chain.deploy import deploy_core

    key = os.environ.get("OWNER_PRIVATE_KEY")
    if not key:
        raise click.ClickException("OWNER_PRIVATE_KEY is not set")
    try:
        owner = Account.from_key(key)
    except (ValueError, TypeError):
        raise click.ClickException("OWNER_PRIVATE_KEY is not a valid private key") from None
    for name, value in (("--collateral", collateral), ("--ctf", ctf)):
        if not Web3.is_address(value):
            raise click.BadParameter(f"not an address: {value!r}", param_hint=name)
    workers = _fleet(fleet, fleet_size)
    w3 = Web3(Web3.HTTPProvider(rpc_url))
    try:
        chain_id = w3.eth.chain_id
    except (OSError, ValueError, Web3Exception) as exc:
        raise click.ClickException(f"{rpc_url} does not answer eth_chainId: {exc}") from exc
    if chain_id == POLYGON_CHAIN_ID and not i_understand_mainnet:
        raise click.ClickException(
            "chain id 137 is Polygon mainnet: add --i-understand-mainnet to deploy there"
        )
    for name, value in (("collateral", collateral), ("ctf", ctf)):
        if len(w3.eth.get_code(Web3.to_checksum_address(value))) == 0:
            raise click.ClickException(f"no contract at the {name} address {value}")
    click.echo(f"deploying to chain {chain_id} as {owner.address} with {len(workers)} worker(s)")
    try:
        core = deploy_core(w3, owner, collateral=collateral, ctf=ctf, fleet=workers, fee_bps=fee_bps)
    except PolyhunterError as exc:
        raise click.ClickException(f"deploy failed: {exc}") from exc
    deployment = Deployment(
        chain_id=chain_id,
        rpc_url=rpc_url,
        ws_url=ws_url or rpc_url.replace("https://", "wss://").replace("http://", "ws://"),
        contracts=Contracts(
            executor=core.executor,
            proxy_factory=core.proxy_factory,
            treasury=core.treasury,
            collateral=collateral.lower(),
            ctf=ctf.lower(),
        ),
        proxy_init_code_hash=core.proxy_init_code_hash,
        accounts=Accounts(owner=owner.address.lower(), fleet=workers),
    )
    path = deployment.save()
    click.echo(f"executor {core.executor}\nproxy factory {core.proxy_factory}\ntreasury {core.treasury}")
    click.echo(f"deployment written to {path}")


COMMANDS = [deploy]
