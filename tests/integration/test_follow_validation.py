"""`follow add` / `follow edit` refuse what the index would refuse, and the store (SQLite and PostgreSQL)
enforces the same rules itself: one active rule per (follower, leader), no self-copy, no zero address, a
band with min <= max, a rule the fan-out can size."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from polyhunter.chain.create2 import proxy_address
from polyhunter.cli import main
from polyhunter.errors import InvalidInputError
from polyhunter.models import CopyConfig
from polyhunter.settings import load_settings
from polyhunter.store import open_store

pytestmark = pytest.mark.integration

FOLLOWER = "0x" + "ab" * 20
LEADER = "0x" + "c3" * 20
PROXY = "0x" + "d4" * 20
ZERO = "0x" + "00" * 20


@pytest.fixture(params=["sqlite", "postgres"])
def cli_env(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> dict[str, str]:
    monkeypatch.chdir(tmp_path)
    env = {"POLYHUNTER_HOME": str(tmp_path / "home")}
    for name in ("DATABASE_URL", "REDIS_URL", "SUPERVISOR_REDIS_URL"):
        monkeypatch.delenv(name, raising=False)
    if request.param == "postgres":
        env["DATABASE_URL"] = request.getfixturevalue("pg_url")
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return env


def invoke(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, list(args))
    assert "Traceback" not in result.output, result.output
    return result.exit_code, result.output


def add(*extra: str, leader: str = LEADER, follower: str = FOLLOWER) -> tuple[int, str]:
    return invoke("follow", "add", "--follower", follower, "--leader", leader, "--proxy", PROXY, *extra)


def listed() -> list[dict[str, object]]:
    code, out = invoke("follow", "list", "--json")
    assert code == 0, out
    result: list[dict[str, object]] = json.loads(out)
    return result


@pytest.mark.parametrize(
    ("args", "complaint"),
    [
        (["--amount", "5", "--min-leader-usd", "100", "--max-leader-usd", "10"], "--min-leader-usd is above"),
        (["--amount", "5", "--min-price", "0.9", "--max-price", "0.1"], "--min-price is above"),
        (["--mode", "tiered", "--tier", "0:100:1", "--tier", "50::0.5"], "tiers overlap"),
        (["--mode", "tiered", "--tier", "0:100:1", "--tier", "200::0.5"], "gap"),
        (["--mode", "tiered", "--tier", "0::1", "--tier", "200::0.5"], "only the last tier"),
        (["--mode", "ratio", "--amount", "25"], "--i-mean-it"),
        (["--mode", "percent", "--amount", "80"], "--i-mean-it"),
        (["--mode", "tiered", "--tier", "0::50"], "--i-mean-it"),
    ],
)
def test_add_refuses_what_the_index_would_refuse(
    cli_env: dict[str, str], args: list[str], complaint: str
) -> None:
    code, out = add(*args)
    assert code == 2, out
    assert complaint in out
    assert listed() == []


def test_sane_bounds_yield_to_i_mean_it(cli_env: dict[str, str]) -> None:
    code, out = add("--mode", "ratio", "--amount", "25", "--i-mean-it", "--json")
    assert code == 0, out
    assert json.loads(out)["ratio_ppm"] == 25_000_000


@pytest.mark.parametrize(
    ("follower", "leader", "complaint"),
    [
        (LEADER, LEADER, "cannot copy itself"),
        (ZERO, LEADER, "zero address"),
        (FOLLOWER, ZERO, "zero address"),
    ],
)
def test_add_refuses_self_copy_and_the_zero_address(
    cli_env: dict[str, str], follower: str, leader: str, complaint: str
) -> None:
    code, out = add("--amount", "5", follower=follower, leader=leader)
    assert code == 2, out
    assert complaint in out
    assert listed() == []


def test_one_rule_per_pair_and_edit_changes_it(cli_env: dict[str, str]) -> None:
    code, out = add("--amount", "5")
    assert code == 0, out
    code, out = add("--mode", "ratio", "--amount", "0.5")
    assert code == 1
    assert "follow edit 1" in out
    assert len(listed()) == 1
    # A second leader for the same follower is another pair: fine.
    assert add("--amount", "5", leader="0x" + "c4" * 20)[0] == 0

    code, out = invoke("follow", "edit", "1", "--mode", "ratio", "--amount", "0.5", "--max-price", "0.9")
    assert code == 0, out
    first = listed()[0]
    assert (first["config_id"], first["mode"], first["ratio_ppm"], first["fixed_usd"]) == (
        1,
        "ratio",
        500_000,
        0,
    )
    assert first["max_price_ppm"] == 900_000
    # edit checks like add: a band upside down or a wild ratio is refused, the stored rule stays.
    code, out = invoke("follow", "edit", "1", "--min-price", "0.95")
    assert (code, "--min-price is above" in out) == (2, True)
    code, out = invoke("follow", "edit", "1", "--amount", "40")
    assert (code, "--i-mean-it" in out) == (2, True)
    assert listed()[0] == first
    code, out = invoke("follow", "edit", "9", "--amount", "1")
    assert code == 1
    assert "no copy config #9" in out
    # Removed, the pair is free again.
    assert invoke("follow", "remove", "1")[0] == 0
    assert add("--amount", "7")[0] == 0


def test_a_proxy_that_is_not_the_followers_is_refused(cli_env: dict[str, str]) -> None:
    factory, init_hash = "0x" + "fa" * 20, "0x" + "11" * 32
    home = Path(cli_env["POLYHUNTER_HOME"])
    home.mkdir(parents=True, exist_ok=True)
    deployment = {"contracts": {"proxy_factory": factory}, "proxy_init_code_hash": init_hash}
    (home / "deployment.json").write_text(json.dumps(deployment))
    code, out = add("--amount", "5")
    assert code == 2
    assert "is not the Proxy of follower" in out
    own = proxy_address(factory, FOLLOWER, init_hash)
    code, out = invoke(
        "follow", "add", "--follower", FOLLOWER, "--leader", LEADER, "--proxy", own, "--amount", "5", "--json"
    )
    assert code == 0, out
    assert json.loads(out)["proxy"] == own.lower()


def test_the_store_enforces_the_rules_itself(cli_env: dict[str, str]) -> None:
    """Written around the CLI (another tool, an older version): the store refuses it all the same."""

    def rule(**fields: object) -> CopyConfig:
        base: dict[str, object] = {
            "follower": FOLLOWER,
            "proxy": PROXY,
            "leader": LEADER,
            "mode": "fixed",
            "fixed_usd": 1_000_000,
        }
        return CopyConfig(**{**base, **fields})  # type: ignore[arg-type]

    async def body() -> None:
        store = await open_store(load_settings())
        try:
            first = await store.add_config(rule())
            bad = [
                rule(),  # the same pair again
                rule(leader=FOLLOWER),
                rule(leader=ZERO),
                rule(proxy=ZERO),
                rule(leader="0x" + "c5" * 20, fixed_usd=0),
                rule(leader="0x" + "c5" * 20, min_leader_usd=5, max_leader_usd=4),
                rule(leader="0x" + "c5" * 20, min_price_ppm=600_000, max_price_ppm=500_000),
                rule(leader="0x" + "c5" * 20, mode="percent", percent_bps=20_000),
                rule(leader="0x" + "c5" * 20, mode="bogus"),
            ]
            for config in bad:
                with pytest.raises(InvalidInputError):
                    await store.add_config(config)
            with pytest.raises(InvalidInputError, match="follow edit"):
                await store.add_config(rule(mode="ratio", ratio_ppm=1))
            # An update is checked too; a paused rule may be anything, but resuming a bad one is refused.
            with pytest.raises(InvalidInputError):
                await store.update_config(
                    CopyConfig(**{**_fields(first), "min_price_ppm": 9, "max_price_ppm": 1})  # type: ignore[arg-type]
                )
            other = await store.add_config(rule(leader="0x" + "c6" * 20))
            with pytest.raises(InvalidInputError, match="follow edit"):
                await store.update_config(CopyConfig(**{**_fields(other), "leader": LEADER}))  # type: ignore[arg-type]
            assert [c.config_id for c in await store.list_configs()] == [first.config_id, other.config_id]
        finally:
            await store.close()

    asyncio.run(body())


def _fields(config: CopyConfig) -> dict[str, object]:
    return {f: getattr(config, f) for f in config.__dataclass_fields__}
