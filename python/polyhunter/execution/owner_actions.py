"""What the Executor's owner did: its admin events told apart from the workers', described, and its changes
still queued (neither executed nor cancelled) kept.

An owner event is any Executor event that no worker or factory call emits: every event whose name does not
start with `Pulled`, `Pushed`, `DebtRepaid`, `DebtRecorded` or `Proxy` (the workers' moves, debts, redemptions
and merges, and the factory's `ProxyRegistered`). So a new admin event added to the contract is reported as
an owner action without a change here; a new worker event with another name would be too (noise, not
silence). A queued change's calldata is decoded with the Executor's ABI into `name(arg=value, …)`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from eth_abi.abi import decode
from eth_abi.exceptions import DecodingError

from polyhunter._core import keccak256

#: Events emitted by workers' and the factory's calls; every other Executor event is the owner's.
NOT_OWNER_PREFIXES = ("Pulled", "Pushed", "DebtRepaid", "DebtRecorded", "Proxy")
CHANGE_QUEUED = "ChangeQueued"
CHANGE_EXECUTED = "ChangeExecuted"
CHANGE_CANCELLED = "ChangeCancelled"
CHANGE_EVENTS = (CHANGE_QUEUED, CHANGE_EXECUTED, CHANGE_CANCELLED)


def is_owner_event(name: str) -> bool:
    """Whether the Executor event `name` records an owner (admin) action."""
    return not name.startswith(NOT_OWNER_PREFIXES)


def show(value: Any) -> str:
    """One decoded ABI value as a person reads it: bytes in hex, addresses lower-cased, lists in brackets."""
    if isinstance(value, bytes):
        return "0x" + value.hex()
    if isinstance(value, str):
        return value.lower() if value.startswith("0x") else value
    if isinstance(value, list | tuple):
        return "[" + ", ".join(show(v) for v in value) + "]"
    return str(value)


def utc(timestamp: int) -> str:
    return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


class CallDecoder:
    """An Executor calldata → `name(arg=value, …)`, from the functions of the Executor's ABI."""

    def __init__(self, abi: Sequence[dict[str, Any]]) -> None:
        self._functions: dict[bytes, tuple[str, tuple[str, ...], tuple[str, ...]]] = {}
        for entry in abi:
            if entry.get("type") != "function":
                continue
            inputs = entry.get("inputs", [])
            if any("components" in i for i in inputs):
                continue  # no admin function takes a struct; such a call is shown in hex
            types = tuple(str(i["type"]) for i in inputs)
            selector = keccak256(f"{entry['name']}({','.join(types)})".encode())[:4]
            self._functions[selector] = (str(entry["name"]), tuple(str(i["name"]) for i in inputs), types)

    def describe(self, call: bytes) -> str:
        """`name(arg=value, …)`; the calldata in hex when no function of the ABI decodes it."""
        function = self._functions.get(call[:4])
        if function is None:
            return "0x" + call.hex()
        name, names, types = function
        try:
            values = decode(list(types), call[4:])
        except (DecodingError, ValueError, TypeError, OverflowError):
            return "0x" + call.hex()
        return f"{name}({', '.join(f'{n}={show(v)}' for n, v in zip(names, values, strict=True))})"


@dataclass(frozen=True)
class QueuedChange:
    """A widening change the owner queued that is neither executed nor cancelled yet."""

    id: bytes
    call: str
    """The decoded call, `name(arg=value, …)`."""
    ready_at: int
    """Chain time (s) from which `executeChange` may run it; until it does, `cancelChange(id)` drops it."""
    block_number: int


class QueuedChanges:
    """The changes queued and not yet executed or cancelled, kept from the owner's `Change…` events."""

    def __init__(self, decoder: CallDecoder) -> None:
        self.decoder = decoder
        self._by_id: dict[bytes, QueuedChange] = {}

    def __len__(self) -> int:
        return len(self._by_id)

    def changes(self) -> list[QueuedChange]:
        """The queued changes, the first ready first."""
        return sorted(self._by_id.values(), key=lambda c: (c.ready_at, c.id))

    def get(self, change_id: bytes) -> QueuedChange | None:
        return self._by_id.get(change_id)

    @property
    def ids(self) -> list[bytes]:
        return list(self._by_id)

    @property
    def next_ready_at(self) -> int:
        """The earliest `ready_at` of the queued changes; 0 when none is queued."""
        return min((c.ready_at for c in self._by_id.values()), default=0)

    def apply(self, name: str, args: dict[str, Any], block_number: int) -> None:
        """Takes one owner event into account (events other than `Change…` change nothing)."""
        if name not in CHANGE_EVENTS:
            return
        change_id = bytes(args["id"])
        if name == CHANGE_QUEUED:
            call = self.decoder.describe(bytes(args["call"]))
            self._by_id[change_id] = QueuedChange(change_id, call, int(args["readyAt"]), block_number)
        else:
            self._by_id.pop(change_id, None)

    def confirm(self, change_id: bytes, ready_at: int) -> None:
        """Aligns one change on the Executor's `changeReadyAt(id)`: 0 means it is no longer queued (a reorg
        took the event that queued it away)."""
        if ready_at == 0:
            self._by_id.pop(change_id, None)
        elif (change := self._by_id.get(change_id)) is not None and change.ready_at != ready_at:
            self._by_id[change_id] = QueuedChange(change_id, change.call, ready_at, change.block_number)

    def clear(self) -> None:
        self._by_id.clear()
