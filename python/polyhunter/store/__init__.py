"""The store of record: one interface (`Store`), SQLite by default, PostgreSQL when `DATABASE_URL` is set."""

from __future__ import annotations

from urllib.parse import urlsplit

from polyhunter.errors import ConfigError, StoreError
from polyhunter.settings import Settings, mask_url
from polyhunter.store.base import FINAL_STATUSES, Store, StoreJournal
from polyhunter.store.postgres import PostgresStore
from polyhunter.store.sqlite import SqliteStore

SQLITE_FILE = "polyhunter.db"

__all__ = [
    "FINAL_STATUSES",
    "PostgresStore",
    "SqliteStore",
    "Store",
    "StoreJournal",
    "create_store",
    "open_store",
]


def create_store(settings: Settings) -> Store:
    """The store the settings choose (not opened): `DATABASE_URL`, else `$POLYHUNTER_HOME/polyhunter.db`."""
    url = settings.store_url
    commit_ms = settings.polyhunter_group_commit_ms
    # Under act-on-first a pending or feed sighting marks the fill seen in the shared state before its log: a
    # row of it that a power loss dropped would not be made again from the log, so every commit is flushed.
    sync = "full" if settings.supervisor_act_on == "first" else settings.polyhunter_intake_sync
    if url is None:
        return SqliteStore(settings.home / SQLITE_FILE, group_commit_ms=commit_ms, intake_sync=sync)
    if urlsplit(url).scheme == "sqlite":
        return SqliteStore(urlsplit(url).path, group_commit_ms=commit_ms, intake_sync=sync)
    return PostgresStore(url, group_commit_ms=commit_ms, intake_sync=sync)


async def open_store(settings: Settings) -> Store:
    """Create, connect and migrate the store; a store that cannot be reached is a `ConfigError` naming it."""
    store = create_store(settings)
    where = "DATABASE_URL" if settings.store_url else "POLYHUNTER_HOME"
    try:
        await store.open()
    except StoreError as exc:
        await store.close()
        shown = mask_url(settings.store_url) if settings.store_url else str(settings.home)
        raise ConfigError(f"{where}: {exc} ({shown})") from None
    # The ledger belongs to one chain (store.identity): bound whenever the configured chain answers.
    from polyhunter.store.identity import bind_to_chain, chain_identity, rpc_urls_of

    chain = await chain_identity(rpc_urls_of(settings))
    if chain is not None:
        try:
            store = await bind_to_chain(
                store, chain, where=where, group_commit_ms=settings.polyhunter_group_commit_ms
            )
        except StoreError as exc:
            await store.close()
            raise ConfigError(f"{where}: {exc}") from None
    return store
