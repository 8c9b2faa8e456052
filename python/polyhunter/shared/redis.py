"""The Redis shared state: dedup by `SET NX PX`, guardrail counters and leases in Lua, the queue on a Stream.

Every key lives under the hash tag `{prefix}` so that one Lua script's keys share a cluster slot. The queue
is a Stream with one consumer group: `XREADGROUP` delivers, `XACK` + `XDEL` acknowledge (so `XLEN` counts
exactly the jobs not yet acknowledged, and the bound checked before `XADD` never needs a trim), `XAUTOCLAIM`
takes over idle deliveries and moves a job past `max_deliveries` to the dead-letter stream. Amounts in Lua
are doubles: exact up to 2**53 base units (9 billion USD), far above any cap.

A loss of Redis's data is seen by the missing `epoch` key (checked inside the reserve and enqueue scripts, so
no reservation is ever made against counters that were wiped) or by `NOGROUP` from the queue. The first
instance to see it restores, in one script, the counters from the store of record (`on_loss` seeds), the
consumer group and the epoch; the epoch is set by that restore only, so a Redis that starts empty is seeded
the same way as one that lost its data.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Sequence
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import RedisError, ResponseError

from polyhunter.errors import StoreError
from polyhunter.shared.base import DAY_MS, Delivery, QueueStats, Reservation, SharedState

log = logging.getLogger(__name__)

_GROUP = "workers"
_LOST = -1

# KEYS[1] is the epoch: without it the counters may have been wiped, and nothing is reserved (-1).
_RESERVE = """
if redis.call('EXISTS', KEYS[1]) == 0 then return -1 end
local ttl = tonumber(ARGV[1])
for i = 2, #KEYS do
  local cap = tonumber(ARGV[2 * i - 1])
  if cap >= 0 and tonumber(redis.call('GET', KEYS[i]) or '0') + tonumber(ARGV[2 * i - 2]) > cap then
    return i - 1
  end
end
for i = 2, #KEYS do
  redis.call('INCRBY', KEYS[i], ARGV[2 * i - 2])
  redis.call('PEXPIRE', KEYS[i], ttl)
end
return 0
"""

# KEYS: epoch, stream, counters…; ARGV: new epoch, group, counter ttl, counter values…
_RESTORE = """
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
for i = 3, #KEYS do
  redis.call('SET', KEYS[i], ARGV[i + 1], 'PX', ARGV[3])
end
redis.pcall('XGROUP', 'CREATE', KEYS[2], ARGV[2], '0', 'MKSTREAM')
redis.call('SET', KEYS[1], ARGV[1])
return 1
"""

_RELEASE = """
for i, key in ipairs(KEYS) do
  if redis.call('EXISTS', key) == 1 and redis.call('DECRBY', key, ARGV[i]) < 0 then
    redis.call('SET', key, 0, 'KEEPTTL')
  end
