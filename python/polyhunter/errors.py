"""The exception tree of polyhunter: one base, each child also a stdlib error.

Like web3.py's tree and orjson's errors, every class also subclasses the stdlib error a caller would
already catch (`except ValueError` keeps working). Rust errors map onto these classes at the
`polyhunter._core` edge. Messages name the wrong value and never contain a secret.
"""

from __future__ import annotations


class PolyhunterError(Exception):
    """Base of every error polyhunter raises on purpose."""


class InvalidInputError(PolyhunterError, ValueError):
    """A value of the right type but outside what the operation accepts (an amount, an address, a hash)."""


class DecodeError(InvalidInputError):
    """Bytes that are not a well-formed log, JSON-RPC message, hash or hex string."""


class ConfigError(PolyhunterError, ValueError):
    """A setting that is missing, malformed or inconsistent; the message names the setting."""


class GuardrailRejected(PolyhunterError):
    """A copy refused by a guardrail (a cap, the allowlist, slippage); `reason` is the short machine code."""

    def __init__(self, reason: str, detail: str = "") -> None:
        self.reason = reason
        self.detail = detail
        super().__init__(f"{reason}: {detail}" if detail else reason)


class ChainError(PolyhunterError, ConnectionError):
    """An RPC endpoint or node failed or answered with an error."""


class StoreError(PolyhunterError, RuntimeError):
    """The store of record or the shared state failed."""


class QueueFull(PolyhunterError):
    """The job queue is at its bound; the caller records the job SKIPPED(queue_full)."""


class ExecutionError(PolyhunterError, RuntimeError):
    """A copy job failed while touching the chain or the venue."""


class ToolchainError(PolyhunterError, RuntimeError):
    """A local tool polyhunter drives (anvil, solc) is missing or failed to start."""
