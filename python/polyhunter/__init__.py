"""polyhunter: a copy-trading engine for Polymarket with a Rust hot path under an asyncio supervisor."""

from polyhunter._core import __version__, dedup_key, keccak256
from polyhunter.errors import (
    ConfigError,
    DecodeError,
    ExecutionError,
    GuardrailRejected,
    InvalidInputError,
    PolyhunterError,
)

__all__ = [
    "ConfigError",
    "DecodeError",
    "ExecutionError",
    "GuardrailRejected",
    "InvalidInputError",
    "PolyhunterError",
    "__version__",
    "dedup_key",
    "keccak256",
]
