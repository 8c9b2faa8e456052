"""The engine's pure parts: the TxMonitor's fee bump against geth's replacement rule, the nonce allocator,
the reading of nodes' send errors, the slippage bound, and when a lease holder counts as dead."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time

import pytest
from hypothesis import given
from hypothesis import strategies as st

from polyhunter.execution.fees import Fees, bump_fees, geth_accepts_replacement
from polyhunter.execution.fleet import holder_is_dead, instance_id
from polyhunter.execution.nonces import NonceAllocator
from polyhunter.execution.preflight import beyond_slippage
from polyhunter.execution.txmonitor import classify_send_error

wei = st.integers(min_value=0, max_value=10**13)


def fees_strategy() -> st.SearchStrategy[Fees]:
    return st.tuples(wei, wei).map(lambda t: Fees(max(t), min(t)))


# geth's rule, field by field (core/txpool/legacypool/list.go, PriceBump = 10).
@pytest.mark.parametrize(
    ("old", "new", "accepted"),
    [
        (Fees(100, 10), Fees(110, 11), True),  # exactly +10 % on both
        (Fees(100, 10), Fees(109, 11), False),  # max fee +9 %
        (Fees(100, 10), Fees(200, 10), False),  # tip unchanged
        (Fees(100, 10), Fees(100, 20), False),  # max fee unchanged
        (Fees(1000, 0), Fees(1100, 1), True),  # a zero tip must still strictly grow
        (Fees(105, 15), Fees(115, 16), True),  # thresholds round down: 115.5 -> 115, 16.5 -> 16
    ],
)
def test_geth_rule(old: Fees, new: Fees, accepted: bool) -> None:
    assert geth_accepts_replacement(old, new) is accepted


@given(fees_strategy(), st.integers(min_value=1_100_000, max_value=3_000_000))
def test_every_bump_passes_geths_rule(old: Fees, factor: int) -> None:
    new = bump_fees(old, factor)
    assert new is not None
    assert geth_accepts_replacement(old, new)
    assert new.max_fee * 1_000_000 >= old.max_fee * factor
    assert new.tip <= new.max_fee


@given(fees_strategy(), st.integers(min_value=0, max_value=10**14))
def test_bump_never_exceeds_the_cap(old: Fees, cap: int) -> None:
    new = bump_fees(old, 1_200_000, cap)
    if new is None:
        # Only when the cap leaves no room for a +10 % bump.
        assert cap < -(-old.max_fee * 110 // 100) or cap <= old.max_fee or cap < old.tip * 110 // 100 + 1
    else:
        assert new.max_fee <= cap
        assert geth_accepts_replacement(old, new)


def test_default_bump_is_twenty_percent() -> None:
    assert bump_fees(Fees(1_000_000, 100_000)) == Fees(1_200_000, 120_000)


def test_bump_factor_below_one_is_refused() -> None:
    with pytest.raises(ValueError, match="at least 1x"):
        bump_fees(Fees(10, 1), 900_000)


def test_nonces_are_contiguous_and_gaps_are_reported() -> None:
    nonces = NonceAllocator("0xabc", next_nonce=7)
    got = [nonces.reserve() for _ in range(5)]
    assert got == [7, 8, 9, 10, 11]
    nonces.abandon(9)
    nonces.done(7)
    assert nonces.gaps() == [9]
    assert nonces.in_flight == {8, 10, 11}
    nonces.resync(mined=10, pending=12)  # the chain mined up to 9 (the filler took 9)
    assert nonces.gaps() == []
    assert nonces.in_flight == {10, 11}
    assert nonces.reserve() == 12


def test_resync_jumps_forward_when_another_sender_used_nonces() -> None:
    nonces = NonceAllocator("0xabc", next_nonce=3)
    nonces.resync(mined=5, pending=6)
    assert nonces.reserve() == 6


def test_resync_reuses_a_lost_tail_when_nothing_is_in_flight() -> None:
    nonces = NonceAllocator("0xabc", next_nonce=3)
    for nonce in (nonces.reserve(), nonces.reserve()):
        nonces.done(nonce)  # e.g. resolved by the monitor
    nonces.next_nonce = 9  # a counter ahead of the node (sends that never arrived)
    nonces.resync(mined=5, pending=5)
    assert nonces.reserve() == 5


@pytest.mark.parametrize(
    ("message", "kind"),
    [
        ("already known", "known"),
        ("transaction already imported", "known"),
        ("ALREADY_EXISTS: already known", "known"),
        ("nonce too low: next nonce 5, tx nonce 4", "nonce_low"),
        ("replacement transaction underpriced", "underpriced"),
        ("insufficient funds for gas * price + value", "funds"),
        ("max fee per gas less than block base fee", "other"),
    ],
)
def test_send_errors_are_classified(message: str, kind: str) -> None:
    assert classify_send_error(message) == kind


def test_slippage_bound() -> None:
    assert not beyond_slippage("BUY", 525_000, 500_000, 500)  # +5 % allowed
    assert beyond_slippage("BUY", 525_001, 500_000, 500)
    assert not beyond_slippage("SELL", 475_000, 500_000, 500)
    assert beyond_slippage("SELL", 474_999, 500_000, 500)


def _with_pid(holder: str, pid: int) -> str:
    host, space, _, tail = holder.split("/")
    return f"{host}/{space}/{pid}/{tail}"


def test_a_lease_holder_is_dead_only_when_its_pid_is_gone_from_this_hosts_process_table() -> None:
    me = instance_id()
    assert not holder_is_dead(me)  # ourselves
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        live = _with_pid(me, child.pid)
        assert not holder_is_dead(live)
        host, space, pid, tail = live.split("/")
        # Nothing is ever judged dead across hosts, process tables, or for ids of another shape.
        assert not holder_is_dead(f"{host}.other/{space}/{pid}/{tail}")
        assert not holder_is_dead(f"{host}/other-boot.1/{pid}/{tail}")
        assert not holder_is_dead(f"{host}//{pid}/{tail}")
        assert not holder_is_dead("engine-a")
        assert not holder_is_dead(f"{socket.gethostname()}:{pid}:{tail}")
        child.kill()
        # Exited but not reaped (a zombie still answers signal 0): dead.
        deadline = time.monotonic() + 30
        while not holder_is_dead(live):
            assert time.monotonic() < deadline, "a killed, unreaped child never read as dead"
            time.sleep(0.01)
    finally:
        child.kill()
        child.wait()
    assert holder_is_dead(live)  # reaped: its pid is gone
    assert str(os.getpid()) in me
