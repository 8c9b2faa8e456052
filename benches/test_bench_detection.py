"""Detection lead per source on anvil with 2-second blocks and the local CLOB: how long before a leader
fill's `OrderFilled` log the mempool and the activity feed saw it, and how long from the first sighting of
the fill to our copy order reaching the CLOB. Writes `benches/results/detection.json`.

Local only: the operator, the feed and the node share one machine and there is no network between them, so
these leads are upper bounds of what the same code sees on Polygon (public nodes drop pending transactions,
Polymarket's feed pushes about a second after the match). The figures are labelled so in the results.

The leader places FOK orders on the local CLOB one after another; the CLOB's operator settles each by
`matchOrders` (pending until the next 2 s block) and announces it in its feed when it broadcasts. The
supervisor runs logs, mempool and feed under `SUPERVISOR_ACT_ON=log`: only the log makes the copies (two
followers, $5 each, CLOB orders from the fleet's deposit wallets). The time a copy order reaches the CLOB is
taken where the CLOB admits it (`engine.place`, called through unchanged).

The world is deployed on an automining anvil and its state loaded into one started with `--block-time 2`.
"""

from __future__ import annotations

import asyncio
import json
import math
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from decimal import Decimal
from functools import partial
from pathlib import Path
from typing import Any

import pytest
from web3 import Web3

from polyhunter._core import Signer
from polyhunter.chain.anvil import Anvil
from polyhunter.chain.clobtrader import ClobTrader
from polyhunter.chain.deploy import deploy_local
from polyhunter.chain.deployment import Deployment
from polyhunter.chain.local import LocalChain
from polyhunter.localpoly.config import ClobSettings, MarketMakerSettings
from polyhunter.localpoly.server import LocalClob
from polyhunter.models import CopyConfig, TradeStatus
from polyhunter.settings import load_settings
from polyhunter.store import open_store
from polyhunter.supervisor.app import Supervisor

RESULTS = Path(__file__).resolve().parent / "results"
BLOCK_TIME_S = 2
TRADES = 12
FOLLOWERS = 2
USD = 1_000_000
LEADER_USD = 10 * USD
YES_MID = Decimal("0.49")  # the market maker's best ask is one tick above: the leader buys at 0.50
LABEL = (
    "local-only: anvil --block-time 2, the local CLOB's operator and feed on the same machine; not a Polygon "
    "measurement"
)

FillKey = tuple[bytes, str, int, str]


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in (0, 1]); every value reported is one that was measured."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


def summary(values: list[float]) -> dict[str, Any]:
    if not values:
        return {"samples": 0}
    return {
        "samples": len(values),
        "p50_ms": round(percentile(values, 0.5), 1),
        "p99_ms": round(percentile(values, 0.99), 1),
        "max_ms": round(max(values), 1),
    }


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Deployment, LocalChain]]:
    state = tmp_path_factory.mktemp("detection") / "state.json"
    with Anvil(extra_args=["--dump-state", str(state)]) as node:
        deployed = deploy_local(
            Web3(Web3.HTTPProvider(node.rpc_url)), rpc_url=node.rpc_url, ws_url=node.ws_url
        )
    with Anvil(block_time=BLOCK_TIME_S, extra_args=["--load-state", str(state)]) as node:
        deployment = replace(deployed, rpc_url=node.rpc_url, ws_url=node.ws_url)
        yield deployment, LocalChain(Web3(Web3.HTTPProvider(node.rpc_url)), deployment)


class Events:
    """The supervisor's events: when each leader fill's log was seen, and the copies done."""

    def __init__(self) -> None:
        self.log_seen_ns: dict[FillKey, int] = {}
        self.done = 0
        self.failed: list[str] = []

    def __call__(self, kind: str, data: dict[str, Any]) -> None:
        if kind == "signal":
            s = data["signal"]
            if s.price_den:
                self.log_seen_ns.setdefault((bytes(s.tx_hash), s.leader, s.token_id, s.side), s.seen_at_ns)
        elif kind == "done":
            self.done += 1
            if data["result"].status is not TradeStatus.EXECUTED:
                self.failed.append(str(data["result"].reason))


def copies_done(events: Events, wanted: int) -> bool:
    return events.done >= wanted


async def until(condition: Callable[[], bool], what: str, timeout_s: float = 120) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what} did not happen within {timeout_s:.0f}s")
        await asyncio.sleep(0.01)


