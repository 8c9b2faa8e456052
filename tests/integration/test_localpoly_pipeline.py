"""The local CLOB's operator pipelines its `matchOrders` as Polymarket's does: many matches in one block, in
match order, and a revert or a dropped transaction in the middle neither stalls nor reorders the others.

Blocks are made by hand (automine off, then `evm_mine`), so "one block" is a fact of the chain, not of timing.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from localpoly_world import (
    USD,
    World,
    admin,
    build_world,
    client_contracts,
    make_client,
    running_clob,
    wait_settled,
)
from py_clob_client_v2 import ClobClient
from py_clob_client_v2.clob_types import OrderArgsV2, OrderType

from polyhunter.chain.anvil import Anvil
from polyhunter.localpoly import ClobSettings, LocalClob
from polyhunter.localpoly.trades import Trade

pytestmark = pytest.mark.integration

#: One FOK BUY of 10 YES at 0.51 against the market maker's ask: 5.10 pUSD each.
SHARES, COST = 10 * USD, 5_100_000


@pytest.fixture(scope="module")
def world() -> Iterator[World]:
    with Anvil() as node:
        yield build_world(node)


@pytest.fixture
def clob(world: World) -> Iterator[LocalClob]:
    with running_clob(world, ClobSettings()) as server, client_contracts(world):
        yield server


class ManualBlocks:
    """Automine off while a test runs: `mine` makes one block; `resume` turns automine back on and mines
    what is pending (the market maker's refill after a settlement sends a transaction of its own, and the
    settlement worker releases matches only after its listeners)."""

    def __init__(self, world: World) -> None:
        self.rpc = world.w3.provider.make_request
        self.rpc("evm_setAutomine", [False])  # type: ignore[arg-type]

    def mine(self) -> None:
        self.rpc("evm_mine", [])  # type: ignore[arg-type]

    def resume(self) -> None:
        self.rpc("evm_setAutomine", [True])  # type: ignore[arg-type]
        self.mine()


@pytest.fixture
def blocks(world: World) -> Iterator[ManualBlocks]:
    made = ManualBlocks(world)
    try:
        yield made
    finally:
        made.resume()


def wait_for(what: str, done: Callable[[], bool]) -> None:
    """Waits (bounded) for the CLOB's own thread to get somewhere; the caller asserts what it got."""
    deadline = time.monotonic() + 30
    while not done() and time.monotonic() < deadline:
        time.sleep(0.02)
    assert done(), f"the CLOB never got to: {what}"


def buy(clob: LocalClob, client: ClobClient, world: World) -> Trade:
    answer = client.create_and_post_order(
        OrderArgsV2(token_id=str(world.market.yes_token_id), price=0.51, size=10, side="BUY"),
        order_type=OrderType.FOK,
    )
    (trade_id,) = answer["tradeIDs"]
    trade = clob.engine.trades[trade_id]
    wait_for("the match is broadcast", lambda: bool(trade.transaction_hash))
    return trade


def tx(world: World, tx_hash: str) -> Any:
    return world.w3.eth.get_transaction(tx_hash)  # type: ignore[arg-type]


def receipt(world: World, tx_hash: str) -> Any:
    return world.w3.eth.get_transaction_receipt(tx_hash)  # type: ignore[arg-type]


def test_matches_posted_together_land_in_one_block_in_match_order(
    clob: LocalClob, world: World, blocks: ManualBlocks
) -> None:
    client = make_client(clob, world.trader, world.trader_wallet)
    wallet, token = world.trader_wallet, world.market.yes_token_id
    pusd0, tokens0 = world.pusd(wallet), world.tokens(wallet, token)
    # Six matches against the same maker order, each broadcast before the previous one is mined.
    trades = [buy(clob, client, world) for _ in range(6)]
    hashes = [t.transaction_hash for t in trades]
    assert len(set(hashes)) == 6
    assert all(tx(world, h)["blockNumber"] is None for h in hashes)
    assert all(t.status == "MATCHED" for t in trades)
    nonces = [tx(world, h)["nonce"] for h in hashes]
    assert nonces == list(range(nonces[0], nonces[0] + 6))

    blocks.resume()
    wait_settled(clob)
    receipts = [receipt(world, h) for h in hashes]
    assert [r["status"] for r in receipts] == [1] * 6
    assert len({r["blockNumber"] for r in receipts}) == 1
    assert [r["transactionIndex"] for r in receipts] == sorted(r["transactionIndex"] for r in receipts)
    assert [t.block_number for t in trades] == [receipts[0]["blockNumber"]] * 6
    assert [t.history for t in trades] == [["MATCHED", "MINED", "CONFIRMED"]] * 6
    assert world.pusd(wallet) == pusd0 - 6 * COST
    assert world.tokens(wallet, token) == tokens0 + 6 * SHARES


