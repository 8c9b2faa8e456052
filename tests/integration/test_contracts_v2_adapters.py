"""Polymarket V2's adapters on anvil: the CtfCollateralAdapter (pUSD in and out, positions over USDC.e), the
NegRiskAdapter (positions over its wrapped USDC.e, questions resolved by the market's oracle, NO converted
into YES plus collateral) and the NegRiskCtfCollateralAdapter (the same with pUSD), with exact balances, and
the calls each must refuse."""

from __future__ import annotations

import functools
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import pytest
from eth_abi.abi import decode
from eth_account.signers.local import LocalAccount
from eth_utils import keccak
from web3 import Web3
from web3.contract import Contract
from web3.logs import DISCARD

from polyhunter.chain import adapters, polymarket
from polyhunter.chain import ctf as ctf_ids
from polyhunter.chain.accounts import derive
from polyhunter.chain.anvil import Anvil
from polyhunter.chain.artifacts import load_artifact
from polyhunter.chain.deploy import fund_eth
from polyhunter.chain.deployment import Deployment
from polyhunter.chain.local import LocalChain
from polyhunter.chain.polymarket import PolymarketContracts
from polyhunter.chain.tx import ContractReverted, contract, deploy, send
from polyhunter.errors import InvalidInputError

pytestmark = pytest.mark.integration

USD = 1_000_000
NO_TOKEN_BURN_ADDRESS = "0x" + keccak(text="NO_TOKEN_BURN_ADDRESS")[:20].hex()
_ADAPTER_CONTRACTS = (
    "NegRiskAdapter",
    "WrappedCollateral",
    "CtfCollateralAdapter",
    "NegRiskCtfCollateralAdapter",
)


def cs(address: str) -> str:
    return Web3.to_checksum_address(address)


@functools.cache
def _error_names() -> dict[bytes, str]:
    names: dict[bytes, str] = {}
    for name in (*_ADAPTER_CONTRACTS, "CollateralOnramp", "CollateralOfframp", "PolyUSD"):
        for item in load_artifact(name).abi:
            if item.get("type") == "error":
                signature = f"{item['name']}({','.join(p['type'] for p in item['inputs'])})"
                names[keccak(text=signature)[:4]] = item["name"]
    return names


@contextmanager
def reverts(expected: str) -> Iterator[None]:
    """The block's transaction reverts with the custom error `expected`, or with `Error(expected)` (the
    Gnosis CTF's require strings)."""
    with pytest.raises(ContractReverted) as info:
        yield
    data = info.value.data
    if data[:4] == bytes.fromhex("08c379a0"):
        got = decode(["string"], data[4:])[0]
    else:
        got = _error_names().get(data[:4], info.value.error)
    assert got == expected, (expected, got, data.hex())


@dataclass
class World:
    w3: Web3
    pm: PolymarketContracts
    ad: adapters.AdapterContracts
    admin: LocalAccount  # deployer, the binary market's oracle and the neg-risk markets' oracle
    vault: LocalAccount
    alice: LocalAccount
    bob: LocalAccount
    mallory: LocalAccount
    binary: adapters.BinaryCondition  # positions over USDC.e
    market: adapters.NegRiskMarket  # three questions, no fee

    def erc20(self, token: str) -> Contract:
        return contract(self.w3, "PolyUSD", token)

    def balance(self, token: str, holder: str) -> int:
        return int(self.erc20(token).functions.balanceOf(cs(holder)).call())

    def supply(self, token: str) -> int:
        return int(self.erc20(token).functions.totalSupply().call())

    def pusd(self, holder: str) -> int:
        return self.balance(self.pm.pusd, holder)

    def usdce(self, holder: str) -> int:
        return self.balance(self.pm.usdce, holder)

    def tokens(self, holder: str, *token_ids: int) -> list[int]:
        ctf = contract(self.w3, "ConditionalTokens", self.pm.ctf)
        return [int(ctf.functions.balanceOf(cs(holder), t).call()) for t in token_ids]

    def give_usdce(self, to: LocalAccount, amount: int) -> None:
        send(
            self.w3,
            self.admin,
            contract(self.w3, "MockCollateral", self.pm.usdce).functions.mint(to.address, amount),
        )

    def give_pusd(self, to: LocalAccount, amount: int) -> None:
        polymarket.wrap_usdce(self.w3, self.pm, self.admin, to, to.address, amount)

    def resolve_binary(self, yes_wins: bool) -> None:
        ctf = contract(self.w3, "ConditionalTokens", self.pm.ctf)
        payouts = [1, 0] if yes_wins else [0, 1]
        send(self.w3, self.admin, ctf.functions.reportPayouts(self.binary.question_id, payouts))

    def assert_pusd_backed(self) -> None:
        """Every pUSD in existence is backed by USDC.e in the onramp (nothing here mints pUSD directly)."""
        assert self.supply(self.pm.pusd) == self.usdce(self.pm.onramp)

    def assert_adapters_empty(self, *token_ids: int) -> None:
        """Nothing sticks to the adapters: no pUSD, USDC.e, wrapped collateral or positions."""
        for holder in (
            self.ad.collateral_adapter,
            self.ad.neg_risk_collateral_adapter,
            self.ad.neg_risk_adapter,
        ):
            assert self.pusd(holder) == 0
            assert self.usdce(holder) == 0
            assert self.balance(self.ad.wrapped_collateral, holder) == 0
            assert self.tokens(holder, *token_ids) == [0] * len(token_ids)


