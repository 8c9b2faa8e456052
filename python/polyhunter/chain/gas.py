"""Measures the gas of each Executor operation on a local world, single and batched across Proxies.

README's gas table is generated from this (benches/test_bench_gas.py writes benches/results/gas.json), and
tests/integration/test_contracts_gas.py asserts bounds on the same figures. The state is the steady one:
every Proxy holds tokens and has spent today already, each worker has been charged in the current hour, and
the `…To` / `…From` operations move through the worker's registered deposit wallet, which holds a collateral
float and no outcome tokens, as the worker itself does in the other rows. Measuring changes the chain: take
a snapshot first when the world must be kept.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from web3 import Web3
from web3.contract import Contract
from web3.contract.contract import ContractFunction

from polyhunter._core import keccak256
from polyhunter.chain import polymarket
from polyhunter.chain.local import LocalChain
from polyhunter.chain.polymarket import MAX_UINT256, PolymarketContracts
from polyhunter.chain.tx import send
from polyhunter.errors import ConfigError

# The first outcome token of the local world's first standard market (the same in every deployment).
YES_0 = 85582852254055604730434497073296615212033849972277199800761754422625228641162
USD = 1_000_000


@dataclass(frozen=True)
class GasRow:
    """One operation's gas as a single transaction and, when it has a batch form, batched over the Proxies."""

    name: str
    single: int
    batch: int | None = None

    def per_proxy(self, proxies: int) -> int | None:
        return None if self.batch is None else self.batch // proxies


@dataclass(frozen=True)
class GasTable:
    """Every measured operation, batch rows over `proxies` Proxies."""

    proxies: int
    rows: tuple[GasRow, ...]

    def row(self, name: str) -> GasRow:
        for r in self.rows:
            if r.name == name:
                return r
        raise KeyError(name)

    def to_json(self) -> dict[str, Any]:
        """The figures as benches/results/gas.json holds them (gas units only: machine-independent)."""
        return {
            "proxies": self.proxies,
            "operations": [
                {"name": r.name, "single": r.single, "batch": r.batch, "per_proxy": r.per_proxy(self.proxies)}
                for r in self.rows
            ],
        }


def _cs(address: str) -> str:
    return Web3.to_checksum_address(address)


def _calldata(call: ContractFunction) -> bytes:
    return bytes.fromhex(call._encode_transaction_data()[2:])


def _polymarket_of(chain: LocalChain) -> PolymarketContracts:
    c, d = chain.deployment.contracts, chain.deployment
    parts = (
        c.usdce,
        c.pusd,
        c.onramp,
        c.offramp,
        c.ctf_exchange_v2,
        c.neg_risk_exchange_v2,
        c.deposit_wallet_factory,
        d.deposit_wallet_init_code_hash,
    )
    if not all(parts):
        raise ConfigError("measuring gas needs a local world with Polymarket V2 deployed (deposit wallets)")
    usdce, pusd, onramp, offramp, exchange, neg_risk, factory, init_hash = (str(p) for p in parts)
    return PolymarketContracts(
        usdce=usdce,
        pusd=pusd,
        onramp=onramp,
        offramp=offramp,
        ctf=c.ctf,
        exchange=exchange,
        neg_risk_exchange=neg_risk,
        wallet_factory=factory,
        wallet_init_code_hash=init_hash,
    )


def _worker_wallet(chain: LocalChain, worker: str) -> str:
    """`worker`'s deposit wallet, approved for the Executor and registered on it as the worker's wallet."""
    pm = _polymarket_of(chain)
    signer = chain.signer(worker)
    wallet = polymarket.create_deposit_wallet(chain.w3, pm, signer)
    executor = _cs(chain.deployment.contracts.executor)
    approvals = [
        (pm.pusd, 0, _calldata(chain.collateral.functions.approve(executor, MAX_UINT256))),
        (pm.ctf, 0, _calldata(chain.ctf.functions.setApprovalForAll(executor, True))),
    ]
    polymarket.wallet_execute(chain.w3, signer, wallet, approvals)
    owner = chain.signer(chain.deployment.accounts.owner)
    send(chain.w3, owner, chain.executor.functions.setWorkerWallet(_cs(worker), _cs(wallet)))
    return _cs(wallet)


