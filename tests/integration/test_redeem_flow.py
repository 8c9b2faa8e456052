"""The redeemer on anvil: a resolved market's positions redeemed into every holding Proxy with exact balances
(pUSD, USDC.e and neg-risk positions), matched YES + NO merged first, losing positions CLOSED, a merge asked
by the leader-exit logic run once per ref, and a redemption killed between its transaction and its record
settled from the journal and the chain without a second transaction."""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from engine_world import World, engine, fresh_world, job, stop, store_at, until
from redeem_world import USD, erc20_balance, give_positions, markets, resolve

from polyhunter.execution.redeem import FAULT_AFTER_BROADCAST, Redeemer
from polyhunter.models import TradeStatus
from polyhunter.store.redemptions import CLOSED, DONE, PENDING, Redemptions
from polyhunter.store.sqlite import SqliteStore

pytestmark = [pytest.mark.integration, pytest.mark.asyncio]

HERE = Path(__file__).parent


def _run_child(deployment: Path, db: Path, condition: str) -> subprocess.CompletedProcess[bytes]:
    """`redeem_child.py` redeeming `condition`, killed at the fault point after its broadcast."""
    env = {**os.environ, "POLYHUNTER_FAULTPOINT": FAULT_AFTER_BROADCAST, "PYTHONPATH": str(HERE)}
    return subprocess.run(
        [
            sys.executable,
            str(HERE / "redeem_child.py"),
            str(deployment),
            str(db),
            condition,
        ],
        env=env,
        capture_output=True,
        timeout=300,
        check=False,
    )


@pytest.fixture
def w() -> Iterator[World]:
    yield from fresh_world()


async def _bought(store: SqliteStore, w: World, follower: int, token_id: int) -> None:
    """An EXECUTED BUY copy of `token_id` for the follower's Proxy: how the redeemer knows who may hold it."""
    bought = dataclasses.replace(job(w, follower), token_id=token_id)
    await store.insert_pending([bought], 2**62)
    assert await store.mark(bought.key, TradeStatus.EXECUTED)


@pytest.mark.parametrize("kind", ["pusd", "usdce", "negrisk"])
async def test_a_resolved_market_is_redeemed_into_every_holding_proxy(
    w: World, tmp_path: Path, kind: str
) -> None:
    market = markets(w.chain)[kind]
    store = await store_at(tmp_path / "s.db")
    # Proxy 0 won (YES), 1 lost (NO), 2 holds both (2 matched), 3 bought but sold everything, 4 never bought.
    holdings = {0: (6 * USD, 0), 1: (0, 4 * USD), 2: (5 * USD, 2 * USD), 3: (0, 0)}
    for i, (yes, no) in holdings.items():
        if yes or no:
            give_positions(w.chain, market, w.proxy(i), yes, no)
        await _bought(store, w, i, market.yes if yes or not no else market.no)
    give_positions(w.chain, market, w.proxy(4), 3 * USD, 0)  # the owner's own deposit: not ours to redeem
    resolve(w.chain, market, yes_wins=True)
    before = {i: erc20_balance(w.chain, market.paid_token, w.proxy(i)) for i in range(5)}
    eng = engine(w)
    await eng.start()
    try:
        redeemer = Redeemer(eng, store, start_block=0)
        assert await redeemer.scan() >= 1
        assert await redeemer.scan() == 0  # the checkpoint moved past it
    finally:
        await stop(eng)
    gained = {i: erc20_balance(w.chain, market.paid_token, w.proxy(i)) - before[i] for i in range(5)}
    assert gained == {0: 6 * USD, 1: 0, 2: 2 * USD + 3 * USD, 3: 0, 4: 0}
    for i in range(4):
        assert w.chain.tokens_of(w.proxy(i), market.yes) == 0
        assert w.chain.tokens_of(w.proxy(i), market.no) == 0
    assert w.chain.tokens_of(w.proxy(4), market.yes) == 3 * USD
    rows = {(r.proxy, r.kind): r for r in await Redemptions(store).find()}
    assert {k: (r.status, r.amount, r.payout) for k, r in rows.items()} == {
        (w.proxy(0).lower(), "REDEEM"): (DONE, 6 * USD, 6 * USD),
        (w.proxy(1).lower(), "REDEEM"): (CLOSED, 4 * USD, 0),
        (w.proxy(2).lower(), "MERGE"): (DONE, 2 * USD, 2 * USD),
        (w.proxy(2).lower(), "REDEEM"): (DONE, 3 * USD, 3 * USD),
    }
    assert {r.collateral for r in rows.values()} == {market.collateral.lower()}
    assert {r.paid_token for r in rows.values()} == {market.paid_token.lower()}
    await store.close()


