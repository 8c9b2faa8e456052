"""Log filters for `eth_subscribe("logs")` and `eth_getLogs`: which contracts, which events, which leaders."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from polyhunter._core import (
    TOPIC_ORDER_FILLED_V1,
    TOPIC_ORDER_FILLED_V2,
    TOPIC_TRANSFER_BATCH,
    TOPIC_TRANSFER_SINGLE,
)

# topic0 of each event the detector subscribes to, as the Rust decoder knows them.
ORDER_FILLED_V1 = TOPIC_ORDER_FILLED_V1
ORDER_FILLED_V2 = TOPIC_ORDER_FILLED_V2
TRANSFER_SINGLE = TOPIC_TRANSFER_SINGLE
TRANSFER_BATCH = TOPIC_TRANSFER_BATCH

#: Nodes cap the size of a topic filter; leaders beyond this go into further subscriptions.
LEADERS_PER_FILTER = 500


@dataclass(frozen=True)
class LogFilter:
    """One subscription / `eth_getLogs` filter."""

    address: tuple[str, ...]
    topics: tuple[tuple[str, ...] | None, ...]

    def params(self, from_block: int | None = None, to_block: int | None = None) -> dict[str, Any]:
        out: dict[str, Any] = {
            "address": list(self.address),
            "topics": [list(t) if t is not None else None for t in self.topics],
        }
        if from_block is not None:
            out["fromBlock"] = hex(from_block)
        if to_block is not None:
            out["toBlock"] = hex(to_block)
        return out


def topic_of(address: str) -> str:
    """An address as a 32-byte topic (left-padded, lower-case)."""
    return "0x" + "0" * 24 + address.lower().removeprefix("0x")


def _chunks(items: Sequence[str], size: int) -> Iterable[tuple[str, ...]]:
    for start in range(0, len(items), size):
        yield tuple(items[start : start + size])


def leader_filters(
    *,
    exchanges: Sequence[str],
    ctf: str | None,
    leaders: Sequence[str] | None,
    chunk: int = LEADERS_PER_FILTER,
) -> list[LogFilter]:
    """The filters that catch every fill of `leaders` (None: every fill on the watched contracts).

    An `OrderFilled` row is a leader's fill when the leader is its maker (topic 2), so the exchanges are
    filtered on topic 2 only; a row with the leader only in topic 3 is the counterparty's and is not
    wanted. A CTF transfer involves the leader as sender (topic 2) or receiver (topic 3): two filters.
    """
    fills = (ORDER_FILLED_V1, ORDER_FILLED_V2)
    transfers = (TRANSFER_SINGLE, TRANSFER_BATCH)
    exchange_addrs = tuple(a.lower() for a in exchanges)
    out: list[LogFilter] = []
    if leaders is None:
        if exchange_addrs:
            out.append(LogFilter(exchange_addrs, (fills,)))
        if ctf:
            out.append(LogFilter((ctf.lower(),), (transfers,)))
        return out
    leader_topics = sorted({topic_of(a) for a in leaders})
    for group in _chunks(leader_topics, chunk):
        if exchange_addrs:
            out.append(LogFilter(exchange_addrs, (fills, None, group)))
        if ctf:
            out.append(LogFilter((ctf.lower(),), (transfers, None, group)))
            out.append(LogFilter((ctf.lower(),), (transfers, None, None, group)))
    return out