@pytest.fixture(scope="module")
def world_once(anvil: Anvil) -> Iterator[World]:
    w3 = Web3(Web3.HTTPProvider(anvil.rpc_url))
    before = w3.provider.make_request("evm_snapshot", [])["result"]  # type: ignore[arg-type]
    admin, vault, alice, bob, mallory = (derive(i) for i in (600, 601, 610, 611, 666))
    fund_eth(w3, [a.address for a in (admin, vault, alice, bob, mallory)], 10**21)
    usdce = deploy(w3, admin, "MockCollateral")
    ctf = deploy(w3, admin, "ConditionalTokens")
    pm = polymarket.deploy_polymarket(w3, admin, usdce=usdce, ctf=ctf, operators=[])
    ad = adapters.deploy_adapters(w3, admin, pm, vault=vault.address)
    binary = adapters.prepare_condition(w3, admin, pm.ctf, pm.usdce, keccak(text="adapter test market"))
    market = adapters.prepare_neg_risk_market(w3, admin, ad.neg_risk_adapter, questions=3, data=b"who wins")
    yield World(w3, pm, ad, admin, vault, alice, bob, mallory, binary, market)
    w3.provider.make_request("evm_revert", [before])  # type: ignore[arg-type]


@pytest.fixture
def world(world_once: World) -> Iterator[World]:
    snapshot = world_once.w3.provider.make_request("evm_snapshot", [])["result"]  # type: ignore[arg-type]
    yield world_once
    world_once.w3.provider.make_request("evm_revert", [snapshot])  # type: ignore[arg-type]


def _approve_collateral_adapter(world: World, account: LocalAccount, adapter: str) -> None:
    adapters.approve_adapter(world.w3, account, adapter, collateral=world.pm.pusd, ctf=world.pm.ctf)


def _approve_neg_risk_adapter(world: World, account: LocalAccount) -> None:
    adapters.approve_adapter(
        world.w3, account, world.ad.neg_risk_adapter, collateral=world.pm.usdce, ctf=world.pm.ctf
    )


# --- deployment and ids -----------------------------------------------------------------------------------


def test_position_ids_commit_to_their_collateral(world: World) -> None:
    ad, pm = world.ad, world.pm
    plain = contract(world.w3, "CtfCollateralAdapter", ad.collateral_adapter)
    assert plain.functions.positionIds(world.binary.condition_id).call() == list(world.binary.token_ids)
    assert world.binary.token_ids == ctf_ids.binary_token_ids(pm.usdce, world.binary.condition_id)
    candidates = [pm.pusd, pm.usdce, ad.wrapped_collateral]
    assert adapters.collateral_of(world.binary.no_token_id, world.binary.condition_id, candidates) == pm.usdce

    neg = contract(world.w3, "NegRiskAdapter", ad.neg_risk_adapter)
    assert neg.functions.wcol().call().lower() == ad.wrapped_collateral
    assert neg.functions.getQuestionCount(world.market.market_id).call() == 3
    assert neg.functions.getOracle(world.market.market_id).call().lower() == world.admin.address.lower()
    for index, question in enumerate(world.market.questions):
        assert int(question.question_id, 16) == int(world.market.market_id, 16) + index
        assert (
            "0x" + bytes(neg.functions.getConditionId(question.question_id).call()).hex()
            == question.condition_id
        )
        assert neg.functions.getPositionId(question.question_id, True).call() == question.yes_token_id
        assert neg.functions.getPositionId(question.question_id, False).call() == question.no_token_id
        assert adapters.collateral_of(question.yes_token_id, question.condition_id, candidates) == (
            ad.wrapped_collateral
        )
    # The existing local markets' positions are over pUSD: each position id names one collateral only.
    over_pusd = ctf_ids.binary_token_ids(pm.pusd, world.binary.condition_id)[0]
    assert adapters.collateral_of(over_pusd, world.binary.condition_id, candidates) == pm.pusd
    with pytest.raises(InvalidInputError, match="not a binary position"):
        adapters.collateral_of(world.binary.yes_token_id, world.market.questions[0].condition_id, candidates)


