"""Polymarket V2's collateral adapters and NegRiskAdapter on the local chain: deploying them, preparing their
markets, and the calls (split, merge, redeem, convert, report) that tooling and tests make through them.

Local and test chains only: on Polygon these contracts are Polymarket's own (check their code before use).
Positions through `CtfCollateralAdapter` are CTF positions over USDC.e, through the NegRiskAdapter over its
WrappedCollateral; both collateral adapters take and pay pUSD. `collateral_of` tells, from a position id,
which collateral a position is over, and so what a redemption pays: the collateral itself through the CTF,
pUSD through a collateral adapter. Amounts are integers in 6-decimal base units; addresses come back
lower-case 0x hex.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from eth_abi.abi import encode
from eth_account.signers.local import LocalAccount
from eth_typing import ChecksumAddress
from web3 import Web3
from web3.types import TxReceipt

from polyhunter._core import keccak256
from polyhunter.chain import ctf as ctf_ids
from polyhunter.chain.polymarket import PolymarketContracts
from polyhunter.chain.tx import contract, deploy, send
from polyhunter.errors import ChainError, ConfigError, InvalidInputError

MAX_UINT256 = 2**256 - 1
FEE_DENOMINATOR = 10_000
#: A neg-risk market id is a hash with its low byte cleared; question i's id is the market id + i.
_MARKET_MASK = MAX_UINT256 ^ 0xFF
_MAX_QUESTIONS = 256


@dataclass(frozen=True)
class AdapterContracts:
    """What `deploy_adapters` deployed, as lower-case 0x hex."""

    collateral_adapter: str
    neg_risk_adapter: str
    neg_risk_collateral_adapter: str
    wrapped_collateral: str


@dataclass(frozen=True)
class BinaryCondition:
    """A binary CTF condition and its [YES, NO] token ids over `collateral`."""

    condition_id: str
    question_id: str
    oracle: str
    collateral: str
    yes_token_id: int
    no_token_id: int

    @property
    def token_ids(self) -> tuple[int, int]:
        return (self.yes_token_id, self.no_token_id)


@dataclass(frozen=True)
class NegRiskMarket:
    """A NegRiskAdapter market: its id, oracle, fee and one binary condition per question (in order)."""

    market_id: str
    oracle: str
    fee_bips: int
    questions: tuple[BinaryCondition, ...]


def _checksum(address: str, what: str) -> ChecksumAddress:
    if not isinstance(address, str) or not Web3.is_address(address):
        raise ConfigError(f"{what} is not an address: {address!r}")
    return Web3.to_checksum_address(address)


def _amount(value: int, what: str = "amount") -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value < 2**256:
        raise InvalidInputError(f"{what} must be a positive integer of base units: {value!r}")
    return value


def _bytes32(value: bytes | str, what: str) -> bytes:
    if isinstance(value, str):
        text = value.removeprefix("0x")
        try:
            raw = bytes.fromhex(text)
        except ValueError:
            raise InvalidInputError(f"{what} is not hex: {value!r}") from None
    else:
        raw = value
    if not isinstance(raw, bytes) or len(raw) != 32:
        raise InvalidInputError(f"{what} must be 32 bytes: {value!r}")
    return raw


def _hex(raw: bytes) -> str:
    return "0x" + raw.hex()


#: The local world's extra markets (beside, never among, the pinned `Deployment.markets`): one binary market
#: over USDC.e (oracle: the owner) for the CtfCollateralAdapter, one neg-risk market of three questions.
LOCAL_USDCE_QUESTION_ID = keccak256(b"polyhunter local usdce market 0")
LOCAL_NEG_RISK_DATA = b"polyhunter local neg-risk market 0"
LOCAL_NEG_RISK_QUESTIONS = 3


@dataclass(frozen=True)
class LocalAdapterMarkets:
    """The local world's adapter markets, as `local_adapter_markets` derives them."""

    usdce_market: BinaryCondition
    neg_risk_market: NegRiskMarket


def wrapped_collateral_address(neg_risk_adapter: str) -> str:
    """The WrappedCollateral a NegRiskAdapter deploys in its constructor: CREATE from the adapter at nonce 1
    (EIP-161 starts a contract's nonce at 1), so `keccak256(rlp([adapter, 1]))[12:]`."""
    raw = _checksum(neg_risk_adapter, "NegRiskAdapter")
    return "0x" + keccak256(b"\xd6\x94" + bytes.fromhex(raw[2:]) + b"\x01")[12:].hex()


