"""The local Polymarket V2 for contract tests: a world on its own anvil, orders signed by py-clob-client-v2,
named reverts of the V2 contracts, and an ERC-7739 wrap built by hand for the wallet's refusal tests."""

from __future__ import annotations

import functools
import itertools
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import pytest
from eth_abi.abi import encode
from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_utils import keccak
from py_clob_client_v2.order_utils.exchange_order_builder_v2 import ORDER_TYPE_STRING, ExchangeOrderBuilderV2
from py_clob_client_v2.order_utils.model.order_data_v2 import OrderDataV2, SignedOrderV2
from py_clob_client_v2.order_utils.model.side import Side
from py_clob_client_v2.order_utils.model.signature_type_v2 import SignatureTypeV2
from py_clob_client_v2.signer import Signer
from web3 import Web3
from web3.contract import Contract
from web3.exceptions import ContractLogicError

from polyhunter.chain import ctf as ctf_ids
from polyhunter.chain import polymarket
from polyhunter.chain.accounts import derive
from polyhunter.chain.artifacts import load_artifact
from polyhunter.chain.deploy import fund_eth
from polyhunter.chain.polymarket import PolymarketContracts
from polyhunter.chain.tx import ContractReverted, contract, deploy, send

USD = 1_000_000
BUY, SELL = 0, 1
EOA, POLY_1271 = 0, 3
MAX_UINT256 = 2**256 - 1
V2_CONTRACTS = (
    "PolyUSD",
    "CollateralOnramp",
    "CollateralOfframp",
    "DepositWallet",
    "DepositWalletFactory",
    "CTFExchangeV2",
    "MockCollateral",
    "ConditionalTokens",
)
ORDER_FILLED_TOPIC0 = "0xd543adfd945773f1a62f74f0ee55a5e3b9b1a28262980ba90b1a89f2ea84d8ee"
ORDERS_MATCHED_TOPIC0 = "0x174b3811690657c217184f89418266767c87e4805d09680c39fc9c031c0cab7c"
MAGIC = bytes.fromhex("1626ba7e")
INVALID = bytes.fromhex("ffffffff")


def cs(address: str) -> str:
    return Web3.to_checksum_address(address)


@functools.cache
def v2_error_names() -> dict[bytes, str]:
    """4-byte selector -> error name over the V2 contracts' ABIs."""
    names: dict[bytes, str] = {}
    for name in V2_CONTRACTS:
        for item in load_artifact(name).abi:
            if item.get("type") == "error":
                signature = f"{item['name']}({','.join(_canonical(p) for p in item['inputs'])})"
                names[keccak(text=signature)[:4]] = item["name"]
    return names


def _canonical(param: dict[str, Any]) -> str:
    kind: str = param["type"]
    if kind.startswith("tuple"):
        return "(" + ",".join(_canonical(c) for c in param["components"]) + ")" + kind[len("tuple") :]
    return kind


def _revert_data(exc: BaseException) -> bytes:
    if isinstance(exc, ContractReverted):
        return exc.data
    data: Any = getattr(exc, "data", None)
    if isinstance(data, dict):
        data = data.get("data")
    if isinstance(data, str) and data.startswith("0x"):
        return bytes.fromhex(data[2:])
    return b""


@contextmanager
def v2_reverts(error_name: str) -> Iterator[None]:
    """Asserts the block reverts (a transaction or a call) with the V2 custom error `error_name`."""
    with pytest.raises((ContractReverted, ContractLogicError)) as info:
        yield
    data = _revert_data(info.value)
    name = v2_error_names().get(data[:4])
    if name is None and isinstance(info.value, ContractReverted):
        name = info.value.error_name  # errors of libraries (SafeERC20) and of the older contracts
    assert name == error_name, (error_name, data.hex(), str(info.value))


@dataclass
class V2World:
    """Everything a V2 contract test touches; accounts sit at indices of their own (500+)."""

    w3: Web3
    pm: PolymarketContracts
    admin: LocalAccount
    operator: LocalAccount
    owners: dict[str, LocalAccount]  # alice, bob, carol: deposit-wallet owners
    wallets: dict[str, str]
    trader: LocalAccount  # an EOA maker (type 0)
    condition: bytes
    yes: int
    no: int
    other_condition: bytes
    other_yes: int
    other_no: int

    @property
    def exchange(self) -> Contract:
        return contract(self.w3, "CTFExchangeV2", self.pm.exchange)

    @property
    def neg_exchange(self) -> Contract:
        return contract(self.w3, "CTFExchangeV2", self.pm.neg_risk_exchange)

    @property
    def pusd(self) -> Contract:
        return contract(self.w3, "PolyUSD", self.pm.pusd)

    @property
    def ctf(self) -> Contract:
        return contract(self.w3, "ConditionalTokens", self.pm.ctf)

    def wallet(self, name: str) -> Contract:
        return contract(self.w3, "DepositWallet", self.wallets[name])

    def usd(self, holder: str) -> int:
        return int(self.pusd.functions.balanceOf(cs(holder)).call())

    def tokens(self, holder: str, token: int) -> int:
        return int(self.ctf.functions.balanceOf(cs(holder), token).call())


