"""`WorkerCaps` accounting between two reads of the chain: never below what the contract will count."""

from __future__ import annotations

from polyhunter.supervisor.guardrails import WorkerCaps, _Usage

WORKER = "0x" + "ab" * 20


def caps_with(cap: int, on_chain: int) -> WorkerCaps:
    caps = WorkerCaps()
    caps._usage[WORKER] = _Usage(cap=cap, on_chain=on_chain)
    return caps


def test_the_contracts_rule_pulled_plus_value_at_most_the_cap() -> None:
    caps = caps_with(cap=10, on_chain=4)
    assert caps.fits(WORKER, 6)
    assert not caps.fits(WORKER, 7)
    assert caps.room(WORKER) == 6
    assert caps.fits("0x" + "cd" * 20, 10**30)  # a worker with no known cap is not limited here


def test_a_flow_counts_from_checkout_until_a_later_read_has_seen_it() -> None:
    caps = caps_with(cap=10, on_chain=0)
    caps.take("0x" + "AB" * 20, 3)  # any case: addresses are compared lower-case
    assert caps.used(WORKER) == 3
    assert not caps.fits(WORKER, 8)
    caps.give_back(WORKER, 3)
    assert caps.used(WORKER) == 3  # ended, but no read of the chain has seen it yet
    assert caps._usage[WORKER].in_flight == 0


def test_pull_values_as_the_contract_charges_them() -> None:
    caps = WorkerCaps()
    caps.fee_bps = 100  # 1 %
    assert caps.pull_value("BUY", [1_000_000, 999]) == 1_010_000 + 999 + 9
    assert caps.pull_value("SELL", [1_000_000, 999]) == 1_000_999
