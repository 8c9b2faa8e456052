"""The demo's lead join (`supervisor.sources.PendingSightings`) by order hash: a match re-settled in a new
transaction is still the order seen pending, so its lead is measured, not dropped."""

from __future__ import annotations

from polyhunter._core import NO_LOG_INDEX, Signal
from polyhunter.supervisor.sources import PendingSightings

LEADER = "0x" + "a1" * 20
MS = 1_000_000


def sighting(tx: int, seen_ms: int, order: int | None, *, logged: bool, size: int = 5_000_000) -> Signal:
    return Signal(
        leader=LEADER,
        token_id=7,
        side="BUY",
        size=size,
        price_num=2_000_000,
        price_den=size,
        usd=2_000_000,
        tx_hash=tx.to_bytes(32, "big"),
        log_index=4 if logged else NO_LOG_INDEX,
        source="v2" if logged else "mempool",
        seen_at_ns=seen_ms * MS,
        order_hash=None if order is None else order.to_bytes(32, "big"),
    )


def test_a_re_settled_row_gets_the_lead_of_its_order_seen_pending_in_the_failed_transaction() -> None:
    sightings = PendingSightings()
    sightings.saw_pending([sighting(1, 1_000, 77, logged=False)])
    assert sightings.saw_log(sighting(2, 4_500, 77, logged=True)) == 3_500
    assert sightings.lead_ms((2).to_bytes(32, "big"), LEADER, 7, "BUY") == 3_500
    assert (sightings.stats.confirmed, sightings.stats.logged_only) == (1, 0)


def test_another_order_in_another_transaction_has_no_lead_and_an_order_is_joined_once() -> None:
    sightings = PendingSightings()
    sightings.saw_pending([sighting(1, 1_000, 77, logged=False)])
    assert sightings.saw_log(sighting(3, 2_000, 78, logged=True)) is None  # another order
    assert sightings.saw_log(sighting(2, 2_500, 77, logged=True)) == 1_500
    # The same order filled again later (a partial fill in another match) was not seen pending this time.
    assert sightings.saw_log(sighting(4, 9_000, 77, logged=True)) is None
    assert (sightings.stats.confirmed, sightings.stats.logged_only) == (1, 2)


def test_the_transaction_join_still_holds_without_an_order_hash() -> None:
    sightings = PendingSightings()
    sightings.saw_pending([sighting(1, 1_000, None, logged=False)])
    assert sightings.saw_log(sighting(1, 1_250, None, logged=True)) == 250
