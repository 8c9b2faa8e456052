"""Gas of each Executor operation on anvil, single and batched over the Proxies: writes results/gas.json,
from which scripts/bench_tables.py makes README's gas table (gas units only, the same on every machine)."""

from __future__ import annotations

import json
from pathlib import Path

from web3 import Web3

from polyhunter.chain.anvil import Anvil
from polyhunter.chain.deploy import deploy_local
from polyhunter.chain.gas import measure_executor_gas
from polyhunter.chain.local import LocalChain

RESULTS = Path(__file__).resolve().parent / "results"


def test_executor_gas() -> None:
    with Anvil() as node:
        w3 = Web3(Web3.HTTPProvider(node.rpc_url))
        deployment = deploy_local(w3, rpc_url=node.rpc_url, ws_url=node.ws_url)
        table = measure_executor_gas(LocalChain(w3, deployment))
    assert table.rows
    assert all(r.single > 21_000 for r in table.rows)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "gas.json").write_text(json.dumps(table.to_json(), indent=2, sort_keys=True) + "\n")
