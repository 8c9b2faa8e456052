"""`make demo` → `polyhunter demo`: real copy trading on a local chain, verified to the base unit.

From nothing: start anvil, deploy the local world (real CTF, Executor, Proxies, pUSD, the V2 exchanges,
deposit wallets, LocalExchange), start the local Polymarket CLOB with its market maker, give four followers
different rules for one leader's deposit wallet (fixed $25, ratio 0.5x, 2 % of balance, and one whose filter
excludes every trade of the scenario), start the supervisor on embedded defaults (SQLite + in-process shared
state), and let the leader trade: each trade is a signed CLOB V2 order (FOK, POLY_1271 from the leader's
deposit wallet) posted over HTTP, matched against the market maker's ladder and settled on chain by the
operator's `matchOrders`, so the `OrderFilled` rows the supervisor copies come from real signed orders. The
copies are CLOB orders too: the Executor pulls pUSD (or shares) from each Proxy to a fleet wallet's deposit
wallet, which posts a FOK order signed in Rust, and pushes what it bought (or the proceeds, and anything left)
back into the Proxy once the trade settles. The scenario runs on 1 s blocks with three sources: the chain's
logs, the mempool and the local CLOB's activity feed. For each leader trade the demo says which saw the fill
first and by how much ("seen pending 830 ms before its log; also in the feed 610 ms before", or "seen first
in its log"); the log alone makes the copies. Everything detected, fanned out,
skipped and executed is shown live. Then the story ends as markets do: market 0 resolves (YES wins, its
oracle reports), and the supervisor's redeemer redeems every winning Proxy's YES into pUSD through the
Executor, with no one asking. At the end every follower's Proxy balances are compared with the values written
below, worked out by hand from the rules (see each comment), not computed by the sizing code, the fleet's
deposit wallets must hold nothing of the followers', and `polyhunter report`'s figures for each follower and
for the leader (volume, realised PnL from fills and from the redemption, unrealised PnL at the CLOB's
midpoint) must equal the figures written below by hand.
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
import secrets
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from functools import partial
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table
from web3 import Web3

from polyhunter import eventloop
from polyhunter._core import Signer
from polyhunter.chain.anvil import Anvil
from polyhunter.chain.clobtrader import ClobTrader
from polyhunter.chain.deploy import deploy_local
from polyhunter.chain.deployment import Deployment
from polyhunter.chain.local import LocalChain
from polyhunter.chain.tx import send
from polyhunter.errors import ExecutionError
from polyhunter.localpoly.config import ClobSettings, MarketMakerSettings
from polyhunter.localpoly.server import LocalClob
from polyhunter.logformat import configure_logging
from polyhunter.models import CopyConfig, Side, TradeStatus, now_ms
from polyhunter.report.sources import BookMidpoints, ChainBalances, StoreRedemptions
from polyhunter.report.summary import Figures, Report, build_report
from polyhunter.settings import load_settings
from polyhunter.store import open_store
from polyhunter.supervisor.app import Supervisor
from polyhunter.units import format_usd
from polyhunter.venue.client import ClobClient

USD = 1_000_000
SHARE = 1_000_000


@dataclass(frozen=True)
class LeaderTrade:
    side: Side
    market: int
    tokens: int
    collateral: int
    #: The market maker's mid for the market's YES token when the trade is made (its ladder is one tick
    #: either side of it: best ask mid + 0.01, best bid mid - 0.01), and so the price the leader gets.
    yes_mid: Decimal


# The leader's trades, each a FOK order against the market maker's best level: BUY 200 YES of market 0 at
# $0.50 (best ask of a 0.49 mid), BUY 100 YES of market 1 at $0.40 (a 0.39 mid), then market 0's YES moves to
# a 0.61 mid and the leader SELLs 100 YES at $0.60 (best bid).
SCENARIO = [
    LeaderTrade("BUY", 0, 200 * SHARE, 100 * USD, Decimal("0.49")),
    LeaderTrade("BUY", 1, 100 * SHARE, 40 * USD, Decimal("0.39")),
    LeaderTrade("SELL", 0, 100 * SHARE, 60 * USD, Decimal("0.61")),
]
# Shares per ladder level: every leader trade above fits in the best level, so it fills at one price.
LADDER_SIZE = Decimal(1000)

# Follower rules, in the order of the deployment's followers. Each Proxy starts with $5,000.00.
RULES: list[dict[str, Any]] = [
    {"name": "fixed $25", "mode": "fixed", "fixed_usd": 25 * USD},
    {"name": "ratio 0.5x", "mode": "ratio", "ratio_ppm": 500_000},
    {"name": "2% of balance", "mode": "percent", "percent_bps": 200},
    {
        "name": "filter: leader >= $1,000",
        "mode": "fixed",
        "fixed_usd": 25 * USD,
        "min_leader_usd": 1_000 * USD,
    },
]

# Expected Proxy balances after the scenario: (collateral, YES of market 0, YES of market 1), base units.
# Every copy is its own FOK order on the CLOB at the market maker's best level (the leader's price), under
# the default amount rule: a SELL's shares in whole hundredths (2 decimals), so the proceeds are
# shares x price exactly; the shares the rule leaves unsold go back to the Proxy. Then market 0 resolves YES
# and each Proxy's YES of market 0 is redeemed at $1 a share.
EXPECTED: list[tuple[int, int, int]] = [
    # fixed $25: BUY $25 @0.50 = 50 sh; BUY $25 @0.40 = 62.5 sh; SELL $25 worth @0.60 = 41.666666 sh, of
    # which 41.66 sh sell for 41.66 x 0.60 = $24.996: 5000 - 25 - 25 + 24.996 = 4974.996; 50 - 41.66 = 8.34
    # YES redeemed for $8.34: 4983.336.
    (4_983_336_000, 0, 62_500_000),
    # ratio 0.5x: BUY $50 = 100 sh; BUY $20 = 50 sh; SELL 50 sh @0.60 = $30: 5000 - 50 - 20 + 30 = 4960;
    # 50 YES redeemed: 5010.
    (5_010_000_000, 0, 50_000_000),
    # 2 % of balance: BUY 2 % of $5000 = $100 = 200 sh; BUY 2 % of $4900 = $98 = 245 sh; SELL 2 % of $4802
    # = $96.04 worth @0.60 = 160.066666 sh, of which 160.06 sh sell for $96.036:
    # 5000 - 100 - 98 + 96.036 = 4898.036; 200 - 160.06 = 39.94 YES redeemed: 4937.976.
    (4_937_976_000, 0, 245_000_000),
    # filtered out: every leader trade is below $1,000, so nothing moves.
    (5_000_000_000, 0, 0),
]
RESOLVED_MARKET = 0  # resolves YES once the copies are done
REDEEMED_PROXIES = 3  # the three Proxies holding YES of market 0


@dataclass(frozen=True)
class ReportFigures:
    """What `polyhunter report` must say of one follower (or the leader), base units."""

    copies: dict[str, int]
    volume: int
    realised_fills: int
    realised_redemptions: int
    unrealised: int


# The report over the whole scenario, by hand (prices exact; PnL by average cost; unrealised at the CLOB's
# midpoint of market 1's YES, 0.39: the maker's ladder 0.38 / 0.40 around the mid of trade 2).
EXPECTED_REPORT: list[ReportFigures | None] = [
    # fixed $25: volume 25 + 25 + 24.996 = 74.996. Fills: 41.66 sh sold at 0.60 bought at 0.50: +4.166.
    # Redemption: 8.34 sh at $1 that cost 0.50: +4.17. Market 1: 62.5 sh worth 0.39 that cost $25: -0.625.
    ReportFigures({"EXECUTED": 3}, 74_996_000, 4_166_000, 4_170_000, -625_000),
    # ratio 0.5x: volume 50 + 20 + 30 = 100. Fills: 50 x 0.10 = +5. Redemption: 50 x 0.50 = +25.
    # Market 1: 50 x 0.39 - 20 = -0.5.
    ReportFigures({"EXECUTED": 3}, 100_000_000, 5_000_000, 25_000_000, -500_000),
    # 2 % of balance: volume 100 + 98 + 96.036 = 294.036. Fills: 160.06 x 0.10 = +16.006. Redemption:
    # 39.94 x 0.50 = +19.97. Market 1: 245 x 0.39 - 98 = -2.45.
    ReportFigures({"EXECUTED": 3}, 294_036_000, 16_006_000, 19_970_000, -2_450_000),
    # filtered out: no copy, so not in the report.
    None,
]
# The leader's line sums its followers': 9 copies, volume 469.032, fills +25.172, redemptions +49.14,
# unrealised -3.575.
EXPECTED_LEADER_REPORT = ReportFigures({"EXECUTED": 9}, 469_032_000, 25_172_000, 49_140_000, -3_575_000)
EXPECTED_COPIES = 9  # 3 trades x 3 matching followers
BLOCK_TIME_S = 1
# The leader's deposit wallet (pUSD, YES m0, YES m1), funded with $100,000 by the onramp: it paid $100 and $40
# and received $60 (no taker fee on these markets): 100,000 - 100 - 40 + 60 = 99,920; it holds 200 - 100 YES
# of market 0 and 100 YES of market 1.
EXPECTED_LEADER: tuple[int, int, int] = (99_920 * USD, 100 * SHARE, 100 * SHARE)


class Feed:
    """Collects the supervisor's events for the live table."""

    def __init__(self, console: Console, names: dict[str, str]) -> None:
        self.console = console
        self.names = names
        self.done = 0
        self.skipped = 0

    def __call__(self, kind: str, data: dict[str, Any]) -> None:
        if kind == "signal":
            s = data["signal"]
            price = f"{s.price_num / s.price_den:.4f}" if s.price_den else "?"
            self.console.print(
                f"[cyan]detected[/] {s.side} {format_usd(s.size)} sh of token …{str(s.token_id)[-6:]} "
                f"@ {price} by leader {s.leader[:10]}… (block {s.block_number}, tx {s.tx_hash.hex()[:10]}…)"
            )
        elif kind == "queued":
            job = data["job"]
            self.console.print(
                f"  [blue]fan-out[/] {self.names.get(job.proxy, job.proxy)}: {job.side} "
                f"{format_usd(job.amount)} {'USD' if job.side == 'BUY' else 'sh'} (config {job.config_id})"
            )
        elif kind == "skip":
            self.skipped += 1
            self.console.print(f"  [yellow]skipped[/] config {data['config_id']}: {data['reason']}")
        elif kind == "done":
            job, result = data["job"], data["result"]
            self.done += 1
            latency = data.get("latency_ms")
            colour = "green" if result.status is TradeStatus.EXECUTED else "red"
            self.console.print(
                f"  [{colour}]{result.status}[/] {self.names.get(job.proxy, job.proxy)}: {job.side} "
                f"{format_usd(result.fill_size or 0)} sh @ {(result.fill_price_ppm or 0) / 1e6:.4f}"
                + (f" in {latency:.0f} ms from the leader's log" if latency is not None else "")
                + (f" ({result.reason})" if result.reason else "")
            )