def _debt_key(executor: Contract, recorder: str, debt_id: bytes) -> bytes:
    """The key the repayments take for the debt `recorder` recorded under `debt_id`."""
    return bytes(executor.functions.debtKey(_cs(recorder), debt_id).call())


def measure_executor_gas(chain: LocalChain) -> GasTable:
    """Gas used by each Executor operation on `chain` (fleet workers 0–2, every follower's Proxy)."""
    d = chain.deployment
    if len(d.accounts.fleet) < 3 or len(d.accounts.followers) < 2:
        raise ConfigError("measuring gas needs at least 3 fleet workers and 2 followers")
    worker, creditor, trader = d.accounts.fleet[0], d.accounts.fleet[1], d.accounts.fleet[2]
    proxies = [chain.proxy_of(f) for f in d.accounts.followers]
    n = len(proxies)
    for proxy in proxies:
        chain.copy_buy(trader, proxy, YES_0, 5 * USD, 10 * USD)
    collateral, ctf, ps = _cs(d.contracts.collateral), _cs(d.contracts.ctf), [_cs(p) for p in proxies]
    debt_ids = [keccak256(bytes([i])) for i in range(n)]
    wallet_debt_ids = [keccak256(bytes([n + i])) for i in range(n)]
    wallet = _worker_wallet(chain, worker)
    send(chain.w3, chain.signer(worker), chain.collateral.functions.transfer(wallet, 100 * USD))
    # The debts the repayments below pay: each Proxy owes 2 USD (a single and a batched repayment) to
    # `creditor` itself and 2 USD to `worker`'s wallet, recorded by Smart Buffer pushes.
    x = chain.executor.functions
    chain.trade(creditor, "BUY", YES_0, 4 * n * USD, 2 * n * USD)
    send(
        chain.w3,
        chain.signer(creditor),
        chain.ctf.functions.safeTransferFrom(_cs(creditor), wallet, YES_0, 2 * n * USD, b""),
    )
    # Both workers have been charged in this hour already (their window's slot is written): the steady state.
    for account in (worker, creditor):
        chain.pull_collateral(account, proxies[0], 1)
    recording: list[GasRow] = []
    gas = 0
    for i, proxy in enumerate(ps):
        call = x.pushERC1155WithDebt(proxy, ctf, YES_0, 2 * USD, collateral, 2 * USD, debt_ids[i])
        gas = send(chain.w3, chain.signer(creditor), call)["gasUsed"]
    recording.append(GasRow("pushERC1155WithDebt (Smart Buffer, BUY)", gas))
    for i, proxy in enumerate(ps):
        call = x.pushERC1155FromWithDebt(
            proxy, ctf, YES_0, 2 * USD, wallet, collateral, 2 * USD, wallet_debt_ids[i]
        )
        gas = send(chain.w3, chain.signer(worker), call)["gasUsed"]
    recording.append(GasRow("pushERC1155FromWithDebt (Smart Buffer, from the wallet)", gas))
    keys = [_debt_key(chain.executor, creditor, i) for i in debt_ids]
    wallet_keys = [_debt_key(chain.executor, worker, i) for i in wallet_debt_ids]
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
            lambda: x.repayDebt(ps[0], collateral, USD, _cs(creditor), keys[0]),
            lambda: x.repayDebtBatch(ps, collateral, [USD] * n, _cs(creditor), keys),
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
            lambda: x.repayDebtTo(ps[0], collateral, USD, _cs(worker), wallet, wallet_keys[0]),
            lambda: x.repayDebtBatchTo(ps, collateral, [USD] * n, _cs(worker), wallet, wallet_keys),
        ),
    ]
    signer = chain.signer(worker)
    rows: list[GasRow] = []
    for name, single, batch in operations:
        single_gas = send(chain.w3, signer, single())["gasUsed"]
        batch_gas = send(chain.w3, signer, batch())["gasUsed"]
        rows.append(GasRow(name, single_gas, batch_gas))
    return GasTable(proxies=n, rows=(*rows, *recording))