def deploy_adapters(
    w3: Web3, admin: LocalAccount, pm: PolymarketContracts, *, vault: str | None = None
) -> AdapterContracts:
    """Deploys the NegRiskAdapter (over USDC.e, fees to `vault`, default `admin`) with its WrappedCollateral,
    the CtfCollateralAdapter and the NegRiskCtfCollateralAdapter, all over `pm`'s CTF, pUSD and ramps.

    None of them gets a role: the collateral adapters reach pUSD through the public ramps."""
    for address, what in ((pm.ctf, "CTF"), (pm.pusd, "pUSD"), (pm.usdce, "USDC.e"), (pm.onramp, "onramp")):
        if not w3.eth.get_code(_checksum(address, what)):
            raise ConfigError(f"{what} {address} has no code on chain {w3.eth.chain_id}")
    ctf = _checksum(pm.ctf, "CTF")
    ramps = (_checksum(pm.pusd, "pUSD"), _checksum(pm.usdce, "USDC.e"))
    onramp, offramp = _checksum(pm.onramp, "onramp"), _checksum(pm.offramp, "offramp")
    neg_risk = deploy(w3, admin, "NegRiskAdapter", ctf, ramps[1], _checksum(vault or admin.address, "vault"))
    wcol = str(contract(w3, "NegRiskAdapter", neg_risk).functions.wcol().call()).lower()
    if wcol != wrapped_collateral_address(neg_risk):
        raise ChainError(
            f"NegRiskAdapter {neg_risk} made its WrappedCollateral at {wcol}, not at the CREATE address"
        )
    plain = deploy(w3, admin, "CtfCollateralAdapter", ctf, *ramps, onramp, offramp)
    neg_risk_plain = deploy(
        w3, admin, "NegRiskCtfCollateralAdapter", ctf, *ramps, onramp, offramp, _checksum(neg_risk, "adapter")
    )
    return AdapterContracts(plain, neg_risk, neg_risk_plain, wcol)


def deploy_local_adapters(w3: Web3, owner: LocalAccount, pm: PolymarketContracts) -> AdapterContracts:
    """The local world's adapters (fees to `owner`) and their two markets, `owner` the oracle of both."""
    deployed = deploy_adapters(w3, owner, pm)
    prepare_condition(w3, owner, pm.ctf, pm.usdce, LOCAL_USDCE_QUESTION_ID)
    prepare_neg_risk_market(
        w3, owner, deployed.neg_risk_adapter, questions=LOCAL_NEG_RISK_QUESTIONS, data=LOCAL_NEG_RISK_DATA
    )
    return deployed


def local_adapter_markets(*, oracle: str, usdce: str, neg_risk_adapter: str) -> LocalAdapterMarkets:
    """The markets `deploy_local_adapters` prepared, derived off chain from the deployment's addresses
    (`oracle` = the owner, `usdce`, `neg_risk_adapter`)."""
    condition = ctf_ids.condition_id(oracle, LOCAL_USDCE_QUESTION_ID)
    yes, no = ctf_ids.binary_token_ids(usdce, condition)
    usdce_market = BinaryCondition(
        _hex(condition), _hex(LOCAL_USDCE_QUESTION_ID), oracle.lower(), usdce.lower(), yes, no
    )
    market_id = neg_risk_market_id(oracle, 0, LOCAL_NEG_RISK_DATA)
    wcol = wrapped_collateral_address(neg_risk_adapter)
    questions = []
    for index in range(LOCAL_NEG_RISK_QUESTIONS):
        question = (int(market_id, 16) + index).to_bytes(32, "big")
        condition = ctf_ids.condition_id(neg_risk_adapter, question)
        yes, no = ctf_ids.binary_token_ids(wcol, condition)
        questions.append(
            BinaryCondition(_hex(condition), _hex(question), neg_risk_adapter.lower(), wcol, yes, no)
        )
    return LocalAdapterMarkets(usdce_market, NegRiskMarket(market_id, oracle.lower(), 0, tuple(questions)))


def prepare_condition(
    w3: Web3, oracle: LocalAccount, ctf: str, collateral: str, question_id: bytes | str
) -> BinaryCondition:
    """Prepares a binary CTF condition with `oracle` as its oracle; its tokens are positions over
    `collateral` (USDC.e for the CtfCollateralAdapter)."""
    question = _bytes32(question_id, "question id")
    handle = contract(w3, "ConditionalTokens", ctf)
    send(
        w3, oracle, handle.functions.prepareCondition(oracle.address, question, 2), context="prepareCondition"
    )
    condition = ctf_ids.condition_id(oracle.address, question)
    yes, no = ctf_ids.binary_token_ids(collateral, condition)
    return BinaryCondition(
        _hex(condition), _hex(question), oracle.address.lower(), collateral.lower(), yes, no
    )


