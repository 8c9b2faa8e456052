"""Binds a store to its chain (chain id and genesis hash), so that one chain's ledger never serves another.

A local chain restarted under the same `POLYHUNTER_HOME` replays the same deterministic deployment and
accounts, so the leaders' first transactions have the same hashes as before: an unbound ledger would take
them for copies already made and skip them silently. So the store records the chain of its first start; on a
local chain (31337, 1337) that has changed, the SQLite ledger is moved aside as
`polyhunter-<chain id>-<genesis hash prefix>.db` (kept as it was), a new one starts in its place with the
same follow rules, and one line says so; on any other chain a mismatch refuses to start.
"""

from __future__ import annotations

import asyncio
import json
import logging
from dataclasses import dataclass
from pathlib import Path

from polyhunter.chain.aiorpc import AsyncRpc
from polyhunter.errors import ConfigError, PolyhunterError
from polyhunter.settings import Settings
from polyhunter.store.base import Store
from polyhunter.store.sqlite import SqliteStore

log = logging.getLogger(__name__)

LOCAL_CHAIN_IDS = frozenset({31337, 1337})
IDENTITY_TIMEOUT_S = 5.0


@dataclass(frozen=True, slots=True)
class ChainIdentity:
    chain_id: int
    genesis_hash: str

    @property
    def tag(self) -> str:
        return f"{self.chain_id}-{self.genesis_hash.removeprefix('0x')[:12]}"

    def __str__(self) -> str:
        return f"chain {self.chain_id} (genesis {self.genesis_hash[:14]}…)"


def rpc_urls_of(settings: Settings) -> list[str]:
    """The HTTP RPC endpoints the settings (or the home's deployment) name, for reading the identity."""
    urls = [u for u in settings.rpc_urls if u.startswith("http")]
    if urls:
        return urls
    try:
        deployment = json.loads((settings.home / "deployment.json").read_text())
        url = deployment.get("rpc_url")
    except (OSError, ValueError, AttributeError):
        return []
    return [url] if isinstance(url, str) and url.startswith("http") else []


async def chain_identity(urls: list[str], timeout_s: float = IDENTITY_TIMEOUT_S) -> ChainIdentity | None:
    """The chain id and genesis hash the endpoints serve, or None when none answers in time."""
    if not urls:
        return None
    try:
        async with AsyncRpc(urls) as rpc:
            chain_id, genesis = await asyncio.wait_for(
                asyncio.gather(rpc.chain_id(), rpc.call("eth_getBlockByNumber", ["0x0", False])), timeout_s
            )
    except (PolyhunterError, OSError, TimeoutError) as exc:
        log.debug("chain identity not read (%s): the store is not bound to a chain this time", exc)
        return None
    if not isinstance(genesis, dict) or not isinstance(genesis.get("hash"), str):
        return None
    return ChainIdentity(int(chain_id), str(genesis["hash"]).lower())


async def bind_to_chain(
    store: Store, chain: ChainIdentity, *, where: str, group_commit_ms: float = 2.0
) -> Store:
    """Returns the store holding `chain`'s ledger: `store` itself (recording the chain on first use), or,
    for a local chain that changed, a new SQLite ledger with the old one moved aside. `where` names the
    store's setting for messages."""
    recorded = await store.chain_identity()
    if recorded is None:
        await store.set_chain_identity(chain.chain_id, chain.genesis_hash)
        return store
    old = ChainIdentity(*recorded)
    if old == chain:
        return store
    local = chain.chain_id in LOCAL_CHAIN_IDS and old.chain_id in LOCAL_CHAIN_IDS
    if not local or not isinstance(store, SqliteStore):
        await store.close()
        fix = "point DATABASE_URL at an empty database" if not isinstance(store, SqliteStore) else ""
        raise ConfigError(
            f"{where}: this store holds the ledger of {old}, but the RPC serves {chain}: refusing to start "
            f"({fix or 'give each chain its own POLYHUNTER_HOME or DATABASE_URL'})"
        )
    return await _new_local_ledger(store, old, chain, group_commit_ms)


def _move_aside(path: Path, old: ChainIdentity) -> Path:
    """Renames the ledger file (and its WAL) to a name of its chain; returns the new name."""
    archive = path.with_name(f"{path.stem}-{old.tag}{path.suffix}")
    n = 1
    while archive.exists():
        n += 1
        archive = path.with_name(f"{path.stem}-{old.tag}-{n}{path.suffix}")
    for suffix in ("", "-wal", "-shm"):
        part = Path(f"{path}{suffix}")
        if part.exists():
            part.rename(f"{archive}{suffix}")
    return archive


async def _new_local_ledger(
    store: SqliteStore, old: ChainIdentity, chain: ChainIdentity, group_commit_ms: float
) -> Store:
    rules = await store.list_configs()
    await store.close()
    path = Path(store.path)
    archive = await asyncio.to_thread(_move_aside, path, old)
    fresh = SqliteStore(path, group_commit_ms=group_commit_ms)
    await fresh.open()
    await fresh.set_chain_identity(chain.chain_id, chain.genesis_hash)
    for rule in rules:
        await fresh.add_config(rule)
    log.warning(
        "the local chain changed (was %s, now %s): a new ledger starts in %s with the %d follow rules; "
        "the old one is kept as %s",
        old,
        chain,
        path,
        len(rules),
        archive,
    )
    return fresh
