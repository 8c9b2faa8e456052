"""One identity per fill across sources, at the ledger: the same fills fed as pending orders, feed frames and
`OrderFilled` rows in every order, with repeats, gaps and a source that dies midway, give exactly one fill
per log row, and under `SUPERVISOR_ACT_ON=first` exactly one copy each (plus one for a pending fill whose
transaction never lands, which the confirmation window then marks unconfirmed)."""

from __future__ import annotations

import itertools
from dataclasses import dataclass

from hypothesis import given, settings
from hypothesis import strategies as st

from polyhunter._core import NO_LOG_INDEX, Signal
from polyhunter.detector.fills import ACTIVITY, LOG, MEMPOOL, FillLedger, Outcome, fill_key, group_of

MAKER_A = "0x" + "a1" * 20
MAKER_B = "0x" + "b2" * 20
SHARE = 1_000_000


def tx(n: int) -> bytes:
    return n.to_bytes(32, "big")


def order_hash(n: int) -> bytes:
    return (0xFF00 + n).to_bytes(32, "big")


@dataclass(frozen=True)
class Event:
    kind: str
    signal: Signal
    order_hash: bytes | None
    label: str
    taker: bool = False


def _signal(
    kind: str,
    maker: str,
    token: int,
    side: str,
    tokens: int,
    usd: int,
    tx_n: int,
    position: int,
    seen: int,
    oh: bytes | None = None,
) -> Signal:
    """A sighting as its source builds it: a log row and a pending order name their order (`oh`), a feed
    frame never does."""
    common = dict(
        leader=maker,
        token_id=token,
        side=side,
        size=tokens,
        price_num=usd,
        price_den=tokens,
        usd=usd,
        tx_hash=tx(tx_n),
        seen_at_ns=seen * 1_000_000,
        order_hash=oh if kind != ACTIVITY else None,
    )
    if kind == LOG:
        return Signal(**common, log_index=position, block_number=100 + tx_n, source="v2")  # type: ignore[arg-type]
    return Signal(
        **common,  # type: ignore[arg-type]
        log_index=NO_LOG_INDEX,
        sub_index=position if kind == MEMPOOL else 0,
        source="mempool" if kind == MEMPOOL else "activity",
    )


def scenario(with_phantom: bool = True) -> tuple[list[Event], int]:
    """Every source's sightings of a set of fills (labelled), and how many log rows there are.

    - F1: one fill seen by all three sources in one transaction.
    - F2: a match re-settled: pending in tx 2 (failed), again pending in tx 3 with the same order; the feed
      names tx 2; the log comes from tx 3.
    - F3, F4: one order partially filled twice by equal amounts, in tx 4 and tx 5 (two fills).
    - F5, F6: two equal fills of one (maker, token, side) in tx 6 (two orders), F7 a third of another
      amount in the same transaction; the feed's two identical frames of F5/F6 are indistinguishable.
    - F8: a MINT match's taker: the calldata implies 10 shares, its log row and feed frame say 12.
    - P: a pending fill whose transaction never lands (also in the feed).
    """
    events: list[Event] = []

    def add(label: str, kind: str, maker: str, token: int, side: str, tokens: int, usd: int, t: int, pos: int,
            oh: int | None = None, taker: bool = False) -> None:  # fmt: skip
        seen = {MEMPOOL: 1_000, ACTIVITY: 2_000, LOG: 3_000}[kind] + len(events)
        events.append(
            Event(
                kind,
                _signal(
                    kind,
                    maker,
                    token,
                    side,
                    tokens,
                    usd,
                    t,
                    pos,
                    seen,
                    None if oh is None else order_hash(oh),
                ),
                order_hash(oh) if oh is not None and kind == MEMPOOL else None,
                label,
                taker and kind == MEMPOOL,
            )
        )

    for kind in (MEMPOOL, ACTIVITY, LOG):
        add("F1", kind, MAKER_A, 1, "BUY", 10 * SHARE, 5 * SHARE, 1, 0, 1)
    add("F2", MEMPOOL, MAKER_A, 2, "SELL", 20 * SHARE, 8 * SHARE, 2, 0, 2)
    add("F2", MEMPOOL, MAKER_A, 2, "SELL", 20 * SHARE, 8 * SHARE, 3, 0, 2)
    add("F2", ACTIVITY, MAKER_A, 2, "SELL", 20 * SHARE, 8 * SHARE, 2, 0)
    add("F2", LOG, MAKER_A, 2, "SELL", 20 * SHARE, 8 * SHARE, 3, 0, 2)
    for t, label in ((4, "F3"), (5, "F4")):
        for kind in (MEMPOOL, ACTIVITY, LOG):
            add(label, kind, MAKER_B, 1, "BUY", 5 * SHARE, 2 * SHARE, t, 0, 3)
    for pos, label in ((0, "F5"), (1, "F6")):
        for kind in (MEMPOOL, ACTIVITY, LOG):
            add(
                label,
                kind,
                MAKER_A,
                3,
                "BUY",
                7 * SHARE,
                3 * SHARE,
                6,
                pos + 3 if kind == LOG else pos,
                5 + pos,
            )
    for kind in (MEMPOOL, ACTIVITY, LOG):
        add("F7", kind, MAKER_A, 3, "BUY", 3 * SHARE, SHARE, 6, 5 if kind == LOG else 2, 7)
    add("F8", MEMPOOL, MAKER_B, 4, "BUY", 10 * SHARE, 4 * SHARE, 8, 1, 8, taker=True)
    add("F8", ACTIVITY, MAKER_B, 4, "BUY", 12 * SHARE, 4 * SHARE, 8, 0)
    add("F8", LOG, MAKER_B, 4, "BUY", 12 * SHARE, 4 * SHARE, 8, 1, 8)
    if with_phantom:
        add("P", MEMPOOL, MAKER_B, 2, "BUY", 9 * SHARE, 4 * SHARE, 7, 0, 9)
        add("P", ACTIVITY, MAKER_B, 2, "BUY", 9 * SHARE, 4 * SHARE, 7, 0)
    return events, sum(1 for e in events if e.kind == LOG)


