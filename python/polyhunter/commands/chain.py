"""`polyhunter chain up|status|trade|down`: the local chain on loopback, with the whole local world deployed,
and a local leader's trade on demand."""

from __future__ import annotations

import dataclasses
import json
import shutil
import signal
import time
import urllib.request
from pathlib import Path
from typing import Any, Literal

import click

from polyhunter.chain.anvil import DEFAULT_CHAIN_ID, Anvil, is_running, stop_pid
from polyhunter.chain.deployment import Deployment, default_path
from polyhunter.chain.localclob import LocalClobProcess
from polyhunter.chain.rpc import rpc_call
from polyhunter.errors import ChainError, ConfigError, PolyhunterError
from polyhunter.home import polyhunter_home

CHAIN_STATE = "anvil.json"
ANVIL_CACHE = "anvil-cache"
"""The detached node's cache of historical states, under the home (removed by `chain down` and the next
`chain up`)."""


def summary(deployment: Deployment, path: Path) -> str:
    """A few lines saying where everything is."""
    c, a = deployment.contracts, deployment.accounts
    lines = [
        f"local chain: rpc {deployment.rpc_url}  ws {deployment.ws_url}  chain id {deployment.chain_id}",
        f"  executor       {c.executor}",
        f"  proxy factory  {c.proxy_factory}   (proxy init code hash {deployment.proxy_init_code_hash})",
        f"  treasury       {c.treasury}",
        f"  collateral     {c.collateral}   ctf {c.ctf}",
        f"  local exchange {c.local_exchange}",
        f"  pUSD {c.pusd}   USDC.e {c.usdce}   onramp {c.onramp}   offramp {c.offramp}",
        f"  V2 exchange    {c.ctf_exchange_v2}   neg-risk V2 exchange {c.neg_risk_exchange_v2}",
        f"  deposit-wallet factory {c.deposit_wallet_factory}",
        f"  clob {deployment.clob_url}   activity feed {deployment.rtds_url}",
        f"  owner {a.owner}   CLOB operator {a.operator}   CLOB market maker {a.market_maker}",
        f"  fleet ({len(a.fleet)}, authorised): {', '.join(a.fleet)}",
        "  leaders (EOA -> deposit wallet): "
        + ", ".join(f"{x} -> {a.deposit_wallets.get(x, '-')}" for x in a.leaders),
        f"  followers: {', '.join(a.followers)}",
    ]
    lines += [
        f"  market {i}{' (neg-risk)' if m.neg_risk else ''}: YES {m.yes_token_id}  NO {m.no_token_id}"
        for i, m in enumerate(deployment.markets)
    ]
    lines.append(f"deployment written to {path}")
    return "\n".join(lines)


def _read_state(state_path: Path) -> dict[str, Any]:
    """The local chain's state file, or one line saying it is unreadable (never a traceback)."""
    try:
        state = json.loads(state_path.read_text())
        problem = "" if isinstance(state, dict) else "not a JSON object"
    except (OSError, ValueError) as exc:
        state, problem = {}, f"{type(exc).__name__}: {exc}"
    missing = [key for key in ("pid", "rpc_url", "chain_id") if not problem and key not in state]
    if problem or missing:
        raise click.ClickException(
            f"{state_path} is unreadable ({problem or 'no ' + ', '.join(missing)}); stop the chain it "
            "describes, if any, and remove the file"
        )
    return dict(state)


def _refuse_if_running(state_path: Path) -> None:
    if not state_path.exists():
        return
    state = _read_state(state_path)
    try:
        rpc_call(state["rpc_url"], "eth_chainId", timeout=1.0)
    except ChainError:
        state_path.unlink()
    else:
        raise click.ClickException(f"a local chain already runs at {state['rpc_url']} (chain down first)")


def _forget_deployment(rpc_url: str) -> None:
    """Removes deployment.json if it describes the local chain at `rpc_url` (gone with it)."""
    path = default_path()
    try:
        if Deployment.load(path).rpc_url == rpc_url:
            path.unlink()
    except ConfigError:
        pass