def _reached(feed: Feed, count: int) -> bool:
    return feed.done >= count


async def _wait(predicate: Callable[[], bool], timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError(f"demo: {what} did not happen within {timeout_s:.0f}s")
        await asyncio.sleep(0.05)


async def run_demo(home: Path, console: Console | None = None) -> bool:
    """Runs the scenario; True when every balance matches."""
    console = console or Console()
    os.environ["POLYHUNTER_HOME"] = str(home)
    with Anvil() as node:
        console.rule("[bold]polyhunter demo: a local chain, real contracts, real copies")
        w3 = Web3(Web3.HTTPProvider(node.rpc_url))
        deployment: Deployment = await asyncio.to_thread(
            deploy_local, w3, rpc_url=node.rpc_url, ws_url=node.ws_url
        )
        deployment.save(home / "deployment.json")
        chain = LocalChain(w3, deployment)
        leader_key = deployment.accounts.leaders[0]
        # A follower follows the leader's deposit wallet: the maker of its orders and of its OrderFilled rows.
        leader = deployment.accounts.deposit_wallet(leader_key)
        followers = deployment.accounts.followers[: len(RULES)]
        proxies = [chain.proxy_of(f) for f in followers]
        names = {p: RULES[i]["name"] for i, p in enumerate(proxies)}
        clob = LocalClob(deployment, _clob_settings(deployment), rtds_port=0)
        await clob.start()
        try:
            deployment = dataclasses.replace(deployment, clob_url=clob.url, rtds_url=clob.rtds_url)
            deployment.save(home / "deployment.json")
            console.print(
                f"anvil {node.rpc_url}, chain {deployment.chain_id}; "
                f"Executor {deployment.contracts.executor}; "
                f"V2 exchange {deployment.contracts.ctf_exchange_v2}; local CLOB {clob.url}; "
                f"fleet of {len(deployment.accounts.fleet)}"
            )
            console.print(f"leader {leader_key} trades through its deposit wallet {leader}")
            # Deployed on automine (fast); the scenario runs on blocks a second apart, as a chain makes them,
            # so that a match waits in the mempool for its block and the pending source has a lead to show.
            w3.provider.make_request("evm_setIntervalMining", [BLOCK_TIME_S])  # type: ignore[arg-type]
            console.print(
                f"anvil now mines a block every {BLOCK_TIME_S} s; sources: the chain's logs, the mempool and "
                f"the activity feed ({clob.rtds_url})"
            )
            supervisor = await _run_scenario(console, home, deployment, chain, clob, leader_key, names)
            # While the CLOB still quotes: its books give the report its midpoints.
            report = await _report(supervisor, deployment, clob)
        finally:
            await clob.stop()

        tokens = [m.yes_token_id for m in deployment.markets]
        table = Table(title="Proxy balances after the scenario (expected values written in the scenario)")
        for column in ("follower rule", "collateral", "YES m0", "YES m1", "expected", "match"):
            table.add_column(column)
        all_ok = True
        for proxy, rule, expected in zip(proxies, RULES, EXPECTED, strict=True):
            actual = (
                chain.collateral_of(proxy),
                chain.tokens_of(proxy, tokens[0]),
                chain.tokens_of(proxy, tokens[1]),
            )
            ok = actual == expected
            all_ok &= ok
            table.add_row(
                rule["name"],
                format_usd(actual[0]),
                format_usd(actual[1]),
                format_usd(actual[2]),
                " / ".join(format_usd(v) for v in expected),
                "[green]yes[/]" if ok else "[red]NO[/]",
            )
        console.print(table)
        leader_wallet = deployment.accounts.deposit_wallet(deployment.accounts.leaders[0])
        leader_actual = (
            chain.collateral_of(leader_wallet),
            chain.tokens_of(leader_wallet, tokens[0]),
            chain.tokens_of(leader_wallet, tokens[1]),
        )
        leader_ok = leader_actual == EXPECTED_LEADER
        all_ok &= leader_ok
        console.print(
            f"leader's deposit wallet after its CLOB trades: "
            f"{' / '.join(format_usd(v) for v in leader_actual)} "
            f"(expected {' / '.join(format_usd(v) for v in EXPECTED_LEADER)}) "
            + ("[green]yes[/]" if leader_ok else "[red]NO[/]")
        )
        # The fleet's deposit wallets start empty and must end empty: nothing of a follower's stays there.
        fleet_wallets = [deployment.accounts.deposit_wallet(w) for w in deployment.accounts.fleet]
        left = {
            w: (chain.collateral_of(w), chain.tokens_of(w, tokens[0]), chain.tokens_of(w, tokens[1]))
            for w in fleet_wallets
        }
        wallets_ok = all(v == (0, 0, 0) for v in left.values())
        all_ok &= wallets_ok
        console.print(
            "fleet deposit wallets hold nothing of the followers' "
            + ("[green]yes[/]" if wallets_ok else f"[red]NO[/] {left}")
        )
        stats = supervisor.pipeline.stats
        copies_ok = stats.executed == EXPECTED_COPIES
        all_ok &= copies_ok
        console.print(
            f"copies executed {stats.executed} (expected {EXPECTED_COPIES}), skipped {dict(stats.skipped)}, "
            f"duplicates dropped {stats.duplicates}"
        )
        for name, leads in (
            ("pending", supervisor.sightings.stats),
            ("in the feed", supervisor.feed_sightings.stats),
        ):
            console.print(
                f"leader fills seen {name} before their log: {leads.confirmed} of "
                f"{leads.confirmed + leads.logged_only}, lead up to {leads.max_lead_ms} ms (local chain, "
                f"{BLOCK_TIME_S} s blocks)"
            )
        redeemer = supervisor.redeemer
        redeemed = redeemer.stats.redeemed if redeemer is not None else 0
        redeemed_ok = redeemed == REDEEMED_PROXIES
        all_ok &= redeemed_ok
        console.print(
            f"Proxies redeemed by the supervisor after market {RESOLVED_MARKET} resolved: {redeemed} "
            f"(expected {REDEEMED_PROXIES}) " + ("[green]yes[/]" if redeemed_ok else "[red]NO[/]")
        )
        all_ok &= _show_report(console, report, followers, leader)
        console.print("[bold green]demo passed[/]" if all_ok else "[bold red]demo FAILED[/]")
        return all_ok


def _figures(f: Figures) -> ReportFigures:
    assert f.unrealised is not None  # the demo always asks the CLOB for midpoints
    return ReportFigures(dict(f.copies), f.volume, f.realised_fills, f.realised_redemptions, f.unrealised)


def _show_report(console: Console, report: Report, followers: list[str], leader: str) -> bool:
    """Prints `polyhunter report`'s text for the scenario and checks its figures against the ones by hand."""
    console.rule("polyhunter report (the whole scenario)")
    console.print(report.to_text(), markup=False, highlight=False, soft_wrap=True)
    by_follower = {f.address.lower(): f for f in report.followers}
    rows: list[tuple[str, ReportFigures | None, ReportFigures | None]] = [
        (
            RULES[i]["name"],
            _figures(by_follower[f.lower()]) if f.lower() in by_follower else None,
            EXPECTED_REPORT[i],
        )
        for i, f in enumerate(followers)
    ]
    by_leader = {f.address.lower(): f for f in report.leaders}
    actual_leader = _figures(by_leader[leader.lower()]) if leader.lower() in by_leader else None
    rows.append(("the leader", actual_leader, EXPECTED_LEADER_REPORT))
    table = Table(title="report figures (expected values written in the scenario)")
    for column in ("who", "copies", "volume", "realised fills", "redemptions", "unrealised", "match"):
        table.add_column(column)
    all_ok = len(report.followers) == sum(e is not None for e in EXPECTED_REPORT) and len(report.leaders) == 1
    for name, actual, expected in rows:
        ok = actual == expected
        all_ok &= ok
        shown = actual or expected
        if shown is None:
            table.add_row(name, "none", "-", "-", "-", "-", "[green]yes[/]" if ok else "[red]NO[/]")
            continue
        table.add_row(
            name,
            ", ".join(f"{k} {v}" for k, v in sorted(shown.copies.items())),
            *(
                format_usd(v)
                for v in (shown.volume, shown.realised_fills, shown.realised_redemptions, shown.unrealised)
            ),
            "[green]yes[/]" if ok else f"[red]NO[/] expected {expected}",
        )
    console.print(table)
    console.print("report matches the scenario " + ("[green]yes[/]" if all_ok else "[red]NO[/]"))
    return all_ok


async def _report(supervisor: Supervisor, deployment: Deployment, clob: LocalClob) -> Report:
    """`polyhunter report` over the scenario: the demo's store, CTF balances on chain, the CLOB's midpoints
    and the redeemer's records."""
    store = await open_store(supervisor.settings)
    # Public reads (`GET /book`) need no key: any signer will do, none is used.
    client = ClobClient(clob.url, deployment.chain_id, Signer(secrets.token_bytes(32)))
    try:
        w3 = Web3(Web3.HTTPProvider(deployment.rpc_url))
        return await build_report(
            store,
            0,
            now_ms() + 1,
            midpoints=BookMidpoints(client),
            balances=ChainBalances(w3, deployment.contracts.ctf),
            redemptions=StoreRedemptions(store),
        )
    finally:
        await client.close()
        await store.close()


def _clob_settings(deployment: Deployment) -> ClobSettings:
    """The CLOB's market maker quotes a ladder around each YES token's mid from the scenario (its NO token
    around 1 - mid), `LADDER_SIZE` shares a level."""
    mids: dict[int, Decimal] = {}
    for trade in SCENARIO:
        market = deployment.markets[trade.market]
        if market.yes_token_id not in mids:
            mids[market.yes_token_id] = trade.yes_mid
            mids[market.no_token_id] = 1 - trade.yes_mid
    return ClobSettings(market_maker=MarketMakerSettings(size=LADDER_SIZE, mids=mids))


async def _run_scenario(
    console: Console,
    home: Path,
    deployment: Deployment,
    chain: LocalChain,
    clob: LocalClob,
    leader_key: str,
    names: dict[str, str],
) -> Supervisor:
    """Configures the followers, runs the supervisor and makes the leader's trades on the CLOB."""
    leader = deployment.accounts.deposit_wallet(leader_key)
    followers = deployment.accounts.followers[: len(RULES)]
    proxies = [chain.proxy_of(f) for f in followers]
    # Embedded defaults whatever the environment or .env say: the demo never touches an operator's
    # store, Redis, keys or trading switch.
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
        # Copies are CLOB V2 orders from the fleet's deposit wallets, one order per copy (no coalescing) so
        # that each follower's amounts follow the amount rule on their own and are worked out by hand above.
        copy_trading_venue="clob",
        clob_host=clob.url,
        copy_trading_coalesce_ms=0,
        # Every detection source: pending fills and feed frames only measure the lead, the log makes each
        # copy once. The feed is the local CLOB's (the deployment's rtds_url).
        supervisor_sources=["logs", "mempool", "feed"],
        supervisor_feed_url=None,
        # The demo is not a service to scrape; a supervisor already serving 9464 must not stop it.
        supervisor_metrics_addr="off",
        # Redeem as soon as the market resolves (the redeemer's default look is every 15 s).
        copy_trading_auto_redeem=True,
        copy_trading_redeem_poll_ms=500,
    )
    store = await open_store(settings)
    try:
        for follower, proxy, rule in zip(followers, proxies, RULES, strict=True):
            fields = {k: v for k, v in rule.items() if k != "name"}
            config = await store.add_config(
                CopyConfig(follower=follower, proxy=proxy, leader=leader, **fields)
            )
            who = f"follower {follower[:10]}… proxy {proxy[:10]}…"
            console.print(f"{who}: {rule['name']} (config {config.config_id})")
    finally:
        await store.close()

    feed = Feed(console, names)
    supervisor = Supervisor(settings, deployment, on_event=feed)
    exchanges = {t: deployment.exchange_for(m) for m in deployment.markets for t in m.token_ids}
    signer = Signer(bytes(chain.signer(leader_key).key))
    await supervisor.start()
    try:
        await supervisor.wait_connected()
        source = supervisor.feed
        if source is not None:
            # The feed does not replay: trade only once its subscription is in force (a ping answered).
            await _wait(lambda: source.connected.is_set() and source.stats.pongs > 0, 60, "the activity feed")
        async with ClobTrader(
            clob.url, deployment.chain_id, signer, wallet=leader, exchanges=exchanges
        ) as trader:
            for number, trade in enumerate(SCENARIO, 1):
                market = deployment.markets[trade.market]
                before = feed.done
                # Both outcomes move together: one at a time, the maker's own quotes would cross.
                await clob.set_mids(
                    {market.yes_token_id: trade.yes_mid, market.no_token_id: 1 - trade.yes_mid}
                )
                console.rule(
                    f"leader trade {number}: {trade.side} {format_usd(trade.tokens)} YES of market "
                    f"{trade.market} for ${format_usd(trade.collateral)} (a FOK order on the local CLOB)"
                )
                price = Decimal(trade.collateral) / Decimal(trade.tokens)
                if trade.side == "BUY":
                    reply = await trader.market_buy(market.yes_token_id, trade.collateral, price)
                else:
                    reply = await trader.market_sell(market.yes_token_id, trade.tokens, price)
                settled = await trader.wait_trades(list(reply.get("tradeIDs") or []))
                hashes = ", ".join(str(t.get("transaction_hash", "?"))[:12] + "…" for t in settled)
                console.print(
                    f"order {str(reply['orderID'])[:12]}… {reply['status']}; settled in tx {hashes}"
                )
                await _wait(partial(_reached, feed, before + 3), 60, f"the copies of trade {number}")
                for fill in settled:
                    tx_hash = bytes.fromhex(str(fill["transaction_hash"]).removeprefix("0x"))
                    console.print(_first_seen(supervisor, tx_hash, leader, market.yes_token_id, trade.side))
                # Percent sizing reads balances: refresh them now rather than wait for the 2 s cycle.
                await supervisor.balances.refresh(supervisor.percent_proxies())
        await _resolve(console, deployment, chain, supervisor)
    finally:
        await supervisor.stop()
    return supervisor