def test_market_id_is_computed_off_chain_as_the_adapter_does(world: World) -> None:
    assert world.market.market_id == adapters.neg_risk_market_id(world.admin.address, 0, b"who wins")
    assert int(world.market.market_id, 16) & 0xFF == 0


def test_helpers_refuse_bad_input_before_sending(world: World) -> None:
    w3, alice, adapter = world.w3, world.alice, world.ad.collateral_adapter
    nonce = w3.eth.get_transaction_count(alice.address)
    with pytest.raises(InvalidInputError, match="positive integer"):
        adapters.split(w3, alice, adapter, world.binary.condition_id, 0)
    with pytest.raises(InvalidInputError, match="positive integer"):
        adapters.merge(w3, alice, adapter, world.binary.condition_id, True)
    with pytest.raises(InvalidInputError, match="32 bytes"):
        adapters.redeem(w3, alice, adapter, "0x1234")
    with pytest.raises(InvalidInputError, match="not hex"):
        adapters.redeem(w3, alice, adapter, "0x" + "zz" * 32)
    with pytest.raises(InvalidInputError, match="outcome must be a bool"):
        adapters.report_outcome(
            w3, world.admin, world.ad.neg_risk_adapter, world.market.questions[0].question_id, 1
        )  # type: ignore[arg-type]
    with pytest.raises(InvalidInputError, match="amounts"):
        adapters.neg_risk_redeem(w3, alice, world.ad.neg_risk_adapter, world.binary.condition_id, (1, -1))
    with pytest.raises(InvalidInputError, match="questions"):
        adapters.prepare_neg_risk_market(w3, world.admin, world.ad.neg_risk_adapter, questions=257, data=b"x")
    assert w3.eth.get_transaction_count(alice.address) == nonce


# --- CtfCollateralAdapter ---------------------------------------------------------------------------------


def test_split_takes_pusd_and_gives_both_usdce_positions(world: World) -> None:
    alice, yes, no = world.alice, world.binary.yes_token_id, world.binary.no_token_id
    world.give_pusd(alice, 250 * USD)
    _approve_collateral_adapter(world, alice, world.ad.collateral_adapter)
    reserve, ctf_usdce = world.usdce(world.pm.onramp), world.usdce(world.pm.ctf)

    adapters.split(world.w3, alice, world.ad.collateral_adapter, world.binary.condition_id, 100 * USD)

    assert world.pusd(alice.address) == 150 * USD
    assert world.tokens(alice.address, yes, no) == [100 * USD, 100 * USD]
    # The pUSD was burnt and its USDC.e moved from the onramp's reserve into the CTF.
    assert world.usdce(world.pm.onramp) == reserve - 100 * USD
    assert world.usdce(world.pm.ctf) == ctf_usdce + 100 * USD
    world.assert_pusd_backed()
    world.assert_adapters_empty(yes, no)


def test_merge_gives_pusd_back_for_both_positions(world: World) -> None:
    alice, yes, no = world.alice, world.binary.yes_token_id, world.binary.no_token_id
    world.give_pusd(alice, 100 * USD)
    _approve_collateral_adapter(world, alice, world.ad.collateral_adapter)
    adapters.split(world.w3, alice, world.ad.collateral_adapter, world.binary.condition_id, 100 * USD)

    adapters.merge(world.w3, alice, world.ad.collateral_adapter, world.binary.condition_id, 40 * USD)

    assert world.pusd(alice.address) == 40 * USD
    assert world.tokens(alice.address, yes, no) == [60 * USD, 60 * USD]
    assert world.usdce(world.pm.ctf) == 60 * USD
    world.assert_pusd_backed()
    world.assert_adapters_empty(yes, no)


