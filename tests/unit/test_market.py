"""MarketBook: unpriced CTF signals priced from a fresh quote; venue metadata cached per token."""

from __future__ import annotations

from polyhunter._core import Signal
from polyhunter.supervisor.market import MarketBook, MarketMeta

LEADER = "0x" + "1e" * 20


def _signal(token: int, *, priced: bool, log_index: int = 0) -> Signal:
    if priced:
        return Signal(
            leader=LEADER, token_id=token, side="BUY", size=200_000_000, tx_hash=b"\x01" * 32,
            log_index=log_index, price_num=100_000_000, price_den=200_000_000, usd=100_000_000, source="v2",
        )  # fmt: skip
    return Signal(
        leader=LEADER, token_id=token, side="SELL", size=40_000_000, tx_hash=b"\x02" * 32,
        log_index=log_index, source="ctf",
    )  # fmt: skip


def test_unpriced_signal_takes_the_latest_quote() -> None:
    book = MarketBook()
    book.observe([_signal(7, priced=True)])
    (priced,) = book.priced([_signal(7, priced=False)])
    assert (priced.price_num, priced.price_den) == (100_000_000, 200_000_000)
    assert priced.usd == 20_000_000  # 40 shares at $0.50
    assert priced.side == "SELL"
    assert priced.source == "ctf"
    assert priced.dedup_key == _signal(7, priced=False).dedup_key


def test_without_a_quote_the_signal_stays_unpriced() -> None:
    book = MarketBook()
    book.observe([_signal(7, priced=True)])
    (unpriced,) = book.priced([_signal(8, priced=False)])
    assert unpriced.price_den == 0


def test_quotes_expire() -> None:
    book = MarketBook(quote_ttl_ms=1)
    book.observe([_signal(7, priced=True)])
    import time

    time.sleep(0.01)
    (unpriced,) = book.priced([_signal(7, priced=False)])
    assert unpriced.price_den == 0


def test_metadata_is_fetched_once_per_token() -> None:
    calls: list[int] = []

    def source(token: int) -> MarketMeta:
        calls.append(token)
        return MarketMeta(min_size=5_000_000, tick_ppm=1_000)

    book = MarketBook(source)
    signals = [_signal(7, priced=True), _signal(7, priced=True, log_index=1), _signal(9, priced=True)]
    assert book.min_sizes(signals) == {7: 5_000_000, 9: 5_000_000}
    assert book.min_sizes(signals) == {7: 5_000_000, 9: 5_000_000}
    assert calls == [7, 9]
