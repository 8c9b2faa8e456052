"""Settings from the environment and `.env`, validated at start; errors name the variable, never a secret.

Names are the earlier TypeScript supervisor's (`TRADING_MNEMONIC`, `COPY_TRADING_*`, `SUPERVISOR_*`, …) plus
ours (`POLYHUNTER_HOME`, `COPY_TRADING_WS_URL`, `OWNER_PRIVATE_KEY`, `FUNDER_PRIVATE_KEY`); the fields below
hold their defaults and `polyhunter config show` prints them. USD caps are given as decimal USD and held as
integer base units.
"""

from __future__ import annotations

import ipaddress
import re
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit, urlunsplit

from pydantic import AfterValidator, Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from polyhunter.errors import ConfigError
from polyhunter.units import normalize_address, parse_usd

SECRET_FIELDS = frozenset(
    {
        "trading_mnemonic",
        "trading_private_key",
        "owner_private_key",
        "funder_private_key",
        "database_url",
        "redis_url",
        "supervisor_redis_url",
        "copy_trading_rpc_url",
        "copy_trading_rpc_urls",
        "copy_trading_ws_url",
        "copy_trading_ws_urls",
    }
)
"""Fields whose raw value may hold a secret (keys, passwords, RPC API keys): never echoed in an error."""

_PRIVATE_KEY = re.compile(r"(0x)?[0-9a-fA-F]{64}")
_SECP256K1_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141

Address = Annotated[str, AfterValidator(lambda value: normalize_address(value, "the address"))]
UsdCap = int | None

MAX_SHARDS = 1024
MAX_QUEUE_SIZE = 10_000_000
"""Beyond this a bounded queue is no longer bounded in any useful sense (memory, drain time)."""
MAX_FEE_GWEI = 100_000

POLYGON_CHAIN_ID = 137
AMOY_CHAIN_ID = 80002


def _split_list(value: Any) -> Any:
    if isinstance(value, str):
        return [item.strip() for item in value.split(",") if item.strip()]
    return value


def _deposit_wallet_pairs(value: Any) -> Any:
    """`worker:wallet,worker:wallet` → {worker: wallet}, both lower-case addresses."""
    if isinstance(value, dict):
        items = list(value.items())
    elif isinstance(value, str):
        items = []
        for pair in _split_list(value):
            worker, sep, wallet = pair.partition(":")
            if not sep:
                raise ValueError(f"each entry must be worker:wallet (got {pair!r})")
            items.append((worker.strip(), wallet.strip()))
    else:
        return value
    out: dict[str, str] = {}
    for worker, wallet in items:
        w = normalize_address(str(worker), "a worker")
        if w in out:
            raise ValueError(f"worker {w} is given twice (got {value!r})")
        out[w] = normalize_address(str(wallet), f"the wallet of worker {w}")
    return out


def _check_url(url: str, schemes: tuple[str, ...]) -> str:
    parts = urlsplit(url)
    if parts.scheme not in schemes or not parts.netloc:
        raise ValueError(f"must be a URL with scheme {' or '.join(schemes)}")
    return url