def test_redeem_pays_the_winning_side_only_in_pusd(world: World) -> None:
    alice, bob, yes, no = world.alice, world.bob, world.binary.yes_token_id, world.binary.no_token_id
    world.give_pusd(alice, 100 * USD)
    _approve_collateral_adapter(world, alice, world.ad.collateral_adapter)
    _approve_collateral_adapter(world, bob, world.ad.collateral_adapter)
    adapters.split(world.w3, alice, world.ad.collateral_adapter, world.binary.condition_id, 100 * USD)
    ctf = contract(world.w3, "ConditionalTokens", world.pm.ctf)
    send(world.w3, alice, ctf.functions.safeTransferFrom(alice.address, bob.address, no, 30 * USD, b""))
    world.resolve_binary(yes_wins=True)

    adapters.redeem(world.w3, alice, world.ad.collateral_adapter, world.binary.condition_id)
    adapters.redeem(world.w3, bob, world.ad.collateral_adapter, world.binary.condition_id)

    assert world.pusd(alice.address) == 100 * USD  # 100 YES won; her 70 NO paid nothing
    assert world.pusd(bob.address) == 0  # 30 NO lost
    assert world.tokens(alice.address, yes, no) == [0, 0]
    assert world.tokens(bob.address, yes, no) == [0, 0]
    assert world.usdce(world.pm.ctf) == 0
    world.assert_pusd_backed()
    world.assert_adapters_empty(yes, no)


def test_redeem_directly_on_the_ctf_pays_usdce(world: World) -> None:
    """The same positions redeemed without the adapter pay the collateral they are over: USDC.e."""
    alice, no = world.alice, world.binary.no_token_id
    world.give_pusd(alice, 100 * USD)
    _approve_collateral_adapter(world, alice, world.ad.collateral_adapter)
    adapters.split(world.w3, alice, world.ad.collateral_adapter, world.binary.condition_id, 100 * USD)
    world.resolve_binary(yes_wins=False)
    ctf = contract(world.w3, "ConditionalTokens", world.pm.ctf)

    send(
        world.w3,
        alice,
        ctf.functions.redeemPositions(cs(world.pm.usdce), bytes(32), world.binary.condition_id, [1, 2]),
    )

    assert world.usdce(alice.address) == 100 * USD
    assert world.pusd(alice.address) == 0
    assert world.tokens(alice.address, no) == [0]


def test_redeem_before_resolution_is_refused(world: World) -> None:
    alice, yes, no = world.alice, world.binary.yes_token_id, world.binary.no_token_id
    world.give_pusd(alice, 100 * USD)
    _approve_collateral_adapter(world, alice, world.ad.collateral_adapter)
    adapters.split(world.w3, alice, world.ad.collateral_adapter, world.binary.condition_id, 100 * USD)

    with reverts("result for condition not received yet"):
        adapters.redeem(world.w3, alice, world.ad.collateral_adapter, world.binary.condition_id)

    assert world.tokens(alice.address, yes, no) == [100 * USD, 100 * USD]
    assert world.pusd(alice.address) == 0


def test_no_caller_moves_another_holders_positions_or_pusd(world: World) -> None:
    """Bob approved the adapter and holds pUSD and both positions; Mallory approved it too and holds
    nothing. Whatever Mallory calls, only her own (empty) balances are touched."""
    bob, mallory, yes, no = world.bob, world.mallory, world.binary.yes_token_id, world.binary.no_token_id
    adapter, condition = world.ad.collateral_adapter, world.binary.condition_id
    world.give_pusd(bob, 200 * USD)
    _approve_collateral_adapter(world, bob, adapter)
    _approve_collateral_adapter(world, mallory, adapter)
    adapters.split(world.w3, bob, adapter, condition, 50 * USD)

    with reverts("TokenTransferFailed"):  # pUSD refuses: she has none
        adapters.split(world.w3, mallory, adapter, condition, 50 * USD)
    with reverts("SafeMath: subtraction overflow"):
        adapters.merge(world.w3, mallory, adapter, condition, 50 * USD)
    world.resolve_binary(yes_wins=True)
    adapters.redeem(world.w3, mallory, adapter, condition)  # redeems Mallory's nothing

    assert world.pusd(mallory.address) == 0
    assert world.tokens(mallory.address, yes, no) == [0, 0]
    assert world.pusd(bob.address) == 150 * USD
    assert world.tokens(bob.address, yes, no) == [50 * USD, 50 * USD]
    world.assert_pusd_backed()


