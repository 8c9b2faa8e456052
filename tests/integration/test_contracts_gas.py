"""Gas of each Executor operation, single and batched (per Proxy); prints the table the README records.

The `...To` / `...From` rows move through the worker's registered deposit wallet, which holds a collateral
float and no outcome tokens, as the worker itself does in the other rows."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from chain_helpers import cs
from eth_utils import keccak
from wallet_helpers import register_wallet, wallet_approving
from web3.contract.contract import ContractFunction

from polyhunter.chain.local import LocalChain
from polyhunter.chain.tx import send

pytestmark = pytest.mark.integration

YES_0 = 85582852254055604730434497073296615212033849972277199800761754422625228641162
USD = 1_000_000


def test_gas_table_single_and_batched(local_chain: LocalChain, capsys: pytest.CaptureFixture[str]) -> None:
    d = local_chain.deployment
    worker, creditor = d.accounts.fleet[0], d.accounts.fleet[1]
    proxies = [local_chain.proxy_of(f) for f in d.accounts.followers]
    n = len(proxies)
    for proxy in proxies:  # every Proxy holds tokens and has spent today already: the steady state
        local_chain.copy_buy(d.accounts.fleet[2], proxy, YES_0, 5 * USD, 10 * USD)
    collateral, ctf, ps = cs(d.contracts.collateral), cs(d.contracts.ctf), [cs(p) for p in proxies]
    debt_ids = [keccak(bytes([i])) for i in range(n)]
    wallet_debt_ids = [keccak(bytes([n + i])) for i in range(n)]
    wallet = cs(wallet_approving(local_chain, worker))
    register_wallet(local_chain, worker, wallet)
    send(
        local_chain.w3,
        local_chain.signer(worker),
        local_chain.collateral.functions.transfer(wallet, 100 * USD),
    )
    # The debts the repayments below pay: each Proxy owes 2 USD (a single and a batched repayment) to
    # `creditor` itself and 2 USD to `worker`'s wallet, recorded by Smart Buffer pushes.
    x = local_chain.executor.functions
    local_chain.trade(creditor, "BUY", YES_0, 4 * n * USD, 2 * n * USD)
    send(
        local_chain.w3,
        local_chain.signer(creditor),
        local_chain.ctf.functions.safeTransferFrom(cs(creditor), wallet, YES_0, 2 * n * USD, b""),
    )
    # Both workers have been charged in this hour already (their window's slot is written): the steady state.
    for account in (worker, creditor):
        local_chain.pull_collateral(account, proxies[0], 1)
    recording: dict[str, int] = {}
    for i, proxy in enumerate(ps):
        recording["pushERC1155WithDebt (Smart Buffer, BUY)"] = send(
            local_chain.w3,
            local_chain.signer(creditor),
            x.pushERC1155WithDebt(proxy, ctf, YES_0, 2 * USD, collateral, 2 * USD, debt_ids[i]),
        )["gasUsed"]
    for i, proxy in enumerate(ps):
        recording["pushERC1155FromWithDebt (Smart Buffer, from the wallet)"] = send(
            local_chain.w3,
            local_chain.signer(worker),
            x.pushERC1155FromWithDebt(
                proxy, ctf, YES_0, 2 * USD, wallet, collateral, 2 * USD, wallet_debt_ids[i]
            ),
        )["gasUsed"]
    operations: list[tuple[str, Callable[[], ContractFunction], Callable[[], ContractFunction]]] = [
        (
            "pullERC20 (collateral, BUY)",
            lambda: x.pullERC20(ps[0], collateral, USD),
            lambda: x.pullERC20Batch(ps, collateral, [USD] * n),
        ),
        (
            "pullERC1155 (outcome tokens, SELL)",
            lambda: x.pullERC1155(ps[0], ctf, YES_0, USD),
            lambda: x.pullERC1155Batch(ps, ctf, [YES_0] * n, [USD] * n),
        ),
        (
            "pushERC1155 (outcome tokens, BUY)",
            lambda: x.pushERC1155(ps[0], ctf, YES_0, USD),
            lambda: x.pushERC1155Batch(ps, ctf, [YES_0] * n, [USD] * n),
        ),
        (
            "pushERC20 (collateral, SELL)",
            lambda: x.pushERC20(ps[0], collateral, USD),
            lambda: x.pushERC20Batch(ps, collateral, [USD] * n),
        ),
        (
            "repayDebt (Smart Buffer)",
            lambda: x.repayDebt(ps[0], collateral, USD, cs(creditor), debt_ids[0]),
            lambda: x.repayDebtBatch(ps, collateral, [USD] * n, cs(creditor), debt_ids),
        ),
        (
            "pullERC20To (collateral, BUY, to the wallet)",
            lambda: x.pullERC20To(ps[0], collateral, USD, wallet),
            lambda: x.pullERC20BatchTo(ps, collateral, [USD] * n, wallet),
        ),
        (
            "pullERC1155To (outcome tokens, SELL, to the wallet)",
            lambda: x.pullERC1155To(ps[0], ctf, YES_0, USD, wallet),
            lambda: x.pullERC1155BatchTo(ps, ctf, [YES_0] * n, [USD] * n, wallet),
        ),
        (
            "pushERC1155From (outcome tokens, BUY, from the wallet)",
            lambda: x.pushERC1155From(ps[0], ctf, YES_0, USD, wallet),
            lambda: x.pushERC1155BatchFrom(ps, ctf, [YES_0] * n, [USD] * n, wallet),
        ),
        (
            "pushERC20From (collateral, SELL, from the wallet)",
            lambda: x.pushERC20From(ps[0], collateral, USD, wallet),
            lambda: x.pushERC20BatchFrom(ps, collateral, [USD] * n, wallet),
        ),
        (
            "repayDebtTo (Smart Buffer, to the wallet)",
            lambda: x.repayDebtTo(ps[0], collateral, USD, cs(worker), wallet, wallet_debt_ids[0]),
            lambda: x.repayDebtBatchTo(ps, collateral, [USD] * n, cs(worker), wallet, wallet_debt_ids),
        ),
    ]
    signer = local_chain.signer(worker)
    rows = []
    for name, single, batch in operations:
        single_gas = send(local_chain.w3, signer, single())["gasUsed"]
        batch_gas = send(local_chain.w3, signer, batch())["gasUsed"]
        rows.append((name, single_gas, batch_gas, batch_gas // n))
        assert batch_gas // n < single_gas, name  # batching saves the 21,000 base cost and more

    lines = [
        f"| Executor operation | single tx | batch of {n} Proxies | batched, per Proxy |",
        "|---|---:|---:|---:|",
        *(f"| `{name}` | {s:,} | {b:,} | {p:,} |" for name, s, b, p in rows),
        *(f"| `{name}` | {gas:,} | — | — |" for name, gas in recording.items()),
    ]
    with capsys.disabled():
        print("\n" + "\n".join(lines))
