"""The Executor's owner at work: reading the Executor's state and its workers, and making admin calls that
wait out the change delay (`polyhunter executor …`, `polyhunter fleet rotate`).

A widening call (authorise a worker, register its wallet, raise a cap, change the fee or treasury) made after
the Executor's setup phase, with a non-zero `changeDelay`, is queued (`queueChange`) the first time, left
alone while it waits, and executed (`executeChange`) by a later run once its time has come: every command is
re-runnable and finishes what an earlier run queued. Narrowing calls (deauthorise, lower a cap, pause) apply
at once. Each call is one `Change` the command reports (done, queued until …, waiting until …, unchanged).
Any queued change can be listed (`queued`, its call decoded as the supervisor's Executor watch logs it) and
cancelled by its id (`cancel`) until it is executed.
The Executor's events are read from its deployment block in chunks the RPC accepts (`chain.logscan`).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from eth_account.signers.local import LocalAccount
from eth_typing import ChecksumAddress, HexStr
from web3 import Web3
from web3.contract import Contract
from web3.exceptions import Web3Exception
from web3.types import TxParams

from polyhunter._core import keccak256
from polyhunter.chain.artifacts import load_artifact
from polyhunter.chain.logscan import LogScanner, deployment_block
from polyhunter.chain.tx import contract, send
from polyhunter.errors import ChainError, ConfigError, InvalidInputError
from polyhunter.execution.owner_actions import CallDecoder, QueuedChange

log = logging.getLogger(__name__)

ZERO_ADDRESS = "0x" + "00" * 20
POLYGON_CHAIN_ID = 137
#: Blocks read back when the Executor's deployment block cannot be found (about 12 days of Polygon blocks):
#: a pruned node answers no historical `eth_getCode`.
DEFAULT_LOOKBACK = 500_000


class ChangeNotQueued(InvalidInputError):
    """A change id the Executor does not hold queued (never queued, already executed or cancelled)."""


def parse_change_id(text: str) -> bytes:
    """A change id as `executor queued` prints it (`0x` and 64 hex digits) → its 32 bytes;
    `InvalidInputError` otherwise."""
    digits = text.strip().lower().removeprefix("0x")
    if len(digits) != 64 or any(c not in "0123456789abcdef" for c in digits):
        raise InvalidInputError(f"change id {text!r}: expected 0x and 64 hex digits (see `executor queued`)")
    return bytes.fromhex(digits)


def when(timestamp: int) -> str:
    return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


@dataclass(frozen=True)
class Change:
    """One admin call and what this run did about it."""

    call: str
    status: str
    """`done` (applied now), `queued` (queued now), `waiting` (queued earlier, not yet ready), `unchanged`."""
    tx_hash: str | None = None
    ready_at: int | None = None
    """For `queued` / `waiting`: the chain time (s) from which a re-run applies it."""

    @property
    def pending(self) -> bool:
        return self.status in ("queued", "waiting")

    def to_json(self) -> dict[str, Any]:
        return {"call": self.call, "status": self.status, "tx_hash": self.tx_hash, "ready_at": self.ready_at}

    def line(self) -> str:
        if self.status == "done":
            return f"{self.call}: done (tx {self.tx_hash})"
        if self.status == "unchanged":
            return f"{self.call}: already so, nothing sent"
        assert self.ready_at is not None
        verb = "queued" if self.status == "queued" else "still queued"
        return f"{self.call}: {verb}; effective from {when(self.ready_at)}: run this command again then"


@dataclass(frozen=True)
class WorkerView:
    """A worker as the Executor sees it."""

    address: str
    authorised: bool
    cap: int
    pulled_in_window: int
    wallet: str | None
    gas_wei: int

    @property
    def room(self) -> int:
        return max(0, self.cap - self.pulled_in_window)

    def to_json(self) -> dict[str, Any]:
        return {
            "address": self.address,
            "authorised": self.authorised,
            "cap": self.cap,
            "pulled_in_window": self.pulled_in_window,
            "room": self.room,
            "wallet": self.wallet,
            "gas_wei": str(self.gas_wei),
        }


def _cs(address: str) -> ChecksumAddress:
    return Web3.to_checksum_address(address)


class ExecutorAdmin:
    """Reads the Executor at `executor`; writes as `owner` (which must be the Executor's owner)."""

    def __init__(
        self,
        w3: Web3,
        executor: str,
        owner: LocalAccount | None = None,
        *,
        first_block: int | None = None,
        lookback: int = DEFAULT_LOOKBACK,
    ) -> None:
        self.w3 = w3
        self.address = executor.lower()
        self.owner = owner
        self._first_block = first_block
        self.lookback = lookback
        self.scanner = LogScanner(w3)
        self._events: dict[tuple[str, int], tuple[int, list[Any]]] = {}
        try:
            if not w3.eth.get_code(_cs(executor)):
                raise ConfigError(f"no contract at the Executor address {executor}")
        except (OSError, Web3Exception) as exc:
            raise ChainError(f"reading the Executor {executor}: {type(exc).__name__}") from None
        self.handle: Contract = contract(w3, "Executor", executor)
        self.decoder = CallDecoder(load_artifact("Executor").abi)

    # ------------------------------------------------------------------ reading

    def _view(self, name: str, *args: Any) -> Any:
        try:
            return getattr(self.handle.functions, name)(*args).call()
        except (OSError, Web3Exception, ValueError) as exc:
            raise ChainError(f"Executor.{name}: {type(exc).__name__}: {exc}") from None

    def now(self) -> int:
        return int(self.w3.eth.get_block("latest")["timestamp"])

    def state(self) -> dict[str, Any]:
        """The Executor's settings and its queued changes."""
        treasury = str(self._view("treasury")).lower()
        return {
            "executor": self.address,
            "owner": str(self._view("owner")).lower(),
            "paused": bool(self._view("paused")),
            "fee_bps": int(self._view("feeBps")),
            "treasury": None if treasury == ZERO_ADDRESS else treasury,
            "factory": str(self._view("factory")).lower(),
            "change_delay_s": int(self._view("changeDelay")),
            "setup_finished": bool(self._view("setupFinished")),
            "default_worker_cap": int(self._view("defaultWorkerCap")),
            "queued_changes": self.queued_changes(),
        }

    def worker(self, address: str) -> WorkerView:
        a = _cs(address)
        wallet = str(self._view("walletOf", a)).lower()
        return WorkerView(
            address=address.lower(),
            authorised=bool(self._view("isWorker", a)),
            cap=int(self._view("workerCap", a)),
            pulled_in_window=int(self._view("workerPulledInWindow", a)),
            wallet=None if wallet == ZERO_ADDRESS else wallet,
            gas_wei=int(self.w3.eth.get_balance(a)),
        )

    def first_block(self) -> int:
        """The first block that can hold the Executor's events: the one given, else its deployment block
        (found from its code's history), else the last `lookback` blocks on a node that keeps no old state."""
        if self._first_block is None:
            found = deployment_block(self.w3, self.address)
            if found is None:
                found = max(0, self.scanner.head() - self.lookback)
                log.warning(
                    "the RPC keeps no old state, so the Executor's deployment block is unknown: its events "
                    "are read from block %d (the last %d blocks); give the deployment block to read them all",
                    found,
                    self.lookback,
                )
            self._first_block = found
        return self._first_block

    def _logs(self, event: str, from_block: int = 0) -> list[Any]:
        """The Executor's `event` logs, decoded, from `from_block` (0: from `first_block()`) to the head, read
        in chunks the RPC accepts (`LogScanError` names a range it would not serve)."""
        start = from_block if from_block > 0 else self.first_block()
        head = self.scanner.head()
        cached = self._events.get((event, start))
        if cached is not None and cached[0] == head:  # a second read at the same head (`executor show`)
            return cached[1]
        handle = getattr(self.handle.events, event)()
        raw = self.scanner.logs(
            self.address, [handle.topic], start, head, what=f"the Executor's {event} events"
        )
        entries = [handle.process_log(entry) for entry in raw]
        self._events[(event, start)] = (head, entries)
        return entries

    def known_workers(self, from_block: int = 0) -> list[str]:
        """Every address a `WorkerSet` event named since `from_block` (0: since `first_block()`), in
        first-seen order."""
        seen: dict[str, None] = {}
        for entry in self._logs("WorkerSet", from_block):
            seen.setdefault(str(entry["args"]["worker"]).lower(), None)
        return list(seen)

    def _queued_calls(self, from_block: int = 0) -> list[tuple[bytes, bytes, int, int]]:
        """(id, calldata, ready at, block queued) of each change queued and neither executed nor cancelled:
        the `ChangeQueued` events since `from_block`, each kept while `changeReadyAt(id)` is not 0."""
        out = []
        seen: set[bytes] = set()
        for entry in self._logs("ChangeQueued", from_block):
            change_id = bytes(entry["args"]["id"])
            if change_id in seen:
                continue
            seen.add(change_id)
            ready_at = int(self._view("changeReadyAt", change_id))
            if ready_at == 0:
                continue
            out.append((change_id, bytes(entry["args"]["call"]), ready_at, int(entry["blockNumber"])))
        return out

    def queued_changes(self, from_block: int = 0) -> list[dict[str, Any]]:
        """Changes queued and neither executed nor cancelled: their call, id and the time they may run."""
        return [
            {"id": "0x" + change_id.hex(), "call": self.describe(call), "ready_at": ready_at}
            for change_id, call, ready_at, _ in self._queued_calls(from_block)
        ]

    def queued(self, from_block: int = 0) -> list[QueuedChange]:
        """The changes queued and neither executed nor cancelled, the first ready first, each call decoded
        as the Executor watch logs it (`name(arg=value, …)`)."""
        found = [
            QueuedChange(change_id, self.decoder.describe(call), ready_at, block)
            for change_id, call, ready_at, block in self._queued_calls(from_block)
        ]
        return sorted(found, key=lambda c: (c.ready_at, c.id))

    def describe(self, call: bytes) -> str:
        """`name(arg, …)` of an Executor calldata."""
        try:
            function, args = self.handle.decode_function_input(call)
        except ValueError:
            return "0x" + call.hex()
        shown = ", ".join(_show(v) for v in args.values())
        return f"{function.fn_name}({shown})"

    # ------------------------------------------------------------------ writing

    def _send(self, data: bytes, context: str) -> str:
        if self.owner is None:
            raise ConfigError("this needs the Executor owner's key")
        params: TxParams = {"to": _cs(self.address), "data": HexStr("0x" + data.hex())}
        receipt = send(self.w3, self.owner, params, context=context)
        return "0x" + bytes(receipt["transactionHash"]).hex()

    def encode(self, function: str, *args: Any) -> bytes:
        return bytes.fromhex(self.handle.encode_abi(function, list(args))[2:])

    def check_owner(self) -> None:
        """`ConfigError` unless the key given is the Executor's owner (before anything is sent)."""
        if self.owner is None:
            raise ConfigError("this needs the Executor owner's key (OWNER_PRIVATE_KEY or --keystore FILE)")
        owner = str(self._view("owner")).lower()
        if owner != str(self.owner.address).lower():
            raise ConfigError(
                f"the key given is {str(self.owner.address).lower()}, the Executor's owner is {owner}"
            )

    def apply(self, data: bytes, widening: bool) -> Change:
        """Makes the owner's call `data`: at once when it narrows (or no delay applies), else through the
        queue: queued now, still waiting, or executed now that its time has come."""
        context = self.describe(data)
        delayed = widening and self._view("setupFinished") and int(self._view("changeDelay")) > 0
        if not delayed:
            return Change(context, "done", self._send(data, context))
        ready_at = int(self._view("changeReadyAt", keccak256(data)))
        if ready_at == 0:
            self._send(self.encode("queueChange", data), f"queueChange({context})")
            return Change(context, "queued", ready_at=int(self._view("changeReadyAt", keccak256(data))))
        if ready_at > self.now():
            return Change(context, "waiting", ready_at=ready_at)
        return Change(
            context, "done", self._send(self.encode("executeChange", data), f"executeChange({context})")
        )

    def authorise(self, worker: str, authorised: bool = True) -> Change:
        current = bool(self._view("isWorker", _cs(worker)))
        data = self.encode("setWorker", _cs(worker), authorised)
        # Revoking (a leaked key) also drops what is queued for it, or a later re-run would apply it.
        cancelled = None if authorised else self.cancel_queued_for(worker)
        if current == authorised:
            if cancelled is not None:
                return Change(self.describe(data), "done", cancelled)
            return Change(self.describe(data), "unchanged")
        return self.apply(data, widening=authorised)

    def cancel(self, change_id: bytes) -> tuple[QueuedChange, str]:
        """Cancels the queued change `change_id` (the owner's `cancelChange`): the change as it was queued
        and the cancellation's transaction hash. `ChangeNotQueued` (nothing sent) when the Executor holds no
        such change queued."""
        shown = "0x" + change_id.hex()
        ready_at = int(self._view("changeReadyAt", change_id))
        if ready_at == 0:
            raise ChangeNotQueued(
                f"change {shown} is not queued on the Executor {self.address} (never queued, or already "
                "executed or cancelled): `polyhunter executor queued` lists the queued ones"
            )
        found = [(call, block) for cid, call, _, block in self._queued_calls() if cid == change_id]
        # Queued before the first block read (an old deployment record): the id alone still cancels it.
        call, block = found[0] if found else (None, 0)
        described = self.decoder.describe(call) if call is not None else f"the change {shown}"
        tx_hash = self._send(self.encode("cancelChange", change_id), f"cancelChange({described})")
        return QueuedChange(change_id, described, ready_at, block), tx_hash

    def cancel_queued_for(self, worker: str) -> str | None:
        """Cancels every queued change that would widen what `worker` may do (authorise it, raise its cap,
        register its wallet); the hash of the last cancellation, or None when nothing was queued for it."""
        target = worker.lower()
        last: str | None = None
        seen: set[bytes] = set()
        for entry in self._logs("ChangeQueued"):
            change_id = bytes(entry["args"]["id"])
            if change_id in seen or int(self._view("changeReadyAt", change_id)) == 0:
                continue
            seen.add(change_id)
            call = bytes(entry["args"]["call"])
            try:
                function, args = self.handle.decode_function_input(call)
            except ValueError:
                continue
            named = {str(a).lower() for a in args.get("workers", [])} | {str(args.get("worker", "")).lower()}
            if function.fn_name in _WIDENS_A_WORKER and target in named:
                context = f"cancelChange({self.describe(call)})"
                last = self._send(self.encode("cancelChange", change_id), context)
        return last

    def set_cap(self, worker: str, cap: int) -> Change:
        current = int(self._view("workerCap", _cs(worker)))
        data = self.encode("setWorkerCap", _cs(worker), cap)
        if current == cap:
            return Change(self.describe(data), "unchanged")
        return self.apply(data, widening=cap > current)

    def set_paused(self, paused: bool) -> Change:
        data = self.encode("setPaused", paused)
        if bool(self._view("paused")) == paused:
            return Change(self.describe(data), "unchanged")
        return self.apply(data, widening=False)

    def set_fee(self, treasury: str | None, bps: int) -> Change:
        current_treasury = str(self._view("treasury")).lower()
        current_bps = int(self._view("feeBps"))
        chosen = (treasury or current_treasury).lower()
        data = self.encode("setFee", _cs(chosen), bps)
        if chosen == current_treasury and bps == current_bps:
            return Change(self.describe(data), "unchanged")
        return self.apply(data, widening=chosen != current_treasury or bps > current_bps)

    def reassign_debt(
        self,
        debt_id: bytes,
        proxy: str,
        token: str,
        creditor: str,
        payee: str,
        new_creditor: str,
        new_payee: str,
    ) -> Change:
        data = self.encode(
            "reassignDebt",
            debt_id,
            _cs(proxy),
            _cs(token),
            _cs(creditor),
            _cs(payee),
            _cs(new_creditor),
            _cs(new_payee),
        )
        return self.apply(data, widening=False)


_WIDENS_A_WORKER = frozenset({"setWorker", "setWorkers", "setWorkerCap", "setWorkerWallet"})


def _show(value: Any) -> str:
    if isinstance(value, bytes):
        return "0x" + value.hex()
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_show(v) for v in value) + "]"
    if isinstance(value, str):
        return value.lower()
    return str(value)
