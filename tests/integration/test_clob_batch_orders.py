"""A dequeued batch of CLOB copies leaves in batches of 15 orders (`POST /orders`), each with the guarantees
of a post of its own: journaled first, its own answer deciding its job, nothing posted twice.

Real parts throughout: the engine (`BatchedChainEngine`, the CLOB venue on one fleet wallet trading from
its deposit wallet) against the local CLOB and its market maker on anvil; requests counted on the server.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator, Sequence
from contextlib import asynccontextmanager, contextmanager
from decimal import Decimal
from pathlib import Path
from types import SimpleNamespace

import httpx
import pytest
from engine_world import FAST, USD, World, fresh_world, job, stop, store_at
from localpoly_world import ClobThread
from py_clob_client_v2 import ClobClient as OfficialClient
from py_clob_client_v2.clob_types import ContractConfig, OrderArgsV2, OrderType
from py_clob_client_v2.order_builder import builder as client_builder
from web3 import Web3

from polyhunter._core import ExchangeDomain, MarketOrderBuilder, Signer
from polyhunter.chain.accounts import derive
from polyhunter.chain.aiorpc import AsyncRpc
from polyhunter.chain.tx import contract, send
from polyhunter.execution.base import ExecutionResult
from polyhunter.execution.batched import BatchedChainEngine
from polyhunter.execution.clobvenue import ClobVenue
from polyhunter.execution.sender import TxSender
from polyhunter.localpoly import ClobSettings, LocalClob
from polyhunter.localpoly.config import MarketMakerSettings
from polyhunter.models import CopyJob, Step, TradeStatus
from polyhunter.store.base import Store, StoreJournal
from polyhunter.venue import BelowMinSize, ClobClient, Placement
from polyhunter.venue.answers import refusal_of

pytestmark = [pytest.mark.integration, pytest.mark.asyncio]

DEPTH = Decimal(2_000)  # shares per ladder level: 40 copies of 5 shares never exhaust the best ask


@pytest.fixture
def w() -> Iterator[World]:
    yield from fresh_world()


@asynccontextmanager
async def stored(tmp_path: Path, jobs: Sequence[CopyJob]) -> AsyncIterator[Store]:
    """A store holding `jobs` PENDING, closed whatever happens (its thread must not outlive the test)."""
    store = await store_at(tmp_path / "s.db", jobs)
    try:
        yield store
    finally:
        await store.close()


def running(w: World, settings: ClobSettings) -> ClobThread:
    return ClobThread(LocalClob(w.deployment, settings))


def admin(clob: LocalClob, **changes: object) -> None:
    resp = httpx.post(f"{clob.url}/_local/settings", json=changes)
    assert resp.status_code == 200, resp.text


def batched_engine(w: World, clob: LocalClob) -> tuple[BatchedChainEngine, list[ClobVenue]]:
    """The engine on one fleet wallet; an order waits up to 60 s for the batch's others, so that how many
    requests a batch takes never depends on timing (each batch here ends far sooner: its last job comes)."""
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
            batch_wait_s=60.0,
        )
        made.append(venue)
        return venue

    fleet = w.fleet(1)
    # A float in the worker's deposit wallet: the local CLOB may count an order's funds twice for a moment
    # (a refresh read after a settlement moved them, before the settlement's reservation is released), a
    # false "not enough balance" that a post of its own meets as well; copies never spend this float.
    give_pusd(w, w.deployment.accounts.deposit_wallet(fleet[0].address), 500 * USD)
    eng = BatchedChainEngine(AsyncRpc([w.rpc_url]), w.deployment, fleet, config=FAST, venue=build)
    return eng, made


def give_pusd(w: World, to: str, amount: int) -> None:
    """`amount` of pUSD (the collateral) to `to`, from a follower's own account (not its Proxy)."""
    pusd = contract(w.chain.w3, "PolyUSD", w.deployment.contracts.collateral)
    follower = w.chain.signer(w.follower(3))
    send(w.chain.w3, follower, pusd.functions.transfer(Web3.to_checksum_address(to), amount))


def copies(w: World, n: int, amount: int = 3 * USD, first: int = 0) -> list[CopyJob]:
    """`n` BUY copies of distinct leader fills (nothing coalesces), followers taken in turn."""
    return [job(w, (first + i) % 12, "BUY", amount) for i in range(n)]


