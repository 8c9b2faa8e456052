"""A scripted scenario through the store API: the report's figures equal values worked out by hand.

Follower F copies leader L in two tokens; follower G copies L once. Every figure asserted below is a literal
computed by hand in the comments, not by the report's code:

    F #1 BUY  T1: leader 100 @ 0.40, ours 10 @ 0.41, fee 0.02   cost 4.10 + 0.02 = 4.12; slippage +250 bps
    G    BUY  T1: (same leader fill) ours 2 @ 0.40, fee 0        cost 0.80; slippage 0
    F #2 BUY  T1: leader 50 @ 0.50, ours 5 @ 0.503, fee 0.01     cost 2.515 + 0.01 = 2.525; +60 bps
                  F's T1 book: 15 tokens, cost 6.645
    F #3 SELL T1: leader 60 @ 0.60, ours 6 @ 0.597, fee 0.006    proceeds 3.582 − 0.006 = 3.576;
                  basis 6.645 × 6/15 = 2.658; realised 0.918; left 9 tokens, cost 3.987; +50 bps
    F #4 BUY  T2: leader 20 @ 0.30, ours 3 @ 0.2999, fee 0       cost 0.8997; −3.33 → −3 bps (toward +∞)
    F    SKIPPED (leader BUY T1 10 @ 0.45) and FAILED (leader BUY T2 10 @ 0.35)
    T2 resolves YES: F's Proxy redeems 3 T2 for 3.00             realised 3.00 − 0.8997 = 2.1003
    midpoint of T1 0.55: F 9 × 0.55 − 3.987 = 0.963; G 2 × 0.55 − 0.80 = 0.30

F: volume 4.10 + 2.515 + 3.582 + 0.8997 = 11.0967; fees 0.036; slippage [−3, 50, 60, 250]: p50 (rank 2) 50,
p95 (rank 4) 250; delays [500, 800, 1200, 2000]: p50 800, p95 2000.
L (F and G): slippage [−3, 0, 50, 60, 250]: p50 (rank 3) 50, p95 (rank 5) 250; delays with G's 400:
[400, 500, 800, 1200, 2000]: p50 800, p95 2000.
L's own curve behind F: T1 bought 100 @ 0.40 + 50 @ 0.50 (+ the skipped 10 @ 0.45 after the sale), sold
60 @ 0.60: 36 − 65 × 60/150 = 10.00 realised; scaled by F's BUY notional over L's, 7.5147 / 79
(40 + 25 + 6 + 4.5 + 3.5): 10 × 7.5147 / 79 = 0.951227… → 951 227 base units.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from fractions import Fraction
from pathlib import Path

import pytest
import pytest_asyncio

from polyhunter.models import CopyJob, CopyQuality, Side, TradeStatus, copy_key, now_ms
from polyhunter.report.pnl import Redemption
from polyhunter.report.sources import FixedMidpoints
from polyhunter.report.summary import build_report, nearest_rank
from polyhunter.store import SqliteStore, Store

F, G, L = "0x" + "f1" * 20, "0x" + "a7" * 20, "0x" + "1e" * 20
PF, PG = "0x" + "0f" * 20, "0x" + "0a" * 20
T1, T2 = 2**255 + 1, 2**255 + 2


class Redeemed:
    """The redeemer's records for this scenario, through the report's `Redemptions` seam."""

    def __init__(self, rows: Sequence[Redemption]) -> None:
        self.rows = list(rows)

    async def redemptions(self, proxies: Sequence[str], until_ms: int) -> list[Redemption]:
        return [r for r in self.rows if r.proxy in proxies and r.at_ms < until_ms]


@pytest_asyncio.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    async with SqliteStore(tmp_path / "report.db") as opened:
        yield opened


def job(
    n: int, follower: str, proxy: str, config: int, token: int, side: Side, size: int, price: int
) -> CopyJob:
    leader_tx = bytes([n]) * 32
    return CopyJob(
        key=copy_key(leader_tx, config),
        config_id=config,
        follower=follower,
        proxy=proxy,
        leader=L,
        token_id=token,
        side=side,
        amount=1_000_000,
        limit_price_ppm=price,
        tx_hash=leader_tx,
        log_index=0,
        leader_size=size,
        leader_price_ppm=price,
        block_number=100 + n,
    )


async def executed(
    store: Store, j: CopyJob, size: int, price: int, fee: int, gas: int, delay: int, at: int, slip: int
) -> None:
    assert await store.insert_pending([j], expires_at=now_ms() + 60_000) == {j.key}
    assert await store.mark(j.key, TradeStatus.EXECUTED, copy_size=size, copy_price_ppm=price)
    row = CopyQuality(
        j.key, j.follower, j.leader, j.token_id, j.side, j.leader_price_ppm, j.leader_size, price, size,
        slip, delay, "first_seen", "v2", gas, fee, at,
    )  # fmt: skip
    assert await store.record_quality([row]) == 1


async def scenario(store: Store, t0: int) -> None:
    await executed(store, job(1, F, PF, 1, T1, "BUY", 100_000_000, 400_000), 10_000_000, 410_000,
                   20_000, 10**15, 800, t0, 250)  # fmt: skip
    g = job(1, G, PG, 2, T1, "BUY", 100_000_000, 400_000)
    await executed(store, g, 2_000_000, 400_000, 0, 0, 400, t0 + 500, 0)
    await executed(store, job(2, F, PF, 1, T1, "BUY", 50_000_000, 500_000), 5_000_000, 503_000,
                   10_000, 10**15, 1_200, t0 + 1_000, 60)  # fmt: skip
    await executed(store, job(3, F, PF, 1, T1, "SELL", 60_000_000, 600_000), 6_000_000, 597_000,
                   6_000, 2 * 10**15, 500, t0 + 2_000, 50)  # fmt: skip
    await executed(store, job(4, F, PF, 1, T2, "BUY", 20_000_000, 300_000), 3_000_000, 299_900,
                   0, 5 * 10**14, 2_000, t0 + 3_000, -3)  # fmt: skip
    skipped = job(5, F, PF, 1, T1, "BUY", 10_000_000, 450_000)
    assert await store.insert_skipped([(skipped, "slippage")]) == {skipped.key}
    failed = job(6, F, PF, 1, T2, "BUY", 10_000_000, 350_000)
    await store.insert_pending([failed], expires_at=now_ms() + 60_000)
    assert await store.mark(failed.key, TradeStatus.FAILED, "venue_failed")


def redeemed(t0: int) -> Redeemed:
    return Redeemed([Redemption(PF, (T2, T2 + 100), 3_000_000, t0 + 5_000)])


@pytest.mark.asyncio
async def test_whole_period_figures_equal_hand_values(store: Store) -> None:
    t0 = now_ms() + 10_000
    await scenario(store, t0)
    mids = FixedMidpoints({T1: Fraction(55, 100), T2: Fraction(1)})
    report = await build_report(store, 0, t0 + 100_000, midpoints=mids, redemptions=redeemed(t0))

    g, f = report.followers  # sorted by address
    assert (g.address, f.address) == (G, F)
    assert f.copies == {"EXECUTED": 4, "SKIPPED": 1, "FAILED": 1}
    assert f.volume == 11_096_700
    assert f.fees == 36_000
    assert f.gas_wei == 4_500_000_000_000_000
    assert f.stats() == {
        "slippage_p50_bps": 50,
        "slippage_p95_bps": 250,
        "delay_p50_ms": 800,
        "delay_p95_ms": 2_000,
    }
    assert (f.realised_fills, f.realised_redemptions, f.realised) == (918_000, 2_100_300, 3_018_300)
    assert f.unrealised == 963_000
    assert f.curve == [(t0, 0), (t0 + 1_000, 0), (t0 + 2_000, 918_000), (t0 + 3_000, 918_000),
                       (t0 + 5_000, 3_018_300)]  # fmt: skip
    assert f.leader_curve[-1][1] == 951_227
    assert [(h.proxy, h.token_id, h.chain, h.copies) for h in f.holdings] == [(PF, T1, None, 9_000_000)]

    assert (g.copies, g.volume, g.realised, g.unrealised) == ({"EXECUTED": 1}, 800_000, 0, 300_000)

    (lead,) = report.leaders
    assert (lead.address, lead.counterparts) == (L, [G, F])
    assert lead.copies == {"EXECUTED": 5, "SKIPPED": 1, "FAILED": 1}
    assert lead.volume == 11_896_700
    assert lead.stats() == {
        "slippage_p50_bps": 50,
        "slippage_p95_bps": 250,
        "delay_p50_ms": 800,
        "delay_p95_ms": 2_000,
    }
    assert (lead.realised, lead.unrealised, lead.fees) == (3_018_300, 1_263_000, 36_000)


@pytest.mark.asyncio
async def test_a_later_period_measures_sales_against_earlier_buys(store: Store) -> None:
    t0 = now_ms() + 10_000
    await scenario(store, t0)
    # From between F's second buy and its sale: the sale still realises 0.918 (cost from the buys before),
    # the copies themselves were all created before the period, and only fills #3 and #4 count.
    report = await build_report(store, t0 + 1_500, t0 + 100_000, follower=F, redemptions=redeemed(t0))
    (f,) = report.followers
    assert f.copies == {}
    assert (f.realised_fills, f.realised_redemptions) == (918_000, 2_100_300)
    assert f.slippage_bps == [50, -3]
    assert f.stats()["slippage_p50_bps"] == -3
    assert f.stats()["slippage_p95_bps"] == 50
    assert (f.fees, f.gas_wei) == (6_000, 2_500_000_000_000_000)
    assert f.unrealised is None  # no midpoints asked
    # Before the redemption: nothing redeemed yet, T2 still held.
    early = await build_report(store, 0, t0 + 4_000, follower=F, redemptions=redeemed(t0))
    assert (early.followers[0].realised_fills, early.followers[0].realised_redemptions) == (918_000, 0)


@pytest.mark.asyncio
async def test_text_json_and_csv_carry_the_same_figures(store: Store) -> None:
    t0 = now_ms() + 10_000
    await scenario(store, t0)
    report = await build_report(
        store, 0, t0 + 100_000, midpoints=FixedMidpoints({T1: Fraction(55, 100)}), redemptions=redeemed(t0)
    )
    data = report.to_json()
    mine = data["followers"][1]
    assert (mine["address"], mine["realised"], mine["unrealised"]) == (F, 3_018_300, 963_000)
    assert (mine["slippage_p50_bps"], mine["delay_p95_ms"], mine["copies"]["EXECUTED"]) == (50, 2_000, 4)
    assert mine["holdings"] == [
        {"proxy": PF, "token_id": str(T1), "chain": None, "copies": 9_000_000, "difference": None}
    ]
    lines = report.to_csv().splitlines()
    assert lines[0].startswith("scope,address,copies_pending,copies_executed,")
    assert [line.split(",")[:2] for line in lines[1:]] == [["follower", G], ["follower", F], ["leader", L]]
    assert lines[2].split(",")[2:4] == ["0", "4"]  # PENDING 0, EXECUTED 4
    assert lines[2].split(",")[-3:] == ["2100300", "3018300", "963000"]
    text = report.to_text()
    assert f"follower {F}: copies EXECUTED 4, FAILED 1, SKIPPED 1; volume 11.0967 USD" in text
    assert "realised 3.0183 USD (fills 0.918, redemptions 2.1003), unrealised 0.963 USD" in text


def test_nearest_rank() -> None:
    assert nearest_rank([], 50) is None
    assert nearest_rank([7], 95) == 7
    assert [nearest_rank([40, 10, 30, 20], p) for p in (1, 25, 26, 50, 75, 95, 100)] == [
        10,
        10,
        20,
        20,
        30,
        40,
        40,
    ]
