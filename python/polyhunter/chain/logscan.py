"""Reading one address's logs over a block range in chunks that production RPC providers accept.

Hosted providers refuse an `eth_getLogs` whose range or result is too large, each in its own words: "range
1000000 exceeds limit of 10000" (-32602), "query returned more than 10000 results" (-32005), "Log response
size exceeded … this block range should work: [0x…, 0x…]", "eth_getLogs is limited to a 10,000 range"
(-32614), "block range is too wide", "exceed maximum block range: 5000", "query timeout exceeded", an HTTP
413, or a read that times out. A refused chunk is halved (or cut to the range the provider suggests) and asked
again; after a run of answered chunks the size doubles back up to `max_chunk`. A chunk still refused at one
block, or refused too many times in a row, raises `LogScanError` naming the range: a scan returns every log
of the range or nothing.

The start of a contract's history (`deployment_block`) comes from a binary search of `eth_getCode` over past
blocks; a pruned node that keeps no old state cannot answer it, and the caller then gives a bounded lookback.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import requests
from web3 import Web3
from web3.exceptions import Web3Exception, Web3RPCError
from web3.types import FilterParams, LogReceipt

from polyhunter.errors import ChainError

log = logging.getLogger(__name__)

#: The first chunk: under every common provider's range limit (Alchemy's 2,000 for unbounded results).
DEFAULT_CHUNK = 2_000
#: Growing never passes this (QuickNode's and Infura's 10,000).
MAX_CHUNK = 10_000
#: Refusals in a row (each halving the chunk) before a scan gives up: 2,000 → 1 takes 11.
MAX_REFUSALS = 16
#: Answered chunks in a row before the chunk doubles: a density spike that forced a halving may be over.
GROW_AFTER = 4

# Lower-cased fragments of the refusals that a smaller range cures (see the module docstring).
_RANGE_WORDS = (
    "exceed",
    "too large",
    "too wide",
    "too big",
    "too high",
    "limit",
    "bigger",
    "larger",
    "max",
    "up to",
)
_REFUSAL_PHRASES = (
    "response size",
    "too many",
    "timeout",
    "timed out",
    "deadline exceeded",
    "reduce",
)
_SUGGESTED = re.compile(r"\[\s*(0x[0-9a-f]+)\s*,\s*(0x[0-9a-f]+)\s*\]")
_REFUSAL_CODES = frozenset({-32614})


class LogScanError(ChainError):
    """A log scan that could not read part of its range; nothing of the scan is returned."""

    def __init__(self, message: str, from_block: int, to_block: int) -> None:
        super().__init__(message)
        self.from_block = from_block
        self.to_block = to_block


def _error_text(exc: BaseException) -> tuple[str, int | None]:
    """The provider's words (message and data) and JSON-RPC code of a failed request, lower-cased."""
    code: int | None = None
    parts = [str(exc)]
    if isinstance(exc, Web3RPCError) and isinstance(exc.rpc_response, dict):
        error = exc.rpc_response.get("error")
        if isinstance(error, dict):
            raw_code = error.get("code")
            code = raw_code if isinstance(raw_code, int) else None
            parts += [str(error.get("message", "")), str(error.get("data", ""))]
    return " ".join(parts).lower(), code


def describe(exc: BaseException) -> str:
    """What a failed request says, without a transport error's URL (a hosted RPC's path holds its API key):
    the provider's JSON-RPC error as it sent it, else the exception's type."""
    if isinstance(exc, Web3RPCError) and isinstance(exc.rpc_response, dict):
        error = exc.rpc_response.get("error")
        if isinstance(error, dict):
            return f"{error.get('code')}: {error.get('message')}"
    return type(exc).__name__


def is_range_refusal(exc: BaseException) -> bool:
    """Whether `exc` is a provider refusing an `eth_getLogs` that a smaller range would pass."""
    if isinstance(exc, requests.Timeout | TimeoutError):
        return True
    if isinstance(exc, requests.HTTPError) and exc.response is not None:
        return exc.response.status_code == 413
    text, code = _error_text(exc)
    if code in _REFUSAL_CODES:
        return True
    if "range" in text and any(word in text for word in _RANGE_WORDS):
        return True
    if "more than" in text and "result" in text:
        return True
    if "too many requests" in text or "rate limit" in text:
        return False  # a smaller range does not cure a rate limit: the caller's retry policy does
    return any(phrase in text for phrase in _REFUSAL_PHRASES)


def suggested_size(exc: BaseException, start: int) -> int | None:
    """The chunk size a provider's refusal suggests (Alchemy names a range that "should work"), if it
    starts where we asked and is not empty."""
    text, _ = _error_text(exc)
    match = _SUGGESTED.search(text)
    if match is None:
        return None
    low, high = int(match.group(1), 16), int(match.group(2), 16)
    if low != start or high < low:
        return None
    return high - low + 1