async def test_a_merge_asked_by_the_leader_exit_logic_runs_once_per_ref(w: World, tmp_path: Path) -> None:
    market = markets(w.chain)["pusd"]
    store = await store_at(tmp_path / "s.db")
    give_positions(w.chain, market, w.proxy(0), 5 * USD, 3 * USD)
    give_positions(w.chain, market, w.proxy(1), 2 * USD, 0)  # nothing to merge: left out
    before = [erc20_balance(w.chain, market.paid_token, w.proxy(i)) for i in range(2)]
    eng = engine(w)
    await eng.start()
    try:
        redeemer = Redeemer(eng, store)
        rows = await redeemer.merge(
            [(w.proxy(0), 4 * USD), (w.proxy(1), 2 * USD)], market.condition_id, ref="0xleader-merge-1"
        )
        assert [(r.proxy, r.amount, r.status) for r in rows] == [(w.proxy(0).lower(), 3 * USD, DONE)]
        nonce = w.nonce(eng.wallets[0].address)
        give_positions(w.chain, market, w.proxy(0), 1 * USD, 1 * USD)
        assert (
            await redeemer.merge([(w.proxy(0), 1 * USD)], market.condition_id, ref="0xleader-merge-1") == []
        )
        assert w.nonce(eng.wallets[0].address) == nonce  # the same ref: nothing sent
    finally:
        await stop(eng)
    after = [erc20_balance(w.chain, market.paid_token, w.proxy(i)) for i in range(2)]
    assert [a - b for a, b in zip(after, before, strict=True)] == [3 * USD, 0]
    assert w.chain.tokens_of(w.proxy(0), market.yes) == 3 * USD
    assert w.chain.tokens_of(w.proxy(0), market.no) == 1 * USD
    await store.close()


async def test_a_redemption_killed_after_its_broadcast_is_recovered_without_a_second_transaction(
    w: World, tmp_path: Path
) -> None:
    market = markets(w.chain)["negrisk"]
    store = await store_at(tmp_path / "s.db")
    give_positions(w.chain, market, w.proxy(0), 4 * USD, 0)
    give_positions(w.chain, market, w.proxy(1), 0, 2 * USD)
    await _bought(store, w, 0, market.yes)
    await _bought(store, w, 1, market.no)
    await store.close()
    resolve(w.chain, market, yes_wins=False)  # NO wins
    before = [erc20_balance(w.chain, market.paid_token, w.proxy(i)) for i in range(2)]
    deployment = w.deployment.save(tmp_path / "deployment.json")
    child = _run_child(deployment, tmp_path / "s.db", market.condition_id)
    assert child.returncode == -signal.SIGKILL, child.stderr.decode()[-2000:]

    store = await store_at(tmp_path / "s.db")
    redemptions = Redemptions(store)
    pending = await redemptions.find(PENDING)
    assert len(pending) == 2  # both Proxies in one batch
    for row in pending:
        assert len(await redemptions.journal(row.key)) == 1  # journaled before the broadcast
    # The transaction mined (automine): the Proxies were paid, the store does not know it yet.
    after = [erc20_balance(w.chain, market.paid_token, w.proxy(i)) for i in range(2)]
    assert [a - b for a, b in zip(after, before, strict=True)] == [0, 2 * USD]
    eng = engine(w)
    await eng.start()
    nonce = w.nonce(eng.wallets[0].address)
    try:
        redeemer = Redeemer(eng, store, min_age_ms=0)
        assert await redeemer.recover() == 2
        assert await redeemer.on_resolution(market.condition_id) == []  # nothing left to redeem
    finally:
        await stop(eng)
    assert w.nonce(eng.wallets[0].address) == nonce  # no second transaction
    settled = {r.proxy: (r.status, r.amount, r.payout) for r in await redemptions.find()}
    assert settled == {
        w.proxy(0).lower(): (CLOSED, 4 * USD, 0),  # the losing YES
        w.proxy(1).lower(): (DONE, 2 * USD, 2 * USD),
    }
    await store.close()


def _passed(redeemer: Redeemer, passes: int) -> bool:
    return redeemer.stats.passes >= passes


async def test_with_the_watch_off_a_resolution_is_left_to_the_owner(w: World, tmp_path: Path) -> None:
    """COPY_TRADING_AUTO_REDEEM=false: the loop still runs (recovery) but redeems nothing; on, it does."""
    market = markets(w.chain)["pusd"]
    store = await store_at(tmp_path / "s.db")
    give_positions(w.chain, market, w.proxy(0), 3 * USD, 0)
    await _bought(store, w, 0, market.yes)
    resolve(w.chain, market, yes_wins=True)
    before = erc20_balance(w.chain, market.paid_token, w.proxy(0))
    eng = engine(w)
    await eng.start()
    try:
        for watch, passes in ((False, 3), (True, 1)):
            redeemer = Redeemer(eng, store, poll_s=0.05, start_block=0)
            stopping = asyncio.Event()
            task = asyncio.create_task(redeemer.run(stopping, watch=watch))
            await until(functools.partial(_passed, redeemer, passes))
            stopping.set()
            await task
            if not watch:
                assert await Redemptions(store).find() == []
                assert erc20_balance(w.chain, market.paid_token, w.proxy(0)) == before
    finally:
        await stop(eng)
    assert erc20_balance(w.chain, market.paid_token, w.proxy(0)) - before == 3 * USD
    await store.close()