def test_adapter_cannot_be_driven_without_the_callers_approval(world: World) -> None:
    alice = world.alice
    world.give_pusd(alice, 100 * USD)
    with reverts("TokenTransferFailed"):  # pUSD refuses: no allowance
        adapters.split(world.w3, alice, world.ad.collateral_adapter, world.binary.condition_id, 100 * USD)
    # pUSD approved but not the positions: the merge cannot take them.
    pusd = world.erc20(world.pm.pusd)
    send(world.w3, alice, pusd.functions.approve(cs(world.ad.collateral_adapter), 2**256 - 1))
    adapters.split(world.w3, alice, world.ad.collateral_adapter, world.binary.condition_id, 100 * USD)
    with reverts("ERC1155: need operator approval for 3rd party transfers."):
        adapters.merge(world.w3, alice, world.ad.collateral_adapter, world.binary.condition_id, 100 * USD)
    assert world.tokens(alice.address, *world.binary.token_ids) == [100 * USD, 100 * USD]


# --- NegRiskAdapter ----------------------------------------------------------------------------------------


def test_neg_risk_split_and_merge_over_wrapped_usdce(world: World) -> None:
    alice, question = world.alice, world.market.questions[0]
    wcol = world.ad.wrapped_collateral
    world.give_usdce(alice, 100 * USD)
    _approve_neg_risk_adapter(world, alice)

    adapters.neg_risk_split(world.w3, alice, world.ad.neg_risk_adapter, question.condition_id, 100 * USD)
    assert world.usdce(alice.address) == 0
    assert world.tokens(alice.address, *question.token_ids) == [100 * USD, 100 * USD]
    assert world.usdce(wcol) == 100 * USD
    assert world.balance(wcol, world.pm.ctf) == 100 * USD
    assert world.supply(wcol) == 100 * USD

    adapters.neg_risk_merge(world.w3, alice, world.ad.neg_risk_adapter, question.condition_id, 40 * USD)
    assert world.usdce(alice.address) == 40 * USD
    assert world.tokens(alice.address, *question.token_ids) == [60 * USD, 60 * USD]
    assert world.usdce(wcol) == 60 * USD
    assert world.supply(wcol) == 60 * USD
    world.assert_adapters_empty(*question.token_ids)


def _split_all(world: World, account: LocalAccount, amount: int, questions: range) -> None:
    world.give_usdce(account, amount * len(questions))
    _approve_neg_risk_adapter(world, account)
    for i in questions:
        condition = world.market.questions[i].condition_id
        adapters.neg_risk_split(world.w3, account, world.ad.neg_risk_adapter, condition, amount)


def test_convert_two_no_into_the_third_yes_and_collateral(world: World) -> None:
    alice, q = world.alice, world.market.questions
    _split_all(world, alice, 100 * USD, range(2))  # YES and NO of questions 0 and 1
    wcol_usdce = world.usdce(world.ad.wrapped_collateral)

    receipt = adapters.convert(
        world.w3, alice, world.ad.neg_risk_adapter, world.market.market_id, 0b011, 100 * USD
    )

    # NO0 + NO1 (100 each) = 100 USDC.e + YES2 (whichever of 0, 1, 2 wins, the same payout).
    assert world.tokens(alice.address, q[0].no_token_id, q[1].no_token_id) == [0, 0]
    assert world.tokens(alice.address, q[2].yes_token_id, q[2].no_token_id) == [100 * USD, 0]
    assert world.tokens(alice.address, q[0].yes_token_id, q[1].yes_token_id) == [100 * USD, 100 * USD]
    assert world.usdce(alice.address) == 100 * USD
    assert world.usdce(world.ad.wrapped_collateral) == wcol_usdce - 100 * USD
    # A full set of NO is burnt: nobody can redeem it.
    burnt = world.tokens(NO_TOKEN_BURN_ADDRESS, *(question.no_token_id for question in q))
    assert burnt == [100 * USD] * 3
    neg = contract(world.w3, "NegRiskAdapter", world.ad.neg_risk_adapter)
    (event,) = neg.events.PositionsConverted().process_receipt(receipt, errors=DISCARD)
    assert event["args"]["stakeholder"] == alice.address
    assert event["args"]["indexSet"] == 0b011
    assert event["args"]["amount"] == 100 * USD
    world.assert_adapters_empty(*(t for question in q for t in question.token_ids))


