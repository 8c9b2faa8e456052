"""polyhunter.venue.ClobClient against the local CLOB (real server, real anvil, real exchange settling):
keys equal the official client's, every typed outcome provoked with its switch, L2 over the exact bytes,
a timed-out post neither lost nor doubled, retries within a deadline, secrets out of reprs and logs."""

from __future__ import annotations

import itertools
import json
import logging
import socket
import time
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import aiohttp
import pytest
from localpoly_world import USD, World, admin, build_world, running_clob, wait_settled
from py_clob_client_v2 import ClobClient as OfficialClient
from web3 import Web3

from polyhunter._core import ExchangeDomain, OrderV2, Signer
from polyhunter.chain.anvil import Anvil
from polyhunter.chain.polymarket import wrap_usdce
from polyhunter.clobauth import ApiCreds
from polyhunter.localpoly import ClobSettings, LocalClob
from polyhunter.venue import (
    BelowMinSize,
    ClobClient,
    DuplicateOrder,
    FakNotFilled,
    FokNotFilled,
    InsufficientBalance,
    InvalidOrderVersion,
    MakerNotAllowed,
    MarketableBuyTooSmall,
    MarketClosed,
    OrderOutcomeUnknown,
    OrderRefused,
    OrderTimedOut,
    PrecisionRefused,
    PreparedOrder,
    RateLimited,
    Restarting,
    SignerNotApiKey,
    TickSizeViolation,
    TransportError,
    Unauthorized,
    VenueUnavailable,
)

pytestmark = pytest.mark.integration

_SALTS = itertools.count(1)


@pytest.fixture(scope="module")
def world() -> Iterator[World]:
    with Anvil() as node:
        yield build_world(node)


@pytest.fixture
def clob(world: World) -> Iterator[LocalClob]:
    with running_clob(world, ClobSettings()) as server:
        yield server


async def trader(clob: LocalClob, world: World, **options: Any) -> ClobClient:
    """The deposit-wallet trader's client (type 3), with a fresh API key."""
    client = ClobClient(
        clob.url,
        clob.world.chain_id,
        Signer(world.trader.key.hex()),
        signature_type=3,
        funder=world.trader_wallet,
        **options,
    )
    await client.create_api_key()
    return client


async def eoa_client(clob: LocalClob, account: Any) -> ClobClient:
    client = ClobClient(clob.url, clob.world.chain_id, Signer(account.key.hex()))
    await client.create_api_key()
    return client


def order_of(
    client: ClobClient,
    world: World,
    *,
    maker_amount: int,
    taker_amount: int,
    side: str = "BUY",
    order_type: str = "FOK",
    token: int | None = None,
    key: Any = None,
    maker: str | None = None,
    signature_type: int | None = None,
) -> PreparedOrder:
    """A signed V2 order of the trader's deposit wallet (or of `key` as an EOA), prepared as bytes."""
    sig_type = client.signature_type if signature_type is None else signature_type
    signer = client.signer if key is None else Signer(key.key.hex())
    maker = maker or client.funder
    order = OrderV2(
        salt=next(_SALTS),
        maker=maker,
        signer=maker if sig_type == 3 else signer.address,
        token_id=world.market.yes_token_id if token is None else token,
        maker_amount=maker_amount,
        taker_amount=taker_amount,
        side=side,
        timestamp=int(time.time() * 1000),
        signature_type=sig_type,
    )
    signed = signer.sign_order(ExchangeDomain(world.pm.exchange, world.clob_world.chain_id), order)
    return client.prepare(order, signed, order_type=order_type)  # type: ignore[arg-type]


def buy_10_at_51(client: ClobClient, world: World) -> PreparedOrder:
    """FOK BUY of 10 YES at 0.51: $5.10 for 10 shares, filled by the market maker's best ask."""
    return order_of(client, world, maker_amount=5_100_000, taker_amount=10 * USD)


# ---------------------------------------------------------------------- keys, reads


@pytest.mark.asyncio
async def test_api_keys_equal_the_official_clients(clob: LocalClob, world: World) -> None:
    official = OfficialClient(clob.url, clob.world.chain_id, key=world.trader.key.hex())
    theirs = official.create_api_key(nonce=0)
    async with ClobClient(clob.url, clob.world.chain_id, Signer(world.trader.key.hex())) as ours:
        derived = await ours.derive_api_key()
        assert (derived.api_key, derived.secret, derived.passphrase) == (
            theirs.api_key,
            theirs.api_secret,
            theirs.api_passphrase,
        )
        made = await ours.create_api_key(nonce=7)
        again = official.derive_api_key(nonce=7)
        assert (made.api_key, made.secret, made.passphrase) == (
            again.api_key,
            again.api_secret,
            again.api_passphrase,
        )
        with pytest.raises(OrderRefused) as refused:
            await ours.derive_api_key(nonce=8)
        assert refused.value.status == 400
        assert (await ours.create_or_derive_api_key(nonce=8)).api_key not in (made.api_key, derived.api_key)


