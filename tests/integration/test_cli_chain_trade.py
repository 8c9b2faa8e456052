"""A new user's loop without writing Python: `chain up` (its steps shown as they happen), `follow add`,
`polyhunter supervisor`, `chain trade --leader 0 --buy`, then `polyhunter trades` shows each copy with its
fill, price, time and transactions, and the supervisor's log holds one line per copy, with short token ids."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from polyhunter.chain.anvil import stop_pid
from polyhunter.chain.deployment import Deployment
from polyhunter.logformat import short_token_id

pytestmark = pytest.mark.integration

DEADLINE_S = 180  # generous: the machine is shared; only an outright hang should trip it


def _env(home: Path) -> dict[str, str]:
    keep = {k: v for k, v in os.environ.items() if not k.startswith(("COPY_TRADING_", "SUPERVISOR_REDIS"))}
    for name in (
        "DATABASE_URL",
        "REDIS_URL",
        "CHAIN_ID",
        "TRADING_MNEMONIC",
        "TRADING_PRIVATE_KEY",
        "DRY_RUN",
    ):
        keep.pop(name, None)
    return {**keep, "POLYHUNTER_HOME": str(home), "POLYHUNTER_LOG_FORMAT": "text"}


def _cli(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "polyhunter.cli", *args],
        env=_env(home),
        capture_output=True,
        text=True,
        timeout=300,
        cwd=home,
    )


def _until(predicate: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + DEADLINE_S
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {DEADLINE_S}s")
        time.sleep(0.5)


@pytest.fixture
def home(tmp_path: Path) -> Iterator[Path]:
    yield tmp_path
    state = tmp_path / "anvil.json"
    if state.exists():
        pids = json.loads(state.read_text())
        if "clob_pid" in pids:
            stop_pid(int(pids["clob_pid"]), marker=b"polyhunter.localpoly")
        stop_pid(int(pids["pid"]))


def test_chain_up_says_each_step_then_a_leader_trade_is_copied_once_per_follower(home: Path) -> None:
    up = _cli(
        home,
        *("chain", "up", "--detach", "--port", "0", "--fleet-size", "2", "--leaders", "1"),
        *("--followers", "2", "--markets", "1", "--neg-risk-markets", "0"),
    )
    assert up.returncode == 0, up.stderr
    steps = [line for line in up.stdout.splitlines() if re.match(r"\[\s*\d+\.\ds\] ", line)]
    assert [re.sub(r"^\[\s*\d+\.\ds\] ", "", s).split(" ")[0] for s in steps] == [
        "anvil",
        "deploying",
        "contracts",
        "starting",
        "CLOB",
    ]
    assert "fleet funded" in steps[2]
    deployment = Deployment.load(home / "deployment.json")
    leader = deployment.accounts.leaders[0]
    wallet = deployment.accounts.deposit_wallet(leader)
    yes = deployment.markets[0].yes_token_id

    for follower in deployment.accounts.followers:
        added = _cli(home, "follow", "add", "--follower", follower, "--leader", wallet, "--amount", "5")
        assert added.returncode == 0, added.stderr

    log_path = home / "supervisor.log"
    with log_path.open("w") as log_file:
        supervisor = subprocess.Popen(
            [sys.executable, "-m", "polyhunter.cli", "supervisor", "--skip-ready"],
            env=_env(home),
            stdout=log_file,
            stderr=subprocess.STDOUT,
            cwd=home,
        )
    try:
        _until(lambda: "detector connected" in log_path.read_text(), "the supervisor's detector connected")

        trade = _cli(home, "chain", "trade", "--leader", "0", "--buy", "--usd", "10", "--json")
        assert trade.returncode == 0, trade.stderr
        made: dict[str, Any] = json.loads(trade.stdout)
        assert (made["side"], made["wallet"], made["token_id"]) == ("BUY", wallet, str(yes))
        assert made["worst_price"] == "0.51"  # the market maker's best ask around its 0.50 mid
        (fill,) = made["fills"]
        assert fill["price"] == "0.51"
        assert fill["tx_hash"].startswith("0x")

        def executed() -> list[dict[str, Any]]:
            listed = _cli(home, "trades", "--status", "executed", "--json")
            assert listed.returncode == 0, listed.stderr
            rows: list[dict[str, Any]] = json.loads(listed.stdout)
            return rows

        _until(lambda: len(executed()) == 2, "both followers' copies executed")
    finally:
        supervisor.send_signal(signal.SIGTERM)
        supervisor.wait(timeout=DEADLINE_S)

    copies = executed()
    assert {c["follower"] for c in copies} == set(deployment.accounts.followers)
    assert all(c["leader_tx_hash"] == fill["tx_hash"] for c in copies)

    text = _cli(home, "trades")
    assert text.returncode == 0, text.stderr
    for copy in copies:
        assert f"{copy['key'][:14]}…  EXECUTED  BUY 5.00 USD of {short_token_id(yes)}" in text.stdout
        assert all(tx in text.stdout for tx in copy["tx_hashes"])
    assert text.stdout.count(" @ 0.51 (leader @ 0.51") == 2
    assert text.stdout.count(" ms to EXECUTED; our tx 0x") == 2

    # The supervisor's log: one line per copy, and no token id in full anywhere.
    lines = log_path.read_text().splitlines()
    for copy in copies:
        mine = [line for line in lines if re.search(rf"\bconfig {copy['config_id']}\b", line)]
        assert len(mine) == 1, mine
        assert (
            f"copy {copy['key'][:14]} EXECUTED: config {copy['config_id']} proxy {copy['proxy']}" in mine[0]
        )
        assert short_token_id(yes) in mine[0]
    assert str(yes) not in log_path.read_text()
    assert any("detected leader" in line and short_token_id(yes) in line for line in lines)