async def run_many(eng: BatchedChainEngine, store: Store, jobs: Sequence[CopyJob]) -> list[ExecutionResult]:
    results = await eng.execute_many(jobs, [StoreJournal(store, j.key) for j in jobs])
    for j, r in zip(jobs, results, strict=True):
        await store.mark(j.key, r.status, r.reason, r.tx_hashes)
    return results


async def posted_once(store: Store, jobs: Sequence[CopyJob]) -> dict[bytes, bytes]:
    """Each job's one journaled order hash (asserting there is exactly one)."""
    out: dict[bytes, bytes] = {}
    for j in jobs:
        record = await store.get_trade(j.key)
        assert record is not None
        orders = [e.tx_hash for e in record.journal if e.step == Step.ORDER_POSTED]
        assert len(orders) == 1, record.journal
        out[j.key] = orders[0]
    return out


def ours_at_clob(clob: LocalClob, w: World, eng: BatchedChainEngine) -> set[bytes]:
    deposit = w.deployment.accounts.deposit_wallet(eng.wallets[0].address).lower()
    held = list(clob.engine.orders.values())
    return {bytes.fromhex(o.order_id[2:]) for o in held if o.signed.maker.lower() == deposit}


def posts(clob: LocalClob) -> tuple[int, int]:
    return clob.requests["POST /orders"], clob.requests["POST /order"]


async def test_forty_copies_leave_in_three_requests_each_as_execute_would_give(
    w: World, tmp_path: Path
) -> None:
    reference = job(w, 0, "BUY", 3 * USD)
    jobs = copies(w, 40)
    async with stored(tmp_path, [reference, *jobs]) as store:
        with running(w, ClobSettings(market_maker=MarketMakerSettings(size=DEPTH))) as clob:
            eng, (venue,) = batched_engine(w, clob)
            await eng.start()
            try:
                alone = await eng.execute(reference, StoreJournal(store, reference.key))
                assert alone.status is TradeStatus.EXECUTED, alone.reason
                assert posts(clob) == (0, 1)  # a job of its own posts alone, as before
                results = await run_many(eng, store, jobs)
            finally:
                await stop(eng)
            # ceil(40 / 15) = 3 requests. An order refused for a balance the CLOB had cached before the last
            # pulls landed is sent again alone after the refresh, as a post of its own would be.
            again = venue.balance_refreshes
            assert posts(clob) == (3, 1 + again)
            assert venue.batch_requests == 3
            assert venue.batch_timeouts == 0
            assert venue.posts == 41 + again
            assert [r.status for r in results] == [TradeStatus.EXECUTED] * 40, [
                r.reason for r in results if r.reason
            ]
            # Each job's result is the one `execute` gave the same copy alone (same book level, same amounts).
            assert {(r.fill_size, r.fill_price_ppm, r.fee) for r in results} == {
                (alone.fill_size, alone.fill_price_ppm, alone.fee)
            }
            hashes = await posted_once(store, jobs)
            assert len(set(hashes.values())) == 40
            for j in jobs:
                record = await store.get_trade(j.key)
                assert record is not None
                assert [e.step for e in record.journal][:3] == [Step.PULLED, Step.ORDER_POSTED, Step.PUSHED]
            # The CLOB holds exactly the orders journaled (the reference's too), none twice.
            assert ours_at_clob(clob, w, eng) == {
                *hashes.values(),
                *(await posted_once(store, [reference])).values(),
            }


async def test_one_order_the_venue_refuses_fails_alone(w: World, tmp_path: Path) -> None:
    small = copies(w, 5)
    # $500 at most 0.52 (0.50 + 5 %): the default ladder holds 200 shares up to 0.52, about $103: the FOK
    # is killed. Follower 11 has no other copy here, so its Proxy must end where it started.
    big = job(w, 11, "BUY", 500 * USD)
    jobs = [*small[:2], big, *small[2:]]
    async with stored(tmp_path, jobs) as store:
        proxy = w.proxy(11)
        before = w.chain.collateral_of(proxy)
        with running(w, ClobSettings()) as clob:
            eng, (venue,) = batched_engine(w, clob)
            await eng.start()
            try:
                results = await run_many(eng, store, jobs)
            finally:
                await stop(eng)
            assert posts(clob) == (1, venue.balance_refreshes)
            assert venue.batch_requests == 1
            statuses = [r.status for r in results]
            assert statuses == [TradeStatus.EXECUTED] * 2 + [TradeStatus.SKIPPED] + [TradeStatus.EXECUTED] * 3
            assert results[2].reason == "fok_not_filled"
            assert w.chain.collateral_of(proxy) == before
            record = await store.get_trade(big.key)
            assert record is not None
            assert [e.step for e in record.journal] == [Step.PULLED, Step.ORDER_POSTED, Step.RETURNED]
            hashes = await posted_once(store, jobs)
            # The refused order is not at the CLOB; the five others are, once each.
            assert ours_at_clob(clob, w, eng) == {hashes[j.key] for j in small}