def feed(ledger: FillLedger, events: list[Event]) -> list[Outcome]:
    return [ledger.see(e.signal, order_hash=e.order_hash, taker=e.taker, block=100) for e in events]


def check(events: list[Event], logs: int, phantom_seen: bool) -> FillLedger:
    """Feeds the events; asserts one fill per log row and one first copy per fill (act on first)."""
    ledger = FillLedger()
    outcomes = feed(ledger, events)
    # What the intake does under `first`: a fill's first copy from a new fill, or from the log row of a fill
    # that had none (a late early sighting makes none).
    copied: set[int] = set()
    for e, o in zip(events, outcomes, strict=True):
        if not o.repeat and (o.new or (e.kind == LOG and id(o.fill) not in copied)):
            assert id(o.fill) not in copied, "a second copy of one fill"
            copied.add(id(o.fill))
    copies = len(copied)
    logged = {
        id(
            ledger.logged(
                e.signal.tx_hash, e.signal.leader, e.signal.token_id, e.signal.side, e.signal.log_index
            )
        )
        for e in events
        if e.kind == LOG
    }
    assert len(logged) == logs, "each log row is its own fill"
    for e in events:
        if e.kind == LOG:
            fill = ledger.logged(
                e.signal.tx_hash, e.signal.leader, e.signal.token_id, e.signal.side, e.signal.log_index
            )
            assert fill is not None
            # First copy plus top-ups add up to `tokens`: never more than the row the fill really was.
            assert fill.tokens == e.signal.size
    assert copies == logs + (1 if phantom_seen else 0), "exactly one copy per fill"
    gone = ledger.expire(head=10_000, blocks=20)
    assert len(gone) == (1 if phantom_seen else 0)
    if gone:
        assert gone[0].group == (MAKER_B, 2, "BUY")
        assert gone[0].unconfirmed
    return ledger


def test_every_order_of_the_three_sources_gives_one_copy_per_fill() -> None:
    events, logs = scenario()
    by_source = {k: [e for e in events if e.kind == k] for k in (MEMPOOL, ACTIVITY, LOG)}
    for order in itertools.permutations((MEMPOOL, ACTIVITY, LOG)):
        check([e for k in order for e in by_source[k]], logs, phantom_seen=True)


def test_every_order_of_single_sightings_within_a_transaction_group() -> None:
    """F5, F6, F7 share a transaction: every order (7!) of seven of their sightings (the feed's frame of F6
    is F5's twin, and F7 is not seen pending)."""
    events, _ = scenario(with_phantom=False)
    group = [e for e in events if e.label in ("F5", "F6", "F7")]
    group = [e for e in group if (e.label, e.kind) not in (("F6", ACTIVITY), ("F7", MEMPOOL))]
    assert len(group) == 7
    for order in itertools.permutations(group):
        check(list(order), 3, phantom_seen=False)


