"""Deploying the local Polymarket V2 (pUSD, its collateral ramps, deposit wallets, the two CTF Exchange V2
instances) and the few calls that tooling, the local CLOB and the tests make on it.

Local and test chains only: on Polygon these contracts are Polymarket's own. Addresses come back lower-case
0x hex; amounts are integers in 6-decimal base units.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from eth_account.signers.local import LocalAccount
from eth_typing import ChecksumAddress
from web3 import Web3
from web3.types import TxReceipt

from polyhunter.chain.artifacts import load_artifact
from polyhunter.chain.create2 import create2_address, proxy_salt
from polyhunter.chain.tx import contract, deploy, send
from polyhunter.errors import ChainError, ConfigError, InvalidInputError

MAX_UINT256 = 2**256 - 1


@dataclass(frozen=True)
class PolymarketContracts:
    """What `deploy_polymarket` deployed (and the two contracts it was given), as lower-case 0x hex."""

    usdce: str
    pusd: str
    onramp: str
    offramp: str
    ctf: str
    exchange: str
    neg_risk_exchange: str
    wallet_factory: str
    wallet_init_code_hash: str

    @property
    def exchanges(self) -> tuple[str, str]:
        """(standard, neg-risk) exchange addresses."""
        return (self.exchange, self.neg_risk_exchange)


def _checksum(address: str, what: str) -> ChecksumAddress:
    if not isinstance(address, str) or not Web3.is_address(address):
        raise ConfigError(f"{what} is not an address: {address!r}")
    return Web3.to_checksum_address(address)


def _require_code(w3: Web3, address: str, what: str) -> None:
    if not w3.eth.get_code(_checksum(address, what)):
        raise ConfigError(f"{what} {address} has no code on chain {w3.eth.chain_id}")


def wallet_init_code_hash() -> str:
    """keccak256 of DepositWallet's creation code: one constant per build (no constructor arguments)."""
    return "0x" + load_artifact("DepositWallet").init_code_hash.hex()


def deploy_polymarket(
    w3: Web3, admin: LocalAccount, *, usdce: str, ctf: str, operators: Sequence[str]
) -> PolymarketContracts:
    """Deploys pUSD, the onramp (USDC.e allowed) and offramp, the deposit-wallet factory and both exchanges
    (collateral pUSD, fee receiver and admin `admin`), all owned by `admin`; `operators` may settle matches.

    pUSD's only minter is the onramp, so every pUSD is backed by the onramp's reserve: the deployer's own
    minter role is revoked once the onramp has it (a deployer able to mint could unwrap unbacked pUSD and
    drain the reserve). The offramp needs no role (it burns its own pUSD).
    """
    usdce_cs = _checksum(usdce, "USDC.e")
    ctf_cs = _checksum(ctf, "CTF")
    operator_list = [_checksum(op, "operator") for op in operators]
    _require_code(w3, usdce_cs, "USDC.e")
    _require_code(w3, ctf_cs, "CTF")

    pusd = deploy(w3, admin, "PolyUSD")
    onramp = deploy(w3, admin, "CollateralOnramp", Web3.to_checksum_address(pusd))
    offramp = deploy(
        w3, admin, "CollateralOfframp", Web3.to_checksum_address(pusd), Web3.to_checksum_address(onramp)
    )
    pusd_c = contract(w3, "PolyUSD", pusd)
    onramp_c = contract(w3, "CollateralOnramp", onramp)
    send(w3, admin, pusd_c.functions.setMinter(Web3.to_checksum_address(onramp), True))
    send(w3, admin, pusd_c.functions.setMinter(admin.address, False))
    send(w3, admin, onramp_c.functions.setAsset(usdce_cs, True))
    send(w3, admin, onramp_c.functions.setOfframp(Web3.to_checksum_address(offramp)))

    factory = deploy(w3, admin, "DepositWalletFactory")
    exchanges = []
    for neg_risk in (False, True):
        address = deploy(
            w3,
            admin,
            "CTFExchangeV2",
            Web3.to_checksum_address(pusd),
            ctf_cs,
            Web3.to_checksum_address(factory),
        )
        exchange = contract(w3, "CTFExchangeV2", address)
        if neg_risk:
            send(w3, admin, exchange.functions.setNegRisk(True))
        for operator in operator_list:
            send(w3, admin, exchange.functions.addOperator(operator))
        exchanges.append(address)

    init_code_hash = wallet_init_code_hash()
    on_chain = contract(w3, "DepositWalletFactory", factory).functions.walletInitCodeHash().call()
    if "0x" + bytes(on_chain).hex() != init_code_hash:
        raise ChainError(f"the wallet factory's init code hash differs from the artifact's {init_code_hash}")
    return PolymarketContracts(
        usdce=usdce_cs.lower(),
        pusd=pusd,
        onramp=onramp,
        offramp=offramp,
        ctf=ctf_cs.lower(),
        exchange=exchanges[0],
        neg_risk_exchange=exchanges[1],
        wallet_factory=factory,
        wallet_init_code_hash=init_code_hash,
    )