class Progress:
    """`chain up`'s steps, each a line as it happens with the seconds since the start; silent when quiet."""

    def __init__(self, *, quiet: bool = False) -> None:
        self.quiet = quiet
        self.started = time.monotonic()

    def step(self, message: str) -> None:
        if not self.quiet:
            click.echo(f"[{time.monotonic() - self.started:5.1f}s] {message}")


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


@click.group()
def chain() -> None:
    """The local chain: anvil on loopback with polyhunter's contracts, the real CTF and a local exchange."""


@chain.command("up")
@click.option("--port", type=click.IntRange(0, 65535), default=8545, show_default=True, help="0 picks one.")
@click.option("--chain-id", type=int, default=DEFAULT_CHAIN_ID, show_default=True)
@click.option("--block-time", type=float, default=None, help="Seconds per block (default: mine on demand).")
@click.option("--fleet-size", type=click.IntRange(1, 100), default=4, show_default=True)
@click.option("--leaders", type=click.IntRange(0, 100), default=2, show_default=True)
@click.option("--followers", type=click.IntRange(0, 100), default=4, show_default=True)
@click.option("--markets", type=click.IntRange(1, 50), default=2, show_default=True)
@click.option("--neg-risk-markets", type=click.IntRange(0, 50), default=1, show_default=True)
@click.option("--clob-port", type=click.IntRange(0, 65535), default=0, help="Local CLOB port (0 picks one).")
@click.option(
    "--rtds-port", type=click.IntRange(0, 65535), default=0, help="Activity feed port (0 picks one)."
)
@click.option("--detach", is_flag=True, help="Start in the background; stop with `polyhunter chain down`.")
@click.option("--json", "as_json", is_flag=True, help="No progress lines: print the deployment as JSON.")
def chain_up(
    port: int,
    chain_id: int,
    block_time: float | None,
    fleet_size: int,
    leaders: int,
    followers: int,
    markets: int,
    neg_risk_markets: int,
    clob_port: int,
    rtds_port: int,
    detach: bool,
    as_json: bool,
) -> None:
    """Start anvil on loopback, deploy the local world, start the local Polymarket (CLOB V2 server and
    activity feed) and write deployment.json, saying each step as it happens."""
    # web3 and the deploy tooling take a second to import: only this command pays for it.
    from web3 import Web3

    from polyhunter.chain.accounts import LocalAccounts
    from polyhunter.chain.deploy import LocalWorldConfig, deploy_local

    progress = Progress(quiet=as_json)
    home = polyhunter_home()
    state_path = home / CHAIN_STATE
    _refuse_if_running(state_path)
    # A detached node outlives this process: its state cache lives in the home, and `chain down` removes it.
    shutil.rmtree(home / ANVIL_CACHE, ignore_errors=True)
    (home / ANVIL_CACHE).mkdir(parents=True)
    node = Anvil(
        port=port,
        chain_id=chain_id,
        block_time=block_time,
        log_path=home / "anvil.log",
        cache_path=home / ANVIL_CACHE,
    )
    try:
        node.start(detach=detach)
    except PolyhunterError as exc:
        raise click.ClickException(str(exc)) from exc
    assert node.process is not None
    progress.step(f"anvil started at {node.rpc_url} (chain id {chain_id}, pid {node.process.pid})")
    state: dict[str, object] = {
        "pid": node.process.pid,
        "rpc_url": node.rpc_url,
        "ws_url": node.ws_url,
        "chain_id": chain_id,
    }
    state_path.write_text(json.dumps(state, indent=2) + "\n")
    clob = LocalClobProcess(default_path(), port=clob_port, rtds_port=rtds_port, log_path=home / "clob.log")

    def stop_all() -> None:
        clob.stop()
        node.stop()
        state_path.unlink(missing_ok=True)

    try:
        progress.step(
            f"deploying the local world: contracts, {markets + neg_risk_markets} market(s), fleet of "
            f"{fleet_size}, {leaders} leader(s), {followers} follower(s) with Proxies (a few seconds)"
        )
        deployment = deploy_local(
            Web3(Web3.HTTPProvider(node.rpc_url)),
            rpc_url=node.rpc_url,
            ws_url=node.ws_url,
            accounts=LocalAccounts(fleet_size=fleet_size, leader_count=leaders, follower_count=followers),
            config=LocalWorldConfig(markets=markets, neg_risk_markets=neg_risk_markets),
        )
        progress.step(
            f"contracts deployed (Executor {deployment.contracts.executor}); fleet funded and authorised, "
            "leaders' deposit wallets and followers' Proxies funded"
        )
        # The server reads the deployment it trades on; its URLs are written in once it answers.
        deployment.save()
        progress.step("starting the local CLOB and activity feed")
        clob.start(detach=detach)
        assert clob.process is not None
        progress.step(f"CLOB up at {clob.url} (activity feed {clob.rtds_url}, pid {clob.process.pid})")
        deployment = dataclasses.replace(deployment, clob_url=clob.url, rtds_url=clob.rtds_url)
        path = deployment.save()
        state["clob_pid"] = clob.process.pid
        state_path.write_text(json.dumps(state, indent=2) + "\n")
    except (PolyhunterError, ValueError) as exc:
        stop_all()
        raise click.ClickException(f"starting the local world failed: {exc}") from exc
    except BaseException:
        stop_all()
        raise
    if as_json:
        pids = {"anvil_pid": node.process.pid, "clob_pid": clob.process.pid, "deployment_path": str(path)}
        click.echo(json.dumps({**deployment.to_json(), **pids}, indent=2))
    else:
        click.echo(summary(deployment, path))
        click.echo(
            f"anvil pid {node.process.pid}, local CLOB pid {clob.process.pid} (log {home / 'clob.log'})"
        )
    if detach:
        return
    if not as_json:
        click.echo("Ctrl-C stops it.")
    signal.signal(signal.SIGTERM, _interrupt)  # `kill` stops it as cleanly as Ctrl-C
    try:
        while node.process.poll() is None and clob.process.poll() is None:
            time.sleep(0.5)
        if clob.process.poll() is not None:
            click.echo(
                f"the local CLOB exited (code {clob.process.returncode}; see {home / 'clob.log'})",
                err=as_json,
            )
    except KeyboardInterrupt:
        pass
    finally:
        stop_all()
        _forget_deployment(node.rpc_url)
        click.echo("anvil and the local CLOB stopped", err=as_json)