@dataclass
class LogScanner:
    """Reads logs in adaptive chunks on `w3`; one scanner keeps its learned chunk across scans."""

    w3: Web3
    chunk: int = DEFAULT_CHUNK
    max_chunk: int = MAX_CHUNK
    max_refusals: int = MAX_REFUSALS
    sent: int = 0
    """`eth_getLogs` requests sent (answered or refused), for reports and tests."""

    def __post_init__(self) -> None:
        if self.chunk < 1 or self.max_chunk < self.chunk or self.max_refusals < 1:
            raise ValueError(
                f"log scan: chunk {self.chunk}, max_chunk {self.max_chunk} and max_refusals "
                f"{self.max_refusals} must be 1 <= chunk <= max_chunk and max_refusals >= 1"
            )

    def head(self) -> int:
        try:
            return int(self.w3.eth.block_number)
        except (OSError, Web3Exception, ValueError) as exc:
            raise ChainError(f"reading the head block: {describe(exc)}") from None

    def logs(
        self,
        address: str,
        topics: Sequence[Any],
        from_block: int,
        to_block: int | None = None,
        *,
        what: str = "logs",
    ) -> list[LogReceipt]:
        """Every log of `address` matching `topics` in blocks `from_block`..`to_block` (default: the head
        when the scan starts), in chain order; `LogScanError` names the range it could not read."""
        end = self.head() if to_block is None else to_block
        if from_block < 0:
            raise LogScanError(f"reading {what}: block {from_block} is not a block", from_block, end)
        out: list[LogReceipt] = []
        start, refusals, answered = from_block, 0, 0
        checksum = Web3.to_checksum_address(address)
        while start <= end:
            stop = min(end, start + self.chunk - 1)
            params: FilterParams = {
                "address": checksum,
                "fromBlock": start,
                "toBlock": stop,
                "topics": list(topics),
            }
            self.sent += 1
            try:
                entries = self.w3.eth.get_logs(params)
            except (OSError, Web3Exception, ValueError) as exc:
                if not is_range_refusal(exc):
                    raise LogScanError(
                        f"reading {what} of {address} in blocks {start}..{stop}: {describe(exc)}",
                        start,
                        stop,
                    ) from None
                refusals += 1
                size = stop - start + 1
                if size == 1 or refusals >= self.max_refusals:
                    raise LogScanError(
                        f"reading {what} of {address}: the RPC refused blocks {start}..{stop} {refusals} "
                        f"times in a row (last: {describe(exc)}); blocks {start}..{end} are unread",
                        start,
                        end,
                    ) from None
                hint = suggested_size(exc, start)
                self.chunk = hint if hint is not None and hint < size else max(1, size // 2)
                answered = 0
                log.debug(
                    "eth_getLogs %d..%d refused (%s); chunk now %d", start, stop, describe(exc), self.chunk
                )
                continue
            out.extend(entries)
            start, refusals = stop + 1, 0
            answered += 1
            if answered >= GROW_AFTER and self.chunk < self.max_chunk:
                self.chunk, answered = min(self.max_chunk, self.chunk * 2), 0
        return out


def scan_logs(
    w3: Web3,
    address: str,
    topics: Sequence[Any],
    from_block: int,
    to_block: int | None = None,
    *,
    what: str = "logs",
    chunk: int = DEFAULT_CHUNK,
) -> list[LogReceipt]:
    """`LogScanner(w3, chunk).logs(…)` for a one-off scan."""
    return LogScanner(w3, chunk=chunk, max_chunk=max(chunk, MAX_CHUNK)).logs(
        address, topics, from_block, to_block, what=what
    )


def deployment_block(w3: Web3, address: str, head: int | None = None) -> int | None:
    """The block in which the contract at `address` was created (its code first present), by a binary search
    of `eth_getCode` over past blocks; None when the RPC cannot say (a pruned node keeps no old state), and
    `ChainError` when there is no code at `address` at all."""
    checksum = Web3.to_checksum_address(address)
    try:
        top = int(w3.eth.block_number) if head is None else head
        if not w3.eth.get_code(checksum, top):
            raise ChainError(f"no contract at {address} at block {top}")
    except (OSError, Web3Exception, ValueError) as exc:
        raise ChainError(f"reading the code of {address}: {describe(exc)}") from None
    low, high = 0, top  # invariant: code at `high`; none before `low`
    while low < high:
        middle = (low + high) // 2
        try:
            present = bool(w3.eth.get_code(checksum, middle))
        except (OSError, Web3Exception, ValueError) as exc:
            log.info(
                "cannot read the code of %s at block %d (%s): its deployment block is unknown",
                address,
                middle,
                exc,
            )
            return None
        if present:
            high = middle
        else:
            low = middle + 1
    return high