def neg_risk_market_id(oracle: str, fee_bips: int, data: bytes) -> str:
    """The NegRiskAdapter's market id: keccak256(abi.encode(oracle, feeBips, data)) with the low byte 0."""
    digest = int.from_bytes(keccak256(encode(["address", "uint256", "bytes"], [oracle, fee_bips, data])))
    return _hex((digest & _MARKET_MASK).to_bytes(32, "big"))


def prepare_neg_risk_market(
    w3: Web3,
    oracle: LocalAccount,
    adapter: str,
    *,
    questions: int,
    data: bytes,
    fee_bips: int = 0,
) -> NegRiskMarket:
    """Prepares a market on the NegRiskAdapter with `oracle` as its oracle, and its `questions` questions."""
    if isinstance(questions, bool) or not isinstance(questions, int) or not 0 < questions <= _MAX_QUESTIONS:
        raise InvalidInputError(f"a neg-risk market has 1 to {_MAX_QUESTIONS} questions: {questions!r}")
    if isinstance(fee_bips, bool) or not isinstance(fee_bips, int) or not 0 <= fee_bips <= FEE_DENOMINATOR:
        raise InvalidInputError(f"fee_bips must be 0..{FEE_DENOMINATOR}: {fee_bips!r}")
    handle = contract(w3, "NegRiskAdapter", adapter)
    market_id = neg_risk_market_id(oracle.address, fee_bips, data)
    send(w3, oracle, handle.functions.prepareMarket(fee_bips, data), context="prepareMarket")
    wcol = str(handle.functions.wcol().call()).lower()
    conditions = []
    for index in range(questions):
        question = (int(market_id, 16) + index).to_bytes(32, "big")
        send(
            w3,
            oracle,
            handle.functions.prepareQuestion(market_id, data + index.to_bytes(1, "big")),
            context="prepareQuestion",
        )
        condition = ctf_ids.condition_id(adapter, question)
        yes, no = ctf_ids.binary_token_ids(wcol, condition)
        conditions.append(BinaryCondition(_hex(condition), _hex(question), adapter.lower(), wcol, yes, no))
    if handle.functions.getQuestionCount(market_id).call() != questions:
        raise ChainError(f"neg-risk market {market_id} was prepared with another question count")
    return NegRiskMarket(market_id, oracle.address.lower(), fee_bips, tuple(conditions))


def collateral_of(token_id: int, condition_id: bytes | str, candidates: Sequence[str]) -> str:
    """Which of `candidates` (collateral addresses) the binary position `token_id` of `condition_id` is over,
    lower-case; `InvalidInputError` if none. A position id commits to its collateral, so this is exact."""
    condition = _bytes32(condition_id, "condition id")
    for collateral in candidates:
        if token_id in ctf_ids.binary_token_ids(collateral, condition):
            return collateral.lower()
    raise InvalidInputError(
        f"token {token_id} is not a binary position of condition {_hex(condition)}"
        f" over any of {list(candidates)}"
    )


# --- calls through the adapters ---------------------------------------------------------------------------


def approve_adapter(w3: Web3, account: LocalAccount, adapter: str, *, collateral: str, ctf: str) -> None:
    """`account` lets `adapter` take its `collateral` (pUSD for the collateral adapters, USDC.e for the
    NegRiskAdapter) and its CTF positions, without limit."""
    spender = _checksum(adapter, "adapter")
    token = contract(w3, "PolyUSD", _checksum(collateral, "collateral"))  # any ERC-20's approve
    send(w3, account, token.functions.approve(spender, MAX_UINT256), context="approve adapter")
    positions = contract(w3, "ConditionalTokens", _checksum(ctf, "CTF"))
    send(w3, account, positions.functions.setApprovalForAll(spender, True), context="approve adapter")


def split(w3: Web3, account: LocalAccount, adapter: str, condition_id: bytes | str, amount: int) -> TxReceipt:
    """Splits `amount` of `account`'s pUSD into YES + NO of `condition_id` through a collateral adapter."""
    handle = contract(w3, "CtfCollateralAdapter", adapter)
    call = handle.functions.splitPosition(
        Web3.to_checksum_address(handle.functions.pusd().call()),
        bytes(32),
        _bytes32(condition_id, "condition id"),
        [ctf_ids.YES_INDEX_SET, ctf_ids.NO_INDEX_SET],
        _amount(amount),
    )
    return send(w3, account, call, context="adapter splitPosition")


