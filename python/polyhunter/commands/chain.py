"""`polyhunter chain up|status|down`: the local chain on loopback."""

from __future__ import annotations

import json
import time

import click

from polyhunter.chain.anvil import DEFAULT_CHAIN_ID, Anvil, stop_pid
from polyhunter.chain.rpc import rpc_call
from polyhunter.errors import ChainError, PolyhunterError
from polyhunter.home import polyhunter_home

CHAIN_STATE = "anvil.json"


@click.group()
def chain() -> None:
    """The local chain: anvil on loopback."""


@chain.command("up")
@click.option("--port", type=click.IntRange(0, 65535), default=8545, show_default=True, help="0 picks one.")
@click.option("--chain-id", type=int, default=DEFAULT_CHAIN_ID, show_default=True)
@click.option("--block-time", type=float, default=None, help="Seconds per block (default: mine on demand).")
@click.option("--detach", is_flag=True, help="Start in the background; stop with `polyhunter chain down`.")
def chain_up(port: int, chain_id: int, block_time: float | None, detach: bool) -> None:
    """Start a local anvil node on loopback."""
    home = polyhunter_home()
    state_path = home / CHAIN_STATE
    if state_path.exists():
        state = json.loads(state_path.read_text())
        try:
            rpc_call(state["rpc_url"], "eth_chainId", timeout=1.0)
        except ChainError:
            state_path.unlink()
        else:
            raise click.ClickException(f"a local chain already runs at {state['rpc_url']} (chain down first)")
    node = Anvil(port=port, chain_id=chain_id, block_time=block_time, log_path=home / "anvil.log")
    try:
        node.start(detach=detach)
    except PolyhunterError as exc:
        raise click.ClickException(str(exc)) from exc
    assert node.process is not None
    state = {"pid": node.process.pid, "rpc_url": node.rpc_url, "ws_url": node.ws_url, "chain_id": chain_id}
    state_path.write_text(json.dumps(state, indent=2) + "\n")
    click.echo(f"anvil up: rpc {node.rpc_url}  ws {node.ws_url}  chain id {chain_id}  pid {node.process.pid}")
    if detach:
        return
    click.echo("Ctrl-C stops it.")
    try:
        while node.process.poll() is None:
            time.sleep(0.5)
    except KeyboardInterrupt:
        pass
    finally:
        node.stop()
        state_path.unlink(missing_ok=True)
        click.echo("anvil stopped")


@chain.command("status")
def chain_status() -> None:
    """Show whether the local chain runs, and its head block."""
    state_path = polyhunter_home() / CHAIN_STATE
    if not state_path.exists():
        raise click.ClickException("no local chain (polyhunter chain up --detach)")
    state = json.loads(state_path.read_text())
    try:
        block = int(rpc_call(state["rpc_url"], "eth_blockNumber", timeout=2.0), 16)
    except ChainError as exc:
        raise click.ClickException(f"local chain at {state['rpc_url']} does not answer: {exc}") from exc
    click.echo(
        f"anvil at {state['rpc_url']} (chain id {state['chain_id']}, pid {state['pid']}): block {block}"
    )


@chain.command("down")
def chain_down() -> None:
    """Stop the local chain started with `chain up --detach`."""
    state_path = polyhunter_home() / CHAIN_STATE
    if not state_path.exists():
        click.echo("no local chain running")
        return
    state = json.loads(state_path.read_text())
    stopped = stop_pid(int(state["pid"]))
    state_path.unlink()
    click.echo("anvil stopped" if stopped else "anvil was not running")


COMMANDS = [chain]