def test_a_revert_in_the_middle_neither_stalls_nor_reorders_the_others(
    clob: LocalClob, world: World, blocks: ManualBlocks
) -> None:
    client = make_client(clob, world.trader, world.trader_wallet)
    wallet, token = world.trader_wallet, world.market.yes_token_id
    pusd0, tokens0 = world.pusd(wallet), world.tokens(wallet, token)
    trades = [buy(clob, client, world) for _ in range(2)]
    admin(clob, fail_next_settlements=1, settle_retries=2)
    failing = buy(clob, client, world)
    trades += [buy(clob, client, world) for _ in range(2)]
    first_try = failing.transaction_hash
    hashes = [t.transaction_hash for t in trades]
    nonces = [tx(world, h)["nonce"] for h in [*hashes[:2], first_try, *hashes[2:]]]
    assert nonces == list(range(nonces[0], nonces[0] + 5))

    blocks.mine()
    # The four good ones are mined in that block, in their order, while the failed one waits for a retry.
    block = receipt(world, first_try)["blockNumber"]
    assert receipt(world, first_try)["status"] == 0
    receipts = [receipt(world, h) for h in hashes]
    assert [(r["status"], r["blockNumber"]) for r in receipts] == [(1, block)] * 4
    wait_for("the reverted match is sent again", lambda: failing.transaction_hash != first_try)
    wait_for("the good ones are CONFIRMED", lambda: all(t.status == "CONFIRMED" for t in trades))
    assert failing.status == "RETRYING"
    retry = tx(world, failing.transaction_hash)
    assert (retry["nonce"], retry["blockNumber"]) == (nonces[-1] + 1, None)

    blocks.resume()
    wait_settled(clob)
    assert receipt(world, failing.transaction_hash)["status"] == 1
    assert failing.block_number == block + 1
    assert failing.history == ["MATCHED", "RETRYING", "MINED", "CONFIRMED"]
    assert [t.history for t in trades] == [["MATCHED", "MINED", "CONFIRMED"]] * 4
    assert world.pusd(wallet) == pusd0 - 5 * COST
    assert world.tokens(wallet, token) == tokens0 + 5 * SHARES


def test_a_dropped_transaction_in_the_middle_is_sent_again_at_its_nonce(
    clob: LocalClob, world: World, blocks: ManualBlocks
) -> None:
    client = make_client(clob, world.trader, world.trader_wallet)
    wallet, token = world.trader_wallet, world.market.yes_token_id
    pusd0, tokens0 = world.pusd(wallet), world.tokens(wallet, token)
    trades = [buy(clob, client, world) for _ in range(4)]
    first = [t.transaction_hash for t in trades]
    nonces = [tx(world, h)["nonce"] for h in first]
    # The node forgets the second (and anvil every later one of the operator's with it): a hole at its
    # nonce would hold back everything after it.
    rpc = world.w3.provider.make_request
    assert rpc("anvil_dropTransaction", [first[1]])["result"] == first[1]  # type: ignore[arg-type]
    wait_for(
        "the dropped ones are sent again",
        lambda: all(t.transaction_hash != h for t, h in zip(trades[1:], first[1:], strict=True)),
    )

    blocks.resume()
    wait_settled(clob)
    final = [t.transaction_hash for t in trades]
    assert final[0] == first[0]
    assert [tx(world, h)["nonce"] for h in final] == nonces
    receipts = [receipt(world, h) for h in final]
    assert [r["status"] for r in receipts] == [1] * 4
    assert len({r["blockNumber"] for r in receipts}) == 1
    assert trades[0].history == ["MATCHED", "MINED", "CONFIRMED"]
    assert [t.history for t in trades[1:]] == [["MATCHED", "RETRYING", "MINED", "CONFIRMED"]] * 3
    assert world.pusd(wallet) == pusd0 - 4 * COST
    assert world.tokens(wallet, token) == tokens0 + 4 * SHARES