def deposit_wallet_address(factory: str, owner: str, init_code_hash: str) -> str:
    """The address of `owner`'s deposit wallet made by `factory`, deployed or not."""
    # The factory salts CREATE2 exactly as ProxyFactory does: the owner's address left-padded.
    return create2_address(factory, proxy_salt(owner), init_code_hash)


def create_deposit_wallet(w3: Web3, pm: PolymarketContracts, owner: LocalAccount) -> str:
    """Deploys `owner`'s deposit wallet (paid by `owner`) unless it exists; returns its address."""
    wallet = deposit_wallet_address(pm.wallet_factory, owner.address, pm.wallet_init_code_hash)
    if not w3.eth.get_code(Web3.to_checksum_address(wallet)):
        factory = contract(w3, "DepositWalletFactory", pm.wallet_factory)
        send(w3, owner, factory.functions.deploy(owner.address), context="deploy deposit wallet")
        if not w3.eth.get_code(Web3.to_checksum_address(wallet)):
            raise ChainError(f"deposit wallet of {owner.address} not found at its predicted address {wallet}")
    return wallet


def wallet_execute(
    w3: Web3, owner: LocalAccount, wallet: str, calls: Sequence[tuple[str, int, bytes]]
) -> TxReceipt:
    """Runs `calls` (target, value in wei, calldata) from `wallet` in one owner-signed batch."""
    if not calls:
        raise InvalidInputError("wallet_execute needs at least one call")
    batch = [(_checksum(target, "call target"), int(value), bytes(data)) for target, value, data in calls]
    handle = contract(w3, "DepositWallet", _checksum(wallet, "deposit wallet"))
    return send(w3, owner, handle.functions.execute(batch), context="deposit wallet execute")


def approve_for_trading(w3: Web3, pm: PolymarketContracts, owner: LocalAccount, wallet: str) -> TxReceipt:
    """One batch from `wallet`: pUSD allowance (unlimited) and CTF operator approval for both exchanges."""
    pusd = contract(w3, "PolyUSD", pm.pusd)
    ctf = contract(w3, "ConditionalTokens", pm.ctf)
    calls: list[tuple[str, int, bytes]] = []
    for exchange in pm.exchanges:
        spender = Web3.to_checksum_address(exchange)
        calls.append((pm.pusd, 0, bytes.fromhex(pusd.encode_abi("approve", [spender, MAX_UINT256])[2:])))
        calls.append((pm.ctf, 0, bytes.fromhex(ctf.encode_abi("setApprovalForAll", [spender, True])[2:])))
    return wallet_execute(w3, owner, wallet, calls)


def wrap_usdce(
    w3: Web3, pm: PolymarketContracts, admin: LocalAccount, payer: LocalAccount, to: str, amount: int
) -> None:
    """Mints `amount` USDC.e (the MockCollateral, owned by `admin`) to `payer`, who wraps it into `amount`
    pUSD for `to` through the onramp."""
    if isinstance(amount, bool) or not isinstance(amount, int) or amount <= 0:
        raise InvalidInputError(f"amount must be a positive integer of base units: {amount!r}")
    recipient = _checksum(to, "recipient")
    usdce = contract(w3, "MockCollateral", pm.usdce)
    onramp = Web3.to_checksum_address(pm.onramp)
    send(w3, admin, usdce.functions.mint(payer.address, amount))
    send(w3, payer, usdce.functions.approve(onramp, amount))
    handle = contract(w3, "CollateralOnramp", pm.onramp)
    send(w3, payer, handle.functions.wrap(Web3.to_checksum_address(pm.usdce), recipient, amount))


def register_market(
    w3: Web3,
    pm: PolymarketContracts,
    admin: LocalAccount,
    exchange: str,
    condition_id: str,
    yes: int,
    no: int,
) -> None:
    """Registers a binary market's YES/NO token ids (each the other's complement) on `exchange`, which must
    be one of `pm`'s two exchanges."""
    if exchange.lower() not in pm.exchanges:
        raise ConfigError(f"{exchange} is neither of the deployment's exchanges {pm.exchanges}")
    text = condition_id.removeprefix("0x")
    if len(text) != 64:
        raise InvalidInputError(f"condition id must be 0x + 64 hex digits: {condition_id!r}")
    try:
        condition = bytes.fromhex(text)
    except ValueError:
        raise InvalidInputError(f"condition id is not hex: {condition_id!r}") from None
    handle = contract(w3, "CTFExchangeV2", exchange)
    send(w3, admin, handle.functions.registerToken(yes, no, condition))
