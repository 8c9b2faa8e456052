"""The report takes the redeemer's own records (store table `redemptions`): a merge, then a redemption, of a
condition whose token ids come from its collateral, with the realised PnL worked out by hand:

    BUY YES 10 @ 0.41 + fee 0.02 = cost 4.12; BUY NO 4 @ 0.55 = cost 2.20
    MERGE 4 of each for 4.00, half to each side: YES 2.00 − 4.12 × 4/10 (1.648) = +0.352,
                                                 NO  2.00 − 2.20              = −0.200
    REDEEM the 6 YES left for 6.00: 6.00 − (4.12 − 1.648 = 2.472)              = +3.528
    realised from redemptions 0.352 − 0.200 + 3.528 = 3.680 (= 10.00 received − 6.32 paid); nothing held.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio
from test_report_scenario import PF, F, executed, job

from polyhunter.chain.ctf import binary_token_ids
from polyhunter.models import now_ms
from polyhunter.report.pnl import Redemption
from polyhunter.report.sources import StoreRedemptions
from polyhunter.report.summary import build_report
from polyhunter.store import SqliteStore, Store
from polyhunter.store.redemptions import Redemptions

COLLATERAL = "0x" + "c0" * 20
CONDITION = "0x" + "ab" * 32
YES, NO = binary_token_ids(COLLATERAL, CONDITION)


@pytest_asyncio.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    async with SqliteStore(tmp_path / "redeemed.db") as opened:
        yield opened


async def finished(store: Store, kind: str, amount: int, payout: int) -> None:
    records = Redemptions(store)
    row = await records.add(kind, f"ref-{kind}", PF, CONDITION, COLLATERAL, COLLATERAL, amount)  # type: ignore[arg-type]
    assert row is not None
    assert await records.finish([(row.key, payout)], bytes([len(kind)]) * 32) == 1


@pytest.mark.asyncio
async def test_merges_and_redemptions_from_the_redeemers_records(store: Store) -> None:
    t0 = now_ms() - 60_000  # the fills came before the redeemer's rows, which are stamped now
    await executed(store, job(11, F, PF, 1, YES, "BUY", 50_000_000, 400_000), 10_000_000, 410_000,
                   20_000, 0, 100, t0, 250)  # fmt: skip
    await executed(store, job(12, F, PF, 1, NO, "BUY", 20_000_000, 550_000), 4_000_000, 550_000,
                   0, 0, 100, t0 + 1_000, 0)  # fmt: skip
    await finished(store, "MERGE", 4_000_000, 4_000_000)
    await finished(store, "REDEEM", 6_000_000, 6_000_000)
    # A losing position elsewhere and a pending row are not this Proxy's money yet.
    pending = await Redemptions(store).add("REDEEM", "other", PF, "0x" + "cd" * 32, COLLATERAL, COLLATERAL, 1)
    assert pending is not None

    until = now_ms() + 1
    seen = await StoreRedemptions(store).redemptions([PF], until)
    assert [(r.proxy, r.token_ids, r.payout, r.merged) for r in seen] == [
        (PF, (YES, NO), 4_000_000, 4_000_000),
        (PF, (YES, NO), 6_000_000, None),
    ]
    assert all(isinstance(r, Redemption) for r in seen)

    report = await build_report(store, 0, until, redemptions=StoreRedemptions(store))
    (f,) = report.followers
    assert (f.realised_fills, f.realised_redemptions, f.realised) == (0, 3_680_000, 3_680_000)
    assert f.holdings == []  # nothing left: every token merged or redeemed
