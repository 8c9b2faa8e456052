"""LocalExchange fills, full copies through the Executor, CREATE2 Proxies and CTF ids, against anvil.

The deployment is deterministic (see the `local_deployment` fixture), so addresses of accounts and token
ids below are literal values, not recomputed by the code under test.
"""

from __future__ import annotations

import pytest
from chain_helpers import cs, events, reverts
from eth_utils import keccak
from hypothesis import given, settings
from hypothesis import strategies as st
from web3 import Web3

from polyhunter.chain import ctf as ctf_ids
from polyhunter.chain.accounts import derive
from polyhunter.chain.artifacts import load_artifact
from polyhunter.chain.create2 import proxy_address
from polyhunter.chain.deployment import Deployment
from polyhunter.chain.local import LocalChain
from polyhunter.chain.tx import send

pytestmark = pytest.mark.integration

OWNER = "0x8c3229ec621644789d7f61faa82c6d0e5f97d43d"  # m/44'/60'/0'/0/100: market maker
LEADER = "0xcd5691ea878d262516be278cb46f2fd7ff132083"  # m/44'/60'/0'/0/200
WORKER = "0xf39fd6e51aad88f6f4ce6ab8827279cfffb92266"  # m/44'/60'/0'/0/0
# Positions over pUSD (the local world's collateral, the owner's third deployment after USDC.e and the CTF).
YES_0 = 85582852254055604730434497073296615212033849972277199800761754422625228641162
NO_0 = 12037306869538145719600546542174905048880576815858933284167145422580943821383
ORDER_FILLED_TOPIC = "d543adfd945773f1a62f74f0ee55a5e3b9b1a28262980ba90b1a89f2ea84d8ee"
ORDERS_MATCHED_TOPIC = "174b3811690657c217184f89418266767c87e4805d09680c39fc9c031c0cab7c"


def test_deployment_is_the_documented_world(local_chain: LocalChain) -> None:
    d = local_chain.deployment
    assert d.accounts.owner == OWNER
    assert d.accounts.leaders[0] == LEADER
    assert d.accounts.fleet[0] == WORKER
    assert (d.markets[0].yes_token_id, d.markets[0].no_token_id) == (YES_0, NO_0)
    assert Deployment.from_json(d.to_json()) == d
    assert d.to_json()["markets"][0]["yes_token_id"] == str(YES_0)


def test_leader_buy_emits_v2_maker_row_taker_row_and_orders_matched(local_chain: LocalChain) -> None:
    exchange = local_chain.deployment.contracts.local_exchange
    receipt = local_chain.trade(LEADER, "BUY", YES_0, 100_000_000, 55_000_000)

    filled = events(local_chain.exchange, "OrderFilled", receipt)
    assert [(e["maker"].lower(), e["taker"].lower()) for e in filled] == [(OWNER, LEADER), (LEADER, exchange)]
    maker_row, taker_row = filled
    # The maker sold 100 YES for $55; the leader's own row (topic 2 = leader, topic 3 = exchange) bought.
    assert (maker_row["side"], maker_row["tokenId"]) == (1, YES_0)
    assert (maker_row["makerAmountFilled"], maker_row["takerAmountFilled"]) == (100_000_000, 55_000_000)
    assert (taker_row["side"], taker_row["tokenId"]) == (0, YES_0)
    assert (taker_row["makerAmountFilled"], taker_row["takerAmountFilled"]) == (55_000_000, 100_000_000)
    for row in filled:
        assert (row["fee"], row["builder"], row["metadata"]) == (0, bytes(32), bytes(32))
        assert row["address"] == exchange

    (matched,) = events(local_chain.exchange, "OrdersMatched", receipt)
    assert matched["takerOrderHash"] == taker_row["orderHash"]
    assert matched["takerOrderMaker"].lower() == LEADER
    assert (matched["side"], matched["tokenId"]) == (0, YES_0)
    assert (matched["makerAmountFilled"], matched["takerAmountFilled"]) == (55_000_000, 100_000_000)
    assert matched["log_index"] > taker_row["log_index"] > maker_row["log_index"]