async def _resolve(
    console: Console, deployment: Deployment, chain: LocalChain, supervisor: Supervisor
) -> None:
    """Market `RESOLVED_MARKET` resolves YES (its oracle reports); the supervisor's redeemer, watching the
    CTF's resolutions, redeems every Proxy holding its YES without being asked."""
    market = deployment.markets[RESOLVED_MARKET]
    console.rule(f"market {RESOLVED_MARKET} resolves: YES wins (its oracle reports the payouts)")
    oracle = chain.signer(market.oracle)
    report = chain.ctf.functions.reportPayouts(market.question_id, [1, 0])
    receipt = await asyncio.to_thread(send, chain.w3, oracle, report, context="reportPayouts")
    console.print(f"resolved in tx 0x{bytes(receipt['transactionHash']).hex()[:10]}…")
    redeemer = supervisor.redeemer
    if redeemer is None:
        raise ExecutionError("demo: the supervisor runs no redeemer (its engine sends no transactions)")
    await _wait(lambda: redeemer.stats.redeemed >= REDEEMED_PROXIES, 120, "the redemptions")
    names = {p.lower(): RULES[i]["name"] for i, p in enumerate(_proxies(deployment, chain))}
    for row in await redeemer.redemptions.find(status="DONE"):
        tx = (row.tx_hash or b"").hex()[:10]
        console.print(
            f"  [green]redeemed[/] {names.get(row.proxy, row.proxy)}: {format_usd(row.amount)} sh of market "
            f"{RESOLVED_MARKET} for {format_usd(row.payout or 0)} pUSD (tx 0x{tx}…)"
        )