async def measure(deployment: Deployment, chain: LocalChain, home: Path) -> dict[str, Any]:
    market = next(m for m in deployment.markets if not m.neg_risk)
    leader_key = deployment.accounts.leaders[0]
    leader = deployment.accounts.deposit_wallet(leader_key).lower()
    followers = deployment.accounts.followers[:FOLLOWERS]
    fleet_wallets = {deployment.accounts.deposit_wallet(w).lower() for w in deployment.accounts.fleet}
    mids = {market.yes_token_id: YES_MID, market.no_token_id: 1 - YES_MID}
    clob = LocalClob(
        deployment,
        ClobSettings(market_maker=MarketMakerSettings(size=Decimal(100_000), mids=mids)),
        rtds_port=0,
    )
    await clob.start()
    # When each copy order reaches the CLOB: the engine's own `place`, called through unchanged.
    posted_ns: list[int] = []
    place = clob.engine.place

    async def timed_place(req: Any, *args: Any, **kwargs: Any) -> dict[str, Any]:
        if req.order.maker.lower() in fleet_wallets:
            posted_ns.append(time.time_ns())
        return await place(req, *args, **kwargs)

    clob.engine.place = timed_place  # type: ignore[method-assign]
    try:
        deployment = replace(deployment, clob_url=clob.url, rtds_url=clob.rtds_url)
        deployment.save(home / "deployment.json")
        settings = load_settings(
            polyhunter_home=home,
            chain_id=deployment.chain_id,
            database_url=None,
            redis_url=None,
            supervisor_redis_url=None,
            trading_mnemonic=None,
            trading_private_key=None,
            dry_run=False,
            copy_trading_rpc_url=None,
            copy_trading_rpc_urls=[],
            copy_trading_ws_url=None,
            copy_trading_execution_allowlist=[],
            copy_trading_max_trade_usd=None,
            copy_trading_daily_cap_usd=None,
            copy_trading_wallet_daily_cap_usd=None,
            copy_trading_venue="clob",
            clob_host=clob.url,
            copy_trading_coalesce_ms=0,
            supervisor_sources=["logs", "mempool", "feed"],
            supervisor_feed_url=None,
            supervisor_act_on="log",
            supervisor_metrics_addr="off",
        )
        store = await open_store(settings)
        try:
            for follower in followers:
                proxy = chain.proxy_of(follower)
                await store.add_config(
                    CopyConfig(follower=follower, proxy=proxy, leader=leader, mode="fixed", fixed_usd=5 * USD)
                )
        finally:
            await store.close()
        events = Events()
        supervisor = Supervisor(settings, deployment, on_event=events)
        exchanges = {t: deployment.exchange_for(m) for m in deployment.markets for t in m.token_ids}
        signer = Signer(bytes(chain.signer(leader_key).key))
        fills: list[FillKey] = []
        copies_after: list[list[int]] = []
        await supervisor.start()
        try:
            await supervisor.wait_connected()
            assert supervisor.mempool is not None
            feed = supervisor.feed
            assert feed is not None
            await until(
                lambda: supervisor.mempool is not None and supervisor.mempool.connected.is_set(), "mempool"
            )
            await until(lambda: feed.connected.is_set() and feed.stats.pongs > 0, "the feed's subscription")
            async with ClobTrader(
                clob.url, deployment.chain_id, signer, wallet=leader, exchanges=exchanges
            ) as t:
                for n in range(TRADES):
                    before_done, before_posted = events.done, len(posted_ns)
                    reply = await t.market_buy(market.yes_token_id, LEADER_USD, Decimal("0.50"))
                    settled = await t.wait_trades(list(reply.get("tradeIDs") or []), timeout_s=60)
                    wanted = before_done + FOLLOWERS
                    await until(partial(copies_done, events, wanted), f"the copies of trade {n}")
                    for trade in settled:
                        tx = bytes.fromhex(str(trade["transaction_hash"]).removeprefix("0x"))
                        fills.append((tx, leader, market.yes_token_id, "BUY"))
                        copies_after.append(posted_ns[before_posted:])
        finally:
            await supervisor.stop()
    finally:
        await clob.stop()

    assert not events.failed, events.failed
    leads: dict[str, list[float]] = {"mempool": [], "feed": []}
    first_by = {"mempool": 0, "feed": 0, "log": 0}
    to_post: list[float] = []
    log_to_post: list[float] = []
    for key, posts in zip(fills, copies_after, strict=True):
        log_ns = events.log_seen_ns[key]
        found = {
            name: table.lead_ms(*key)
            for name, table in (("mempool", supervisor.sightings), ("feed", supervisor.feed_sightings))
        }
        seen = {name: lead for name, lead in found.items() if lead is not None}
        for name, lead in seen.items():
            leads[name].append(float(lead))
        first = max(seen, key=lambda name: seen[name]) if seen else "log"
        first_by[first] += 1
        first_ns = log_ns - max(seen.values(), default=0) * 1_000_000
        for post in posts:
            to_post.append((post - first_ns) / 1e6)
            log_to_post.append((post - log_ns) / 1e6)
    return {
        "label": LABEL,
        "block_time_s": BLOCK_TIME_S,
        "act_on": "log",
        "fills": len(fills),
        "copies_per_fill": FOLLOWERS,
        "sources": {
            name: {
                "seen_before_log": len(values),
                "lead_ms_p50": summary(values).get("p50_ms"),
                **summary(values),
            }
            for name, values in leads.items()
        },
        "first_seen_by": first_by,
        "first_sighting_to_order_posted_ms": summary(to_post),
        "log_to_order_posted_ms": summary(log_to_post),
    }


def test_detection_lead_per_source(
    benchmark: Any, world: tuple[Deployment, LocalChain], tmp_path: Path
) -> None:
    deployment, chain = world
    out: dict[str, Any] = {}

    def run() -> None:
        out.update(asyncio.run(measure(deployment, chain, tmp_path)))

    benchmark.pedantic(run, rounds=1, iterations=1)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "detection.json").write_text(json.dumps(out, indent=2, sort_keys=True) + "\n")
    assert out["fills"] == TRADES
    # Every fill waits for its block in the pool and is announced by the feed at broadcast: both early
    # sources must have seen fills before their logs, and every copy order must have been measured.
    assert out["sources"]["mempool"]["seen_before_log"] > 0, out
    assert out["sources"]["feed"]["seen_before_log"] > 0, out
    assert out["first_sighting_to_order_posted_ms"]["samples"] == TRADES * FOLLOWERS, out
