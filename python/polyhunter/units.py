"""Exact parsing of the units docs/seams.md fixes: addresses, USD in base units, ppm and bps. No floats."""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

from polyhunter.errors import InvalidInputError

USD_DECIMALS = 6
BASE_UNITS_PER_USD = 10**USD_DECIMALS
PPM = 1_000_000
BPS = 10_000
MAX_AMOUNT = 2**63 - 1  # every amount fits SQL BIGINT

_ADDRESS = re.compile(r"0[xX][0-9a-fA-F]{40}")


def normalize_address(value: str, what: str = "address") -> str:
    """`0x` + 40 hex digits in any case → lower case; anything else raises `InvalidInputError`."""
    if not isinstance(value, str) or _ADDRESS.fullmatch(value.strip()) is None:
        raise InvalidInputError(f"{what} must be 0x + 40 hex digits, got {value!r}")
    return value.strip().lower()


def parse_scaled(text: str, decimals: int, what: str) -> int:
    """A non-negative decimal string times 10**decimals, exactly; more than `decimals` places is an error."""
    raw = str(text).strip()
    try:
        number = Decimal(raw)
    except InvalidOperation:
        raise InvalidInputError(f"{what} must be a decimal number, got {text!r}") from None
    if not number.is_finite():
        raise InvalidInputError(f"{what} must be a finite number, got {text!r}")
    if number < 0:
        raise InvalidInputError(f"{what} must not be negative, got {text!r}")
    exponent = number.normalize().as_tuple().exponent
    assert isinstance(exponent, int)
    if -exponent > decimals:
        raise InvalidInputError(f"{what} allows at most {decimals} decimals, got {text!r}")
    scaled = int(number.scaleb(decimals))
    if scaled > MAX_AMOUNT:
        raise InvalidInputError(f"{what} is too large, got {text!r}")
    return scaled


def parse_usd(text: str, what: str = "USD amount") -> int:
    """USD as a decimal string ("12.5") → base units (12_500_000)."""
    return parse_scaled(text, USD_DECIMALS, what)


def parse_ppm(text: str, what: str = "value") -> int:
    """A multiplier or a price in dollars ("0.55") → parts per million (550_000)."""
    return parse_scaled(text, 6, what)


def parse_percent_bps(text: str, what: str = "percent") -> int:
    """A percentage ("1.5") → basis points (150)."""
    return parse_scaled(text, 2, what)


def format_usd(base_units: int) -> str:
    """Base units → a decimal USD string with no trailing zeros beyond the cents ("12.50", "0.000001")."""
    sign = "-" if base_units < 0 else ""
    whole, frac = divmod(abs(base_units), BASE_UNITS_PER_USD)
    digits = f"{frac:06d}".rstrip("0").ljust(2, "0")
    return f"{sign}{whole}.{digits}"
