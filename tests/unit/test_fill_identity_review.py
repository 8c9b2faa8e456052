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