end
return 0
"""

_ENQUEUE = """
if redis.call('EXISTS', KEYS[3]) == 0 then return -1 end
local max = tonumber(ARGV[1])
local length = redis.call('XLEN', KEYS[1])
local out = {}
for i = 2, #ARGV, 2 do
  if length < max then
    redis.call('XADD', KEYS[1], '*', 'k', ARGV[i], 'p', ARGV[i + 1])
    length = length + 1
    out[#out + 1] = 1
  else
    redis.call('INCR', KEYS[2])
    out[#out + 1] = 0
  end
end
return out
"""

_CLAIM = """
local group, consumer, idle = ARGV[1], ARGV[2], ARGV[3]
local count, max_deliveries = tonumber(ARGV[4]), tonumber(ARGV[5])
local cursor, out = '0-0', {}
for _ = 1, 100 do
  local r = redis.call('XAUTOCLAIM', KEYS[1], group, consumer, idle, cursor, 'COUNT', count - #out)
  cursor = r[1]
  for _, entry in ipairs(r[2]) do
    local id, fields = entry[1], entry[2]
    local deliveries = redis.call('XPENDING', KEYS[1], group, id, id, 1)[1][4]
    if deliveries > max_deliveries then
      redis.call('XADD', KEYS[2], '*', 'k', fields[2], 'p', fields[4], 'n', deliveries - 1, 'id', id)
      redis.call('XACK', KEYS[1], group, id)
      redis.call('XDEL', KEYS[1], id)
    else
      out[#out + 1] = {id, fields[2], fields[4], deliveries}
    end
  end
  if cursor == '0-0' or #out >= count then break end
end
return out
"""

_ACK = """
local acked = 0
for _, id in ipairs(ARGV) do
  if redis.call('XACK', KEYS[1], KEYS[2], id) == 1 then
    redis.call('XDEL', KEYS[1], id)
    acked = acked + 1
  end
end
return acked
"""

_ACQUIRE = """
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then return 1 end
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
return 0
"""

_RENEW = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
return 0
"""

# KEYS: aliases, lookups, notes; ARGV: key, ttl, number of aliases, number of lookups.
_CLAIM_FILL = """
local n, m = tonumber(ARGV[3]), tonumber(ARGV[4])
local winner = false
for i = 1, n + m do
  winner = redis.call('GET', KEYS[i])
  if winner then break end
end
if not winner then winner = ARGV[1] end
for i = 1, #KEYS do
  if i <= n or i > n + m then redis.call('SET', KEYS[i], winner, 'NX', 'PX', ARGV[2]) end
end
return winner
"""

_RELEASE_LEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('DEL', KEYS[1])
  return 1
end
return 0
"""


class RedisSharedState(SharedState):
    backend = "redis"

    def __init__(
        self,
        url: str,
        prefix: str = "polyhunter",
        max_queue: int = 5000,
        max_deliveries: int = 5,
        max_connections: int = 32,
    ) -> None:
        super().__init__(max_queue, max_deliveries)
        self._max_connections = max_connections
        self.url = url
        self._tag = "{" + prefix + "}"
        self._stream = f"{self._tag}:jobs"
        self._dead = f"{self._tag}:jobs:dead"
        self._dropped = f"{self._tag}:jobs:dropped"
        self._epoch = f"{self._tag}:epoch"
        self._client: aioredis.Redis | None = None
        self._scripts: dict[str, Any] = {}
        self._restoring = asyncio.Lock()

    @property
    def client(self) -> aioredis.Redis:
        if self._client is None:
            raise StoreError("the shared state is not open")
        return self._client

    async def open(self) -> None:
        # A blocking pool: a burst of callers waits for a connection instead of failing with "too many".
        pool = aioredis.BlockingConnectionPool.from_url(
            self.url, max_connections=self._max_connections, timeout=30, socket_connect_timeout=5
        )
        client = aioredis.Redis.from_pool(pool)
        try:
            await client.ping()
            await client.xgroup_create(self._stream, _GROUP, id="0", mkstream=True)
        except ResponseError as exc:
            if "BUSYGROUP" not in str(exc):  # the group exists already: another instance made it
                await client.aclose()
                raise StoreError(f"cannot set up the Redis job queue: {exc}") from None
        except (RedisError, OSError) as exc:
            await client.aclose()
            raise StoreError(f"cannot connect to Redis: {type(exc).__name__}: {exc}") from None
        self._client = client
        for name, source in {
            "reserve": _RESERVE,
            "restore": _RESTORE,
            "release": _RELEASE,
            "enqueue": _ENQUEUE,
            "claim": _CLAIM,
            "ack": _ACK,
            "acquire": _ACQUIRE,
            "renew": _RENEW,
            "release_lease": _RELEASE_LEASE,
            "claim_fill": _CLAIM_FILL,
        }.items():
            self._scripts[name] = client.register_script(source)

    async def close(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    async def _run(self, name: str, keys: Sequence[str], args: Sequence[Any]) -> Any:
        return await self._scripts[name](keys=list(keys), args=list(args), client=self.client)

    async def restore(self) -> bool:
        """Restore a state that lost its data (no epoch): counters from the `on_loss` seeds, the consumer
        group, a new epoch, in one script. True when this call restored it (then `restored` is called);
        False when it was not lost or another instance restored it first. Errors of the seeds (the store
        unreachable) propagate: nothing may be reserved until the counters are back."""
        async with self._restoring:
            if await self.client.exists(self._epoch):
                return False
            seeds = list(await self._seeds()) if self._seeds is not None else []
            keys = [self._epoch, self._stream, *(self._counter_key(r.counter) for r in seeds)]
            args = [uuid.uuid4().hex, _GROUP, 2 * DAY_MS, *(r.amount for r in seeds)]
            if not int(await self._run("restore", keys, args)):
                return False
            self.resets += 1
            log.warning(
                "shared state: Redis had no epoch (empty, restarted without persistence, failed over or "
                "flushed): %d guardrail counters restored from the store, consumer group recreated",
                len(seeds),
            )
            if self._restored is not None:
                self._restored()
            return True

    async def _queue_call(self, call: Any) -> Any:
        """Runs a queue command; on NOGROUP (the stream and its group are gone) restores and runs it again."""
        try:
            return await call()
        except ResponseError as exc:
            if "NOGROUP" not in str(exc):
                raise
        await self.restore()
        return await call()

    # Dedup.
    async def first_sightings(self, keys: Sequence[bytes], ttl_ms: int) -> list[bool]:
        async with self.client.pipeline(transaction=False) as pipe:
            for key in keys:
                pipe.set(f"{self._tag}:dedup:{key.hex()}", b"1", nx=True, px=ttl_ms)
            results = await pipe.execute()
        return [bool(r) for r in results]

    async def claim_fill_key(
        self,
        aliases: Sequence[bytes],
        key: bytes,
        ttl_ms: int,
        *,
        lookups: Sequence[bytes] = (),
        notes: Sequence[bytes] = (),
    ) -> bytes:
        keys = [f"{self._tag}:fill:{a.hex()}" for a in (*aliases, *lookups, *notes)]
        winner = await self._run("claim_fill", keys, [key, ttl_ms, len(aliases), len(lookups)])
        return bytes(winner)

    # Guardrails.
    def _counter_key(self, name: str) -> str:
        return f"{self._tag}:guard:{name}"

    async def reserve(self, reservations: Sequence[Reservation], ttl_ms: int = 2 * 86_400_000) -> str | None:
        args: list[Any] = [ttl_ms]
        for r in reservations:
            args += [r.amount, -1 if r.cap is None else r.cap]
        keys = [self._epoch, *(self._counter_key(r.counter) for r in reservations)]
        failed = int(await self._run("reserve", keys, args))
        if failed == _LOST:
            await self.restore()
            failed = int(await self._run("reserve", keys, args))
            if failed == _LOST:
                raise StoreError("the Redis shared state lost its data again while being restored")
        return None if failed == 0 else reservations[failed - 1].reason

    async def release(self, reservations: Sequence[Reservation]) -> None:
        await self._run(
            "release", [self._counter_key(r.counter) for r in reservations], [r.amount for r in reservations]
        )

    async def counter(self, name: str) -> int:
        value = await self.client.get(self._counter_key(name))
        return 0 if value is None else int(value)

    # Queue.
    async def enqueue_many(self, items: Sequence[tuple[bytes, bytes]]) -> list[bool]:
        args: list[Any] = [self.max_queue]
        for key, payload in items:
            args += [key, payload]
        keys = [self._stream, self._dropped, self._epoch]
        reply = await self._run("enqueue", keys, args)
        if reply == _LOST:
            await self.restore()
            reply = await self._run("enqueue", keys, args)
            if reply == _LOST:
                raise StoreError("the Redis shared state lost its data again while being restored")
        return [bool(x) for x in reply]

    async def dequeue(self, consumer: str, count: int = 1, block_ms: int = 0) -> list[Delivery]:
        # BLOCK 0 would wait forever in Redis; here 0 means do not wait.
        reply: Any = await self._queue_call(
            lambda: self.client.xreadgroup(
                _GROUP, consumer, {self._stream: ">"}, count=count, block=block_ms or None
            )
        )
        out = []
        for _, entries in reply or []:
            for entry_id, fields in entries:
                out.append(Delivery(_text(entry_id), fields[b"k"], fields[b"p"], 1))
        return out

    async def claim_stale(self, consumer: str, min_idle_ms: int, count: int = 100) -> list[Delivery]:
        reply = await self._queue_call(
            lambda: self._run(
                "claim",
                [self._stream, self._dead],
                [_GROUP, consumer, min_idle_ms, count, self.max_deliveries],
            )
        )
        return [Delivery(_text(i), bytes(k), bytes(p), int(n)) for i, k, p, n in reply]

    async def ack(self, ids: Sequence[str]) -> int:
        if not ids:
            return 0
        return int(await self._run("ack", [self._stream, _GROUP], list(ids)))

    async def dead_letters(self, count: int = 100) -> list[Delivery]:
        entries: Any = await self.client.xrange(self._dead, count=count)
        return [Delivery(_text(f[b"id"]), f[b"k"], f[b"p"], int(f[b"n"])) for _, f in entries]

    async def queue_stats(self) -> QueueStats:
        async def read() -> list[Any]:
            async with self.client.pipeline(transaction=False) as pipe:
                pipe.xlen(self._stream)
                pipe.xpending(self._stream, _GROUP)
                pipe.get(self._dropped)
                pipe.xlen(self._dead)
                # Acknowledged entries are deleted: the stream's first entry is the oldest job still owed.
                pipe.xrange(self._stream, count=1)
                result: list[Any] = await pipe.execute()
                return result

        length, pending, dropped, dead, first = await self._queue_call(read)
        oldest = int(_text(first[0][0]).split("-", 1)[0]) if first else None
        return QueueStats(int(length), int(pending["pending"]), int(dropped or 0), int(dead), oldest)

    # Leases.
    def _lease_key(self, name: str) -> str:
        return f"{self._tag}:lease:{name}"

    async def acquire_lease(self, name: str, holder: str, ttl_ms: int) -> bool:
        return bool(await self._run("acquire", [self._lease_key(name)], [holder, ttl_ms]))

    async def renew_lease(self, name: str, holder: str, ttl_ms: int) -> bool:
        return bool(await self._run("renew", [self._lease_key(name)], [holder, ttl_ms]))

    async def release_lease(self, name: str, holder: str) -> bool:
        return bool(await self._run("release_lease", [self._lease_key(name)], [holder]))

    async def lease_holder(self, name: str) -> str | None:
        value = await self.client.get(self._lease_key(name))
        return None if value is None else _text(value)


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
