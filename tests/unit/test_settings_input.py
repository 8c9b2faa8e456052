"""Bad settings are refused with one line naming the variable (never a traceback, never a secret); the values
that look odd but have one sensible meaning are accepted."""

from __future__ import annotations

from pathlib import Path

import pytest

from polyhunter.errors import ConfigError
from polyhunter.settings import MAX_QUEUE_SIZE, MAX_SHARDS, Settings, load_settings


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No `.env` and no setting of the developer's own shell steers these tests."""
    monkeypatch.chdir(tmp_path)
    for name in Settings.model_fields:
        monkeypatch.delenv(name.upper(), raising=False)
    monkeypatch.setenv("POLYHUNTER_HOME", str(tmp_path / "home"))


def refused(monkeypatch: pytest.MonkeyPatch, **env: str) -> str:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError) as caught:
        load_settings()
    message = str(caught.value)
    assert "\n" not in message
    return message


# ENABLE_REAL_TRADING: a switch left empty must not quietly mean false either.
@pytest.mark.parametrize(
    "name",
    ["SUPERVISOR_QUEUE_MAX_SIZE", "SUPERVISOR_SHARD_INDEX", "COPY_TRADING_BUFFER_USD", "ENABLE_REAL_TRADING"],
)
def test_an_empty_value_with_a_default_is_refused(monkeypatch: pytest.MonkeyPatch, name: str) -> None:
    message = refused(monkeypatch, **{name: "  "})
    assert message == f"{name}: is empty; give a value, or remove it for the default"


@pytest.mark.parametrize(
    "name", ["CHAIN_ID", "DRY_RUN", "COPY_TRADING_MAX_TRADE_USD", "REDIS_URL", "CLOB_HOST"]
)
def test_an_empty_value_without_a_default_means_unset(monkeypatch: pytest.MonkeyPatch, name: str) -> None:
    monkeypatch.setenv(name, "")
    assert getattr(load_settings(), name.lower()) is None


def test_an_empty_list_setting_is_an_empty_list(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COPY_TRADING_RPC_URLS", "")
    monkeypatch.setenv("COPY_TRADING_EXECUTION_ALLOWLIST", "")
    settings = load_settings()
    assert settings.rpc_urls == []
    assert settings.copy_trading_execution_allowlist == []


@pytest.mark.parametrize(
    ("name", "value", "expected"),
    [
        ("POLYHUNTER_GROUP_COMMIT_MS", "nan", "POLYHUNTER_GROUP_COMMIT_MS: Input should be a finite number"),
        ("POLYHUNTER_GROUP_COMMIT_MS", "inf", "POLYHUNTER_GROUP_COMMIT_MS: Input should be a finite number"),
        ("SUPERVISOR_DEDUP_TTL_MS", "nan", "SUPERVISOR_DEDUP_TTL_MS: Input should be a valid integer"),
        (
            "COPY_TRADING_DAILY_CAP_USD",
            "nan",
            "COPY_TRADING_DAILY_CAP_USD: the amount must be a finite number",
        ),
    ],
)
def test_nan_is_never_a_number(monkeypatch: pytest.MonkeyPatch, name: str, value: str, expected: str) -> None:
    assert refused(monkeypatch, **{name: value}).startswith(expected)


def test_an_absurd_queue_size_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    message = refused(monkeypatch, SUPERVISOR_QUEUE_MAX_SIZE=str(MAX_QUEUE_SIZE + 1))
    assert message.startswith(
        f"SUPERVISOR_QUEUE_MAX_SIZE: Input should be less than or equal to {MAX_QUEUE_SIZE}"
    )
    monkeypatch.setenv("SUPERVISOR_QUEUE_MAX_SIZE", str(MAX_QUEUE_SIZE))
    assert load_settings().supervisor_queue_max_size == MAX_QUEUE_SIZE


def test_an_absurd_shard_count_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    message = refused(monkeypatch, SUPERVISOR_SHARD_COUNT=str(MAX_SHARDS + 1))
    assert message.startswith(f"SUPERVISOR_SHARD_COUNT: Input should be less than or equal to {MAX_SHARDS}")


def test_a_priority_fee_above_the_maximum_fee_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    message = refused(monkeypatch, COPY_TRADING_PRIORITY_FEE_GWEI="200", COPY_TRADING_MAX_FEE_GWEI="100")
    assert message == "COPY_TRADING_PRIORITY_FEE_GWEI (200) must not exceed COPY_TRADING_MAX_FEE_GWEI (100)"
    monkeypatch.setenv("COPY_TRADING_PRIORITY_FEE_GWEI", "100")
    assert load_settings().copy_trading_priority_fee_gwei == 100  # equal is allowed


def test_a_sqlite_url_is_the_store_file(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("DATABASE_URL", f"sqlite://{tmp_path}/store.db")
    assert load_settings().store_url == f"sqlite://{tmp_path}/store.db"


@pytest.mark.parametrize("url", ["sqlite://host/store.db", "sqlite:", "sqlite:///", "sqlite:///x.db?mode=ro"])
def test_a_sqlite_url_of_another_form_says_which_is_expected(
    monkeypatch: pytest.MonkeyPatch, url: str
) -> None:
    message = refused(monkeypatch, DATABASE_URL=url)
    assert message == "DATABASE_URL: a SQLite URL must be sqlite:///absolute/path/to/file.db"


def test_a_database_url_error_never_echoes_the_password(monkeypatch: pytest.MonkeyPatch) -> None:
    message = refused(monkeypatch, DATABASE_URL="mysql://user:hunter2@127.0.0.1/db")
    assert message.startswith("DATABASE_URL: must be a URL with scheme")
    assert "hunter2" not in message


def test_a_dotenv_that_is_not_utf8_is_one_line(tmp_path: Path) -> None:
    (tmp_path / ".env").write_bytes(b"COPY_TRADING_MAX_TRADE_USD=10\nSUPERVISOR_REDIS_PREFIX=\xff\n")
    with pytest.raises(ConfigError) as caught:
        load_settings()
    assert str(caught.value) == ".env: not UTF-8 text (byte 0xff at offset 54); save it as UTF-8"


def test_a_consumer_name_is_a_plain_word(monkeypatch: pytest.MonkeyPatch) -> None:
    assert refused(monkeypatch, SUPERVISOR_CONSUMER_NAME="a b").startswith(
        "SUPERVISOR_CONSUMER_NAME: String should"
    )
    monkeypatch.setenv("SUPERVISOR_CONSUMER_NAME", "east-1")
    assert load_settings().supervisor_consumer_name == "east-1"