def merge(w3: Web3, account: LocalAccount, adapter: str, condition_id: bytes | str, amount: int) -> TxReceipt:
    """Merges `amount` YES + NO of `condition_id` held by `account` into pUSD through a collateral adapter."""
    handle = contract(w3, "CtfCollateralAdapter", adapter)
    call = handle.functions.mergePositions(
        Web3.to_checksum_address(handle.functions.pusd().call()),
        bytes(32),
        _bytes32(condition_id, "condition id"),
        [ctf_ids.YES_INDEX_SET, ctf_ids.NO_INDEX_SET],
        _amount(amount),
    )
    return send(w3, account, call, context="adapter mergePositions")


def redeem(w3: Web3, account: LocalAccount, adapter: str, condition_id: bytes | str) -> TxReceipt:
    """Redeems all of `account`'s YES and NO of a resolved `condition_id` into pUSD through a collateral
    adapter (the adapter reverts while the condition is unresolved)."""
    handle = contract(w3, "CtfCollateralAdapter", adapter)
    call = handle.functions.redeemPositions(
        Web3.to_checksum_address(handle.functions.pusd().call()),
        bytes(32),
        _bytes32(condition_id, "condition id"),
        [ctf_ids.YES_INDEX_SET, ctf_ids.NO_INDEX_SET],
    )
    return send(w3, account, call, context="adapter redeemPositions")


def convert(
    w3: Web3, account: LocalAccount, adapter: str, market_id: bytes | str, index_set: int, amount: int
) -> TxReceipt:
    """Converts `amount` NO of each question in `index_set` (bit i = question i) into YES of the others plus
    (k - 1) × `amount` collateral, through the NegRiskAdapter (USDC.e) or the NegRiskCtfCollateralAdapter
    (pUSD), whichever `adapter` is."""
    if isinstance(index_set, bool) or not isinstance(index_set, int) or not 0 < index_set < 2**_MAX_QUESTIONS:
        raise InvalidInputError(f"index set must be a non-empty bit set of questions: {index_set!r}")
    handle = contract(w3, "NegRiskCtfCollateralAdapter", adapter)
    call = handle.functions.convertPositions(_bytes32(market_id, "market id"), index_set, _amount(amount))
    return send(w3, account, call, context="convertPositions")


def report_outcome(
    w3: Web3, oracle: LocalAccount, adapter: str, question_id: bytes | str, outcome: bool
) -> TxReceipt:
    """Resolves a NegRiskAdapter question (the market's oracle only): `outcome` True = YES wins."""
    if not isinstance(outcome, bool):
        raise InvalidInputError(f"outcome must be a bool: {outcome!r}")
    handle = contract(w3, "NegRiskAdapter", adapter)
    call = handle.functions.reportOutcome(_bytes32(question_id, "question id"), outcome)
    return send(w3, oracle, call, context="reportOutcome")


def neg_risk_split(
    w3: Web3, account: LocalAccount, adapter: str, condition_id: bytes | str, amount: int
) -> TxReceipt:
    """Splits `amount` of `account`'s USDC.e into YES + NO of a NegRiskAdapter condition."""
    handle = contract(w3, "NegRiskAdapter", adapter)
    call = handle.get_function_by_signature("splitPosition(bytes32,uint256)")(
        _bytes32(condition_id, "condition id"), _amount(amount)
    )
    return send(w3, account, call, context="NegRiskAdapter splitPosition")


def neg_risk_merge(
    w3: Web3, account: LocalAccount, adapter: str, condition_id: bytes | str, amount: int
) -> TxReceipt:
    """Merges `amount` YES + NO of a NegRiskAdapter condition held by `account` into USDC.e."""
    handle = contract(w3, "NegRiskAdapter", adapter)
    call = handle.get_function_by_signature("mergePositions(bytes32,uint256)")(
        _bytes32(condition_id, "condition id"), _amount(amount)
    )
    return send(w3, account, call, context="NegRiskAdapter mergePositions")


def neg_risk_redeem(
    w3: Web3, account: LocalAccount, adapter: str, condition_id: bytes | str, amounts: tuple[int, int]
) -> TxReceipt:
    """Redeems `amounts` = (YES, NO) of `account`'s positions of a resolved NegRiskAdapter condition into
    USDC.e."""
    if len(amounts) != 2 or any(isinstance(a, bool) or not isinstance(a, int) or a < 0 for a in amounts):
        raise InvalidInputError(f"amounts must be (YES, NO) non-negative integers: {amounts!r}")
    handle = contract(w3, "NegRiskAdapter", adapter)
    call = handle.functions.redeemPositions(_bytes32(condition_id, "condition id"), list(amounts))
    return send(w3, account, call, context="NegRiskAdapter redeemPositions")
