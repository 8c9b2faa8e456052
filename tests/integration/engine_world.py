"""The engine tests' local world: one anvil with a 6-wallet fleet and 12 followers for all
`test_engine_*.py` modules (built once per process), plus job, store and engine helpers."""

from __future__ import annotations

import asyncio
import atexit
import itertools
import os
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from web3 import Web3

from polyhunter._core import Signer, derive_signers, keccak256
from polyhunter.chain.accounts import LocalAccounts
from polyhunter.chain.aiorpc import AsyncRpc
from polyhunter.chain.anvil import TEST_MNEMONIC, Anvil
from polyhunter.chain.deploy import deploy_local
from polyhunter.chain.deployment import Deployment
from polyhunter.chain.local import LocalChain
from polyhunter.execution.localchain import EngineConfig, LocalChainEngine
from polyhunter.models import CopyJob, Side
from polyhunter.store.sqlite import SqliteStore

FLEET = 6
FOLLOWERS = 12
USD = 1_000_000
PRICE = 500_000  # $0.50 a share

# Short intervals: the tests wait on events, never on wall-clock budgets.
FAST = EngineConfig(
    poll_s=0.02,
    replace_after_s=0.3,
    confirm_timeout_s=60.0,
    retry_backoff_s=0.02,
    coalesce_ms=0,
    max_inflight_per_wallet=64,
    lease_ms=2_000,
)


@dataclass
class World:
    anvil: Anvil
    deployment: Deployment
    chain: LocalChain

    @property
    def rpc_url(self) -> str:
        return self.anvil.rpc_url

    def rpc(self, method: str, params: list[Any] | None = None) -> Any:
        reply = self.chain.w3.provider.make_request(method, params or [])  # type: ignore[arg-type]
        if "error" in reply:
            raise RuntimeError(f"{method}: {reply['error']}")
        return reply.get("result")

    @property
    def token(self) -> int:
        return self.deployment.markets[0].yes_token_id

    def follower(self, i: int) -> str:
        return self.deployment.accounts.followers[i]

    def proxy(self, i: int) -> str:
        return self.chain.proxy_of(self.follower(i))

    def fleet(self, n: int = FLEET) -> list[Signer]:
        return derive_signers(TEST_MNEMONIC, FLEET)[:n]

    def nonce(self, address: str, tag: str = "latest") -> int:
        return int(self.rpc("eth_getTransactionCount", [address, tag]), 16)

    def mine(self, blocks: int = 1) -> None:
        for _ in range(blocks):
            self.rpc("evm_mine")


_world: World | None = None


def world() -> World:
    """The engine tests' world, deployed on first use, stopped at exit."""
    global _world
    if _world is None:
        node = Anvil().start()
        atexit.register(node.stop)
        w3 = Web3(Web3.HTTPProvider(node.rpc_url))
        accounts = LocalAccounts(fleet_size=FLEET, leader_count=1, follower_count=FOLLOWERS)
        deployment = deploy_local(w3, rpc_url=node.rpc_url, ws_url=node.ws_url, accounts=accounts)
        _world = World(node, deployment, LocalChain(w3, deployment, accounts))
    return _world


def fresh_world() -> Iterator[World]:
    """The world for one test, reverted afterwards (automine back on)."""
    w = world()
    snapshot = w.chain.snapshot()
    try:
        yield w
    finally:
        # Neither the pool nor a base-fee override is part of a snapshot: reset them too.
        w.rpc("anvil_dropAllTransactions")
        w.chain.revert(snapshot)
        base = w.rpc("eth_getBlockByNumber", ["latest", False])["baseFeePerGas"]
        w.rpc("anvil_setNextBlockBaseFeePerGas", [base])
        w.rpc("evm_setAutomine", [True])


_serial = itertools.count(1)


def job(
    w: World,
    follower: int,
    side: Side = "BUY",
    amount: int = 2 * USD,
    price: int = PRICE,
    *,
    tag: int | None = None,
) -> CopyJob:
    """A copy job for follower `follower` (a unique leader tx per call unless `tag` is given)."""
    n = next(_serial) if tag is None else tag
    leader_tx = keccak256(f"leader tx {n} {os.getpid()}".encode())
    key = keccak256(leader_tx + follower.to_bytes(8, "big"))
    return CopyJob(
        key=key,
        config_id=follower + 1,
        follower=w.follower(follower),
        proxy=w.proxy(follower),
        leader=w.deployment.accounts.leaders[0],
        token_id=w.token,
        side=side,
        amount=amount,
        limit_price_ppm=price,
        tx_hash=leader_tx,
        log_index=0,
        leader_price_ppm=price,
    )


async def store_at(path: Path, jobs: Sequence[CopyJob] = (), expires_at: int = 2**62) -> SqliteStore:
    store = SqliteStore(path, group_commit_ms=0.5)
    await store.open()
    if jobs:
        await store.insert_pending(list(jobs), expires_at)
    return store


def engine(
    w: World, wallets: int = 1, config: EngineConfig = FAST, urls: Sequence[str] | None = None, **kwargs: Any
) -> LocalChainEngine:
    return LocalChainEngine(
        AsyncRpc(list(urls or [w.rpc_url])), w.deployment, w.fleet(wallets), config=config, **kwargs
    )


def with_(config: EngineConfig, **changes: Any) -> EngineConfig:
    return replace(config, **changes)


async def stop(eng: LocalChainEngine) -> None:
    """Closes the engine and the RPC client the test made for it."""
    await eng.close()
    await eng.rpc.close()


async def until(condition: Callable[[], bool], poll_s: float = 0.02) -> None:
    """Waits until `condition()` holds (the test's own timeout bounds it)."""
    # Polling the chain, which has no event to await.
    while not condition():
        await asyncio.sleep(poll_s)
