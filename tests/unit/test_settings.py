"""Settings: the earlier supervisor's names and defaults, exact USD caps, one-line errors without secrets."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from polyhunter.cli import main
from polyhunter.errors import ConfigError
from polyhunter.settings import Settings, load_settings

MNEMONIC = "test test test test test test test test test test test junk"  # anvil's: valid checksum
KEY = "0x" + "ac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80"[:64]
STATE_ENV = [
    "DATABASE_URL",
    "REDIS_URL",
    "SUPERVISOR_REDIS_URL",
    "TRADING_MNEMONIC",
    "TRADING_PRIVATE_KEY",
    "DRY_RUN",
    "ENABLE_REAL_TRADING",
]


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No `.env`, no variable of the developer's own shell steers these tests."""
    monkeypatch.chdir(tmp_path)
    for name in STATE_ENV:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("POLYHUNTER_HOME", str(tmp_path / "home"))


def test_defaults_are_the_earlier_supervisors() -> None:
    s = load_settings()
    assert (s.supervisor_fanout_concurrency, s.supervisor_queue_max_size, s.supervisor_worker_pool_size) == (
        25,
        5000,
        20,
    )
    assert (s.supervisor_queue_drain_interval_ms, s.supervisor_config_refresh_ms) == (500, 10_000)
    assert (s.supervisor_dedup_ttl_ms, s.supervisor_config_full_refresh_ms) == (60_000, 300_000)
    assert (s.supervisor_guardrail_cache_ttl_ms, s.supervisor_market_meta_ttl_ms) == (5000, 300_000)
    assert s.supervisor_ws_filter_by_address is True
    assert (s.supervisor_shard_count, s.supervisor_shard_index) == (1, 0)
    assert s.copy_trading_max_trade_usd is None  # unset = no cap
    assert s.copy_trading_daily_cap_usd is None
    assert s.copy_trading_wallet_daily_cap_usd is None
    assert s.copy_trading_buffer_usd == 50_000_000
    assert s.store_url is None  # SQLite under POLYHUNTER_HOME
    assert s.shared_redis_url is None  # in-process memory