@settings(max_examples=300, deadline=None)
@given(st.data())
def test_any_interleaving_with_repeats_gaps_and_a_dying_source(data: st.DataObject) -> None:
    events, logs = scenario()
    stream = data.draw(st.permutations(events))
    # Early sources may miss sightings (public nodes drop pending transactions, the feed lapses) and one
    # may die midway; the log source is the truth and delivers every row (backfill), perhaps twice.
    dropped = data.draw(st.sets(st.sampled_from([i for i, e in enumerate(stream) if e.kind != LOG])))
    dies = data.draw(st.sampled_from([None, MEMPOOL, ACTIVITY]))
    cut = data.draw(st.integers(0, len(stream)))
    kept = [e for i, e in enumerate(stream) if i not in dropped and not (e.kind == dies and i >= cut)]
    repeats = data.draw(st.lists(st.sampled_from(kept), max_size=8)) if kept else []
    final = list(kept)
    for r in repeats:
        final.insert(data.draw(st.integers(0, len(final))), r)
    phantom_seen = any(e.label == "P" for e in final)
    check(final, logs, phantom_seen)


def test_a_re_settled_match_is_one_fill_whichever_transaction_each_source_names() -> None:
    events, _ = scenario(with_phantom=False)
    f2 = [e for e in events if e.label == "F2"]
    ledger = FillLedger()
    outcomes = feed(ledger, f2)
    assert [o.new for o in outcomes] == [True, False, False, False]
    fill = outcomes[0].fill
    assert all(o.fill is fill for o in outcomes)
    assert fill.log is not None
    assert bytes(fill.log.tx_hash) == tx(3)
    assert sorted(fill.txs) == [tx(2), tx(3)]
    assert fill.key == fill_key(tx(2), group_of(f2[0].signal), 20 * SHARE, 0)


def test_one_order_filled_twice_by_equal_amounts_is_two_fills_even_when_the_second_looks_like_a_retry() -> (
    None
):
    events, _ = scenario(with_phantom=False)
    f34 = [e for e in events if e.label in ("F3", "F4")]
    pending = [e for e in f34 if e.kind == MEMPOOL]
    logs = [e for e in f34 if e.kind == LOG]
    ledger = FillLedger()
    first, second = feed(ledger, pending)
    # The second pending sighting of the same (order hash, amounts) while the first is unconfirmed is taken
    # for the operator's retry: no second copy before the logs...
    assert first.new
    assert not second.new
    assert second.fill is first.fill
    a, b = feed(ledger, logs)
    # ...and the second log row is a fill of its own: its copy is made then.
    assert not a.new
    assert b.new
    assert b.fill is not a.fill


def test_two_equal_fills_in_one_transaction_get_distinct_keys_that_every_source_computes_alike() -> None:
    events, _ = scenario(with_phantom=False)
    f56 = [e for e in events if e.label in ("F5", "F6")]
    keys: dict[str, set[bytes]] = {}
    for kind in (MEMPOOL, LOG):
        ledger = FillLedger()
        outcomes = feed(ledger, [e for e in f56 if e.kind == kind])
        assert all(o.new for o in outcomes)
        keys[kind] = {o.fill.key for o in outcomes}
    assert keys[MEMPOOL] == keys[LOG]
    assert len(keys[LOG]) == 2


def test_identical_feed_frames_are_one_sighting_and_a_pending_retry_of_one_hash_is_a_repeat() -> None:
    events, _ = scenario(with_phantom=False)
    f1 = [e for e in events if e.label == "F1"]
    ledger = FillLedger()
    outcomes = feed(ledger, [f1[1], f1[1], f1[0], f1[0], f1[2], f1[2]])
    assert [o.new for o in outcomes] == [True, False, False, False, False, False]
    assert [o.repeat for o in outcomes] == [False, True, False, True, False, True]
    fill = outcomes[0].fill
    # First by the sources' own clocks (seen_at_ns), not by the order the ledger was handed them.
    assert fill.first_source == MEMPOOL
    assert fill.leads_ms() == {MEMPOOL: 3_002 - 1_000, ACTIVITY: 3_002 - 2_001}


def test_a_taker_s_log_row_carrying_more_than_its_calldata_tops_the_fill_up_and_never_copies_twice() -> None:
    ledger = FillLedger()
    maker = _signal(MEMPOOL, MAKER_B, 1, "SELL", 10 * SHARE, 5 * SHARE, 1, 0, 1_000)
    taker = _signal(MEMPOOL, MAKER_A, 1, "BUY", 10 * SHARE, 5 * SHARE, 1, 1, 1_000)
    row = _signal(LOG, MAKER_A, 1, "BUY", 12 * SHARE, 5 * SHARE, 1, 7, 1_800)
    ledger.see(maker, order_hash=order_hash(1), block=5)
    first = ledger.see(taker, order_hash=order_hash(2), taker=True, block=5)
    then = ledger.see(row, block=6)
    assert first.new
    assert not then.new
    assert then.fill is first.fill
    assert then.fill.tokens == 12 * SHARE  # the larger amount: the intake copies the difference
    # Never the other way: a row carrying LESS than what was seen is another fill of the transaction.
    other = ledger.see(_signal(LOG, MAKER_A, 1, "BUY", 3 * SHARE, SHARE, 1, 8, 1_900), block=6)
    assert other.new


