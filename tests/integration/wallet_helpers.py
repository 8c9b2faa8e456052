"""Workers' trading wallets on the local world: a fleet worker's deposit wallet, approved for the Executor
and registered on it (for the worker-wallet security tests)."""

from __future__ import annotations

from chain_helpers import cs
from web3.contract.contract import ContractFunction

from polyhunter.chain import polymarket
from polyhunter.chain.local import LocalChain
from polyhunter.chain.polymarket import MAX_UINT256, PolymarketContracts
from polyhunter.chain.tx import send


def polymarket_of(chain: LocalChain) -> PolymarketContracts:
    """The local world's Polymarket V2 contracts, read back from its deployment."""
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
    assert all(parts), "the local world has Polymarket V2 deployed"
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


def calldata(call: ContractFunction) -> bytes:
    return bytes.fromhex(call._encode_transaction_data()[2:])


def wallet_approving(chain: LocalChain, owner: str, *spenders: str) -> str:
    """`owner`'s deposit wallet (made if needed), with pUSD and CTF approvals for the Executor and `spenders`,
    given through the wallet's owner-only `execute`."""
    pm = polymarket_of(chain)
    signer = chain.signer(owner)
    wallet = polymarket.create_deposit_wallet(chain.w3, pm, signer)
    batch: list[tuple[str, int, bytes]] = []
    for spender in (chain.deployment.contracts.executor, *spenders):
        batch.append((pm.pusd, 0, calldata(chain.collateral.functions.approve(cs(spender), MAX_UINT256))))
        batch.append((pm.ctf, 0, calldata(chain.ctf.functions.setApprovalForAll(cs(spender), True))))
    polymarket.wallet_execute(chain.w3, signer, wallet, batch)
    return wallet


def register_wallet(chain: LocalChain, worker: str, wallet: str) -> None:
    """The Executor's owner binds `wallet` to `worker` (the zero address clears)."""
    owner = chain.signer(chain.deployment.accounts.owner)
    send(chain.w3, owner, chain.executor.functions.setWorkerWallet(cs(worker), cs(wallet)))
