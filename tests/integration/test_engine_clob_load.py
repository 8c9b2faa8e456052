"""200 copies through 20 deposit wallets on the local CLOB: nothing lost, doubled or left with a worker.

Twenty leader BUY fills, each copied by five followers, then twenty leader SELL fills the same way, all
offered to the engine at once (the CLOB venue, coalescing on, 20 fleet wallets each trading from its deposit
wallet), against the real LocalClob and its market maker on anvil. Afterwards the test works out, from our
orders' `OrderFilled` rows on chain alone, what every Proxy must hold, and checks:

- every copy executed and journaled exactly one `ORDER_POSTED`; the orders journaled, the orders the CLOB
  holds from our deposit wallets, the orders posted and the orders filled on chain are one and the same set;
- every Proxy's collateral and tokens equal to that independent computation, to the base unit;
- every worker's deposit wallet holding exactly what it held before the run.
"""

from __future__ import annotations

import asyncio
import atexit
from collections import defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import pytest
from engine_world import FAST, USD, World, job, stop, store_at, with_
from eth_abi.abi import decode
from localpoly_world import ClobThread
from web3 import Web3

from polyhunter._core import TOPIC_ORDER_FILLED_V2, derive_signers
from polyhunter.chain.accounts import LocalAccounts
from polyhunter.chain.aiorpc import AsyncRpc
from polyhunter.chain.anvil import TEST_MNEMONIC, Anvil
from polyhunter.chain.deploy import deploy_local
from polyhunter.chain.local import LocalChain
from polyhunter.execution.clobvenue import ClobVenue
from polyhunter.execution.localchain import LocalChainEngine
from polyhunter.execution.sender import TxSender
from polyhunter.localpoly import ClobSettings, LocalClob
from polyhunter.localpoly.config import MarketMakerSettings
from polyhunter.models import CopyJob, Step, TradeStatus
from polyhunter.store.base import Store, StoreJournal

pytestmark = [pytest.mark.integration, pytest.mark.asyncio]

FLEET = 20
FOLLOWERS = 20
LEADER_FILLS = 20  # per side
COPIERS = 5  # followers copying each leader fill
PRICE_SCALE = 1_000_000
# Deep enough that no FOK of the run can exhaust a level before the maker refills it after a settlement.
DEPTH = Decimal(2_000)


@dataclass(frozen=True)
class Posted:
    """One leg's `ORDER_POSTED`, in the order the venue journaled the legs of its order."""

    order_hash: bytes
    wallet: str
    key: bytes


class RecordingJournal(StoreJournal):
    """The store's journal, also noting each order journaled and for which job, in call order (the venue
    journals an order's legs one after another, so this is the order of its legs)."""

    def __init__(self, store: Store, key: bytes, posted: list[Posted]) -> None:
        super().__init__(store, key)
        self.posted = posted

    async def record_order(self, wallet: str, order_hash: bytes, body: bytes) -> None:
        await super().record_order(wallet, order_hash, body)
        self.posted.append(Posted(order_hash, wallet.lower(), self.key))


_world: World | None = None


def load_world() -> World:
    """A world of its own: the engine tests' world has 6 fleet wallets, this run needs 20."""
    global _world
    if _world is None:
        node = Anvil().start()
        atexit.register(node.stop)
        w3 = Web3(Web3.HTTPProvider(node.rpc_url))
        accounts = LocalAccounts(fleet_size=FLEET, leader_count=1, follower_count=FOLLOWERS)
        deployment = deploy_local(w3, rpc_url=node.rpc_url, ws_url=node.ws_url, accounts=accounts)
        _world = World(node, deployment, LocalChain(w3, deployment, accounts))
    return _world


@pytest.fixture
def w() -> Iterator[World]:
    world = load_world()
    snapshot = world.chain.snapshot()
    try:
        yield world
    finally:
        world.chain.revert(snapshot)


@pytest.fixture
def clob(w: World) -> Iterator[LocalClob]:
    settings = ClobSettings(market_maker=MarketMakerSettings(size=DEPTH))
    with ClobThread(LocalClob(w.deployment, settings)) as server:
        yield server


