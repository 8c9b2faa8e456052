"""Keeps the Rust fan-out index in step with the store: incremental refresh, periodic full rebuild.

Every `SUPERVISOR_CONFIG_REFRESH_MS` the configs changed since the last look are upserted (paused ones
removed); every `SUPERVISOR_CONFIG_FULL_REFRESH_MS` the index is rebuilt from scratch, which also heals any
change an incremental pass could have missed. When the set of leaders this shard owns changes, the decoder
learns it and the detector re-subscribes.

A config the index refuses (or a row that is not a config at all) is skipped, logged once per version and
counted in `rejected`; every other config keeps syncing, and the pass still moves on, so one bad row never
freezes pauses, removals or new followers for everyone else.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable

from polyhunter._core import FanoutIndex, shard_of
from polyhunter.errors import PolyhunterError
from polyhunter.models import ConfigChanges, CopyConfig
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
        self.rejected: dict[int, str] = {}
        """Config id → why the index refused it (what `follow list` cannot show: the supervisor's view)."""
        self.rejections = 0
        """How many times a config version was refused (a metric: it only grows)."""
        self._rejected_at: dict[int, int] = {}  # config id → updated_at of the refused version
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
        self._note_invalid(changes)
        fresh: dict[int, CopyConfig] = {}
        for config in changes.changed:
            if not self.owns(config.leader):
                continue
            if config.enabled and not self._upsert(config):
                continue
            fresh[config.config_id] = config
        for config_id in self.configs.keys() - {i for i, c in fresh.items() if c.enabled}:
            self.index.remove(config_id)
        self.configs = fresh
        self._since = changes.as_of
        self.rebuilds += 1
        self._leaders_changed(before)

    async def refresh(self) -> int:
        """Applies what changed since the last look; returns how many configs changed."""
        before = self.leaders
        changes = await self.store.configs_changed_since(self._since)
        self._note_invalid(changes)
        count = 0
        for config in changes.changed:
            if not self.owns(config.leader):
                continue
            old = self.configs.get(config.config_id)
            if old == config or self._rejected_at.get(config.config_id) == config.updated_at:
                continue
            if config.enabled and not self._upsert(config):
                # The follower changed their rule into one we cannot apply: copying with the old rule
                # would copy against their wishes, so the config stops until it is fixed.
                if self.configs.pop(config.config_id, None) is not None:
                    self.index.remove(config.config_id)
                    count += 1
                continue
            self.configs[config.config_id] = config
            if not config.enabled:
                self.index.remove(config.config_id)
            count += 1
        for config_id in changes.removed:
            self._forget_rejection(config_id)
            if self.configs.pop(config_id, None) is not None:
                self.index.remove(config_id)
                count += 1
        self._since = changes.as_of
        self.refreshes += 1
        self._leaders_changed(before)
        return count

    def _upsert(self, config: CopyConfig) -> bool:
        """Puts one config in the index; a refused one is logged (once per version), counted, not raised."""
        try:
            self.index.upsert(config)
        except (PolyhunterError, ValueError, TypeError, OverflowError) as exc:
            self._reject(config.config_id, config.updated_at, str(exc))
            return False
        self._forget_rejection(config.config_id)
        return True

    def _note_invalid(self, changes: ConfigChanges) -> None:
        for config_id, why in changes.invalid:
            if config_id in self.configs:
                self.index.remove(config_id)
                del self.configs[config_id]
            self._reject(config_id, -1, why)

    def _reject(self, config_id: int, version: int, why: str) -> None:
        if self._rejected_at.get(config_id) == version and config_id in self.rejected:
            return
        self._rejected_at[config_id] = version
        self.rejected[config_id] = why
        self.rejections += 1
        log.error("copy config #%d skipped, the others keep copying: %s", config_id, why)

    def _forget_rejection(self, config_id: int) -> None:
        self.rejected.pop(config_id, None)
        self._rejected_at.pop(config_id, None)

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
