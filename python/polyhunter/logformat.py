"""Configure the process's logging as text or JSON lines, chosen by `POLYHUNTER_LOG_FORMAT`.

Logging starts before the other settings are validated (so that their errors can be logged), which is why
the format is read from the environment here; `Settings.polyhunter_log_format` validates the same variable
for `polyhunter config show`.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, TextIO

from polyhunter.errors import ConfigError

LOG_FORMATS = ("text", "json")
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
COPY_FIELDS = ("copy_key", "config_id", "stage", "latency_ms")
"""`extra` keys a record may carry about one copy; the JSON formatter lifts each present one to the top."""


def short_token_id(token_id: int) -> str:
    """A token id as log lines and tables show it: its first 6 and last 4 digits ("855828…1162"); a short id
    whole. A token id has 77 digits: in full it buries the rest of the line."""
    digits = str(token_id)
    return digits if len(digits) <= 12 else f"{digits[:6]}…{digits[-4:]}"


def _encoder() -> Callable[[dict[str, Any]], str]:
    try:
        import orjson
    except ImportError:  # orjson is optional: the stdlib writes the same objects, slower
        return lambda obj: json.dumps(obj, default=str, ensure_ascii=False)
    return lambda obj: orjson.dumps(obj, default=str).decode()


class JsonFormatter(logging.Formatter):
    """One JSON object per record: `ts` (UTC, ISO 8601), `level`, `logger`, `msg`, the copy's fields present
    in the record's `extra`, and `exc` with the traceback when there is one."""

    def __init__(self) -> None:
        super().__init__()
        self._encode = _encoder()

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for key in COPY_FIELDS:
            value = record.__dict__.get(key)
            if value is not None:
                # bytes (a copy key, a tx hash) as hex: `default=str` would give their Python repr.
                line[key] = "0x" + value.hex() if isinstance(value, bytes) else value
        if record.exc_info:
            line["exc"] = self.formatException(record.exc_info)
        if record.stack_info:
            line["stack"] = self.formatStack(record.stack_info)
        return self._encode(line)


def log_format() -> str:
    """`POLYHUNTER_LOG_FORMAT` (default `text`); a `ConfigError` naming the variable for anything else."""
    value = os.environ.get("POLYHUNTER_LOG_FORMAT", "text").strip().lower() or "text"
    if value not in LOG_FORMATS:
        raise ConfigError(f"POLYHUNTER_LOG_FORMAT must be one of {', '.join(LOG_FORMATS)}, not {value!r}")
    return value


def configure_logging(level: int | str, stream: TextIO | None = None, fmt: str | None = None) -> None:
    """Send the root logger's records at `level` and above to `stream` (stderr) in `fmt` (default: the
    environment's `POLYHUNTER_LOG_FORMAT`; once settings are loaded, theirs, which also reads `.env`),
    replacing any handler set before (a second call reconfigures rather than doubling every line)."""
    handler = logging.StreamHandler(stream if stream is not None else sys.stderr)
    chosen = log_format() if fmt is None else fmt
    handler.setFormatter(JsonFormatter() if chosen == "json" else logging.Formatter(TEXT_FORMAT))
    logging.basicConfig(
        level=level.upper() if isinstance(level, str) else level, handlers=[handler], force=True
    )
