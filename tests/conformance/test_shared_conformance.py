"""One conformance suite for the shared state: in-process memory and Redis pass the same tests."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
import textwrap
from asyncio.subprocess import PIPE
from contextlib import AsyncExitStack

import pytest

from conftest import SharedCase
from polyhunter.errors import QueueFull
from polyhunter.shared import Delivery, RedisSharedState, Reservation, SharedState

IDLE_MS = 150  # the claim timeout of these tests: short, so a test waits little


async def _wait_until_claimed(state: SharedState, consumer: str, want: int) -> list[Delivery]:
    """Claim until `want` jobs came over (each attempt after the idle timeout); bounded, never timed."""
    claimed: list[Delivery] = []
    for _ in range(100):
        await asyncio.sleep(IDLE_MS / 1000)
        claimed += await state.claim_stale(consumer, IDLE_MS)
        if len(claimed) >= want:
            break
    return claimed


# Dedup.
@pytest.mark.asyncio
async def test_dedup_first_sighting_then_ttl_expiry(shared_case: SharedCase) -> None:
    async with shared_case.make() as state:
        a, b = b"\x01" * 32, b"\x02" * 32
        assert await state.first_sighting(a, 300)
        assert not await state.first_sighting(a, 300)
        assert await state.first_sightings([b, b, a], 300) == [True, False, False]
        await asyncio.sleep(0.45)
        assert await state.first_sightings([a, b], 300) == [True, True]  # expired: a new first sighting


# Fill keys.
@pytest.mark.asyncio
async def test_the_first_fill_key_claimed_under_an_alias_wins_and_every_later_claim_adopts_it(
    shared_case: SharedCase,
) -> None:
    async with shared_case.make() as one, shared_case.make() as two:
        order, tx, taker, group = b"order" * 4, b"tx" * 8, b"taker" * 4, b"group" * 4
        first, second, third = b"\x0a" * 32, b"\x0b" * 32, b"\x0c" * 32
        assert await one.claim_fill_key([order], first, 60_000) == first
        # Another replica's key for the same fill: the first one wins, and its other aliases learn it.
        assert await two.claim_fill_key([tx, order], second, 60_000) == first
        assert await one.claim_fill_key([tx], third, 60_000) == first
        # A lookup is read, never written; a note is written, never read.
        assert await two.claim_fill_key([], third, 60_000, lookups=[taker], notes=[group]) == third
        assert await one.claim_fill_key([], second, 60_000, lookups=[taker]) == second
        assert await one.claim_fill_key([], second, 60_000, lookups=[group]) == third
        assert await two.claim_fill_key([b"new" * 8], second, 60_000, notes=[group]) == second
        assert await one.claim_fill_key([], first, 60_000, lookups=[group]) == third
        # Concurrent first claims of one alias: one key wins for all.
        keys = [bytes([n]) * 32 for n in range(1, 41)]
        states = [one, two] * 20
        won = await asyncio.gather(
            *(s.claim_fill_key([b"race" * 8], k, 60_000) for s, k in zip(states, keys, strict=True))
        )
        assert len(set(won)) == 1
        assert won[0] in keys


@pytest.mark.asyncio
async def test_a_claimed_fill_key_is_forgotten_after_its_ttl(shared_case: SharedCase) -> None:
    async with shared_case.make() as state:
        alias, first, second = b"alias" * 4, b"\x01" * 32, b"\x02" * 32
        assert await state.claim_fill_key([alias], first, 300) == first
        assert await state.claim_fill_key([alias], second, 300) == first
        await asyncio.sleep(0.45)
        assert await state.claim_fill_key([alias], second, 300) == second


# Guardrails.
@pytest.mark.asyncio
async def test_cap_admits_exactly_k_of_400_concurrent_reservations(shared_case: SharedCase) -> None:
    cap = 137
    async with shared_case.make() as state:
        one = [Reservation("daily:2025-01-01", 1_000_000, cap * 1_000_000)]
        outcomes = await asyncio.gather(*(state.reserve(one) for _ in range(400)))
        assert outcomes.count(None) == cap
        assert set(outcomes) == {None, "daily_cap"}
        assert await state.counter("daily:2025-01-01") == cap * 1_000_000
        for _ in range(10):
            await state.release(one)
        again = await asyncio.gather(*(state.reserve(one) for _ in range(20)))
        assert again.count(None) == 10  # released capacity is available again, no more


@pytest.mark.asyncio
async def test_reservation_of_several_counters_is_all_or_nothing(shared_case: SharedCase) -> None:
    async with shared_case.make() as state:
        wallet = Reservation("wallet:0xabc:2025-01-01", 40, 50, "wallet_daily_cap")
        total = Reservation("daily:2025-01-01", 40, 1000)
        uncapped = Reservation("seen:2025-01-01", 40, None)
        assert await state.reserve([total, wallet, uncapped]) is None
        assert await state.reserve([total, wallet, uncapped]) == "wallet_daily_cap"
        assert await state.counter(total.counter) == 40  # nothing added by the refused reservation
        assert await state.counter(uncapped.counter) == 40
        await state.release([total, wallet, uncapped])
        await state.release([total])  # never below zero
        assert await state.counter(total.counter) == 0
        assert await state.counter("never-used") == 0


_RESERVER = textwrap.dedent(
    """
    import asyncio, sys
    from polyhunter.shared import RedisSharedState, Reservation

    async def main(url: str, prefix: str, cap: int, tries: int) -> None:
        async with RedisSharedState(url, prefix) as state:
            print("ready", flush=True)
            sys.stdin.readline()
            one = [Reservation("daily:race", 1, cap)]
            outcomes = await asyncio.gather(*(state.reserve(one) for _ in range(tries)))
            print(outcomes.count(None), flush=True)

    asyncio.run(main(sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])))
    """
)


async def _children(script: str, *args: str, count: int = 2) -> list[asyncio.subprocess.Process]:
    children = [
        await asyncio.create_subprocess_exec(sys.executable, "-c", script, *args, stdin=PIPE, stdout=PIPE)
        for _ in range(count)
    ]
    for child in children:
        assert child.stdout is not None
        assert (await child.stdout.readline()).strip() == b"ready"
    return children


async def _reap(children: list[asyncio.subprocess.Process]) -> None:
    for child in children:
        if child.returncode is None:
            child.kill()
            await child.wait()


@pytest.mark.asyncio
async def test_cap_holds_across_two_processes_on_redis(redis_url: str, redis_prefix: str) -> None:
    # Only Redis is shared between processes; in-process memory passes the 400-task test above.
    cap = 137
    children = await _children(_RESERVER, redis_url, redis_prefix, str(cap), "200")
    try:
        outputs = await asyncio.wait_for(
            asyncio.gather(*(child.communicate(b"go\n") for child in children)), timeout=120
        )
    finally:
        await _reap(children)
    assert sum(int(out.strip().splitlines()[-1]) for out, _ in outputs) == cap
    async with RedisSharedState(redis_url, redis_prefix) as state:
        assert await state.counter("daily:race") == cap


# Queue.
_DOOMED_CONSUMER = textwrap.dedent(
    """
    import asyncio, json, sys, time
    from polyhunter.shared import RedisSharedState

    async def main(url: str, prefix: str, count: int) -> None:
        async with RedisSharedState(url, prefix) as state:
            got = await state.dequeue("doomed", count=count)
            print("ready", flush=True)
            print(json.dumps([d.key.hex() for d in got]), flush=True)
            await asyncio.sleep(3600)  # holding the jobs, never acking: the test SIGKILLs us

    asyncio.run(main(sys.argv[1], sys.argv[2], int(sys.argv[3])))
    """
)


@pytest.mark.asyncio
async def test_jobs_of_a_killed_consumer_are_claimed_and_acked_exactly_once(shared_case: SharedCase) -> None:
    jobs = [(bytes([i]) * 32, f"payload-{i}".encode()) for i in range(6)]
    async with AsyncExitStack() as stack:
        state = await stack.enter_async_context(shared_case.make())
        assert await state.enqueue_many(jobs) == [True] * 6
        if shared_case.backend == "redis":
            (child,) = await _children(_DOOMED_CONSUMER, shared_case.url, shared_case.prefix, "4", count=1)
            assert child.stdout is not None
            taken = json.loads(await child.stdout.readline())
            os.kill(child.pid, signal.SIGKILL)
            await child.wait()
        else:
            taken = [d.key.hex() for d in await state.dequeue("doomed", count=4)]  # and never acks
        assert len(taken) == 4
        assert (await state.queue_stats()).in_flight == 4

        survivor = await state.dequeue("survivor", count=10)
        assert len(survivor) == 2  # the doomed consumer's jobs are not handed out again before the timeout
        acks = [await state.ack([d.id]) for d in survivor]
        claimed = await _wait_until_claimed(state, "survivor", 4)
        assert sorted(d.key.hex() for d in claimed) == sorted(taken)
        assert all(d.deliveries == 2 for d in claimed)
        acks += [await state.ack([d.id]) for d in claimed]
        assert acks == [1] * 6  # each job acknowledged once
        assert await state.ack([d.id for d in claimed]) == 0  # and never twice
        assert await state.claim_stale("late", 0) == []
        stats = await state.queue_stats()
        assert (stats.length, stats.in_flight) == (0, 0)
        delivered = sorted(d.payload for d in [*survivor, *claimed])
        assert delivered == sorted(p for _, p in jobs)


@pytest.mark.asyncio
async def test_a_poison_job_lands_in_the_dead_letter_list_after_n_tries(shared_case: SharedCase) -> None:
    async with shared_case.make(max_deliveries=3) as state:
        await state.enqueue(b"\x09" * 32, b"poison")
        tries = len(await state.dequeue("w1"))
        for _ in range(5):
            tries += len(await state.claim_stale("w2", 0))  # each time the worker fails without acking
        assert tries == 3
        (dead,) = await state.dead_letters()
        assert (dead.key, dead.payload, dead.deliveries) == (b"\x09" * 32, b"poison", 3)
        stats = await state.queue_stats()
        assert (stats.length, stats.in_flight, stats.dead) == (0, 0, 1)


@pytest.mark.asyncio
async def test_a_full_queue_refuses_and_counts_and_never_evicts(shared_case: SharedCase) -> None:
    async with shared_case.make(max_queue=3) as state:
        assert await state.enqueue_many([(bytes([i]) * 32, b"%d" % i) for i in range(3)]) == [True] * 3
        with pytest.raises(QueueFull):
            await state.enqueue(b"\x07" * 32, b"late")
        first = await state.dequeue("w", count=2)
        assert await state.enqueue_many([(b"\x08" * 32, b"x")]) == [False]  # in flight still counts
        assert (await state.queue_stats()).dropped == 2
        assert await state.ack([first[0].id]) == 1
        assert await state.enqueue_many([(b"\x0a" * 32, b"y"), (b"\x0b" * 32, b"z")]) == [True, False]
        rest = await state.dequeue("w", count=10)
        assert [d.payload for d in [*first, *rest]] == [b"0", b"1", b"2", b"y"]  # nothing evicted
        stats = await state.queue_stats()
        assert (stats.length, stats.in_flight, stats.dropped) == (3, 3, 3)


@pytest.mark.asyncio
async def test_dequeue_waits_for_a_job_up_to_block_ms(shared_case: SharedCase) -> None:
    async with shared_case.make() as state:
        assert await state.dequeue("w", block_ms=50) == []
        waiting = asyncio.create_task(state.dequeue("w", block_ms=10_000))
        await asyncio.sleep(0.05)
        await state.enqueue(b"\x01" * 32, b"job")
        (got,) = await waiting
        assert (got.payload, got.deliveries) == (b"job", 1)


# Leases.
@pytest.mark.asyncio
async def test_leases_expire_and_a_holder_that_lost_one_learns_it(shared_case: SharedCase) -> None:
    async with shared_case.make() as state:
        assert await state.acquire_lease("nonce:0xabc", "a", 300)
        assert not await state.acquire_lease("nonce:0xabc", "b", 300)  # live: not taken
        assert await state.acquire_lease("nonce:0xabc", "a", 300)  # its holder may extend it
        assert await state.renew_lease("nonce:0xabc", "a", 300)
        assert await state.lease_holder("nonce:0xabc") == "a"
        await asyncio.sleep(0.45)
        assert await state.lease_holder("nonce:0xabc") is None
        assert await state.acquire_lease("nonce:0xabc", "b", 300)  # expired: b takes it
        assert not await state.renew_lease("nonce:0xabc", "a", 300)  # a learns it lost the lease
        assert not await state.release_lease("nonce:0xabc", "a")
        assert await state.lease_holder("nonce:0xabc") == "b"
        assert await state.release_lease("nonce:0xabc", "b")
        assert await state.acquire_lease("nonce:0xabc", "a", 300)
