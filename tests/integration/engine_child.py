"""A separate engine process for the fault-point tests: executes one stored PENDING job with wallet 0.

Usage: python engine_child.py DEPLOYMENT_JSON DB_PATH JOB_KEY_HEX. With `POLYHUNTER_FAULTPOINT` set, the
engine SIGKILLs itself at that point; otherwise it prints the result's status.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from engine_world import FAST

from polyhunter._core import derive_signers
from polyhunter.chain.aiorpc import AsyncRpc
from polyhunter.chain.anvil import TEST_MNEMONIC
from polyhunter.chain.deployment import Deployment
from polyhunter.execution.localchain import LocalChainEngine
from polyhunter.store.base import StoreJournal
from polyhunter.store.sqlite import SqliteStore


async def main(deployment_path: str, db_path: str, key_hex: str) -> None:
    deployment = Deployment.load(Path(deployment_path))
    store = SqliteStore(Path(db_path), group_commit_ms=0.5)
    await store.open()
    record = await store.get_trade(bytes.fromhex(key_hex))
    assert record is not None
    rpc = AsyncRpc([deployment.rpc_url])
    engine = LocalChainEngine(rpc, deployment, derive_signers(TEST_MNEMONIC, 1), config=FAST)
    await engine.start()
    result = await engine.execute(record.to_job(), StoreJournal(store, record.key))
    print(result.status)
    await engine.close()
    await rpc.close()
    await store.close()


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:4]))
