"""The store remembers its chain (chain id, genesis hash): a restarted local chain under the same home gets a
new ledger (the old one kept, the follow rules carried over), so its first trades are not taken for copies
already made; on any other chain a mismatch refuses to start with one line. Real anvil nodes."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from polyhunter.chain.anvil import Anvil
from polyhunter.cli import main
from polyhunter.errors import ConfigError
from polyhunter.models import CopyConfig, CopyJob, TradeStatus
from polyhunter.settings import load_settings
from polyhunter.store import open_store
from polyhunter.store.sqlite import SqliteStore

pytestmark = pytest.mark.integration

LEADER = "0x" + "c3" * 20
FOLLOWER = "0x" + "ab" * 20
PROXY = "0x" + "d4" * 20


def _job() -> CopyJob:
    return CopyJob(
        key=b"\x01" * 32,
        config_id=1,
        follower=FOLLOWER,
        proxy=PROXY,
        leader=LEADER,
        token_id=5,
        side="BUY",
        amount=10_000_000,
        limit_price_ppm=500_000,
        tx_hash=b"\x02" * 32,
        log_index=0,
        sub_index=0,
        leader_size=20_000_000,
        leader_price_ppm=500_000,
        block_number=3,
    )


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    for name in (
        "DATABASE_URL",
        "REDIS_URL",
        "SUPERVISOR_REDIS_URL",
        "COPY_TRADING_RPC_URL",
        "COPY_TRADING_RPC_URLS",
    ):
        monkeypatch.delenv(name, raising=False)
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("POLYHUNTER_HOME", str(home))
    return home


def _node(chain_id: int, genesis_time: int) -> Anvil:
    """anvil's genesis hash follows its start time in seconds: two starts within one second would be one
    chain, so each node here is given its own genesis time."""
    return Anvil(chain_id=chain_id, extra_args=["--timestamp", str(genesis_time)])


def _point_at(home: Path, node: Anvil) -> None:
    (home / "deployment.json").write_text(json.dumps({"rpc_url": node.rpc_url}))


def test_a_restarted_local_chain_gets_a_new_ledger(home: Path) -> None:
    async def first_chain() -> None:
        store = await open_store(load_settings())
        try:
            await store.add_config(
                CopyConfig(follower=FOLLOWER, proxy=PROXY, leader=LEADER, mode="fixed", fixed_usd=1_000_000)
            )
            assert await store.insert_pending([_job()], 2**62) == {_job().key}
            assert await store.mark(_job().key, TradeStatus.EXECUTED)
            await store.set_checkpoint("chainlogs", 12)
            assert await store.chain_identity() is not None
        finally:
            await store.close()

    async def second_chain() -> tuple[int, int | None, bool, int]:
        store = await open_store(load_settings())
        try:
            # The same leader transaction on the new chain is new here: inserted, not skipped as executed.
            inserted = await store.insert_pending([_job()], 2**62)
            return (
                len(await store.list_configs()),
                await store.get_checkpoint("chainlogs"),
                _job().key in inserted,
                await store.count_trades(),
            )
        finally:
            await store.close()

    with _node(31337, 1_800_000_000) as node:
        _point_at(home, node)
        asyncio.run(first_chain())
    with _node(31337, 1_800_000_100) as node:  # `chain down` / `chain up`: same chain id, a new genesis
        _point_at(home, node)
        rules, checkpoint, fresh, count = asyncio.run(second_chain())
        assert (rules, checkpoint, fresh, count) == (1, None, True, 1)
        archived = sorted(home.glob("polyhunter-31337-*.db"))
        assert len(archived) == 1, list(home.iterdir())

        async def old_ledger() -> int:
            old = SqliteStore(archived[0])
            await old.open()
            try:
                return await old.count_trades(TradeStatus.EXECUTED)
            finally:
                await old.close()

        assert asyncio.run(old_ledger()) == 1  # kept as it was
        # Opening again on the same chain changes nothing.
        rules, checkpoint, fresh, count = asyncio.run(second_chain())
        assert (rules, fresh, count) == (1, False, 1)
        assert len(list(home.glob("polyhunter-31337-*.db"))) == 1


def test_another_chain_refuses_to_start_with_one_line(home: Path) -> None:
    async def bind() -> None:
        store = await open_store(load_settings())
        await store.close()

    with _node(137, 1_800_000_000) as node:
        _point_at(home, node)
        asyncio.run(bind())
    with _node(137, 1_800_000_100) as node:
        _point_at(home, node)
        with pytest.raises(ConfigError, match="refusing to start"):
            asyncio.run(bind())
        result = CliRunner().invoke(main, ["follow", "list"])
        assert result.exit_code == 1
        assert "refusing to start" in result.output
        assert "Traceback" not in result.output
        assert len(result.output.strip().splitlines()) == 1
    assert list(home.glob("polyhunter-137-*.db")) == []  # nothing moved aside off a local chain