def test_a_pending_fill_without_a_log_expires_after_the_window_and_a_retracted_log_reopens_its_fill() -> None:
    ledger = FillLedger()
    pending = _signal(MEMPOOL, MAKER_B, 4, "BUY", 2 * SHARE, SHARE, 9, 0, 1)
    fill = ledger.see(pending, order_hash=order_hash(1), block=50).fill
    assert ledger.expire(head=69, blocks=20) == []
    assert ledger.expire(head=70, blocks=20) == [fill]
    assert fill.unconfirmed
    assert ledger.expire(head=200, blocks=20) == []  # counted once

    row = _signal(LOG, MAKER_A, 4, "SELL", 2 * SHARE, SHARE, 10, 0, 2)
    logged = ledger.see(row, block=80).fill
    assert ledger.retract(row, block=81) is logged
    assert logged.log is None
    assert logged.retracted
    again = ledger.see(row, block=82)
    assert again.revived
    assert again.fill is logged
    assert not again.new
    assert logged.log is not None


def test_the_ledger_forgets_its_oldest_fills_past_its_limit() -> None:
    ledger = FillLedger(limit=3)
    signals = [_signal(LOG, MAKER_A, 1, "BUY", SHARE, SHARE, n, 0, n) for n in range(1, 6)]
    for s in signals:
        ledger.see(s, block=1)
    assert len(ledger) == 3
    assert ledger.logged(tx(1), MAKER_A, 1, "BUY", 0) is None
    assert ledger.logged(tx(5), MAKER_A, 1, "BUY", 0) is not None


def test_a_log_row_joins_the_pending_order_of_its_hash_in_another_transaction() -> None:
    """A match re-settled (RETRYING) or a replaced transaction: the order was seen pending in tx 20 only,
    its row comes from tx 21. The row names the order (topic 1): it is that fill, not a new one."""
    ledger = FillLedger()
    pending = _signal(MEMPOOL, MAKER_A, 9, "BUY", 4 * SHARE, 2 * SHARE, 20, 0, 1, order_hash(40))
    row = _signal(LOG, MAKER_A, 9, "BUY", 4 * SHARE, 2 * SHARE, 21, 6, 2, order_hash(40))
    first = ledger.see(pending, block=10)
    then = ledger.see(row, block=11)
    assert first.new
    assert not then.new
    assert then.fill is first.fill
    assert then.fill.log is row
    assert then.fill.order_hash == order_hash(40)
    assert then.fill.key == fill_key(tx(20), group_of(pending), 4 * SHARE, 0)
    assert ledger.expire(head=10_000, blocks=20) == []  # confirmed: nothing left unconfirmed


def test_the_hash_join_holds_when_the_pending_fill_s_transactions_include_a_logged_one() -> None:
    """A feed frame of another fill (same maker, token, side and amount, another order, in tx 32) joins the
    pending fill of order 41 (tx 30) before any log: a frame names no order. tx 32's row is order 42's: a
    fill of its own. Order 41's row, re-settled in tx 31, still joins its pending fill by hash although one
    of that fill's transactions (32) gave a log: two rows, two fills, no third."""
    ledger = FillLedger()
    pending = _signal(MEMPOOL, MAKER_B, 9, "SELL", 6 * SHARE, 3 * SHARE, 30, 0, 1, order_hash(41))
    frame = _signal(ACTIVITY, MAKER_B, 9, "SELL", 6 * SHARE, 3 * SHARE, 32, 0, 2)
    other_row = _signal(LOG, MAKER_B, 9, "SELL", 6 * SHARE, 3 * SHARE, 32, 2, 3, order_hash(42))
    row = _signal(LOG, MAKER_B, 9, "SELL", 6 * SHARE, 3 * SHARE, 31, 4, 4, order_hash(41))
    p, f, o, r = (ledger.see(s, block=10) for s in (pending, frame, other_row, row))
    assert p.new
    assert f.fill is p.fill  # errs safe: no second copy from the frame
    assert o.new  # order 42's row is not order 41's fill
    assert o.fill is not p.fill
    assert o.fill.order_hash == order_hash(42)
    assert not r.new
    assert r.fill is p.fill
    assert p.fill.log is row
    assert len(ledger) == 2


