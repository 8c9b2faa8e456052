"""A separate redeemer process for the fault-point test: redeems one resolved condition with wallet 0.

Usage: python redeem_child.py DEPLOYMENT_JSON DB_PATH CONDITION_ID. With `POLYHUNTER_FAULTPOINT` set, the
process SIGKILLs itself at that point; otherwise it prints how many rows it settled.
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
from polyhunter.execution.redeem import Redeemer
from polyhunter.store.sqlite import SqliteStore


async def main(deployment_path: str, db_path: str, condition: str) -> None:
    deployment = Deployment.load(Path(deployment_path))
    store = SqliteStore(Path(db_path), group_commit_ms=0.5)
    await store.open()
    rpc = AsyncRpc([deployment.rpc_url])
    engine = LocalChainEngine(rpc, deployment, derive_signers(TEST_MNEMONIC, 1), config=FAST)
    await engine.start()
    rows = await Redeemer(engine, store).on_resolution(condition)
    print(len(rows))
    await engine.close()
    await rpc.close()
    await store.close()


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:4]))
