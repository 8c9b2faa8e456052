"""`make demo` end to end: `polyhunter demo` exits 0 only when every Proxy and the leader's deposit wallet
hold the balances written in the scenario, its leader trades and the copies going through the local CLOB, and
its output names, for each leader trade, the source that saw the fill first."""

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
    assert out.count("EXECUTED") == 9
    assert "fleet deposit wallets hold nothing of the followers' yes" in out
