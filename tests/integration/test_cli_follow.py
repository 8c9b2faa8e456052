"""`polyhunter follow|trades|debts` on each store: what `follow add` stores, `follow list --json` shows."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from polyhunter.chain.create2 import proxy_address
from polyhunter.cli import main
from polyhunter.models import CopyJob, DebtRecord, TradeStatus, copy_key
from polyhunter.settings import load_settings
from polyhunter.store import open_store

pytestmark = pytest.mark.integration

FOLLOWER = "0x" + "Ab" * 20
LEADER = "0x" + "c3" * 20
PROXY = "0x" + "d4" * 20
OTHER_LEADERS = ["0x" + f"{n:02x}" * 20 for n in (0xC4, 0xC5, 0xC6)]  # one rule per pair


@pytest.fixture(params=["sqlite", "postgres"])
def cli_env(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> dict[str, str]:
    """The environment of the commands: a fresh POLYHUNTER_HOME and, for PostgreSQL, a fresh schema."""
    monkeypatch.chdir(tmp_path)  # no developer .env
    env = {"POLYHUNTER_HOME": str(tmp_path / "home")}
    for name in ("DATABASE_URL", "REDIS_URL", "SUPERVISOR_REDIS_URL"):
        monkeypatch.delenv(name, raising=False)
    if request.param == "postgres":
        env["DATABASE_URL"] = request.getfixturevalue("pg_url")
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return env


def run(*args: str) -> str:
    result = CliRunner().invoke(main, list(args))
    assert result.exit_code == 0, result.output
    return result.output


def test_follow_add_then_list_json_round_trips(cli_env: dict[str, str]) -> None:
    added = json.loads(
        run(
            "follow",
            "add",
            "--follower",
            FOLLOWER,
            "--leader",
            LEADER,
            "--proxy",
            PROXY,
            "--mode",
            "fixed",
            "--amount",
            "12.345678",
            "--side",
            "BUY",
            "--token",
            str(2**255),
            "--deny-token",
            "7",
            "--min-leader-usd",
            "10",
            "--max-price",
            "0.95",
            "--max-per-trade-usd",
            "100",
            "--json",
        )
    )
    run(
        "follow",
        "add",
        "--follower",
        FOLLOWER,
        "--leader",
        OTHER_LEADERS[0],
        "--proxy",
        PROXY,
        "--mode",
        "ratio",
        "--amount",
        "0.25",
    )
    run(
        "follow",
        "add",
        "--follower",
        FOLLOWER,
        "--leader",
        OTHER_LEADERS[1],
        "--proxy",
        PROXY,
        "--mode",
        "percent",
        "--amount",
        "1.5",
        "--paused",
    )
    run(
        "follow",
        "add",
        "--follower",
        FOLLOWER,
        "--leader",
        OTHER_LEADERS[2],
        "--proxy",
        PROXY,
        "--mode",
        "tiered",
        "--tier",
        "0:100:1",
        "--tier",
        "100::0.5",
        "--min-size-policy",
        "bump",
    )
    listed = json.loads(run("follow", "list", "--json"))
    assert listed[0] == added
    assert added["follower"] == FOLLOWER.lower()
    assert added["fixed_usd"] == 12_345_678
    assert added["token_allow"] == [str(2**255)]
    assert added["token_deny"] == ["7"]
    assert (added["side_filter"], added["min_leader_usd"], added["max_price_ppm"]) == (
        "BUY",
        10_000_000,
        950_000,
    )
    assert added["max_per_trade_usd"] == 100_000_000
    assert [c["mode"] for c in listed] == ["fixed", "ratio", "percent", "tiered"]
    assert listed[1]["ratio_ppm"] == 250_000
    assert (listed[2]["percent_bps"], listed[2]["enabled"]) == (150, False)
    assert listed[3]["tiers"] == [[0, 100_000_000, 1_000_000], [100_000_000, None, 500_000]]
    assert listed[3]["min_size_policy"] == "bump"


def test_pause_resume_remove(cli_env: dict[str, str]) -> None:
    run("follow", "add", "--follower", FOLLOWER, "--leader", LEADER, "--proxy", PROXY, "--amount", "5")
    assert "paused #1" in run("follow", "pause", "1")
    assert json.loads(run("follow", "list", "--json"))[0]["enabled"] is False
    assert "resumed #1" in run("follow", "resume", "1")
    assert json.loads(run("follow", "list", "--json"))[0]["enabled"] is True
    assert "removed" in run("follow", "remove", "1")
    assert json.loads(run("follow", "list", "--json")) == []
    result = CliRunner().invoke(main, ["follow", "remove", "1"])
    assert result.exit_code == 1
    assert "no copy config #1" in result.output


def test_proxy_is_computed_from_the_deployment_without_a_chain(cli_env: dict[str, str]) -> None:
    factory, init_hash = "0x" + "fa" * 20, "0x" + "11" * 32
    home = Path(cli_env["POLYHUNTER_HOME"])
    result = CliRunner().invoke(
        main, ["follow", "add", "--follower", FOLLOWER, "--leader", LEADER, "--amount", "1"]
    )
    assert result.exit_code == 1
    assert "--proxy" in result.output  # no deployment: a clear request for --proxy
    home.mkdir(parents=True, exist_ok=True)
    deployment = {"contracts": {"proxy_factory": factory}, "proxy_init_code_hash": init_hash}
    (home / "deployment.json").write_text(json.dumps(deployment))
    added = json.loads(
        run("follow", "add", "--follower", FOLLOWER, "--leader", LEADER, "--amount", "1", "--json")
    )
    assert added["proxy"] == proxy_address(factory, FOLLOWER, init_hash)


@pytest.mark.parametrize(
    ("args", "complaint"),
    [
        (["--follower", "0x12"], "--follower"),
        (["--amount", "-1"], "must not be negative"),
        (["--amount", "1.0000001"], "at most 6 decimals"),
        (["--amount", "abc"], "decimal number"),
        (["--amount", "0"], "above zero"),
        (["--max-price", "1.5"], "at most 1"),
        (["--mode", "tiered"], "--tier"),
        (["--mode", "tiered", "--tier", "5:1:1"], "above its minimum"),
    ],
)
def test_follow_add_rejects_bad_input_clearly(
    cli_env: dict[str, str], args: list[str], complaint: str
) -> None:
    base = {"--follower": FOLLOWER, "--leader": LEADER, "--proxy": PROXY, "--amount": "5"}
    for flag, value in zip(args[::2], args[1::2], strict=True):
        base[flag] = value
    result = CliRunner().invoke(main, ["follow", "add", *[x for kv in base.items() for x in kv]])
    assert result.exit_code == 2
    assert complaint in result.output
    assert json.loads(run("follow", "list", "--json")) == []


def test_trades_and_debts_list_what_the_store_holds(cli_env: dict[str, str]) -> None:
    async def seed() -> None:
        store = await open_store(load_settings())
        try:
            jobs = [
                CopyJob(
                    key=copy_key(bytes([i]) * 32, 1),
                    config_id=1,
                    follower=FOLLOWER.lower(),
                    proxy=PROXY,
                    leader=LEADER,
                    token_id=2**255,
                    side="BUY",
                    amount=5_000_000,
                    limit_price_ppm=500_000,
                    tx_hash=bytes([i]) * 32,
                    log_index=i,
                )
                for i in range(3)
            ]
            await store.insert_pending(jobs, 2**62)
            await store.mark(jobs[0].key, TradeStatus.SKIPPED, "daily_cap")
            await store.add_debt(DebtRecord(proxy=PROXY, worker=LEADER, amount=2_500_000))
        finally:
            await store.close()

    asyncio.run(seed())
    everything = json.loads(run("trades", "--json"))
    assert len(everything) == 3
    skipped = json.loads(run("trades", "--status", "skipped", "--follower", FOLLOWER, "--json"))
    assert [(t["status"], t["reason"], t["token_id"]) for t in skipped] == [
        ("SKIPPED", "daily_cap", str(2**255))
    ]
    assert "SKIPPED (daily_cap)" in run("trades")
    (debt,) = json.loads(run("debts", "--json"))
    assert (debt["status"], debt["amount"], debt["proxy"]) == ("OPEN", 2_500_000, PROXY)
    assert "$2.50" in run("debts")
    assert json.loads(run("debts", "--status", "repaid", "--json")) == []