def apportion(total: int, weights: Sequence[int]) -> list[int]:
    """The docs' rule for one order's fill among its legs (docs/seams.md): pro rata rounded down, then one
    unit each to the largest remainders, earlier legs first on a tie."""
    whole = sum(weights)
    parts = [total * x // whole for x in weights]
    order = sorted(range(len(weights)), key=lambda i: (-(total * weights[i] % whole), i))
    for i in order[: total - sum(parts)]:
        parts[i] += 1
    return parts


@dataclass(frozen=True)
class ChainFill:
    """Our order's `OrderFilled` rows summed: what its maker (our deposit wallet) gave and received."""

    maker: str
    side: int  # 0 BUY, 1 SELL
    making: int
    taking: int
    fee: int


def our_fills(w: World, wallets: set[str], from_block: int) -> dict[bytes, ChainFill]:
    """Every `OrderFilled` row since `from_block` on both V2 exchanges whose maker is one of `wallets`,
    summed per order hash: read from the chain, not from anything the engine reported."""
    c = w.deployment.contracts
    logs = w.rpc(
        "eth_getLogs",
        [
            {
                "address": [c.ctf_exchange_v2, c.neg_risk_exchange_v2],
                "fromBlock": hex(from_block),
                "toBlock": "latest",
                "topics": [TOPIC_ORDER_FILLED_V2],
            }
        ],
    )
    sums: dict[bytes, ChainFill] = {}
    for entry in logs:
        maker = "0x" + entry["topics"][2][-40:].lower()
        if maker not in wallets:
            continue
        order_hash = bytes.fromhex(entry["topics"][1][2:])
        side, _token, made, took, fee, _builder, _meta = decode(
            ["uint8", "uint256", "uint256", "uint256", "uint256", "bytes32", "bytes32"],
            bytes.fromhex(entry["data"][2:]),
        )
        seen = sums.get(order_hash, ChainFill(maker, side, 0, 0, 0))
        assert (seen.maker, seen.side) == (maker, side)
        sums[order_hash] = ChainFill(maker, side, seen.making + made, seen.taking + took, seen.fee + fee)
    return sums


def expected_moves(
    fills: dict[bytes, ChainFill], posted: Sequence[Posted], jobs: dict[bytes, CopyJob]
) -> dict[str, list[int]]:
    """Per Proxy, [collateral, tokens] it must have gained (negative: given) through the run: each order's
    on-chain fill shared among its legs pro rata to what each leg asked at its limit price."""
    legs: dict[bytes, list[CopyJob]] = defaultdict(list)
    for p in posted:
        legs[p.order_hash].append(jobs[p.key])
    moves: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for order_hash, order_legs in legs.items():
        fill = fills[order_hash]
        side = order_legs[0].side
        price = order_legs[0].limit_price_ppm
        assert all((j.side, j.limit_price_ppm) == (side, price) for j in order_legs)
        if side == "BUY":
            usds = [j.amount for j in order_legs]
            tokens = [u * PRICE_SCALE // price for u in usds]
            # A BUY's maker amount is collateral, paid with the fee on top; taker amount is shares.
            paid = apportion(fill.making + fill.fee, usds)
            got = apportion(fill.taking, tokens)
            for j, c, t in zip(order_legs, paid, got, strict=True):
                moves[j.proxy.lower()][0] -= c
                moves[j.proxy.lower()][1] += t
        else:
            tokens = [j.amount for j in order_legs]
            usds = [t * price // PRICE_SCALE for t in tokens]
            sold = apportion(fill.making, tokens)
            got = apportion(fill.taking - fill.fee, usds)
            for j, t, c in zip(order_legs, sold, got, strict=True):
                moves[j.proxy.lower()][0] += c
                moves[j.proxy.lower()][1] -= t
    return moves


def leader_fills(w: World, side: str, first_tag: int, amount: int) -> list[CopyJob]:
    """`LEADER_FILLS` leader fills of `side`, each copied by `COPIERS` followers. Each fill has its own
    leader price (a ppm apart), so its copies coalesce with each other and never with another fill's."""
    out = []
    for i in range(LEADER_FILLS):
        price = 500_000 + i
        for k in range(COPIERS):
            follower = (i + 4 * k) % FOLLOWERS  # five distinct per fill, five fills per follower
            # Amounts differ by leg so that an order's legs ask different sizes.
            size = amount + (i + k) % 4 * USD
            out.append(job(w, follower, side, size, price, tag=first_tag + i))  # type: ignore[arg-type]
    return out


def holdings(w: World, address: str) -> tuple[int, int]:
    return w.chain.collateral_of(address), w.chain.tokens_of(address, w.token)


async def test_200_copies_through_20_deposit_wallets_nothing_lost_doubled_or_left(
    w: World, clob: LocalClob, tmp_path: Path
) -> None:
    buys = leader_fills(w, "BUY", 7_000_000, 5 * USD)  # $5–$8 a copy: 9 to 15 shares at 0.51
    sells = leader_fills(w, "SELL", 7_100_000, 5 * USD)  # 5 to 8 shares, ≤ 40 a follower; each bought ≥ 45
    jobs = {j.key: j for j in buys + sells}
    assert len(jobs) == 200
    assert all(len({j.proxy for j in buys if j.tx_hash == b.tx_hash}) == COPIERS for b in buys)
    store = await store_at(tmp_path / "s.db", buys + sells)
    made: list[ClobVenue] = []
    c = w.deployment.contracts

    def build(sender: TxSender) -> ClobVenue:
        venue = ClobVenue(
            sender.rpc,
            clob.url,
            w.deployment.chain_id,
            exchange=c.ctf_exchange_v2 or "",
            neg_risk_exchange=c.neg_risk_exchange_v2 or "",
            wallets=w.deployment.accounts.deposit_wallets,
            poll_s=0.02,
            trades_every_s=0.5,
        )
        made.append(venue)
        return venue

    signers = derive_signers(TEST_MNEMONIC, FLEET)
    eng = LocalChainEngine(
        AsyncRpc([w.rpc_url]), w.deployment, signers, config=with_(FAST, coalesce_ms=50), venue=build
    )
    deposit = {s.address.lower(): w.deployment.accounts.deposit_wallet(s.address).lower() for s in signers}
    assert len(set(deposit.values())) == FLEET
    proxies = sorted({j.proxy.lower() for j in jobs.values()})
    assert len(proxies) == FOLLOWERS
    wallets_before = {d: holdings(w, d) for d in deposit.values()}
    proxies_before = {p: holdings(w, p) for p in proxies}
    start_block = int(w.rpc("eth_blockNumber"), 16) + 1
    posted: list[Posted] = []

    async def run(batch: list[CopyJob]) -> None:
        results = await asyncio.gather(
            *(eng.execute(j, RecordingJournal(store, j.key, posted)) for j in batch)
        )
        for j, r in zip(batch, results, strict=True):
            await store.mark(j.key, r.status, r.reason, r.tx_hashes)
        assert [r.status for r in results] == [TradeStatus.EXECUTED] * len(batch), [
            r.reason for r in results if r.status is not TradeStatus.EXECUTED
        ][:5]
        assert all(r.fill_size > 0 for r in results)

    await eng.start()
    try:
        await run(buys)  # the SELLs sell what these bought: they start once every BUY is home
        await run(sells)
    finally:
        await stop(eng)
    (venue,) = made

    # Every copy exactly once: one ORDER_POSTED per job, each order journaled once per leg.
    per_job: dict[bytes, list[bytes]] = defaultdict(list)
    for p in posted:
        per_job[p.key].append(p.order_hash)
    assert sorted(per_job) == sorted(jobs)
    assert all(len(hashes) == 1 for hashes in per_job.values())
    orders = {p.order_hash for p in posted}
    for key in jobs:
        record = await store.get_trade(key)
        assert record is not None
        assert record.status is TradeStatus.EXECUTED
        steps = [e.step for e in record.journal]
        assert steps.count(Step.ORDER_POSTED) == 1, steps
        assert steps[:3] == [Step.PULLED, Step.ORDER_POSTED, Step.PUSHED], steps
        (entry,) = [e for e in record.journal if e.step == Step.ORDER_POSTED]
        assert entry.tx_hash == per_job[key][0]
    await store.close()
    # Several followers per order: the copies of one leader fill coalesced.
    assert len(orders) < len(jobs)
    assert venue.posts == len(orders)  # nothing posted twice

    # The CLOB's own record: the orders it holds from our deposit wallets are exactly those journaled.
    ours = set(deposit.values())
    # A copy of the CLOB's table in one step: its loop (another thread) may still be refilling the maker.
    held = list(clob.engine.orders.values())
    at_clob = {o.order_id: o for o in held if o.signed.maker.lower() in ours}
    assert {bytes.fromhex(i[2:]) for i in at_clob} == orders
    for p in posted:
        assert at_clob["0x" + p.order_hash.hex()].signed.maker.lower() == deposit[p.wallet]
    # Through all 20 deposit wallets.
    assert {deposit[p.wallet] for p in posted} == ours

    # The chain's record: every order filled, and nothing else traded from our wallets.
    fills = our_fills(w, ours, start_block)
    assert set(fills) == orders

    moves = expected_moves(fills, posted, jobs)
    for p in proxies:
        gained = moves[p]
        before = proxies_before[p]
        assert holdings(w, p) == (before[0] + gained[0], before[1] + gained[1]), p
    # Nothing of a follower's stays with a worker.
    assert {d: holdings(w, d) for d in deposit.values()} == wallets_before
