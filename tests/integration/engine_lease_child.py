"""An engine process for the wallet-lease tests: the test's fleet, leases in a shared Redis.

Usage: python engine_lease_child.py DEPLOYMENT_JSON DB_PATH REDIS_URL PREFIX LEASE_MS WALLETS KEYS [--die]

KEYS are comma-separated hex keys of PENDING jobs in DB_PATH. Prints a JSON line when started (the wallets
it owns), runs the jobs when a line arrives on stdin and prints their statuses, then closes (releasing its
leases) at the next line or end of input; with `--die` it SIGKILLs itself instead, still holding them, as a
crashed process would.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from dataclasses import replace
from pathlib import Path

from engine_world import FAST

from polyhunter._core import derive_signers
from polyhunter.chain.aiorpc import AsyncRpc
from polyhunter.chain.anvil import TEST_MNEMONIC
from polyhunter.chain.deployment import Deployment
from polyhunter.execution.localchain import LocalChainEngine
from polyhunter.shared.redis import RedisSharedState
from polyhunter.store.base import StoreJournal
from polyhunter.store.sqlite import SqliteStore


def say(**fields: object) -> None:
    print(json.dumps(fields), flush=True)


async def cue() -> None:
    """Waits for the test's next line on stdin."""
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)


async def main(argv: list[str]) -> None:
    deployment_path, db_path, redis_url, prefix, lease_ms, wallets, keys = argv[:7]
    die = "--die" in argv[7:]
    deployment = Deployment.load(Path(deployment_path))
    store = SqliteStore(Path(db_path), group_commit_ms=0.5)
    await store.open()
    shared = RedisSharedState(redis_url, prefix)
    await shared.open()
    rpc = AsyncRpc([deployment.rpc_url])
    engine = LocalChainEngine(
        rpc,
        deployment,
        derive_signers(TEST_MNEMONIC, int(wallets)),
        config=replace(FAST, lease_ms=int(lease_ms)),
        shared=shared,
    )
    await engine.start()
    say(event="started", pid=os.getpid(), owned=[w.address for w in engine.wallets if w.owned])
    await cue()
    jobs = []
    for key in keys.split(","):
        record = await store.get_trade(bytes.fromhex(key))
        assert record is not None
        jobs.append(record.to_job())
    results = await asyncio.gather(*(engine.execute(j, StoreJournal(store, j.key)) for j in jobs))
    say(event="done", statuses=[r.status.value for r in results], reasons=[r.reason for r in results])
    if die:
        os.kill(os.getpid(), signal.SIGKILL)
    await cue()
    await engine.close()
    await rpc.close()
    await shared.close()
    await store.close()
    say(event="closed")


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1:]))
