"""`POLYHUNTER_LOG_FORMAT` picks text or JSON lines; JSON lines carry the copy's fields from `extra`."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest

from polyhunter.errors import ConfigError
from polyhunter.logformat import configure_logging, log_format


@pytest.fixture
def restore_root_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


def _log_one(monkeypatch: pytest.MonkeyPatch, fmt: str, **extra: object) -> str:
    monkeypatch.setenv("POLYHUNTER_LOG_FORMAT", fmt)
    out = io.StringIO()
    configure_logging("INFO", stream=out)
    logging.getLogger("polyhunter.test").info("copy %s done", "one", extra=extra)
    logging.getLogger("polyhunter.test").debug("below the level")
    return out.getvalue()


@pytest.mark.usefixtures("restore_root_logging")
def test_json_lines_carry_the_copys_fields(monkeypatch: pytest.MonkeyPatch) -> None:
    text = _log_one(
        monkeypatch, "json", copy_key=b"\x01\xab", config_id=7, stage="executed", latency_ms=412, other="x"
    )
    (line,) = text.splitlines()
    record = json.loads(line)
    assert record["level"] == "INFO"
    assert record["logger"] == "polyhunter.test"
    assert record["msg"] == "copy one done"
    assert record["ts"].endswith("+00:00")
    assert record["copy_key"] == "0x01ab"
    assert (record["config_id"], record["stage"], record["latency_ms"]) == (7, "executed", 412)
    assert "other" not in record


@pytest.mark.usefixtures("restore_root_logging")
def test_json_lines_hold_the_traceback_in_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("POLYHUNTER_LOG_FORMAT", "json")
    out = io.StringIO()
    configure_logging("INFO", stream=out)
    try:
        raise ValueError("boom")
    except ValueError:
        logging.getLogger("polyhunter.test").exception("failed")
    (line,) = out.getvalue().splitlines()
    assert "ValueError: boom" in json.loads(line)["exc"]


@pytest.mark.usefixtures("restore_root_logging")
def test_text_is_the_default_and_a_second_call_does_not_double_lines(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("POLYHUNTER_LOG_FORMAT", raising=False)
    assert log_format() == "text"
    configure_logging("INFO", stream=io.StringIO())
    text = _log_one(monkeypatch, "TEXT")
    (line,) = text.splitlines()
    assert line.endswith("INFO polyhunter.test: copy one done")


def test_an_unknown_format_is_a_config_error_naming_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("POLYHUNTER_LOG_FORMAT", "xml")
    with pytest.raises(ConfigError, match="POLYHUNTER_LOG_FORMAT must be one of text, json, not 'xml'"):
        log_format()


@pytest.mark.usefixtures("restore_root_logging")
def test_the_settings_format_wins_over_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    # `.env` reaches the settings, not the environment: the supervisor passes the settings' format on.
    monkeypatch.setenv("POLYHUNTER_LOG_FORMAT", "text")
    out = io.StringIO()
    configure_logging("INFO", stream=out, fmt="json")
    logging.getLogger("polyhunter.test").info("from settings")
    assert json.loads(out.getvalue().strip())["msg"] == "from settings"
