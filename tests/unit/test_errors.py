"""The exception tree: one base, each child also the stdlib error callers already catch."""

from __future__ import annotations

import pytest

from polyhunter import errors


@pytest.mark.parametrize(
    ("cls", "stdlib"),
    [
        (errors.InvalidInputError, ValueError),
        (errors.DecodeError, ValueError),
        (errors.ConfigError, ValueError),
        (errors.ChainError, ConnectionError),
        (errors.StoreError, RuntimeError),
        (errors.ExecutionError, RuntimeError),
        (errors.ToolchainError, RuntimeError),
    ],
)
def test_each_error_is_also_a_stdlib_error(cls: type[Exception], stdlib: type[Exception]) -> None:
    assert issubclass(cls, errors.PolyhunterError)
    assert issubclass(cls, stdlib)


def test_decode_error_is_an_invalid_input_error() -> None:
    assert issubclass(errors.DecodeError, errors.InvalidInputError)


def test_guardrail_rejected_carries_its_reason() -> None:
    exc = errors.GuardrailRejected("daily_cap", "wallet 0xabc would reach 120 of 100 USD")
    assert exc.reason == "daily_cap"
    assert str(exc) == "daily_cap: wallet 0xabc would reach 120 of 100 USD"
