"""Shared state: one interface (`SharedState`), in-process memory by default, Redis when a URL is set."""

from __future__ import annotations

from polyhunter.errors import ConfigError, StoreError
from polyhunter.settings import Settings, mask_url
from polyhunter.shared.base import Delivery, QueueStats, Reservation, SharedState
from polyhunter.shared.memory import MemorySharedState
from polyhunter.shared.redis import RedisSharedState

__all__ = [
    "Delivery",
    "MemorySharedState",
    "QueueStats",
    "RedisSharedState",
    "Reservation",
    "SharedState",
    "create_shared_state",
    "open_shared_state",
]


def create_shared_state(settings: Settings) -> SharedState:
    """Redis at `SUPERVISOR_REDIS_URL` or `REDIS_URL`, else in-process memory (not opened)."""
    url = settings.shared_redis_url
    if url is None:
        return MemorySharedState(settings.supervisor_queue_max_size, settings.supervisor_queue_max_deliveries)
    return RedisSharedState(
        url,
        settings.supervisor_redis_prefix,
        settings.supervisor_queue_max_size,
        settings.supervisor_queue_max_deliveries,
    )


async def open_shared_state(settings: Settings) -> SharedState:
    """Create and open the shared state; an unreachable Redis is a `ConfigError` naming its variable."""
    state = create_shared_state(settings)
    try:
        await state.open()
    except StoreError as exc:
        name = "SUPERVISOR_REDIS_URL" if settings.supervisor_redis_url else "REDIS_URL"
        raise ConfigError(f"{name}: {exc} ({mask_url(settings.shared_redis_url or '')})") from None
    return state