@chain.command("status")
def chain_status() -> None:
    """Show whether the local chain runs, its head block and whether the Executor is deployed."""
    state_path = polyhunter_home() / CHAIN_STATE
    if not state_path.exists():
        raise click.ClickException("no local chain (polyhunter chain up --detach)")
    state = _read_state(state_path)
    if not is_running(int(state["pid"])):
        raise click.ClickException(
            f"the local chain's anvil (pid {state['pid']}) is not running; `polyhunter chain down` cleans up"
        )
    try:
        block = int(rpc_call(state["rpc_url"], "eth_blockNumber", timeout=2.0), 16)
    except ChainError as exc:
        raise click.ClickException(f"local chain at {state['rpc_url']} does not answer: {exc}") from exc
    click.echo(
        f"anvil at {state['rpc_url']} (chain id {state['chain_id']}, pid {state['pid']}): block {block}"
    )
    try:
        deployment = Deployment.load()
    except ConfigError:
        click.echo("no deployment.json")
        return
    code = rpc_call(state["rpc_url"], "eth_getCode", [deployment.contracts.executor, "latest"], timeout=2.0)
    deployed = isinstance(code, str) and len(code) > 2
    click.echo(f"executor {deployment.contracts.executor}: {'deployed' if deployed else 'NO CODE'}")
    if deployment.clob_url:
        try:
            with urllib.request.urlopen(deployment.clob_url + "/time", timeout=2.0):  # noqa: S310 - loopback
                answers = "answers"
        except OSError:
            answers = "DOES NOT ANSWER"
        click.echo(f"local CLOB {deployment.clob_url}: {answers} (activity feed {deployment.rtds_url})")