def test_exchange_rows_have_polygon_v2_topics(local_chain: LocalChain) -> None:
    exchange = local_chain.deployment.contracts.local_exchange
    local_chain.trade(LEADER, "BUY", NO_0, 20_000_000, 9_000_000)
    receipt = local_chain.trade(LEADER, "SELL", NO_0, 20_000_000, 8_000_000)
    rows = [log for log in receipt["logs"] if log["address"].lower() == exchange]
    topics = [[t.hex().removeprefix("0x") for t in log["topics"]] for log in rows]
    pad = "0" * 24
    assert [t[0] for t in topics] == [ORDER_FILLED_TOPIC, ORDER_FILLED_TOPIC, ORDERS_MATCHED_TOPIC]
    assert topics[0][2:] == [pad + OWNER[2:], pad + LEADER[2:]]
    assert topics[1][2:] == [pad + LEADER[2:], pad + exchange[2:]]
    assert topics[2][2] == pad + LEADER[2:]
    # SELL: the leader's row has side 1, tokens as maker amount, collateral as taker amount.
    data = bytes(rows[1]["data"])
    assert len(data) == 7 * 32
    words = [int.from_bytes(data[i : i + 32]) for i in range(0, len(data), 32)]
    assert words == [1, NO_0, 20_000_000, 8_000_000, 0, 0, 0]


def test_exchange_moves_real_ctf_tokens_and_collateral(local_chain: LocalChain) -> None:
    exchange = local_chain.deployment.contracts.local_exchange
    assert exchange is not None
    before = (local_chain.collateral_of(LEADER), local_chain.tokens_of(LEADER, YES_0))
    inventory = local_chain.exchange.functions.inventory(cs(OWNER), YES_0).call()
    maker_cash = local_chain.exchange.functions.collateralOf(cs(OWNER)).call()
    local_chain.trade(LEADER, "BUY", YES_0, 10_000_000, 6_000_000)
    assert local_chain.collateral_of(LEADER) == before[0] - 6_000_000
    assert local_chain.tokens_of(LEADER, YES_0) == before[1] + 10_000_000
    assert local_chain.exchange.functions.inventory(cs(OWNER), YES_0).call() == inventory - 10_000_000
    assert local_chain.exchange.functions.collateralOf(cs(OWNER)).call() == maker_cash + 6_000_000
    with reverts("PriceAboveOne"):
        local_chain.trade(LEADER, "BUY", YES_0, 10_000_000, 10_000_001)
    with reverts("InsufficientInventory"):
        local_chain.trade(LEADER, "BUY", YES_0, 10**15, 1)


def test_full_buy_copy_leaves_exact_balances(local_chain: LocalChain) -> None:
    follower = local_chain.deployment.accounts.followers[0]
    proxy = local_chain.proxy_of(follower)
    exchange = local_chain.deployment.contracts.local_exchange
    assert exchange is not None
    watched = [proxy, WORKER, exchange, OWNER, follower]
    cash = {a: local_chain.collateral_of(a) for a in watched}
    yes = {a: local_chain.tokens_of(a, YES_0) for a in watched}
    maker_cash = local_chain.exchange.functions.collateralOf(cs(OWNER)).call()

    # Copy of a leader's BUY at $0.55: the Proxy spends $11.00 for 20 YES.
    receipts = local_chain.copy_buy(WORKER, proxy, YES_0, 11_000_000, 20_000_000)

    assert [r["status"] for r in receipts] == [1, 1, 1]
    assert local_chain.collateral_of(proxy) == cash[proxy] - 11_000_000 == 4_989_000_000
    assert local_chain.tokens_of(proxy, YES_0) == yes[proxy] + 20_000_000 == 20_000_000
    assert local_chain.collateral_of(WORKER) == cash[WORKER]  # the worker's float is untouched
    assert local_chain.tokens_of(WORKER, YES_0) == yes[WORKER] == 0
    assert local_chain.collateral_of(exchange) == cash[exchange] + 11_000_000
    assert local_chain.tokens_of(exchange, YES_0) == yes[exchange] - 20_000_000
    assert local_chain.exchange.functions.collateralOf(cs(OWNER)).call() == maker_cash + 11_000_000
    assert (local_chain.collateral_of(OWNER), local_chain.collateral_of(follower)) == (
        cash[OWNER],
        cash[follower],
    )
    pulled = events(local_chain.executor, "Pulled", receipts[0])
    pushed = events(local_chain.executor, "Pushed", receipts[2])
    assert [(e["proxy"].lower(), e["worker"].lower(), e["id"], e["amount"]) for e in pulled] == [
        (proxy, WORKER, 0, 11_000_000)
    ]
    assert [(e["proxy"].lower(), e["worker"].lower(), e["id"], e["amount"]) for e in pushed] == [
        (proxy, WORKER, YES_0, 20_000_000)
    ]