def test_convert_one_no_into_the_other_yes_without_collateral(world: World) -> None:
    alice, q = world.alice, world.market.questions
    _split_all(world, alice, 70 * USD, range(1))

    adapters.convert(world.w3, alice, world.ad.neg_risk_adapter, world.market.market_id, 0b001, 70 * USD)

    assert world.tokens(alice.address, q[0].no_token_id, q[1].yes_token_id, q[2].yes_token_id) == [
        0,
        70 * USD,
        70 * USD,
    ]
    assert world.usdce(alice.address) == 0


def test_resolution_redeems_the_winner_and_keeps_every_holder_whole(world: World) -> None:
    """Alice converts, Bob holds plain splits; question 1 wins. Everyone redeems everything and the
    wrapped collateral's reserve ends exactly at what the burnt NO set can never claim back."""
    alice, bob, q = world.alice, world.bob, world.market.questions
    adapter = world.ad.neg_risk_adapter
    _split_all(world, alice, 100 * USD, range(2))
    _split_all(world, bob, 10 * USD, range(3))
    adapters.convert(world.w3, alice, adapter, world.market.market_id, 0b011, 100 * USD)

    with reverts("result for condition not received yet"):
        adapters.neg_risk_redeem(world.w3, alice, adapter, q[1].condition_id, (100 * USD, 0))
    for index, outcome in ((0, False), (1, True), (2, False)):
        adapters.report_outcome(world.w3, world.admin, adapter, q[index].question_id, outcome)
    neg = contract(world.w3, "NegRiskAdapter", adapter)
    assert neg.functions.getDetermined(world.market.market_id).call() is True
    assert neg.functions.getResult(world.market.market_id).call() == 1

    for account in (alice, bob):
        for question in q:
            yes, no = world.tokens(account.address, *question.token_ids)
            adapters.neg_risk_redeem(world.w3, account, adapter, question.condition_id, (yes, no))

    # Alice: 200 USDC.e in; 100 back from the conversion, then YES1 (100) wins, YES0 and YES2 lose.
    assert world.usdce(alice.address) == 200 * USD
    # Bob: 30 in, YES1 + NO0 + NO2 (10 each) win.
    assert world.usdce(bob.address) == 30 * USD
    for account in (alice, bob):
        assert world.tokens(account.address, *(t for question in q for t in question.token_ids)) == [0] * 6
    assert world.usdce(world.ad.wrapped_collateral) == 0
    world.assert_adapters_empty(*(t for question in q for t in question.token_ids))


def test_only_the_markets_oracle_reports_and_only_one_yes(world: World) -> None:
    adapter, q = world.ad.neg_risk_adapter, world.market.questions
    with reverts("OnlyOracle"):
        adapters.report_outcome(world.w3, world.mallory, adapter, q[0].question_id, True)
    with reverts("MarketNotPrepared"):
        adapters.report_outcome(world.w3, world.admin, adapter, bytes(32), True)
    beyond = (int(world.market.market_id, 16) + 3).to_bytes(32, "big")
    with reverts("IndexOutOfBounds"):
        adapters.report_outcome(world.w3, world.admin, adapter, beyond, True)
    adapters.report_outcome(world.w3, world.admin, adapter, q[0].question_id, True)
    with reverts("MarketAlreadyDetermined"):
        adapters.report_outcome(world.w3, world.admin, adapter, q[1].question_id, True)
    with reverts("payout denominator already set"):
        adapters.report_outcome(world.w3, world.admin, adapter, q[0].question_id, False)
    neg = contract(world.w3, "NegRiskAdapter", adapter)
    with reverts("OnlyOracle"):
        send(world.w3, world.mallory, neg.functions.prepareQuestion(world.market.market_id, b"more"))
    ctf = contract(world.w3, "ConditionalTokens", world.pm.ctf)
    assert ctf.functions.payoutNumerators(q[0].condition_id, 0).call() == 1
    assert ctf.functions.payoutDenominator(q[1].condition_id).call() == 0


