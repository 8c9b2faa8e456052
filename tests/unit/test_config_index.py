"""ConfigSync on a real SQLite store: a bad config row is skipped, logged and counted, and every other config
keeps syncing (new followers, pauses, removals), in incremental refreshes and full rebuilds alike."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio

from polyhunter._core import FanoutIndex
from polyhunter.models import CopyConfig, now_ms
from polyhunter.store.sqlite import SqliteStore
from polyhunter.supervisor.configs import ConfigSync

USD = 1_000_000
LEADER = "0x" + "1e" * 20
OTHER_LEADER = "0x" + "2e" * 20


def _config(n: int, leader: str = LEADER, **fields: object) -> CopyConfig:
    base: dict[str, object] = {
        "follower": f"0x{n:040x}",
        "proxy": f"0x{n + 0xA000:040x}",
        "leader": leader,
        "mode": "fixed",
        "fixed_usd": 10 * USD,
    }
    return CopyConfig(**{**base, **fields})  # type: ignore[arg-type]


@pytest_asyncio.fixture
async def store(tmp_path: Path) -> AsyncIterator[SqliteStore]:
    s = SqliteStore(tmp_path / "configs.db")
    await s.open()
    yield s
    await s.close()


async def _corrupt(store: SqliteStore, config_id: int, tiers: str) -> None:
    """Writes a tiered rule the index refuses straight into the row, as an old version or a hand edit
    might (the store's triggers check columns, not the JSON of the tiers)."""
    async with store._write() as conn:
        await conn.execute(
            "UPDATE copy_configs SET mode = 'tiered', tiers = ?, updated_at = ? WHERE config_id = ?",
            (tiers, now_ms(), config_id),
        )


@pytest.mark.asyncio
@pytest.mark.parametrize(
    "tiers",
    [
        "[[5000000, 1000000, 1000000]]",  # a tier whose maximum is below its minimum: the index refuses it
        "{not json",  # not a config at all: the store reports it as invalid
    ],
)
async def test_a_bad_row_is_skipped_and_the_others_keep_syncing(
    store: SqliteStore, tiers: str, caplog: pytest.LogCaptureFixture
) -> None:
    good = await store.add_config(_config(1))
    bad = await store.add_config(_config(2))
    paused_later = await store.add_config(_config(3))
    index = FanoutIndex()
    leaders_seen: list[list[str]] = []
    sync = ConfigSync(store, index, on_leaders=leaders_seen.append)
    await sync.rebuild()
    assert {good.config_id, bad.config_id, paused_later.config_id} <= set(index_ids(index, 3))

    await _corrupt(store, bad.config_id, tiers)
    with caplog.at_level(logging.ERROR, logger="polyhunter.supervisor.configs"):
        await sync.refresh()
    assert bad.config_id not in index
    assert bad.config_id in sync.rejected
    assert sync.rejections == 1
    assert f"copy config #{bad.config_id} skipped" in caplog.text

    # Everyone else keeps syncing: a new follower of a new leader, a pause, a removal.
    newcomer = await store.add_config(_config(4, leader=OTHER_LEADER))
    await store.set_enabled(paused_later.config_id, False)
    assert await store.remove_config(good.config_id)
    caplog.clear()
    with caplog.at_level(logging.ERROR, logger="polyhunter.supervisor.configs"):
        await sync.refresh()
        await sync.refresh()
    assert newcomer.config_id in index
    assert paused_later.config_id not in index
    assert good.config_id not in index
    assert sync.leaders == [OTHER_LEADER]
    assert leaders_seen[-1] == [OTHER_LEADER]
    # Logged and counted once per version of the bad row, not at every pass.
    assert sync.rejections == 1
    assert "skipped" not in caplog.text

    # A full rebuild skips it the same way and keeps the rest.
    await sync.rebuild()
    assert newcomer.config_id in index
    assert bad.config_id not in index
    assert sync.leaders == [OTHER_LEADER]

    # Fixed by its owner: it comes back.
    async with store._write() as conn:
        await conn.execute(
            "UPDATE copy_configs SET mode = 'fixed', tiers = '[]', updated_at = ? WHERE config_id = ?",
            (now_ms(), bad.config_id),
        )
    await sync.refresh()
    assert bad.config_id in index
    assert bad.config_id not in sync.rejected
    assert sync.leaders == sorted([LEADER, OTHER_LEADER])


@pytest.mark.asyncio
async def test_a_rule_changed_into_a_bad_one_stops_copying_with_the_old_rule(store: SqliteStore) -> None:
    config = await store.add_config(_config(1))
    index = FanoutIndex()
    sync = ConfigSync(store, index)
    await sync.rebuild()
    assert config.config_id in index
    await _corrupt(store, config.config_id, "[[0, null, 1000000], [1, 0, 1]]")
    await sync.refresh()
    # The follower's old rule is not what they asked for any more: nothing is copied until it is fixed.
    assert config.config_id not in index
    assert sync.leaders == []
    assert config.config_id in sync.rejected


def index_ids(index: FanoutIndex, up_to: int) -> list[int]:
    return [i for i in range(1, up_to + 1) if i in index]