def _proxies(deployment: Deployment, chain: LocalChain) -> list[str]:
    return [chain.proxy_of(f) for f in deployment.accounts.followers[: len(RULES)]]


def _first_seen(supervisor: Supervisor, tx_hash: bytes, leader: str, token_id: int, side: Side) -> str:
    """Which source saw the leader's fill first, and by how much (its log was seen: it made the copies)."""
    where = f"the leader's fill in tx 0x{tx_hash.hex()[:10]}…"
    leads = [
        (lead, name)
        for name, table in (("pending", supervisor.sightings), ("in the feed", supervisor.feed_sightings))
        if (lead := table.lead_ms(tx_hash, leader, token_id, side)) is not None
    ]
    if not leads:
        return f"[magenta]first sighting[/] {where}: seen first in its log"
    # The larger lead over the same log is the earlier sighting.
    (lead, name), *others = sorted(leads, reverse=True)
    also = "".join(f"; also {other} {ms} ms before" for ms, other in others)
    return f"[magenta]first sighting[/] {where}: seen {name} {lead} ms before its log{also}"


def main(home: str | None = None, log_level: str = "WARNING") -> bool:
    configure_logging(log_level)
    # On POLYHUNTER_EVENT_LOOP's loop (uvloop where installed), as the supervisor runs.
    if home is not None:
        return eventloop.run(run_demo(Path(home)))
    with tempfile.TemporaryDirectory(prefix="polyhunter-demo-") as scratch:
        return eventloop.run(run_demo(Path(scratch)))