def test_convert_refuses_bad_index_sets_and_single_question_markets(world: World) -> None:
    adapter = world.ad.neg_risk_adapter
    alice = world.alice
    _split_all(world, alice, 10 * USD, range(3))
    with reverts("InvalidIndexSet"):
        adapters.convert(world.w3, alice, adapter, world.market.market_id, 0b1000, 10 * USD)
    with reverts("MarketNotPrepared"):
        adapters.convert(world.w3, alice, adapter, bytes(32), 0b1, 10 * USD)
    single = adapters.prepare_neg_risk_market(world.w3, world.admin, adapter, questions=1, data=b"single")
    with reverts("NoConvertiblePositions"):
        adapters.convert(world.w3, alice, adapter, single.market_id, 0b1, 10 * USD)
    with pytest.raises(InvalidInputError, match="index set"):
        adapters.convert(world.w3, alice, adapter, world.market.market_id, 0, 10 * USD)


def test_convert_takes_only_the_callers_no(world: World) -> None:
    """Bob approved the adapter and holds NO; Mallory, holding none, cannot convert them."""
    q = world.market.questions
    _split_all(world, world.bob, 10 * USD, range(3))
    _approve_neg_risk_adapter(world, world.mallory)
    with reverts("SafeMath: subtraction overflow"):
        adapters.convert(
            world.w3, world.mallory, world.ad.neg_risk_adapter, world.market.market_id, 0b011, 10 * USD
        )
    assert world.tokens(world.bob.address, *(question.no_token_id for question in q)) == [10 * USD] * 3


def test_convert_fee_goes_to_the_vault(world: World) -> None:
    adapter, alice, vault = world.ad.neg_risk_adapter, world.alice, world.vault
    market = adapters.prepare_neg_risk_market(
        world.w3, world.admin, adapter, questions=3, data=b"fee", fee_bips=100
    )
    world.give_usdce(alice, 200 * USD)
    _approve_neg_risk_adapter(world, alice)
    for question in market.questions[:2]:
        adapters.neg_risk_split(world.w3, alice, adapter, question.condition_id, 100 * USD)

    adapters.convert(world.w3, alice, adapter, market.market_id, 0b011, 100 * USD)

    third = market.questions[2]
    assert world.tokens(alice.address, third.yes_token_id) == [99 * USD]
    assert world.tokens(vault.address, third.yes_token_id) == [1 * USD]
    assert world.usdce(alice.address) == 99 * USD
    assert world.usdce(vault.address) == 1 * USD


# --- NegRiskCtfCollateralAdapter ---------------------------------------------------------------------------


def test_neg_risk_collateral_adapter_splits_converts_and_redeems_in_pusd(world: World) -> None:
    alice, q = world.alice, world.market.questions
    adapter = world.ad.neg_risk_collateral_adapter
    world.give_pusd(alice, 300 * USD)
    _approve_collateral_adapter(world, alice, adapter)
    handle = contract(world.w3, "NegRiskCtfCollateralAdapter", adapter)
    assert handle.functions.positionIds(q[0].condition_id).call() == list(q[0].token_ids)

    for question in q[:2]:
        adapters.split(world.w3, alice, adapter, question.condition_id, 100 * USD)
    assert world.pusd(alice.address) == 100 * USD
    assert world.tokens(alice.address, *q[0].token_ids, *q[1].token_ids) == [100 * USD] * 4

    adapters.merge(world.w3, alice, adapter, q[0].condition_id, 30 * USD)
    assert world.pusd(alice.address) == 130 * USD
    assert world.tokens(alice.address, *q[0].token_ids) == [70 * USD, 70 * USD]

    adapters.convert(world.w3, alice, adapter, world.market.market_id, 0b011, 70 * USD)
    assert world.pusd(alice.address) == 200 * USD  # (2 - 1) x 70 released, as pUSD
    assert world.tokens(alice.address, q[0].no_token_id, q[1].no_token_id, q[2].yes_token_id) == [
        0,
        30 * USD,
        70 * USD,
    ]

    with reverts("result for condition not received yet"):
        adapters.redeem(world.w3, alice, adapter, q[2].condition_id)
    for index, outcome in ((0, False), (1, False), (2, True)):
        adapters.report_outcome(
            world.w3, world.admin, world.ad.neg_risk_adapter, q[index].question_id, outcome
        )
    for question in q:
        adapters.redeem(world.w3, alice, adapter, question.condition_id)

    # 70 YES0 and 100 YES1 lost, 30 NO1 and 70 YES2 won.
    assert world.pusd(alice.address) == 300 * USD
    assert world.tokens(alice.address, *(t for question in q for t in question.token_ids)) == [0] * 6
    world.assert_pusd_backed()
    world.assert_adapters_empty(*(t for question in q for t in question.token_ids))