def test_full_sell_copy_leaves_exact_balances(local_chain: LocalChain) -> None:
    follower = local_chain.deployment.accounts.followers[1]
    proxy = local_chain.proxy_of(follower)
    exchange = local_chain.deployment.contracts.local_exchange
    assert exchange is not None
    local_chain.copy_buy(WORKER, proxy, NO_0, 30_000_000, 50_000_000)
    cash = {a: local_chain.collateral_of(a) for a in (proxy, WORKER, exchange)}
    no = {a: local_chain.tokens_of(a, NO_0) for a in (proxy, WORKER, exchange)}
    maker_cash = local_chain.exchange.functions.collateralOf(cs(OWNER)).call()

    # Copy of a leader's SELL at $0.62: the Proxy sells 40 of its 50 NO for $24.80.
    local_chain.copy_sell(WORKER, proxy, NO_0, 40_000_000, 24_800_000)

    assert local_chain.tokens_of(proxy, NO_0) == no[proxy] - 40_000_000 == 10_000_000
    assert (
        local_chain.collateral_of(proxy)
        == cash[proxy] + 24_800_000
        == 5_000_000_000 - 30_000_000 + 24_800_000
    )
    assert (local_chain.collateral_of(WORKER), local_chain.tokens_of(WORKER, NO_0)) == (cash[WORKER], 0)
    assert local_chain.tokens_of(exchange, NO_0) == no[exchange] + 40_000_000
    assert local_chain.collateral_of(exchange) == cash[exchange] - 24_800_000
    assert local_chain.exchange.functions.collateralOf(cs(OWNER)).call() == maker_cash - 24_800_000


def test_smart_buffer_debt_is_repaid_to_the_fronting_worker(local_chain: LocalChain) -> None:
    proxy = local_chain.proxy_of(local_chain.deployment.accounts.followers[2])
    float_before = local_chain.collateral_of(WORKER)
    local_chain.trade(WORKER, "BUY", YES_0, 10_000_000, 4_000_000)  # the worker fronts the buy
    debt_id = keccak(b"debt 1")
    pushed = local_chain.push_tokens_with_debt(WORKER, proxy, YES_0, 10_000_000, 4_000_000, debt_id)
    (recorded,) = events(local_chain.executor, "DebtRecorded", pushed)
    assert (recorded["creditor"].lower(), recorded["payee"].lower(), recorded["amount"]) == (
        WORKER,
        WORKER,
        4_000_000,
    )
    # Kept under the recorder's key, which the repayments take.
    debt_id = local_chain.executor.functions.debtKey(cs(WORKER), debt_id).call()
    assert local_chain.executor.functions.debtOpen(debt_id).call() == 4_000_000
    receipt = local_chain.repay_debt(
        local_chain.deployment.accounts.fleet[1], proxy, 4_000_000, WORKER, debt_id
    )
    assert local_chain.collateral_of(WORKER) == float_before
    assert local_chain.collateral_of(proxy) == 5_000_000_000 - 4_000_000
    (repaid,) = events(local_chain.executor, "DebtRepaid", receipt)
    assert (repaid["creditor"].lower(), repaid["amount"], repaid["debtId"]) == (WORKER, 4_000_000, debt_id)
    assert local_chain.executor.functions.debtOpen(debt_id).call() == 0