async def test_a_batch_dying_mid_way_is_resolved_order_by_order_never_posted_twice(
    w: World, tmp_path: Path
) -> None:
    jobs = copies(w, 6)
    async with stored(tmp_path, jobs) as store:
        with running(w, ClobSettings()) as clob:
            # The batch places its first 3 orders, then answers 500 "order timed out": the client cannot
            # tell which were placed, so every order's outcome is unknown.
            admin(clob, timeout_next_batches=1, timeout_batch_placed=3)
            eng, (venue,) = batched_engine(w, clob)
            await eng.start()
            try:
                results = await run_many(eng, store, jobs)
                hashes = await posted_once(store, jobs)
                # What recovery reads from the journal alone: every order settled, and asking posts nothing.
                before = posts(clob)
                for j in jobs:
                    record = await store.get_trade(j.key)
                    assert record is not None
                    (entry,) = [e for e in record.journal if e.step == Step.ORDER_POSTED]
                    assert (await venue.resolve(entry, {})).state == "ok"
                    fill = await venue.fill_of(entry)
                    assert fill is not None
                    assert fill.shares == results[jobs.index(j)].fill_size
                assert posts(clob) == before
            finally:
                await stop(eng)
            assert [r.status for r in results] == [TradeStatus.EXECUTED] * 6, [r.reason for r in results]
            # One batch; each order resolved by its hash, and only the 3 the venue did not know sent again
            # (the same bytes, alone): 9 sends for 6 orders, none placed twice.
            again = venue.balance_refreshes
            assert posts(clob) == (1, 3 + again)
            assert venue.posts == 9 + again
            assert ours_at_clob(clob, w, eng) == set(hashes.values())