@pytest.mark.asyncio
async def test_market_reads_are_typed_and_exact(clob: LocalClob, world: World) -> None:
    async with await trader(clob, world) as client:
        token = world.market.yes_token_id
        book = await client.book(token)
        assert [(lvl.price, lvl.size) for lvl in book.asks] == [
            (Decimal("0.51"), 100 * USD),
            (Decimal("0.52"), 100 * USD),
            (Decimal("0.53"), 100 * USD),
        ]
        assert [lvl.price for lvl in book.bids] == [Decimal("0.49"), Decimal("0.48"), Decimal("0.47")]
        assert await client.tick_size(token) == Decimal("0.01")
        assert await client.neg_risk(token) is False
        assert await client.neg_risk(world.clob_world.markets[2].yes_token_id) is True
        info = await client.market(world.fee_market.condition_id)
        assert info.fee_rate == Decimal("0.02")
        assert (info.fee_exponent, info.taker_base_fee_bps) == (1, 200)
        assert (info.tick_size, info.min_order_size) == (Decimal("0.01"), Decimal("5"))
        assert info.token_ids == (world.fee_market.yes_token_id, world.fee_market.no_token_id)
        assert await client.version() == 2
        assert abs(await client.server_time() - time.time()) < 60
        with pytest.raises(MarketClosed):
            await client.book(123)
        cached = await client.balance_allowance()
        assert cached.balance == world.pusd(world.trader_wallet)
        assert cached.allowances[world.pm.exchange.lower()] == 2**256 - 1


# ---------------------------------------------------------------------- orders and their outcomes


@pytest.mark.asyncio
async def test_fok_buy_fills_and_settles_then_trades_and_order_agree(clob: LocalClob, world: World) -> None:
    async with await trader(clob, world) as client:
        pusd0 = world.pusd(world.trader_wallet)
        first = buy_10_at_51(client, world)
        placed = await client.post_order(first)
        assert placed.order_id == first.order_hash
        assert (placed.status, placed.making, placed.taking) == ("matched", 5_100_000, 10 * USD)
        second = await client.post_order(buy_10_at_51(client, world))
        wait_settled(clob)
        trades = await client.trades(asset_id=world.market.yes_token_id)
        assert sorted(t.taker_order_id for t in trades) == sorted([first.order_hash, second.order_id])
        assert {(t.status, t.size, t.price) for t in trades} == {("CONFIRMED", 10 * USD, Decimal("0.51"))}
        state = await client.order(first.order_hash)
        assert (state.status, state.size_matched) == ("MATCHED", 10 * USD)
        assert world.pusd(world.trader_wallet) == pusd0 - 2 * 5_100_000
        assert world.tokens(world.trader_wallet, world.market.yes_token_id) == 20 * USD


@pytest.mark.asyncio
async def test_each_refusal_is_its_type_and_nothing_is_placed(clob: LocalClob, world: World) -> None:
    async with await trader(clob, world) as client:
        cases: list[tuple[type[OrderRefused], dict[str, Any]]] = [
            (FokNotFilled, {"maker_amount": 255 * USD, "taker_amount": 500 * USD}),  # 200 at <= 0.51
            (FakNotFilled, {"maker_amount": 4 * USD, "taker_amount": 10 * USD, "order_type": "FAK"}),
            (MarketableBuyTooSmall, {"maker_amount": 510_000, "taker_amount": 1 * USD}),
            (BelowMinSize, {"maker_amount": 900_000, "taker_amount": 2 * USD, "order_type": "GTC"}),
            (TickSizeViolation, {"maker_amount": 4_550_000, "taker_amount": 10 * USD, "order_type": "GTC"}),
            (PrecisionRefused, {"maker_amount": 5_105_000, "taker_amount": 10 * USD}),
            (
                InsufficientBalance,
                {"maker_amount": 1_350 * USD, "taker_amount": 3_000 * USD, "order_type": "GTC"},
            ),
        ]
        for cls, fields in cases:
            prepared = order_of(client, world, **fields)
            with pytest.raises(cls) as info:
                await client.post_order(prepared)
            assert type(info.value) is cls, info.value
            assert isinstance(info.value, ValueError)
            assert info.value.status == 400
            # Refused means not placed: the venue does not know the order.
            assert (await client.resolve(prepared.order_hash)).placed is False
        assert await client.orders() == []