def _prepare_market(
    w3: Web3, admin: LocalAccount, pm: PolymarketContracts, label: str
) -> tuple[bytes, int, int]:
    question = keccak(text=label)
    ctf = contract(w3, "ConditionalTokens", pm.ctf)
    send(w3, admin, ctf.functions.prepareCondition(admin.address, question, 2))
    condition = ctf_ids.condition_id(admin.address, question)
    yes, no = ctf_ids.binary_token_ids(pm.pusd, condition)
    for exchange in pm.exchanges:
        polymarket.register_market(w3, pm, admin, exchange, "0x" + condition.hex(), yes, no)
    return condition, yes, no


def split_calls(
    pm: PolymarketContracts, w3: Web3, condition: bytes, amount: int
) -> list[tuple[str, int, bytes]]:
    """The wallet batch that splits `amount` pUSD into YES + NO of `condition`."""
    pusd = contract(w3, "PolyUSD", pm.pusd)
    ctf = contract(w3, "ConditionalTokens", pm.ctf)
    approve = pusd.encode_abi("approve", [cs(pm.ctf), amount])
    split = ctf.encode_abi("splitPosition", [cs(pm.pusd), bytes(32), condition, [1, 2], amount])
    return [(pm.pusd, 0, bytes.fromhex(approve[2:])), (pm.ctf, 0, bytes.fromhex(split[2:]))]


def build_world(rpc_url: str) -> V2World:
    """Deploys USDC.e (mock), the CTF and the V2 contracts; two markets registered on both exchanges; three
    deposit wallets and one EOA trader, each with 1,000 pUSD and 500 YES + 500 NO of the first market."""
    w3 = Web3(Web3.HTTPProvider(rpc_url))
    admin, operator, trader = derive(500), derive(501), derive(502)
    owners = {"alice": derive(510), "bob": derive(511), "carol": derive(512)}
    fund_eth(w3, [a.address for a in (admin, operator, trader, *owners.values())], 10**21)
    usdce = deploy(w3, admin, "MockCollateral")
    ctf = deploy(w3, admin, "ConditionalTokens")
    pm = polymarket.deploy_polymarket(w3, admin, usdce=usdce, ctf=ctf, operators=[operator.address])
    condition, yes, no = _prepare_market(w3, admin, pm, "v2 market 0")
    other_condition, other_yes, other_no = _prepare_market(w3, admin, pm, "v2 market 1")

    wallets = {}
    for name, owner in owners.items():
        wallet = polymarket.create_deposit_wallet(w3, pm, owner)
        polymarket.approve_for_trading(w3, pm, owner, wallet)
        polymarket.wrap_usdce(w3, pm, admin, owner, wallet, 1_500 * USD)
        polymarket.wallet_execute(w3, owner, wallet, split_calls(pm, w3, condition, 500 * USD))
        wallets[name] = wallet

    polymarket.wrap_usdce(w3, pm, admin, trader, trader.address, 1_500 * USD)
    pusd = contract(w3, "PolyUSD", pm.pusd)
    ctf_c = contract(w3, "ConditionalTokens", pm.ctf)
    for spender in (*pm.exchanges, pm.ctf):
        send(w3, trader, pusd.functions.approve(cs(spender), MAX_UINT256))
    for exchange in pm.exchanges:
        send(w3, trader, ctf_c.functions.setApprovalForAll(cs(exchange), True))
    send(w3, trader, ctf_c.functions.splitPosition(cs(pm.pusd), bytes(32), condition, [1, 2], 500 * USD))
    return V2World(
        w3,
        pm,
        admin,
        operator,
        owners,
        wallets,
        trader,
        condition,
        yes,
        no,
        other_condition,
        other_yes,
        other_no,
    )


_salts = itertools.count(1)


