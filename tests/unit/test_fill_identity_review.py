"""The fill ledger's confirmation window (review): a fill first seen before the supervisor knew any block
keeps its window, counted from the first head known, whether its log came before that head or not."""

from __future__ import annotations

from polyhunter._core import NO_LOG_INDEX, Signal
from polyhunter.detector.fills import FillLedger

MAKER = "0x" + "c4" * 20
SHARE = 1_000_000
ORDER = b"\x42" * 32


def _tx(n: int) -> bytes:
    return n.to_bytes(32, "big")


def pending(tx: int) -> Signal:
    return Signal(
        leader=MAKER,
        token_id=3,
        side="SELL",
        size=4 * SHARE,
        price_num=2 * SHARE,
        price_den=4 * SHARE,
        usd=2 * SHARE,
        tx_hash=_tx(tx),
        log_index=NO_LOG_INDEX,
        sub_index=0,
        source="mempool",
        seen_at_ns=tx,
        order_hash=ORDER,
    )


def row(tx: int) -> Signal:
    return Signal(
        leader=MAKER,
        token_id=3,
        side="SELL",
        size=4 * SHARE,
        price_num=2 * SHARE,
        price_den=4 * SHARE,
        usd=2 * SHARE,
        tx_hash=_tx(tx),
        log_index=1,
        block_number=1_001,
        source="v2",
        seen_at_ns=100 + tx,
        order_hash=ORDER,
    )


def test_a_fill_seen_before_any_head_and_logged_keeps_its_window_for_a_late_retry() -> None:
    """Seen pending at start-up (no head known: block 0), re-settled and logged in tx 21 at block 1001: the
    operator's retry of the same order relayed late (tx 22) within the window is that fill, as it is for a
    fill first seen at a known head."""
    for first_block in (0, 1_000):
        ledger = FillLedger()
        first = ledger.see(pending(20), block=first_block)
        logged = ledger.see(row(21), block=1_001)
        assert first.new
        assert logged.fill is first.fill
        assert ledger.expire(head=1_002, blocks=20) == []
        late = ledger.see(pending(22), block=1_002)
        assert not late.new, first_block
        assert late.fill is first.fill


def test_a_fill_seen_before_any_head_and_never_logged_expires_a_window_after_the_first_head() -> None:
    ledger = FillLedger()
    fill = ledger.see(pending(30), block=0).fill
    assert ledger.expire(head=1_000, blocks=20) == []
    assert ledger.expire(head=1_019, blocks=20) == []
    assert ledger.expire(head=1_020, blocks=20) == [fill]


def frame(tx: int) -> Signal:
    return Signal(
        leader=MAKER,
        token_id=3,
        side="SELL",
        size=4 * SHARE,
        price_num=2 * SHARE,
        price_den=4 * SHARE,
        usd=2 * SHARE,
        tx_hash=_tx(tx),
        log_index=NO_LOG_INDEX,
        source="activity",
        seen_at_ns=50 + tx,
    )


def test_replicas_agree_on_the_keys_of_equal_trades_in_other_transactions_that_one_saw_in_the_feed() -> None:
    """A leader trades 4 shares three times (tx 40, 41, 42; orders 1, 2, 3). Replica A sees the feed first:
    frames 41 and 42 join the fill of frame 40 (a frame names no order: no early copy for them). Each row
    then makes its fill, under the key that replica B, which saw only the rows, gives it: the shared dedup
    and the store let one copy per fill through, never two."""

    def row_of(tx: int, order: int) -> Signal:
        r = row(tx)
        return Signal(
            leader=r.leader,
            token_id=r.token_id,
            side=r.side,
            size=r.size,
            price_num=r.price_num,
            price_den=r.price_den,
            usd=r.usd,
            tx_hash=r.tx_hash,
            log_index=r.log_index,
            block_number=r.block_number,
            source="v2",
            seen_at_ns=r.seen_at_ns,
            order_hash=bytes([order]) * 32,
        )

    rows = [row_of(40, 1), row_of(41, 2), row_of(42, 3)]
    a, b = FillLedger(), FillLedger()
    early = [a.see(frame(tx), block=1_000) for tx in (40, 41, 42)]
    assert [o.new for o in early] == [True, False, False]
    copied_a = {early[0].fill.key}
    for r in rows:
        outcome = a.see(r, block=1_001)
        if outcome.new:
            copied_a.add(outcome.fill.key)
    copied_b = {b.see(r, block=1_001).fill.key for r in rows}
    assert len(copied_b) == 3
    assert copied_a == copied_b