def test_two_orders_of_one_maker_with_equal_amounts_in_one_transaction_stay_two_fills() -> None:
    """Orders 50 and 51 of one maker, equal amounts, one transaction; only 50 was seen pending and 51's row
    comes first. By (transaction, group, amounts) alone 51's row would take 50's pending fill; by hash it is
    a fill of its own and 50's row confirms the pending one."""
    ledger = FillLedger()
    pending_50 = _signal(MEMPOOL, MAKER_A, 8, "BUY", 7 * SHARE, 3 * SHARE, 40, 0, 1, order_hash(50))
    row_51 = _signal(LOG, MAKER_A, 8, "BUY", 7 * SHARE, 3 * SHARE, 40, 4, 2, order_hash(51))
    row_50 = _signal(LOG, MAKER_A, 8, "BUY", 7 * SHARE, 3 * SHARE, 40, 3, 3, order_hash(50))
    a = ledger.see(pending_50, block=10)
    b = ledger.see(row_51, block=11)
    c = ledger.see(row_50, block=11)
    assert a.new
    assert b.new
    assert b.fill is not a.fill
    assert not c.new
    assert c.fill is a.fill
    assert (a.fill.order_hash, b.fill.order_hash) == (order_hash(50), order_hash(51))
    assert ledger.logged(tx(40), MAKER_A, 8, "BUY", 3) is a.fill
    assert ledger.logged(tx(40), MAKER_A, 8, "BUY", 4) is b.fill
    # Distinct keys that a source seeing them in the other order computes alike (k counts equal fills).
    assert {a.fill.key, b.fill.key} == {fill_key(tx(40), group_of(row_50), 7 * SHARE, k) for k in (0, 1)}
    # A second pending sighting of order 51 in the same transaction joins 51's fill, not 50's.
    pending_51 = _signal(MEMPOOL, MAKER_A, 8, "BUY", 7 * SHARE, 3 * SHARE, 40, 1, 4, order_hash(51))
    assert ledger.see(pending_51, block=11).fill is b.fill
    assert ledger.expire(head=10_000, blocks=20) == []


def test_a_pending_order_seen_after_its_re_settled_row_joins_it_by_hash() -> None:
    """The node relays the failed attempt's pending transaction late, after the re-settled row: a repeat of
    the order, not a new fill."""
    ledger = FillLedger()
    row = _signal(LOG, MAKER_A, 9, "SELL", 2 * SHARE, SHARE, 61, 3, 1, order_hash(60))
    stale = _signal(MEMPOOL, MAKER_A, 9, "SELL", 2 * SHARE, SHARE, 60, 0, 2, order_hash(60))
    logged = ledger.see(row, block=10)
    late = ledger.see(stale, block=10)
    assert logged.new
    assert not late.new
    assert not late.late
    assert late.fill is logged.fill
    # Another order of the same amounts seen pending in yet another transaction is not this fill.
    other = _signal(MEMPOOL, MAKER_A, 9, "SELL", 2 * SHARE, SHARE, 62, 0, 3, order_hash(61))
    assert ledger.see(other, block=10).fill is not logged.fill


def test_a_re_settled_mint_taker_is_one_fill_although_its_calldata_understates_the_shares() -> None:
    """A MINT match's taker order (calldata: 10 shares) fails in tx 70 and is re-settled in tx 71, whose row
    says 12: the row is that order's fill (topped up, not copied again), and the retry's pending sighting in
    tx 71, carrying 10 again, is that fill too."""
    ledger = FillLedger()
    pending = _signal(MEMPOOL, MAKER_B, 4, "BUY", 10 * SHARE, 4 * SHARE, 70, 1, 1, order_hash(70))
    row = _signal(LOG, MAKER_B, 4, "BUY", 12 * SHARE, 5 * SHARE, 71, 5, 2, order_hash(70))
    retry = _signal(MEMPOOL, MAKER_B, 4, "BUY", 10 * SHARE, 4 * SHARE, 71, 1, 3, order_hash(70))
    first = ledger.see(pending, taker=True, block=10)
    then = ledger.see(row, block=11)
    again = ledger.see(retry, taker=True, block=11)
    assert first.new
    assert not then.new
    assert then.fill is first.fill
    assert first.fill.tokens == 12 * SHARE
    assert not again.new
    assert again.fill is first.fill
    assert ledger.expire(head=10_000, blocks=20) == []