@pytest.mark.asyncio
async def test_maker_signer_and_version_refusals(clob: LocalClob, world: World) -> None:
    async with await eoa_client(clob, world.outsider) as outsider:
        own = order_of(outsider, world, maker_amount=5_100_000, taker_amount=10 * USD)
        with pytest.raises(MakerNotAllowed):
            await outsider.post_order(own)
        # An order of another EOA, posted under the outsider's key.
        foreign = order_of(
            outsider,
            world,
            maker_amount=5_100_000,
            taker_amount=10 * USD,
            key=world.eoa,
            maker=world.eoa.address.lower(),
        )
        with pytest.raises(SignerNotApiKey):
            await outsider.post_order(foreign)
        payload = json.loads(own.body)
        payload["order"]["nonce"] = "0"  # a V1 field: an old client's order
        with pytest.raises(InvalidOrderVersion):
            await outsider.post_order(
                PreparedOrder(json.dumps(payload, separators=(",", ":")).encode(), own.order_hash)
            )


@pytest.mark.asyncio
async def test_unauthorized_with_a_wrong_secret(clob: LocalClob, world: World) -> None:
    async with await trader(clob, world) as client:
        good = client.creds
        assert good is not None
        client.set_creds(
            ApiCreds(good.api_key, "c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0MTI=", good.passphrase)
        )
        with pytest.raises(Unauthorized) as info:
            await client.orders()
        assert isinstance(info.value, PermissionError)
        assert info.value.status == 401
        with pytest.raises(Unauthorized):
            await client.post_order(buy_10_at_51(client, world))


@pytest.mark.asyncio
async def test_trading_modes_are_venue_unavailable_and_cancel_still_works_in_cancel_only(
    clob: LocalClob, world: World
) -> None:
    async with await trader(clob, world) as client:
        resting = await client.post_order(
            order_of(client, world, maker_amount=4_500_000, taker_amount=10 * USD, order_type="GTC")
        )
        assert resting.status == "live"
        for mode, retry_after in (("cancel_only", None), ("disabled", None), ("post_only", 7.0)):
            admin(clob, trading_mode=mode, retry_after_s=7)
            with pytest.raises(VenueUnavailable) as info:
                # A deadline that is already now: the post-only wait is not started.
                await client.post_order(buy_10_at_51(client, world), deadline=time.monotonic())
            assert (info.value.mode, info.value.retry_after, info.value.status) == (mode, retry_after, 503)
            assert info.value.retryable is (retry_after is not None)
            if mode == "cancel_only":
                result = await client.cancel(resting.order_id)
                assert result.canceled == [resting.order_id]
        assert await client.orders() == []


@pytest.mark.asyncio
async def test_restarting_post_is_resent_with_the_same_bytes_within_the_deadline(
    clob: LocalClob, world: World
) -> None:
    waits: list[float] = []

    async def restart_done(seconds: float) -> None:
        waits.append(seconds)
        admin(clob, restart_until=0.0)

    async with await trader(clob, world, sleep=restart_done) as client:
        prepared = buy_10_at_51(client, world)
        admin(clob, restart_until=time.time() + 100)
        with pytest.raises(Restarting) as info:
            await client.post_order(prepared, deadline=time.monotonic() + 10)
        assert info.value.retry_after is not None
        assert info.value.retry_after > 10
        assert waits == []  # a wait past the deadline is not started
        placed = await client.post_order(prepared, deadline=time.monotonic() + 1_000)
        assert waits
        assert waits[0] > 10
        assert placed.order_id == prepared.order_hash
        assert placed.status == "matched"


@pytest.mark.asyncio
async def test_rate_limited_reads_wait_retry_after_then_succeed(clob: LocalClob, world: World) -> None:
    waits: list[float] = []

    async def window_passes(seconds: float) -> None:
        waits.append(seconds)
        admin(clob, rate_limits=None)

    async with await trader(clob, world, sleep=window_passes) as client:
        admin(clob, rate_limits={"GET /book": 1})
        await client.book(world.market.yes_token_id)
        with pytest.raises(RateLimited) as info:
            await client.book(world.market.yes_token_id, deadline=time.monotonic())
        assert isinstance(info.value, ConnectionError)
        assert info.value.retry_after is not None
        assert waits == []
        book = await client.book(world.market.yes_token_id, deadline=time.monotonic() + 1_000)
        assert len(waits) == 1
        assert 1 <= waits[0] <= 11
        assert book.asks[0].price == Decimal("0.51")


