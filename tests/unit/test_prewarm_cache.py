"""What an early sighting leaves for its log's jobs: orders signed ahead (taken once, only by the jobs their
fill's log bound to them, only when the order is the very one; dropped with their fill's window or past the
bound) and the guardrails' view of the caps (counters read, never reserved; a refusal
known before the log)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from polyhunter._core import ExchangeDomain, MarketOrderBuilder, SignedMarketOrder, Signer
from polyhunter.execution.presigned import PresignedOrders, SignInputs
from polyhunter.models import CopyJob, SkipReason
from polyhunter.shared.base import Reservation
from polyhunter.shared.memory import MemorySharedState
from polyhunter.supervisor.guardrails import Guardrails

KEY = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80"
WALLET = Signer(KEY).address
OTHER_WALLET = "0x" + "77" * 20
EXCHANGE = "0x" + "e2" * 20
USD = 1_000_000
FILL = b"\x01" * 32
OTHER_FILL = b"\x02" * 32
JOB_A, JOB_B, JOB_C = b"\xaa" * 32, b"\xbb" * 32, b"\xcc" * 32

INPUTS = SignInputs(
    exchange=EXCHANGE,
    token_id=7,
    side="BUY",
    amount=5 * USD,
    price_ppm=510_000,
    tick_ppm=10_000,
    min_shares=None,
    fee_rate_bps=0,
    fee_exponent=0,
)


def signed(inputs: SignInputs = INPUTS, salt: int = 1) -> SignedMarketOrder:
    builder = MarketOrderBuilder(Signer(KEY), ExchangeDomain(inputs.exchange, 31337))
    return builder.build(
        token_id=inputs.token_id,
        side="BUY",
        amount=inputs.amount,
        price_ppm=inputs.price_ppm,
        tick_ppm=inputs.tick_ppm,
        salt=salt,
        timestamp=1_700_000_000_000,
    )


def test_an_order_signed_ahead_is_taken_once_by_the_job_its_log_bound() -> None:
    cache = PresignedOrders()
    order = signed()
    cache.put(FILL, [1], WALLET, INPUTS, order, until_block=120)
    # Before the log: no job is bound to it, so no job can post it.
    assert cache.take([JOB_A], WALLET, INPUTS) is None
    cache.bind(FILL, {JOB_A: 1})
    # Another wallet, or an order that differs in any input (the book moved: another price), signs anew.
    assert cache.take([JOB_A], OTHER_WALLET, INPUTS) is None
    assert cache.take([JOB_A], WALLET, replace(INPUTS, price_ppm=520_000)) is None
    assert cache.take([JOB_A], WALLET, replace(INPUTS, amount=6 * USD)) is None
    assert cache.stats.missed == 3
    taken = cache.take([JOB_A], WALLET.upper().replace("0X", "0x"), INPUTS)
    assert taken is not None
    assert taken.signed.hash == order.signed.hash
    # Once: the same bytes posted for two jobs would be one order at the venue.
    assert cache.take([JOB_A], WALLET, INPUTS) is None
    assert len(cache) == 0
    assert cache.stats.used == 1
    assert cache.stats.made == 1


def test_a_coalesced_order_serves_exactly_its_configs_together() -> None:
    cache = PresignedOrders()
    single, together = signed(salt=1), signed(replace(INPUTS, amount=10 * USD), salt=2)
    cache.put(FILL, [1], WALLET, INPUTS, single, until_block=120)
    cache.put(FILL, [1, 2], WALLET, replace(INPUTS, amount=10 * USD), together, until_block=120)
    cache.bind(FILL, {JOB_A: 1, JOB_B: 2})
    cache.bind(OTHER_FILL, {JOB_C: 2})
    # Jobs of two fills never share an order; a subset of the configs is not their coalesced order.
    assert cache.take([JOB_A, JOB_C], WALLET, replace(INPUTS, amount=10 * USD)) is None
    assert cache.take([JOB_B], WALLET, replace(INPUTS, amount=10 * USD)) is None
    got = cache.take([JOB_B, JOB_A], WALLET, replace(INPUTS, amount=10 * USD))
    assert got is not None
    assert got.signed.hash == together.signed.hash
    assert len(cache) == 1


def test_orders_go_with_their_fills_window_or_the_bound() -> None:
    cache = PresignedOrders(limit=3)
    cache.put(FILL, [1], WALLET, INPUTS, signed(salt=1), until_block=120)
    cache.put(OTHER_FILL, [1], WALLET, INPUTS, signed(salt=2), until_block=130)
    assert cache.drop(FILL) == 1
    assert cache.fills() == [OTHER_FILL]
    assert cache.expire(129) == 0
    assert cache.expire(130) == 1
    assert len(cache) == 0
    for n in range(5):
        cache.put(bytes([n]) * 32, [1], WALLET, INPUTS, signed(salt=10 + n), until_block=200)
    assert len(cache) == 3
    assert cache.fills() == [bytes([n]) * 32 for n in (2, 3, 4)]  # the oldest went first
    assert cache.stats.dropped == 4


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def job(follower: str, amount: int) -> CopyJob:
    return CopyJob(
        key=follower.encode().ljust(32, b"\0")[:32],
        config_id=1,
        follower=follower,
        proxy="0x" + "9a" * 20,
        leader="0x" + "1e" * 20,
        token_id=7,
        side="BUY",
        amount=amount,
        limit_price_ppm=510_000,
        tx_hash=b"\x05" * 32,
        log_index=0,
    )


@pytest.mark.asyncio
async def test_warming_reads_the_caps_without_reserving_and_knows_the_refusal_before_the_log() -> None:
    clock = Clock()
    guards = Guardrails(wallet_daily_cap_usd=10 * USD, refusal_ttl_ms=5_000, clock=clock)
    shared = MemorySharedState()
    day = "2026-11-27"
    full, room = "0x" + "f1" * 20, "0x" + "f2" * 20
    await shared.reserve([Reservation(f"wallet:{day}:{full}", 8 * USD, 10 * USD)])
    jobs = [job(full, 3 * USD), job(room, 3 * USD)]
    assert await guards.warm(shared, jobs, day) == 2
    assert guards.usage(f"wallet:{day}:{full}") == 8 * USD
    assert guards.usage(f"wallet:{day}:{room}") == 0
    # Nothing reserved.
    assert await shared.counter(f"wallet:{day}:{full}") == 8 * USD
    assert await shared.counter(f"wallet:{day}:{room}") == 0
    # The full wallet's copy is refused from the cache: even after a release the shared state would now
    # take, the log's job costs no round trip (the cache errs by refusing, never by admitting).
    await shared.release([Reservation(f"wallet:{day}:{full}", 8 * USD, 10 * USD)])
    reason, held = await guards.admit(shared, jobs[0], day)
    assert (reason, held) == (SkipReason.WALLET_DAILY_CAP.value, [])
    reason, held = await guards.admit(shared, jobs[1], day)
    assert reason is None
    assert await shared.counter(f"wallet:{day}:{room}") == 3 * USD
    # The view ages out with the refusal cache.
    clock.now += 5.0
    assert guards.usage(f"wallet:{day}:{full}") is None
    assert (await guards.admit(shared, jobs[0], day))[0] is None


@pytest.mark.asyncio
async def test_warming_reads_no_counter_for_copies_without_daily_caps_or_refused_statically() -> None:
    shared = MemorySharedState()
    copy = job("0x" + "f3" * 20, 2 * USD)
    assert await Guardrails(max_trade_usd=10 * USD).warm(shared, [copy], "d") == 0
    capped = Guardrails(max_trade_usd=USD, daily_cap_usd=100 * USD)
    assert await capped.warm(shared, [copy], "d") == 0  # above the trade bound: refused without a counter
    assert await replace(capped, max_trade_usd=None).warm(shared, [copy], "d") == 1
