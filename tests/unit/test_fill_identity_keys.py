"""A fill's key adopted from another replica (`FillLedger.rekey`) and the aliases the shared state records
it under (`detector.fills`): what tells two fills apart must tell their aliases apart, and a row's identity
survives a reorg that moves its log index."""

from __future__ import annotations

from polyhunter._core import NO_LOG_INDEX, Signal
from polyhunter.detector.fills import (
    FillLedger,
    amount_alias,
    group_of,
    order_alias,
    row_id,
    taker_alias,
    tx_alias,
)

MAKER = "0x" + "d5" * 20
SHARE = 1_000_000
ORDER = b"\x43" * 32


def _tx(n: int) -> bytes:
    return n.to_bytes(32, "big")


def pending(tx: int, tokens: int = 4 * SHARE) -> Signal:
    return Signal(
        leader=MAKER,
        token_id=3,
        side="BUY",
        size=tokens,
        price_num=tokens // 2,
        price_den=tokens,
        usd=tokens // 2,
        tx_hash=_tx(tx),
        log_index=NO_LOG_INDEX,
        sub_index=0,
        source="mempool",
        seen_at_ns=tx,
        order_hash=ORDER,
    )


def row(tx: int, log_index: int) -> Signal:
    return Signal(
        leader=MAKER,
        token_id=3,
        side="BUY",
        size=4 * SHARE,
        price_num=2 * SHARE,
        price_den=4 * SHARE,
        usd=2 * SHARE,
        tx_hash=_tx(tx),
        log_index=log_index,
        block_number=1_001,
        source="v2",
        seen_at_ns=100 + tx,
        order_hash=ORDER,
    )


def test_a_fill_adopts_another_replica_s_key_and_is_found_under_it_alone() -> None:
    ledger = FillLedger()
    fill = ledger.see(pending(1), block=10).fill
    own = fill.key
    theirs = b"\x99" * 32
    assert ledger.rekey(fill, theirs)
    assert (fill.key, fill.natural) == (theirs, own)
    assert ledger.get(theirs) is fill
    assert ledger.get(own) is None
    assert ledger.open_fills() == [fill]
    # Its row still joins it, and the window still expires it by its new key.
    assert ledger.see(row(1, 2), block=11).fill is fill
    assert ledger.rekey(fill, theirs)  # its own key already: nothing to do


def test_a_key_this_ledger_holds_for_another_fill_is_refused() -> None:
    ledger = FillLedger()
    first = ledger.see(pending(1), block=10).fill
    second = ledger.see(pending(2, 6 * SHARE), block=10).fill
    assert first is not second
    assert not ledger.rekey(second, first.key)
    assert ledger.get(first.key) is first
    assert ledger.get(second.key) is second


def test_aliases_tell_apart_what_tells_fills_apart() -> None:
    group = group_of(pending(1))
    other_side = (group[0], group[1], "SELL")
    assert order_alias(ORDER, group, 4) != order_alias(ORDER, group, 5)
    assert order_alias(ORDER, group, 4) != order_alias(ORDER, other_side, 4)
    assert tx_alias(_tx(1), group, 4) != tx_alias(_tx(2), group, 4)
    assert taker_alias(_tx(1), group) != taker_alias(_tx(1), other_side)
    assert amount_alias(group, 4) != amount_alias(group, 5)
    # Distinct kinds of alias never collide on the same parts.
    assert tx_alias(_tx(1), group, 4) != order_alias(_tx(1), group, 4)


def test_a_row_s_identity_holds_when_a_reorg_moves_its_log_index() -> None:
    assert row_id(row(7, 2), ORDER) == row_id(row(7, 5), ORDER)
    assert row_id(row(7, 2), ORDER) != row_id(row(8, 2), ORDER)
    assert row_id(row(7, 2), ORDER) != row_id(row(7, 2), None)