@pytest.mark.asyncio
async def test_timed_out_post_is_found_by_resolve_and_never_doubled(clob: LocalClob, world: World) -> None:
    async with await trader(clob, world) as client:
        prepared = buy_10_at_51(client, world)
        admin(clob, timeout_next_posts=1)
        with pytest.raises(OrderOutcomeUnknown) as info:
            await client.post_order(prepared)
        unknown = info.value
        assert isinstance(unknown.cause, OrderTimedOut)
        assert (unknown.order_hash, unknown.body) == (prepared.order_hash, prepared.body)
        # Re-sending the journaled bytes cannot place a second order.
        with pytest.raises(DuplicateOrder):
            await client.post_order(PreparedOrder(unknown.body, unknown.order_hash))
        wait_settled(clob)
        found = await client.resolve(unknown.order_hash)
        assert found.placed
        assert found.order is not None
        assert (found.order.status, found.order.size_matched) == ("MATCHED", 10 * USD)
        assert [(t.taker_order_id, t.status, t.size) for t in found.trades] == [
            (prepared.order_hash, "CONFIRMED", 10 * USD)
        ]
        assert len(await client.trades()) == 1
        assert world.tokens(world.trader_wallet, world.market.yes_token_id) == 10 * USD
        assert (await client.resolve("0x" + "ab" * 32)).placed is False


@pytest.mark.asyncio
async def test_transport_failure_on_a_post_is_outcome_unknown(world: World) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    # Nothing listens on `port` any more: connection refused, on reads and posts alike.
    client = ClobClient(
        f"http://127.0.0.1:{port}",
        world.clob_world.chain_id,
        Signer(world.trader.key.hex()),
        creds=ApiCreds("k", "c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0MTI=", "p"),
        retry_s=0,
    )
    async with client:
        with pytest.raises(TransportError) as read:
            await client.version()
        assert isinstance(read.value, ConnectionError)
        assert read.value.status == 0
        prepared = order_of(client, world, maker_amount=5_100_000, taker_amount=10 * USD)
        with pytest.raises(OrderOutcomeUnknown) as post:
            await client.post_order(prepared)
        assert isinstance(post.value.cause, TransportError)
        assert post.value.order_hash == prepared.order_hash


# ---------------------------------------------------------------------- L2 over exact bytes, secrets


@pytest.mark.asyncio
async def test_server_checks_l2_over_the_exact_bytes(clob: LocalClob, world: World) -> None:
    async with await trader(clob, world) as client, aiohttp.ClientSession() as http:
        prepared = buy_10_at_51(client, world)
        headers = client.l2_headers("POST", "/order", prepared.body)
        headers["Content-Type"] = "application/json"
        # The same JSON value serialized differently (spaces after separators): another HMAC message.
        respaced = json.dumps(json.loads(prepared.body)).encode()
        assert json.loads(respaced) == json.loads(prepared.body)
        assert respaced != prepared.body
        async with http.post(f"{clob.url}/order", data=respaced, headers=headers) as resp:
            assert resp.status == 401
        assert (await client.resolve(prepared.order_hash)).placed is False
        async with http.post(f"{clob.url}/order", data=prepared.body, headers=headers) as resp:
            assert resp.status == 200
            assert (await resp.json())["orderID"] == prepared.order_hash


@pytest.mark.asyncio
async def test_secrets_absent_from_reprs_errors_and_logs(
    clob: LocalClob, world: World, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    async with await trader(clob, world) as client:
        creds = client.creds
        assert creds is not None
        await client.book(world.market.yes_token_id)
        await client.post_order(buy_10_at_51(client, world))
        await client.orders()
        admin(clob, timeout_next_posts=1)
        with pytest.raises(OrderOutcomeUnknown) as unknown:
            await client.post_order(buy_10_at_51(client, world))
        client.set_creds(ApiCreds(creds.api_key, "c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0MTI=", "wrong"))
        with pytest.raises(Unauthorized) as refused:
            await client.orders()
        texts = [repr(client), repr(creds), str(unknown.value), str(refused.value), caplog.text]
        assert any("/order" in r.getMessage() for r in caplog.records)  # the client did log its calls
        for text in texts:
            assert creds.secret not in text
            assert creds.passphrase not in text
        assert creds.api_key in repr(client)
        assert Web3.to_checksum_address(world.trader.address) not in caplog.text  # no header dumped


@pytest.mark.asyncio
async def test_stale_balance_refused_then_refreshed_once_and_the_same_bytes_accepted(
    clob: LocalClob, world: World
) -> None:
    async with await trader(clob, world) as client:
        assert (await client.balance_allowance()).balance == 1_000 * USD
        # A resting BUY of 3000 at 0.45 needs $1350: more than the wallet holds.
        prepared = order_of(
            client, world, maker_amount=1_350 * USD, taker_amount=3_000 * USD, order_type="GTC"
        )
        with pytest.raises(InsufficientBalance):
            await client.post_order(prepared)
        wrap_usdce(world.w3, world.pm, world.admin, world.admin, world.trader_wallet, 500 * USD)
        # Funded on chain, but the venue's cache still says 1000 until it is told to look again.
        with pytest.raises(InsufficientBalance):
            await client.post_order(prepared)
        refreshed = await client.update_balance_allowance()
        assert refreshed.balance == world.pusd(world.trader_wallet) == 1_500 * USD
        placed = await client.post_order(prepared)
        assert placed.order_id == prepared.order_hash
        assert placed.status == "live"
