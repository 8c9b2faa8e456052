"""`make demo` end to end: `polyhunter demo` exits 0 only when every Proxy and the leader's deposit wallet
hold the balances written in the scenario, its leader trades and the copies going through the local CLOB, and
its output names, for each leader trade, the source that saw the fill first. It ends with market 0 resolving:
the supervisor redeems the winning Proxies by itself, and `polyhunter report` prints the figures written
below by hand."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration


def test_the_demo_passes_with_its_leader_trading_on_the_local_clob(tmp_path: Path) -> None:
    env = {**os.environ, "POLYHUNTER_HOME": str(tmp_path), "COLUMNS": "200"}
    done = subprocess.run(
        [sys.executable, "-m", "polyhunter.cli", "demo"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    out = done.stdout
    assert "demo passed" in out
    # Three leader trades, each a FOK order matched on the CLOB and settled in a transaction.
    assert out.count("matched; settled in tx 0x") == 3
    # Each leader trade names the source that saw it first: its log, or the mempool or the activity feed and
    # by how much (and the other early source's lead). On 1 s blocks the operator's matchOrders waits in the
    # pool, and the local CLOB announces the trade in its feed when it broadcasts the settlement, so both
    # early sources must see some of them before their log.
    firsts = re.findall(r"first sighting the leader's fill in tx 0x[0-9a-f]+…: (seen .*)", out)
    assert len(firsts) == 3, out
    early = r"(pending|in the feed)"
    line = rf"seen {early} \d+ ms before its log(; also {early} \d+ ms before)?|seen first in its log"
    assert all(re.fullmatch(line, f) for f in firsts), firsts
    assert any("pending" in f for f in firsts), firsts
    assert any("in the feed" in f for f in firsts), firsts
    assert "copies executed 9 (expected 9)" in out
    # The copies are CLOB orders too, settled on chain, and nothing of the followers' stays with the fleet.
    assert len(re.findall(r"^  EXECUTED ", out, re.MULTILINE)) == 9
    assert "fleet deposit wallets hold nothing of the followers' yes" in out
    # None of the scenario's SELLs exceeds a holding: the shares the amount rule leaves unsold are no cut.
    assert "cut_to_holding" not in out
    # Market 0 resolves YES; the supervisor's redeemer redeems each Proxy's YES of it at $1 a share (what
    # each kept after the SELL: 50 - 41.66, 100 - 50, 200 - 160.06).
    assert "Proxies redeemed by the supervisor after market 0 resolved: 3 (expected 3) yes" in out
    for line in (
        "redeemed fixed $25: 8.34 sh of market 0 for 8.34 pUSD",
        "redeemed ratio 0.5x: 50.00 sh of market 0 for 50.00 pUSD",
        "redeemed 2% of balance: 39.94 sh of market 0 for 39.94 pUSD",
    ):
        assert line in out, out
    # The report, by hand: volume = the copies' collateral; fills by average cost (sold at 0.60, bought at
    # 0.50); the redemption $1 a share on a 0.50 cost; market 1's YES unrealised at the CLOB's 0.39 mid.
    for line in (
        # fixed $25: 25 + 25 + 24.996; 41.66 x 0.10; 8.34 x 0.50; 62.5 x 0.39 - 25.
        "copies EXECUTED 3; volume 74.996 USD",
        "realised 8.336 USD (fills 4.166, redemptions 4.17), unrealised -0.625 USD",
        # ratio 0.5x: 50 + 20 + 30; 50 x 0.10; 50 x 0.50; 50 x 0.39 - 20.
        "copies EXECUTED 3; volume 100.00 USD",
        "realised 30.00 USD (fills 5.00, redemptions 25.00), unrealised -0.50 USD",
        # 2 % of balance: 100 + 98 + 96.036; 160.06 x 0.10; 39.94 x 0.50; 245 x 0.39 - 98.
        "copies EXECUTED 3; volume 294.036 USD",
        "realised 35.976 USD (fills 16.006, redemptions 19.97), unrealised -2.45 USD",
        # The leader's line: its three followers' sums.
        "copies EXECUTED 9; volume 469.032 USD",
        "realised 74.312 USD (fills 25.172, redemptions 49.14), unrealised -3.575 USD",
    ):
        assert line in out, line
    # Every copy at the leader's own price level: no slippage.
    assert out.count("slippage p50/p95 0/0 bps") == 4
    assert "report matches the scenario yes" in out
