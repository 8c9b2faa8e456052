"""Telling the Executor owner's events from the workers', and describing and tracking queued changes."""

from __future__ import annotations

from typing import Any

from eth_abi.abi import encode

from polyhunter._core import keccak256
from polyhunter.chain.artifacts import load_artifact
from polyhunter.execution.owner_actions import CallDecoder, QueuedChanges, is_owner_event
from polyhunter.execution.watch import owner_events

WORKER = "0x" + "ab" * 20


def test_a_new_admin_event_in_the_abi_is_an_owner_event_without_a_change_in_code() -> None:
    abi: list[dict[str, Any]] = [
        *load_artifact("Executor").abi,
        {"type": "event", "name": "GuardianSet", "inputs": [{"name": "guardian", "type": "address"}]},
    ]
    names = {shape.name for shape in owner_events(abi).values()}
    assert "GuardianSet" in names
    assert "GuardianSet" not in {shape.name for shape in owner_events().values()}
    for worker_event in ("Pulled", "PulledTo", "Pushed", "PushedFrom", "DebtRepaid", "DebtRecorded"):
        assert not is_owner_event(worker_event)
    assert not is_owner_event("ProxyRegistered")  # the factory's, not the owner's


def test_a_call_is_shown_by_name_and_arguments_and_an_unknown_one_in_hex() -> None:
    decoder = CallDecoder(load_artifact("Executor").abi)
    call = keccak256(b"setWorkers(address[],bool)")[:4] + encode(
        ["address[]", "bool"], [[WORKER, WORKER], True]
    )
    assert decoder.describe(call) == f"setWorkers(workers=[{WORKER}, {WORKER}], authorised=True)"
    assert decoder.describe(b"\x12\x34\x56\x78") == "0x12345678"
    assert decoder.describe(call[:10]) == "0x" + call[:10].hex()  # cut short: not decodable


def test_the_queue_follows_queued_executed_and_cancelled_changes_and_knows_the_first_ready() -> None:
    decoder = CallDecoder(load_artifact("Executor").abi)
    queue = QueuedChanges(decoder)
    a, b = b"\x01" * 32, b"\x02" * 32
    call = keccak256(b"setPaused(bool)")[:4] + encode(["bool"], [False])
    queue.apply("ChangeQueued", {"id": a, "call": call, "readyAt": 2_000}, 10)
    queue.apply("ChangeQueued", {"id": b, "call": call, "readyAt": 1_500}, 11)
    queue.apply("WorkerSet", {"worker": WORKER, "authorised": False}, 12)
    assert (len(queue), queue.next_ready_at) == (2, 1_500)
    assert [c.id for c in queue.changes()] == [b, a]
    queue.apply("ChangeExecuted", {"id": b, "call": call}, 13)
    assert (len(queue), queue.next_ready_at) == (1, 2_000)
    queue.confirm(a, 0)  # the Executor no longer has it (a reorg took the queueing away)
    assert (len(queue), queue.next_ready_at) == (0, 0)
