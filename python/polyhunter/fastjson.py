"""JSON on the hot paths through orjson, exact where orjson alone would not be.

orjson is several times faster than the standard library, but it differs in two ways that matter here:
it refuses to encode an integer beyond 64 bits (token ids and on-chain amounts are uint256), and it decodes
such an integer, and every fraction, to a float. So:

- `dumps` encodes with orjson and falls back to the standard library (same compact output) for what orjson
  refuses, a big integer above all; the result is bytes either way.
- `loads` decodes with orjson unless the text holds a bare number that orjson would not give exactly (19 or
  more digits, a fraction or an exponent): then the standard library decodes it, fractions as `parse_float`
  says (`Decimal` for prices). The check is a byte scan; a false alarm (such a pattern inside a string)
  only costs the slower decoder.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

import orjson

# A bare number token (first, or after `:`, `[` or `,`: not inside quotes) orjson would make a float.
_INEXACT = re.compile(rb"(?:^|[:\[,])\s*-?(?:\d{19}|\d+[.eE])")


def dumps(value: Any) -> bytes:
    """Compact JSON bytes (no spaces, like `json.dumps(..., separators=(",", ":"))`); exact for any int."""
    try:
        return orjson.dumps(value)
    except TypeError:
        # An int beyond 64 bits (or a type orjson does not know): the standard library says which.
        return json.dumps(value, separators=(",", ":")).encode()


def loads(data: bytes | str, *, parse_float: Callable[[str], Any] | None = None) -> Any:
    """The JSON value of `data`, every integer exact; fractions as `parse_float` makes them (default
    float). Raises `ValueError` (a `json.JSONDecodeError`) for text that is not JSON."""
    raw = data.encode() if isinstance(data, str) else data
    if _INEXACT.search(raw) is None:
        return orjson.loads(raw)
    return json.loads(raw, parse_float=parse_float)