def test_neg_risk_collateral_adapter_moves_only_the_callers_positions(world: World) -> None:
    q = world.market.questions
    adapter = world.ad.neg_risk_collateral_adapter
    world.give_pusd(world.bob, 100 * USD)
    _approve_collateral_adapter(world, world.bob, adapter)
    _approve_collateral_adapter(world, world.mallory, adapter)
    adapters.split(world.w3, world.bob, adapter, q[0].condition_id, 100 * USD)

    with reverts("SafeMath: subtraction overflow"):
        adapters.merge(world.w3, world.mallory, adapter, q[0].condition_id, 100 * USD)
    with reverts("SafeMath: subtraction overflow"):
        adapters.convert(world.w3, world.mallory, adapter, world.market.market_id, 0b001, 100 * USD)
    adapters.report_outcome(world.w3, world.admin, world.ad.neg_risk_adapter, q[0].question_id, True)
    adapters.redeem(world.w3, world.mallory, adapter, q[0].condition_id)

    assert world.pusd(world.mallory.address) == 0
    assert world.tokens(world.bob.address, *q[0].token_ids) == [100 * USD, 100 * USD]


# --- the local world ---------------------------------------------------------------------------------------


def test_local_world_has_the_adapters_and_their_markets(local_chain: LocalChain) -> None:
    """`deploy_local` records the adapters; their markets, derived off chain, are prepared on chain; a
    follower's pUSD goes through the collateral adapter into USDC.e positions and back."""
    w3, deployment = local_chain.w3, local_chain.deployment
    c = deployment.contracts
    assert c.collateral_adapter
    assert c.neg_risk_adapter
    assert c.neg_risk_collateral_adapter
    for address in (c.collateral_adapter, c.neg_risk_adapter, c.neg_risk_collateral_adapter):
        assert w3.eth.get_code(cs(address))
    assert Deployment.from_json(deployment.to_json()).contracts == c
    assert c.usdce is not None
    assert c.pusd is not None
    markets = adapters.local_adapter_markets(
        oracle=deployment.accounts.owner, usdce=c.usdce, neg_risk_adapter=c.neg_risk_adapter
    )
    ctf = local_chain.ctf
    assert ctf.functions.getOutcomeSlotCount(markets.usdce_market.condition_id).call() == 2
    neg = contract(w3, "NegRiskAdapter", c.neg_risk_adapter)
    assert neg.functions.getQuestionCount(markets.neg_risk_market.market_id).call() == 3
    for question in markets.neg_risk_market.questions:
        assert neg.functions.getPositionId(question.question_id, True).call() == question.yes_token_id
        assert ctf.functions.getOutcomeSlotCount(question.condition_id).call() == 2
    # None of the pinned markets moved onto the new collateral.
    for market in deployment.markets:
        assert adapters.collateral_of(market.yes_token_id, market.condition_id, [c.usdce, c.pusd]) == c.pusd

    follower = local_chain.accounts.followers[0]
    pusd = contract(w3, "PolyUSD", c.pusd)
    before = int(pusd.functions.balanceOf(follower.address).call())
    adapters.approve_adapter(w3, follower, c.collateral_adapter, collateral=c.pusd, ctf=c.ctf)
    condition = markets.usdce_market.condition_id
    adapters.split(w3, follower, c.collateral_adapter, condition, 10 * USD)
    assert [local_chain.tokens_of(follower.address, t) for t in markets.usdce_market.token_ids] == [
        10 * USD
    ] * 2
    adapters.merge(w3, follower, c.collateral_adapter, condition, 10 * USD)
    assert int(pusd.functions.balanceOf(follower.address).call()) == before
