"""Keeps the Rust fan-out index in step with the store: incremental refresh, periodic full rebuild.

Every `SUPERVISOR_CONFIG_REFRESH_MS` the configs changed since the last look are upserted (paused ones
removed); every `SUPERVISOR_CONFIG_FULL_REFRESH_MS` the index is rebuilt from scratch, which also heals any
change an incremental pass could have missed. When the set of leaders this shard owns changes, the decoder
learns it and the detector re-subscribes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable

from polyhunter._core import FanoutIndex, shard_of
from polyhunter.models import CopyConfig
from polyhunter.store.base import Store

log = logging.getLogger(__name__)


class ConfigSync:
    def __init__(
        self,
        store: Store,
        index: FanoutIndex,
        *,
        shard_count: int = 1,
        shard_index: int = 0,
        on_leaders: Callable[[list[str]], None] | None = None,
    ) -> None:
        self.store = store
        self.index = index
        self.shard_count = shard_count
        self.shard_index = shard_index
        self.on_leaders = on_leaders
        self.configs: dict[int, CopyConfig] = {}
        self._since = 0
        self.refreshes = 0
        self.rebuilds = 0

    def owns(self, leader: str) -> bool:
        return self.shard_count == 1 or shard_of(leader, self.shard_count) == self.shard_index

    @property
    def leaders(self) -> list[str]:
        """Leaders with at least one enabled config, owned by this shard."""
        return sorted({c.leader for c in self.configs.values() if c.enabled and self.owns(c.leader)})

    async def rebuild(self) -> None:
        """Loads every config again into a fresh index."""
        before = self.leaders
        changes = await self.store.configs_changed_since(0)
        fresh = {c.config_id: c for c in changes.changed if self.owns(c.leader)}
        for config_id in self.configs.keys() - {i for i, c in fresh.items() if c.enabled}:
            self.index.remove(config_id)
        self.index.upsert_many([c for c in fresh.values() if c.enabled])
        self.configs = fresh
        self._since = changes.as_of
        self.rebuilds += 1
        self._leaders_changed(before)

    async def refresh(self) -> int:
        """Applies what changed since the last look; returns how many configs changed."""
        before = self.leaders
        changes = await self.store.configs_changed_since(self._since)
        count = 0
        for config in changes.changed:
            if not self.owns(config.leader):
                continue
            old = self.configs.get(config.config_id)
            if old == config:
                continue
            self.configs[config.config_id] = config
            if config.enabled:
                self.index.upsert(config)
            else:
                self.index.remove(config.config_id)
            count += 1
        for config_id in changes.removed:
            if self.configs.pop(config_id, None) is not None:
                self.index.remove(config_id)
                count += 1
        self._since = changes.as_of
        self.refreshes += 1
        self._leaders_changed(before)
        return count

    def _leaders_changed(self, before: list[str]) -> None:
        after = self.leaders
        if after != before and self.on_leaders is not None:
            log.info("leaders owned by this shard: %d (was %d)", len(after), len(before))
            self.on_leaders(after)

    async def run(self, stop: asyncio.Event, refresh_ms: int, full_refresh_ms: int) -> None:
        last_full = time.monotonic()
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), refresh_ms / 1000)
            if stop.is_set():
                return
            try:
                if time.monotonic() - last_full >= full_refresh_ms / 1000:
                    last_full = time.monotonic()
                    await self.rebuild()
                else:
                    changed = await self.refresh()
                    if changed:
                        log.info("configs: %d changed", changed)
            except Exception:
                log.exception("config refresh failed; the index keeps its last state")