def test_environment_values_are_parsed_exactly(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COPY_TRADING_DAILY_CAP_USD", "1000.000001")
    monkeypatch.setenv("COPY_TRADING_MAX_TRADE_USD", "25")
    monkeypatch.setenv("COPY_TRADING_EXECUTION_ALLOWLIST", "0x" + "AB" * 20 + ", 0x" + "cd" * 20)
    monkeypatch.setenv("COPY_TRADING_RPC_URLS", "https://127.0.0.1:8545/v2/KEY,https://127.0.0.1:8546")
    monkeypatch.setenv("REDIS_URL", "redis://127.0.0.1:6379/1")
    monkeypatch.setenv("SUPERVISOR_REDIS_URL", "redis://127.0.0.1:6379/2")
    monkeypatch.setenv("SUPERVISOR_SHARD_COUNT", "4")
    monkeypatch.setenv("SUPERVISOR_SHARD_INDEX", "3")
    s = load_settings()
    assert s.copy_trading_daily_cap_usd == 1_000_000_001
    assert s.copy_trading_max_trade_usd == 25_000_000
    assert s.copy_trading_execution_allowlist == ["0x" + "ab" * 20, "0x" + "cd" * 20]
    assert s.rpc_urls == ["https://127.0.0.1:8545/v2/KEY", "https://127.0.0.1:8546"]
    assert s.shared_redis_url == "redis://127.0.0.1:6379/2"  # SUPERVISOR_REDIS_URL wins over REDIS_URL


def test_dry_run_wins_over_enable_real_trading(monkeypatch: pytest.MonkeyPatch) -> None:
    assert load_settings().is_dry_run(local_chain=False)
    assert not load_settings().is_dry_run(local_chain=True)
    monkeypatch.setenv("ENABLE_REAL_TRADING", "true")
    assert not load_settings().is_dry_run(local_chain=False)
    monkeypatch.setenv("DRY_RUN", "true")
    assert load_settings().is_dry_run(local_chain=False)
    assert load_settings().is_dry_run(local_chain=True)


def test_dotenv_file_is_read(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("SUPERVISOR_WORKER_POOL_SIZE=7\nTRADING_MNEMONIC=" + MNEMONIC + "\n")
    s = load_settings()
    assert s.supervisor_worker_pool_size == 7
    assert s.trading_mnemonic is not None
    assert s.trading_mnemonic.get_secret_value() == MNEMONIC


@pytest.mark.parametrize(
    ("name", "value", "expected", "secret"),
    [
        ("EXECUTOR_ADDRESS", "0x1234", "EXECUTOR_ADDRESS: the address must be 0x + 40 hex digits", False),
        (
            "COPY_TRADING_EXECUTION_ALLOWLIST",
            "0x" + "1" * 40 + ",nope",
            "COPY_TRADING_EXECUTION_ALLOWLIST",
            False,
        ),
        (
            "COPY_TRADING_DAILY_CAP_USD",
            "-5",
            "COPY_TRADING_DAILY_CAP_USD: the amount must not be negative",
            False,
        ),
        (
            "COPY_TRADING_MAX_TRADE_USD",
            "1.0000001",
            "COPY_TRADING_MAX_TRADE_USD: the amount allows at most 6",
            False,
        ),
        ("SUPERVISOR_QUEUE_MAX_SIZE", "0", "SUPERVISOR_QUEUE_MAX_SIZE", False),
        (
            "SUPERVISOR_SHARD_INDEX",
            "2",
            "SUPERVISOR_SHARD_INDEX (2) must be below SUPERVISOR_SHARD_COUNT (1)",
            False,
        ),
        ("DATABASE_URL", "mysql://root:hunter2@db/x", "DATABASE_URL: must be a URL with scheme", True),
        (
            "TRADING_MNEMONIC",
            " ".join(["test"] * 12),
            "TRADING_MNEMONIC: is not a valid BIP-39 mnemonic",
            True,
        ),
        (
            "TRADING_MNEMONIC",
            MNEMONIC.replace("junk", "junkk"),
            "TRADING_MNEMONIC: is not a valid BIP-39",
            True,
        ),
        (
            "TRADING_MNEMONIC",
            "legal winner thank year wave",
            "TRADING_MNEMONIC: must be 12, 15, 18, 21 or 24",
            True,
        ),
        ("TRADING_PRIVATE_KEY", KEY[:-1] + "g", "TRADING_PRIVATE_KEY: must be 64 hex digits", True),
        (
            "OWNER_PRIVATE_KEY",
            "0x" + "0" * 64,
            "OWNER_PRIVATE_KEY: is not a valid secp256k1 private key",
            True,
        ),
    ],
)
def test_a_bad_setting_is_one_line_naming_it_without_the_secret(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str, expected: str, secret: bool
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError) as caught:
        load_settings()
    message = str(caught.value)
    assert message.startswith(expected)
    assert "\n" not in message
    if secret:
        assert value not in message
        assert "hunter2" not in message
        assert "junk" not in message
        assert "test test" not in message


def test_config_show_masks_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRADING_MNEMONIC", MNEMONIC)
    monkeypatch.setenv("TRADING_PRIVATE_KEY", KEY)
    monkeypatch.setenv("DATABASE_URL", "postgresql://polyhunter:hunter2@127.0.0.1:5432/prod")
    monkeypatch.setenv("COPY_TRADING_RPC_URL", "https://127.0.0.1:8545/v2/apikey123")
    monkeypatch.setenv("COPY_TRADING_MAX_TRADE_USD", "100")
    result = CliRunner().invoke(main, ["config", "show"])
    assert result.exit_code == 0, result.output
    out = result.output
    for secret in ("junk", KEY[2:], "hunter2", "apikey123"):
        assert secret not in out
    assert "TRADING_MNEMONIC=***" in out
    assert "DATABASE_URL=postgresql://polyhunter:***@127.0.0.1:5432/prod" in out
    assert "COPY_TRADING_RPC_URL=https://127.0.0.1:8545/***" in out
    assert "COPY_TRADING_MAX_TRADE_USD=100000000" in out
    assert "SUPERVISOR_QUEUE_MAX_SIZE=5000" in out


def test_config_show_with_a_bad_setting_exits_with_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRADING_MNEMONIC", MNEMONIC.replace("junk", "test"))
    result = CliRunner().invoke(main, ["config", "show"])
    assert result.exit_code == 1
    assert result.output.strip().splitlines() == [
        "Error: TRADING_MNEMONIC: is not a valid BIP-39 mnemonic (unknown word or bad checksum)"
    ]


def test_settings_are_immutable() -> None:
    s = Settings()
    with pytest.raises(ValueError, match="frozen"):
        s.supervisor_worker_pool_size = 3  # type: ignore[misc]