async def test_a_lone_job_of_a_batch_posts_at_once(w: World, tmp_path: Path) -> None:
    """The others of its batch never reach a post (refused before the pull): the one order leaves as soon
    as they are done, through `POST /order`, without waiting out the 60 s batch window."""
    ok = job(w, 0, "BUY", 3 * USD)
    tiny = [job(w, 1 + i, "BUY", USD // 2) for i in range(3)]  # below the 5-share minimum: refused
    jobs = [*tiny, ok]
    async with stored(tmp_path, jobs) as store:
        with running(w, ClobSettings()) as clob:
            eng, (venue,) = batched_engine(w, clob)
            await eng.start()
            try:
                results = await run_many(eng, store, jobs)
            finally:
                await stop(eng)
            assert [r.reason for r in results[:3]] == ["below_min_size"] * 3
            assert results[3].status is TradeStatus.EXECUTED, results[3].reason
            assert posts(clob) == (0, 1)
            assert venue.batch_requests == 0
            assert venue.batch_timeouts == 0


async def test_a_rate_limited_batch_waits_and_goes_again_whole(w: World, tmp_path: Path) -> None:
    """One `POST /orders` per second: the second batch of 20 copies is refused 429 (nothing of it placed),
    waits the venue's Retry-After and is sent again, same bytes; every order placed once."""
    jobs = copies(w, 20)
    async with stored(tmp_path, jobs) as store:
        limits = {"POST /orders": 1, "*": 9000}
        with running(w, ClobSettings(rate_limits=limits, rate_window_s=1.0)) as clob:
            eng, (venue,) = batched_engine(w, clob)
            await eng.start()
            try:
                results = await run_many(eng, store, jobs)
            finally:
                await stop(eng)
            assert [r.status for r in results] == [TradeStatus.EXECUTED] * 20, [r.reason for r in results]
            assert venue.batch_requests == 2
            # 15 + 5 orders: the 5 were refused once by the limiter and sent again (one request more).
            assert posts(clob) == (3, venue.balance_refreshes)
            hashes = await posted_once(store, jobs)
            assert ours_at_clob(clob, w, eng) == set(hashes.values())


@contextmanager
def official_contracts(w: World) -> Iterator[None]:
    """Lets py-clob-client-v2 sign for this chain's V2 exchanges (its table knows only 137 and 80002)."""
    original = client_builder.get_contract_config
    c = w.deployment.contracts
    cs = Web3.to_checksum_address

    def local_config(chain_id: int) -> ContractConfig:
        if chain_id != w.deployment.chain_id:
            return original(chain_id)
        assert c.ctf_exchange_v2
        assert c.neg_risk_exchange_v2
        return ContractConfig(
            exchange=cs(c.ctf_exchange_v2),
            neg_risk_adapter=cs(c.neg_risk_exchange_v2),
            neg_risk_exchange=cs(c.neg_risk_exchange_v2),
            collateral=cs(c.collateral),
            conditional_tokens=cs(c.ctf),
            exchange_v2=cs(c.ctf_exchange_v2),
            neg_risk_exchange_v2=cs(c.neg_risk_exchange_v2),
            exchange_v3=cs(c.ctf_exchange_v2),
        )

    client_builder.get_contract_config = local_config  # type: ignore[assignment]
    try:
        yield
    finally:
        client_builder.get_contract_config = original  # type: ignore[assignment]


async def test_the_official_clients_post_orders_gets_the_reply_our_client_parses(w: World) -> None:
    """Truth from outside: py-clob-client-v2's `post_orders` and ours, each with one order that rests and
    one below the market's 5-share minimum, get replies of one shape: a list, one entry per order in the
    order sent, a placement or `success: false` with production's string; ours parses both the same."""
    account = derive(5)  # a fleet wallet no other test here trades with
    wallet = w.deployment.accounts.deposit_wallet(account.address)
    give_pusd(w, wallet, 20 * USD)
    token = w.token
    exchange = w.deployment.contracts.ctf_exchange_v2 or ""
    with running(w, ClobSettings()) as clob, official_contracts(w):
        official = OfficialClient(
            clob.url, w.deployment.chain_id, key=account.key.hex(), signature_type=3, funder=wallet
        )
        official.set_api_creds(await asyncio.to_thread(official.create_or_derive_api_key))
        rests = official.create_order(OrderArgsV2(token_id=str(token), price=0.45, size=10, side="BUY"))
        small = official.create_order(OrderArgsV2(token_id=str(token), price=0.45, size=3, side="BUY"))
        theirs = await asyncio.to_thread(
            official.post_orders,
            [SimpleNamespace(order=o, orderType=OrderType.GTC) for o in (rests, small)],
        )

        signer = Signer(account.key.hex())
        builder = MarketOrderBuilder(
            signer, ExchangeDomain(exchange, w.deployment.chain_id), maker=wallet, signature_type=3
        )
        ours_client = ClobClient(clob.url, w.deployment.chain_id, signer, signature_type=3, funder=wallet)
        await ours_client.create_or_derive_api_key()
        prepared = []
        for salt, usd in ((1, 4_500_000), (2, 1_350_000)):  # 10 and 3 shares at 0.45
            signed = builder.build(
                token_id=token,
                side="BUY",
                amount=usd,
                price_ppm=450_000,
                tick_ppm=10_000,
                salt=salt,
                timestamp=int(time.time() * 1000),
            )
            prepared.append(ours_client.prepare(signed.order, signed.signed, order_type="GTC"))
        try:
            ours = await ours_client.post_orders(prepared)
        finally:
            await ours_client.close()

    assert isinstance(theirs, list)
    assert len(theirs) == 2
    placed, refused = ours
    assert isinstance(placed, Placement)
    assert placed.order_id == prepared[0].order_hash
    assert isinstance(refused, BelowMinSize)
    # Their entries read by our parser: the same placement shape (same fields), the same refusal class.
    theirs_placed = Placement.from_json(theirs[0])
    assert (theirs_placed.status, placed.status) == ("live", "live")
    assert set(theirs[0]) == set(placed.raw)
    assert theirs[1]["success"] is False
    assert type(refusal_of(theirs[1]["errorMsg"])) is type(refused)
    assert refused.message == theirs[1]["errorMsg"] == "Size (3) lower than the minimum: 5"