def _loopback_ip(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def mask_url(url: str, keep_path: bool = True) -> str:
    """The URL with its password (and query, and with `keep_path=False` its path) replaced by `***`."""
    parts = urlsplit(url)
    netloc = parts.netloc
    if "@" in netloc:
        userinfo, host = netloc.rsplit("@", 1)
        user = userinfo.split(":", 1)[0]
        netloc = f"{user}:***@{host}" if ":" in userinfo else f"{user}@{host}"
    path = parts.path if keep_path or parts.path in ("", "/") else "/***"
    query = "***" if parts.query else ""
    return urlunsplit((parts.scheme, netloc, path, query, ""))


class Settings(BaseSettings):
    """The effective settings of one polyhunter process."""

    model_config = SettingsConfigDict(
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        case_sensitive=False,
        frozen=True,
        # `nan` or `inf` is never a sensible number of anything: refused with "must be a finite number".
        allow_inf_nan=False,
    )

    # Local files and chain.
    polyhunter_home: Path = Path(".polyhunter")
    chain_id: int | None = Field(default=None, gt=0)
    copy_trading_rpc_url: SecretStr | None = None
    copy_trading_rpc_urls: Annotated[list[SecretStr], NoDecode] = []
    copy_trading_ws_url: SecretStr | None = None
    # Websocket endpoints for subscriptions, in failover order (like COPY_TRADING_RPC_URLS).
    copy_trading_ws_urls: Annotated[list[SecretStr], NoDecode] = []
    executor_address: Address | None = None
    proxy_factory_address: Address | None = None
    usdc_address: Address | None = None
    ctf_address: Address | None = None
    # The Executor's limits on workers, fixed by `deploy` (docs/seams.md, "Executor worker limits").
    executor_change_delay_s: int = Field(default=86_400, ge=0, le=30 * 86_400)
    # Given in decimal USD like the environment (the docs show it so), held as base units once validated.
    executor_worker_cap_usd: int = Field(default="50000", validate_default=True, ge=0, le=2**48 - 1)

    # Keys (secrets).
    trading_mnemonic: SecretStr | None = None
    # The fleet's first index on TRADING_MNEMONIC (after `polyhunter fleet rotate` to later indices).
    trading_account_start: int = Field(default=0, ge=0, le=2**31 - 1)
    trading_private_key: SecretStr | None = None
    owner_private_key: SecretStr | None = None
    funder_private_key: SecretStr | None = None

    # Trading switch: DRY_RUN wins over ENABLE_REAL_TRADING.
    enable_real_trading: bool = False
    dry_run: bool | None = None

    # Store of record and shared state.
    database_url: SecretStr | None = None
    redis_url: SecretStr | None = None
    supervisor_redis_url: SecretStr | None = None
    supervisor_redis_prefix: str = Field(default="polyhunter", pattern=r"^[A-Za-z0-9_.:-]+$")
    polyhunter_group_commit_ms: float = Field(default=2.0, ge=0, le=1000)
    polyhunter_intake_sync: Literal["deferred", "full"] = "deferred"

    # Guardrails (USD in, base units held).
    copy_trading_execution_allowlist: Annotated[list[Address], NoDecode] = []
    copy_trading_max_trade_usd: UsdCap = None
    copy_trading_daily_cap_usd: UsdCap = None
    copy_trading_wallet_daily_cap_usd: UsdCap = None
    copy_trading_buffer_usd: int = 50_000_000
    copy_trading_max_retry_attempts: int = Field(default=3, ge=0, le=100)
    copy_trading_pending_expiry_ms: int = Field(default=300_000, gt=0)

    # Supervisor.
    # This instance's name in the job queue's consumer group (default: unique per process). A configured
    # name is held as a lease in the shared state while the instance runs: a second instance refuses it.
    supervisor_consumer_name: str | None = Field(default=None, pattern=r"^[A-Za-z0-9_.:-]{1,128}$")
    supervisor_shard_count: int = Field(default=1, ge=1, le=MAX_SHARDS)
    supervisor_shard_index: int = Field(default=0, ge=0)
    supervisor_ws_filter_by_address: bool = True
    # Where leaders' fills are seen: `logs` (always: the log releases every copy), `mempool` (pending
    # matchOrders, measured for lead time), `feed` (Polymarket's activity feed). Unset: logs, mempool where a
    # websocket URL exists, feed where a feed URL exists.
    supervisor_sources: Annotated[list[Literal["logs", "mempool", "feed"]], NoDecode] | None = None
    # The activity feed (RTDS) websocket; unset: the local CLOB's on a local chain, Polymarket's on chain 137.
    supervisor_feed_url: str | None = None
    # Which sighting of a fill makes its copies: the log (`log`), or the earliest source (`first`, keyed on
    # the fill's identity). A fill first seen pending or in the feed with no log within this many blocks is
    # flagged.
    supervisor_act_on: Literal["log", "first"] = "log"
    supervisor_pending_confirm_blocks: int = Field(default=20, ge=1, le=10_000)
    supervisor_fanout_concurrency: int = Field(default=25, ge=1, le=10_000)
    supervisor_queue_max_size: int = Field(default=5000, ge=1, le=MAX_QUEUE_SIZE)
    supervisor_queue_drain_interval_ms: int = Field(default=500, ge=1)
    supervisor_queue_claim_idle_ms: int = Field(default=30_000, ge=1)
    supervisor_queue_max_deliveries: int = Field(default=5, ge=1, le=1000)
    supervisor_dedup_ttl_ms: int = Field(default=60_000, ge=1)
    supervisor_guardrail_cache_ttl_ms: int = Field(default=5000, ge=0)
    supervisor_market_meta_ttl_ms: int = Field(default=300_000, ge=0)
    supervisor_worker_pool_size: int = Field(default=20, ge=1, le=10_000)
    # Executions in flight per instance. At 30 ms per execution, 20 one-at-a-time workers cap at ~666/s (the
    # earlier supervisor's ceiling); reaching thousands per second needs hundreds in flight.
    supervisor_exec_concurrency: int = Field(default=1024, ge=1, le=100_000)
    supervisor_config_refresh_ms: int = Field(default=10_000, ge=1)
    supervisor_config_full_refresh_ms: int = Field(default=300_000, ge=1)

    # Execution engine (issue 7). Fees in gwei, gas balances in wei, intervals in ms.
    copy_trading_max_inflight_per_wallet: int = Field(default=16, ge=1, le=1000)
    copy_trading_priority_fee_gwei: int = Field(default=30, ge=0, le=MAX_FEE_GWEI)
    copy_trading_max_fee_gwei: int = Field(default=1000, ge=1, le=MAX_FEE_GWEI)
    # A replacement raises both fee fields by this factor (ppm); geth refuses less than +10 %.
    copy_trading_fee_bump_ppm: int = Field(default=1_200_000, ge=1_100_000, le=10_000_000)
    copy_trading_tx_replace_after_ms: int = Field(default=15_000, ge=1)
    # A wallet whose mined nonce has not moved this long (two Polygon blocks) with transactions in flight is
    # checked for dropped ones, rebroadcast at once instead of after the replace interval.
    copy_trading_tx_stall_ms: int = Field(default=4_000, ge=1)
    copy_trading_tx_poll_ms: int = Field(default=200, ge=1)
    copy_trading_confirm_timeout_ms: int = Field(default=300_000, ge=1)
    copy_trading_retry_backoff_ms: int = Field(default=250, ge=0)
    copy_trading_max_slippage_bps: int = Field(default=500, ge=0, le=10_000)
    copy_trading_smart_buffer: bool = False
    copy_trading_coalesce_ms: int = Field(default=5, ge=0, le=1000)
    copy_trading_max_batch: int = Field(default=50, ge=1, le=500)
    copy_trading_wallet_lease_ms: int = Field(default=30_000, ge=100)
    copy_trading_min_gas_wei: int = Field(default=10**15, ge=0)
    copy_trading_refuel_below_wei: int = Field(default=10**17, ge=0)
    copy_trading_refuel_amount_wei: int = Field(default=10**18, ge=0)
    copy_trading_refuel_interval_ms: int = Field(default=60_000, ge=1)
    copy_trading_stale_scan_ms: int = Field(default=120_000, ge=1)
    copy_trading_reconcile_ms: int = Field(default=60_000, ge=1)
    copy_trading_debt_repay_ms: int = Field(default=300_000, ge=1)
    # The Executor watch (execution/watch.py): how often it reads the Executor's pulls and repayments
    # (0: off), and how long one whose transaction is not in the store waits before it is reported.
    copy_trading_executor_watch_ms: int = Field(default=15_000, ge=0)
    copy_trading_executor_watch_grace_ms: int = Field(default=120_000, ge=0)
    # Redemptions (execution/redeem.py): resolved markets redeemed into the Proxies holding them (off: only
    # merges asked for, and recovery of rows already sent), how often the CTF's resolutions are read, and
    # at most how many Proxies one transaction redeems or merges.
    copy_trading_auto_redeem: bool = True
    copy_trading_redeem_poll_ms: int = Field(default=15_000, ge=100)
    copy_trading_redeem_batch: int = Field(default=50, ge=1, le=200)

    # The venue copies trade on (issue 12): LocalExchange (local chains) or Polymarket's CLOB V2.
    copy_trading_venue: Literal["local_exchange", "clob"] = "local_exchange"
    copy_trading_clob_batch_orders: bool = False
    # The CLOB's URL: default the local CLOB of the deployment (`clob_url`), Polymarket's on chain 137.
    clob_host: str | None = None
    # 3 = POLY_1271 (each fleet wallet trades through its deposit wallet, production's default); 0 = the
    # fleet EOA itself, where the venue allowlists it.
    clob_signature_type: Literal[0, 3] = 3
    # Market-order amount regime (polyhunter._core.market_order_amounts): cents | lots | legacy.
    clob_amount_rule: Literal["cents", "lots", "legacy"] = "cents"
    copy_trading_order_type: Literal["FOK", "FAK"] = "FOK"
    # Blocks on top of a copy's OrderFilled before its tokens go to the Proxy (or the trade is CONFIRMED).
    copy_trading_clob_confirmations: int = Field(default=1, ge=0, le=1000)
    # Each fleet EOA's deposit wallet in production (worker:wallet pairs): Polymarket's relayer makes those
    # wallets, so their addresses are given, never computed with our own CREATE2.
    clob_deposit_wallets: Annotated[dict[str, str], NoDecode] = {}
    # Polymarket's geoblock endpoint (`polyhunter ready` asks it whether this host may trade); unset: the
    # CLOB's own `/api/geoblock`.
    clob_geoblock_url: str | None = None
    # `polyhunter ready`: the newest block must be younger than this on a chain that mines on its own.
    supervisor_ready_max_block_age_s: int = Field(default=60, ge=1, le=86_400)
    # The supervisor's /metrics, /healthz, /readyz and /status (host:port, port 0 for any free one); `off`.
    supervisor_metrics_addr: str = Field(
        default="127.0.0.1:9464", pattern=r"^(off|(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+):[0-9]{1,5})$"
    )
    # Log lines as text for a terminal or as one JSON object a line for a log shipper (polyhunter.logformat).
    polyhunter_log_format: Literal["text", "json"] = "text"
    # The event loop of the supervisor, the demo and the load simulation (polyhunter.eventloop); unset:
    # uvloop where it is installed, else asyncio's own.
    polyhunter_event_loop: Literal["uvloop", "asyncio"] | None = None

    @field_validator(
        "copy_trading_max_trade_usd",
        "copy_trading_daily_cap_usd",
        "copy_trading_wallet_daily_cap_usd",
        "copy_trading_buffer_usd",
        "executor_worker_cap_usd",
        mode="before",
    )
    @classmethod
    def _usd(cls, value: Any) -> Any:
        if value is None or (isinstance(value, str) and not value.strip()):
            return None
        if isinstance(value, int) and not isinstance(value, bool):
            if value < 0:
                raise ValueError("must not be negative")
            return value  # from code (defaults, overrides): already base units; the environment gives strings
        return parse_usd(str(value), "the amount")

    @field_validator(
        "copy_trading_rpc_urls", "copy_trading_ws_urls", "copy_trading_execution_allowlist", mode="before"
    )
    @classmethod
    def _comma_list(cls, value: Any) -> Any:
        return _split_list(value)

    @field_validator("supervisor_sources", mode="before")
    @classmethod
    def _sources(cls, value: Any) -> Any:
        if value is None or (isinstance(value, str) and not value.strip()):
            return None
        items = [str(item).strip().lower() for item in _split_list(value)]
        if "logs" not in items:
            raise ValueError("must include logs (the chain's logs release and confirm every copy)")
        return list(dict.fromkeys(items))

    @field_validator("clob_deposit_wallets", mode="before")
    @classmethod
    def _deposit_wallets(cls, value: Any) -> Any:
        if value is None or (isinstance(value, str) and not value.strip()):
            return {}
        return _deposit_wallet_pairs(value)

    @field_validator("clob_host", "clob_geoblock_url")
    @classmethod
    def _clob_host(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        # The venue's own rule (http on loopback only: the L2 headers carry the passphrase), checked at start.
        from polyhunter.venue.hosts import check_host

        try:
            return check_host(value)
        except ConfigError as exc:
            raise ValueError(str(exc)) from None

    @field_validator("trading_private_key", "owner_private_key", "funder_private_key")
    @classmethod
    def _private_key(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None:
            return None
        raw = value.get_secret_value().strip()
        if _PRIVATE_KEY.fullmatch(raw) is None:
            raise ValueError("must be 64 hex digits (with or without 0x)")
        if not 0 < int(raw.removeprefix("0x"), 16) < _SECP256K1_N:
            raise ValueError("is not a valid secp256k1 private key")
        return SecretStr(raw if raw.startswith("0x") else "0x" + raw)

    @field_validator("trading_mnemonic")
    @classmethod
    def _mnemonic(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None:
            return None
        from eth_account.hdaccount.mnemonic import Mnemonic
        from eth_account.types import Language

        words = " ".join(value.get_secret_value().split())
        if len(words.split(" ")) not in (12, 15, 18, 21, 24):
            raise ValueError("must be 12, 15, 18, 21 or 24 BIP-39 words")
        if not Mnemonic(Language.ENGLISH).is_mnemonic_valid(words):
            raise ValueError("is not a valid BIP-39 mnemonic (unknown word or bad checksum)")
        return SecretStr(words)

    @field_validator("database_url")
    @classmethod
    def _database_url(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None or not value.get_secret_value().strip():
            return None
        url = value.get_secret_value().strip()
        parts = urlsplit(url)
        if parts.scheme == "sqlite":
            # A SQLite file has no host: sqlite:///absolute/path (the store opens the URL's path).
            if parts.netloc or not parts.path.startswith("/") or parts.path == "/" or parts.query:
                raise ValueError("a SQLite URL must be sqlite:///absolute/path/to/file.db")
            return SecretStr(url)
        _check_url(url, ("postgresql", "postgres", "sqlite"))
        return value

    @field_validator("redis_url", "supervisor_redis_url")
    @classmethod
    def _redis_url(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None or not value.get_secret_value().strip():
            return None
        _check_url(value.get_secret_value().strip(), ("redis", "rediss", "unix"))
        return value

    @field_validator("copy_trading_rpc_url", "copy_trading_ws_url")
    @classmethod
    def _rpc_url(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None or not value.get_secret_value().strip():
            return None
        _check_url(value.get_secret_value().strip(), ("http", "https", "ws", "wss"))
        return value

    @field_validator("supervisor_feed_url")
    @classmethod
    def _feed_url(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        url = _check_url(value.strip(), ("ws", "wss"))
        host = urlsplit(url).hostname or ""
        # Feed frames can release copies (SUPERVISOR_ACT_ON=first): plain ws only where nobody can inject.
        if urlsplit(url).scheme == "ws" and host != "localhost" and not _loopback_ip(host):
            raise ValueError("plain ws:// is accepted on loopback only; use wss://")
        return url

    @field_validator("copy_trading_rpc_urls")
    @classmethod
    def _rpc_urls(cls, value: list[SecretStr]) -> list[SecretStr]:
        for url in value:
            _check_url(url.get_secret_value(), ("http", "https", "ws", "wss"))
        return value

    @field_validator("copy_trading_ws_urls")
    @classmethod
    def _ws_urls(cls, value: list[SecretStr]) -> list[SecretStr]:
        for url in value:
            _check_url(url.get_secret_value(), ("ws", "wss"))
        return value

    @field_validator("polyhunter_event_loop", mode="before")
    @classmethod
    def _event_loop(cls, value: Any) -> Any:
        if isinstance(value, str):
            value = value.strip().lower()
            if value == "uvloop":
                from polyhunter.eventloop import uvloop_available

                if not uvloop_available():
                    raise ValueError("uvloop is not installed here (pip install uvloop); or set asyncio")
        return value

    @model_validator(mode="before")
    @classmethod
    def _empty(cls, data: Any) -> Any:
        """`NAME=` with nothing after it: unset where the default is unset (no cap, no URL), else refused.

        A template that left a value out must not silently run with a default (two instances both shard 0)."""
        if not isinstance(data, dict):
            return data
        kept: dict[Any, Any] = {}
        for key, value in data.items():
            field = cls.model_fields.get(str(key).lower())
            if field is not None and isinstance(value, str) and not value.strip():
                if field.default is None:
                    continue  # unset
                if field.default not in ([], {}):
                    raise ValueError(
                        f"{str(key).upper()}: is empty; give a value, or remove it for the default"
                    )
            kept[key] = value
        return kept

    @model_validator(mode="after")
    def _fees(self) -> Settings:
        if self.copy_trading_priority_fee_gwei > self.copy_trading_max_fee_gwei:
            raise ValueError(
                f"COPY_TRADING_PRIORITY_FEE_GWEI ({self.copy_trading_priority_fee_gwei}) must not exceed "
                f"COPY_TRADING_MAX_FEE_GWEI ({self.copy_trading_max_fee_gwei})"
            )
        return self

    @model_validator(mode="after")
    def _shard(self) -> Settings:
        if self.supervisor_shard_index >= self.supervisor_shard_count:
            raise ValueError(
                f"SUPERVISOR_SHARD_INDEX ({self.supervisor_shard_index}) must be below "
                f"SUPERVISOR_SHARD_COUNT ({self.supervisor_shard_count})"
            )
        return self

    # Derived values.
    @property
    def home(self) -> Path:
        """`$POLYHUNTER_HOME`, created on demand."""
        self.polyhunter_home.mkdir(parents=True, exist_ok=True)
        return self.polyhunter_home

    @property
    def shared_redis_url(self) -> str | None:
        """`SUPERVISOR_REDIS_URL`, else `REDIS_URL`, else None (in-process shared state)."""
        url = self.supervisor_redis_url or self.redis_url
        return None if url is None else url.get_secret_value().strip()

    @property
    def store_url(self) -> str | None:
        """`DATABASE_URL`, else None (the SQLite file under `$POLYHUNTER_HOME`)."""
        return None if self.database_url is None else self.database_url.get_secret_value().strip()

    @property
    def rpc_urls(self) -> list[str]:
        """`COPY_TRADING_RPC_URLS` (failover order), else `COPY_TRADING_RPC_URL`, else none."""
        urls = [u.get_secret_value() for u in self.copy_trading_rpc_urls]
        if not urls and self.copy_trading_rpc_url is not None:
            urls = [self.copy_trading_rpc_url.get_secret_value()]
        return urls

    @property
    def ws_urls(self) -> list[str]:
        """`COPY_TRADING_WS_URLS` (failover order), else `COPY_TRADING_WS_URL`, else none (deployment's)."""
        urls = [u.get_secret_value() for u in self.copy_trading_ws_urls]
        if not urls and self.copy_trading_ws_url is not None:
            urls = [self.copy_trading_ws_url.get_secret_value()]
        return urls

    @property
    def clob_url(self) -> str | None:
        """`CLOB_HOST`, else Polymarket's CLOB on chain 137, else None (the deployment's local CLOB)."""
        if self.clob_host is not None:
            return self.clob_host
        if self.chain_id != POLYGON_CHAIN_ID:
            return None
        from polyhunter.venue.hosts import PRODUCTION_HOST

        return PRODUCTION_HOST

    def is_dry_run(self, local_chain: bool) -> bool:
        """DRY_RUN=true wins; a local chain trades for real; elsewhere only with ENABLE_REAL_TRADING=true."""
        if self.dry_run:
            return True
        return not (local_chain or self.enable_real_trading)

    def masked(self) -> dict[str, Any]:
        """Every setting by its environment name, secrets masked: what `polyhunter config show` prints."""
        out: dict[str, Any] = {}
        for name in type(self).model_fields:
            value = getattr(self, name)
            out[name.upper()] = _mask(name, value)
        return out


def _mask(name: str, value: Any) -> Any:
    if value is None:
        return None
    if isinstance(value, list):
        return [_mask(name, v) for v in value]
    if isinstance(value, SecretStr):
        raw = value.get_secret_value()
        if name.endswith("_url") or name.endswith("_urls"):
            return mask_url(raw, keep_path=name == "database_url")
        return "***"
    if isinstance(value, Path):
        return str(value)
    return value


def load_settings(**overrides: Any) -> Settings:
    """Read the environment and `.env`; raise `ConfigError` with one line naming the first bad variable."""
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        raise ConfigError(describe_validation_error(exc)) from None
    except UnicodeDecodeError as exc:
        env_file = Settings.model_config.get("env_file")
        raise ConfigError(
            f"{env_file}: not UTF-8 text (byte 0x{exc.object[exc.start]:02x} at offset {exc.start}); "
            "save it as UTF-8"
        ) from None


def describe_validation_error(exc: ValidationError) -> str:
    """One line: `VARIABLE: problem (got 'value')`, the value left out for secrets."""
    errors = exc.errors(include_url=False)
    first = errors[0]
    field = str(first["loc"][0]) if first["loc"] else ""
    message = str(first["msg"]).removeprefix("Value error, ")
    if not field:
        line = message  # a model-level check already names its variables
    else:
        line = f"{field.upper()}: {message}"
        known = "got " in message  # our own checks already quote the value
        if field not in SECRET_FIELDS and not known and not isinstance(first.get("input"), dict):
            line += f" (got {str(first.get('input'))!r})"
    more = len(errors) - 1
    return line + (f" (and {more} more problem{'s' if more > 1 else ''})" if more else "")