def test_create2_prediction_on_and_off_chain_equals_the_deployed_proxy(local_chain: LocalChain) -> None:
    d = local_chain.deployment
    newcomer = derive(399)
    local_chain.w3.provider.make_request("anvil_setBalance", [newcomer.address, hex(10**18)])  # type: ignore[arg-type]
    init_code_hash = load_artifact("Proxy").init_code_hash
    assert bytes(local_chain.factory.functions.proxyInitCodeHash().call()) == init_code_hash
    assert d.proxy_init_code_hash == "0x" + init_code_hash.hex()
    off_chain = proxy_address(d.contracts.proxy_factory, newcomer.address, init_code_hash)
    on_chain = local_chain.factory.functions.predict(newcomer.address).call().lower()
    assert local_chain.w3.eth.get_code(cs(off_chain)) == b""

    receipt = send(local_chain.w3, newcomer, local_chain.factory.functions.createProxy(10**6, 10**7))

    (created,) = events(local_chain.factory, "ProxyCreated", receipt)
    assert off_chain == on_chain == created["proxy"].lower()
    assert local_chain.w3.eth.get_code(cs(off_chain)) != b""
    proxy = local_chain.proxy(newcomer.address)
    assert proxy.functions.owner().call().lower() == newcomer.address.lower()
    assert proxy.functions.executor().call().lower() == d.contracts.executor
    assert local_chain.executor.functions.proxyOwner(cs(off_chain)).call() == newcomer.address
    assert (proxy.functions.maxPerTrade().call(), proxy.functions.maxPerDay().call()) == (10**6, 10**7)
    with reverts("ProxyExists"):
        send(local_chain.w3, newcomer, local_chain.factory.functions.createProxy(1, 1))


def test_ctf_ids_from_the_helper_equal_the_real_ctf(local_chain: LocalChain) -> None:
    market = local_chain.deployment.markets[0]
    ctf = local_chain.ctf
    collateral = local_chain.deployment.contracts.collateral
    condition = ctf.functions.getConditionId(cs(OWNER), market.question_id, 2).call()
    assert ctf_ids.condition_id(OWNER, market.question_id) == bytes(condition)
    assert "0x" + bytes(condition).hex() == market.condition_id
    for index_set, token_id in ((1, YES_0), (2, NO_0)):
        collection = bytes(ctf.functions.getCollectionId(bytes(32), condition, index_set).call())
        assert ctf_ids.collection_id(bytes(32), condition, index_set) == collection
        assert ctf.functions.getPositionId(cs(collateral), collection).call() == token_id
        assert ctf_ids.position_id(collateral, collection) == token_id
    assert ctf_ids.binary_token_ids(collateral, condition) == (YES_0, NO_0)
    assert ctf.functions.balanceOf(cs(local_chain.deployment.contracts.local_exchange), YES_0).call() > 0


@settings(max_examples=25, deadline=None)
@given(
    condition=st.binary(min_size=32, max_size=32),
    index_set=st.integers(min_value=1, max_value=2**256 - 1),
    parent_seed=st.binary(min_size=32, max_size=32),
    parent_index=st.integers(min_value=1, max_value=255),
)
def test_collection_ids_equal_the_real_ctf_also_nested(
    local_deployment: tuple[object, Deployment],
    condition: bytes,
    index_set: int,
    parent_seed: bytes,
    parent_index: int,
) -> None:
    # A nested collection adds two curve points (the ecAdd precompile on chain, Python arithmetic here).
    deployment = local_deployment[1]
    w3 = Web3(Web3.HTTPProvider(deployment.rpc_url))
    ctf = w3.eth.contract(address=cs(deployment.contracts.ctf), abi=load_artifact("ConditionalTokens").abi)
    parent = bytes(ctf.functions.getCollectionId(bytes(32), parent_seed, parent_index).call())
    assert ctf_ids.collection_id(bytes(32), parent_seed, parent_index) == parent
    nested = bytes(ctf.functions.getCollectionId(parent, condition, index_set).call())
    assert ctf_ids.collection_id(parent, condition, index_set) == nested