def sign(
    world: V2World,
    signer: LocalAccount,
    *,
    maker: str,
    token: int,
    side: int,
    maker_amount: int,
    taker_amount: int,
    signature_type: int,
    exchange: str | None = None,
    chain_id: int | None = None,
    version: str = "2",
) -> SignedOrderV2:
    """An order signed by py-clob-client-v2's own builder (the judge), for `exchange` (default standard)."""
    salt = next(_salts)
    builder = ExchangeOrderBuilderV2(
        cs(exchange or world.pm.exchange),
        world.w3.eth.chain_id if chain_id is None else chain_id,
        Signer("0x" + bytes(signer.key).hex(), world.w3.eth.chain_id if chain_id is None else chain_id),
        generate_salt=lambda: str(salt),
        domain_version=version,
    )
    data = OrderDataV2(
        maker=cs(maker),
        tokenId=str(token),
        makerAmount=str(maker_amount),
        takerAmount=str(taker_amount),
        side=Side(side),
        signer=cs(maker),
        signatureType=SignatureTypeV2(signature_type),
        timestamp="1767225600000",
    )
    return builder.build_signed_order(data)


def client_hash(world: V2World, order: SignedOrderV2, exchange: str | None = None) -> bytes:
    """The order id as the official client computes it."""
    builder = ExchangeOrderBuilderV2(
        cs(exchange or world.pm.exchange), world.w3.eth.chain_id, Signer("0x" + "11" * 32, 1)
    )
    return bytes.fromhex(builder.build_order_hash(builder.build_order_typed_data(order))[2:])


def as_tuple(order: SignedOrderV2, **changes: Any) -> tuple[Any, ...]:
    """The contract's `Order` tuple of a client order, with fields optionally replaced (for tampering)."""
    fields: dict[str, Any] = {
        "salt": int(order.salt),
        "maker": cs(order.maker),
        "signer": cs(order.signer),
        "tokenId": int(order.tokenId),
        "makerAmount": int(order.makerAmount),
        "takerAmount": int(order.takerAmount),
        "side": int(order.side),
        "signatureType": int(order.signatureType),
        "timestamp": int(order.timestamp),
        "metadata": bytes.fromhex(order.metadata[2:]),
        "builder": bytes.fromhex(order.builder[2:]),
        "signature": bytes.fromhex(order.signature[2:]),
    }
    fields.update(changes)
    return tuple(fields.values())


def nested_wrap(
    owner: LocalAccount,
    *,
    app_domain_separator: bytes,
    contents_hash: bytes,
    wallet: str,
    chain_id: int,
    contents_type: str = ORDER_TYPE_STRING,
    high_s: bool = False,
    v_offset: int = 0,
) -> bytes:
    """Our own ERC-7739 TypedDataSign wrap (the client's layout), with every binding a parameter, so a test
    can bind the wrong wallet, chain or type and check the wallet refuses it."""
    name = contents_type.split("(", 1)[0]
    type_hash = keccak(
        text="TypedDataSign("
        + name
        + " contents,string name,string version,uint256 chainId,address verifyingContract,bytes32 salt)"
        + contents_type
    )
    struct_hash = keccak(
        encode(
            ["bytes32", "bytes32", "bytes32", "bytes32", "uint256", "address", "bytes32"],
            [
                type_hash,
                contents_hash,
                keccak(text="DepositWallet"),
                keccak(text="1"),
                chain_id,
                wallet,
                bytes(32),
            ],
        )
    )
    digest = keccak(b"\x19\x01" + app_domain_separator + struct_hash)
    signed = Account._sign_hash(digest, private_key=owner.key)
    r, s, v = signed.r, signed.s, signed.v
    if high_s:
        n = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
        s, v = n - s, 55 - v  # the malleable twin: same signer, s above n/2, v flipped
    sig65 = r.to_bytes(32, "big") + s.to_bytes(32, "big") + bytes([v + v_offset])
    raw = contents_type.encode()
    return sig65 + app_domain_separator + contents_hash + raw + len(raw).to_bytes(2, "big")


ORDER_ABI_TYPES = [
    "bytes32",
    "uint256",
    "address",
    "address",
    "uint256",
    "uint256",
    "uint256",
    "uint8",
    "uint8",
    "uint256",
    "bytes32",
    "bytes32",
]


def order_struct_hash(order: SignedOrderV2) -> bytes:
    """The EIP-712 struct hash of an order (the wrap's contentsHash)."""
    return keccak(encode(ORDER_ABI_TYPES, [keccak(text=ORDER_TYPE_STRING), *as_tuple(order)[:11]]))