@chain.command("trade")
@click.option(
    "--leader", "leader_index", type=click.IntRange(0), required=True, help="Leader number (0 = first)."
)
@click.option("--buy/--sell", "buy", required=True, default=None, help="The leader buys or sells.")
@click.option("--market", type=click.IntRange(0), default=0, show_default=True, help="Market number.")
@click.option("--outcome", type=click.Choice(["yes", "no"]), default="yes", show_default=True)
@click.option("--usd", metavar="USD", help="--buy: dollars to spend (whole cents).")
@click.option("--shares", metavar="SHARES", help="--sell: shares to sell (whole hundredths).")
@click.option("--price", metavar="P", help="Worst price accepted (default: the book walked for the size).")
@click.option("--json", "as_json", is_flag=True, help="Print the order and its fills as JSON.")
def chain_trade(
    leader_index: int,
    buy: bool,
    market: int,
    outcome: str,
    usd: str | None,
    shares: str | None,
    price: str | None,
    as_json: bool,
) -> None:
    """Make a local leader trade: a FOK order on the local CLOB, settled on chain, which a running
    supervisor copies. Local chain only."""
    import asyncio
    from decimal import Decimal, InvalidOperation

    from polyhunter.chain.leadertrade import make_leader_trade
    from polyhunter.units import format_usd, parse_usd

    side: Literal["BUY", "SELL"] = "BUY" if buy else "SELL"
    given, flag, other = (usd, "--usd", shares) if buy else (shares, "--shares", usd)
    if given is None or other is not None:
        raise click.UsageError(f"--{side.lower()} takes {flag} (and not {'--shares' if buy else '--usd'})")
    try:
        amount = parse_usd(given, flag)
        worst = None if price is None else Decimal(price)
    except (PolyhunterError, InvalidOperation):
        raise click.BadParameter(f"{flag} {given!r} / --price {price!r}: exact decimals expected") from None
    deployment = _local_deployment()
    if market >= len(deployment.markets):
        raise click.BadParameter(f"this world has {len(deployment.markets)} market(s)", param_hint="--market")
    chosen = deployment.markets[market]
    token_id = chosen.yes_token_id if outcome == "yes" else chosen.no_token_id
    try:
        result = asyncio.run(make_leader_trade(deployment, leader_index, side, token_id, amount, worst))
    except PolyhunterError as exc:
        raise click.ClickException(str(exc)) from None
    if as_json:
        click.echo(json.dumps({**result.to_json(), "market": market, "outcome": outcome}, indent=2))
        return
    what = f"{format_usd(amount)} USD of" if buy else f"{format_usd(amount)} shares of"
    click.echo(
        f"leader {leader_index} {result.leader} (deposit wallet {result.wallet}) {side} {what} "
        f"market {market} {outcome.upper()}: order {result.order_id} {result.status} "
        f"(worst price {result.price})"
    )
    for fill in result.fills:
        click.echo(f"  fill {fill.size} shares @ {fill.price}: tx {fill.tx_hash} ({fill.status})")


def _local_deployment() -> Deployment:
    """The local chain's deployment.json, or one line saying to start it."""
    state_path = polyhunter_home() / CHAIN_STATE
    if not state_path.exists():
        raise click.ClickException(
            "no local chain: `polyhunter chain up --detach` first (chain trade is local only)"
        )
    try:
        deployment = Deployment.load()
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None
    state = _read_state(state_path)
    if deployment.rpc_url != state["rpc_url"]:
        raise click.ClickException(
            f"deployment.json describes {deployment.rpc_url}, not the local chain at {state['rpc_url']}: "
            "chain trade is local only"
        )
    return deployment


@chain.command("down")
def chain_down() -> None:
    """Stop the local chain started with `chain up --detach`."""
    state_path = polyhunter_home() / CHAIN_STATE
    if not state_path.exists():
        click.echo("no local chain running")
        return
    state = _read_state(state_path)
    if "clob_pid" in state:
        clob_stopped = stop_pid(int(state["clob_pid"]), marker=b"polyhunter.localpoly")
        click.echo("local CLOB stopped" if clob_stopped else "the local CLOB was not running")
    stopped = stop_pid(int(state["pid"]))
    shutil.rmtree(polyhunter_home() / ANVIL_CACHE, ignore_errors=True)
    state_path.unlink()
    _forget_deployment(state["rpc_url"])
    click.echo("anvil stopped" if stopped else "anvil was not running")


COMMANDS = [chain]
