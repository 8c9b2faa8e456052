"""Attribution on Polymarket's real contracts, with logs encoded by eth-abi the way those contracts emit
them and a decoder built from the package's Polygon table (`polygon.DECODER_ROLES`): a V1 neg-risk fill is
one signal, plumbing transfers are none, and a transfer between two leaders is two fills that both survive
dedup."""

from __future__ import annotations

import json
from typing import Any

import pytest
from eventlogs import TRANSFER_BATCH, TRANSFER_SINGLE, V1_ORDER_FILLED, encode_log

from polyhunter import dedup_key
from polyhunter._core import DedupCache, LogDecoder, Signal
from polyhunter.chain import polygon

ROLES = polygon.decoder_addresses()
CTF = ROLES["ctf"][0]
V1_NEG_RISK = polygon.POLYGON["neg_risk_exchange_v1"].candidates[0].lower()
ADAPTER = polygon.POLYGON["neg_risk_adapter"].candidates[0].lower()
ALICE = "0x" + "a1" * 20
BOB = "0x" + "b0" * 20
STRANGER = "0x" + "5e" * 20
YES = 1234
TX = b"\x77" * 32


def decoder(*leaders: str, table: bool = True) -> LogDecoder:
    return LogDecoder(
        ctf=CTF,
        v1_exchanges=ROLES["v1_exchanges"],
        v2_exchanges=ROLES["v2_exchanges"],
        non_trading=ROLES["non_trading"] if table else None,
        leaders=list(leaders),
    )


def decode(d: LogDecoder, logs: list[dict[str, Any]]) -> list[Signal]:
    out = d.decode(json.dumps({"jsonrpc": "2.0", "id": 1, "result": logs}).encode())
    assert out.rejects == []
    return out.signals


def single(operator: str, src: str, dst: str, *, value: int = 10_000_000, log_index: int) -> dict[str, Any]:
    args = {"operator": operator, "from": src, "to": dst, "id": YES, "value": value}
    return encode_log(TRANSFER_SINGLE, CTF, args, tx_hash=TX, log_index=log_index)


def v1_filled(
    maker: str, taker: str, maker_asset: int, taker_asset: int, made: int, took: int, li: int
) -> Any:
    args = {
        "orderHash": bytes([li]) * 32,
        "maker": maker,
        "taker": taker,
        "makerAssetId": maker_asset,
        "takerAssetId": taker_asset,
        "makerAmountFilled": made,
        "takerAmountFilled": took,
        "fee": 0,
    }
    return encode_log(V1_ORDER_FILLED, V1_NEG_RISK, args, tx_hash=TX, log_index=li)


def neg_risk_v1_match() -> list[dict[str, Any]]:
    """Alice's SELL order taken by Bob's BUY on V1's neg-risk exchange, as that exchange emits it: the
    tokens travel maker → exchange → taker through the NegRiskAdapter (operator = adapter), then one
    OrderFilled per order (the taker's row names the exchange as taker)."""
    return [
        single(ADAPTER, ALICE, V1_NEG_RISK, log_index=1),
        single(ADAPTER, V1_NEG_RISK, BOB, log_index=2),
        v1_filled(ALICE, BOB, YES, 0, 10_000_000, 4_000_000, 3),
        v1_filled(BOB, V1_NEG_RISK, 0, YES, 4_000_000, 10_000_000, 4),
    ]


def test_a_v1_neg_risk_fill_is_one_signal_per_order_not_a_second_from_the_adapters_transfer() -> None:
    signals = decode(decoder(ALICE, BOB), neg_risk_v1_match())
    assert [(s.leader, s.side, s.size, s.usd, s.source) for s in signals] == [
        (ALICE, "SELL", 10_000_000, 4_000_000, "v1"),
        (BOB, "BUY", 10_000_000, 4_000_000, "v1"),
    ]
    # Without the table's adapter, the same logs double-count both leaders.
    assert len(decode(decoder(ALICE, BOB, table=False), neg_risk_v1_match())) == 4


def _plumbing_cases() -> list[Any]:
    cases = []
    for name in polygon.DECODER_ROLES["non_trading"]:
        for address in polygon.POLYGON[name].candidates:
            a = address.lower()
            cases += [
                pytest.param(a, a, ALICE, id=f"{name}-{a[:8]}-sends (split, conversion, redemption payout)"),
                pytest.param(ALICE, ALICE, a, id=f"{name}-{a[:8]}-receives (merge, conversion, redemption)"),
                pytest.param(a, STRANGER, ALICE, id=f"{name}-{a[:8]}-operates between users"),
            ]
    return cases


@pytest.mark.parametrize(("operator", "src", "dst"), _plumbing_cases())
def test_transfers_with_polymarkets_plumbing_are_not_trades(operator: str, src: str, dst: str) -> None:
    batch = encode_log(
        TRANSFER_BATCH,
        CTF,
        {"operator": operator, "from": src, "to": dst, "ids": [YES, YES + 1], "values": [5, 6]},
        tx_hash=TX,
        log_index=9,
    )
    logs = [single(operator, src, dst, log_index=8), batch]
    assert decode(decoder(ALICE, STRANGER), logs) == []
    assert len(decode(decoder(ALICE, STRANGER, table=False), logs)) > 0


def test_a_transfer_between_two_leaders_gives_two_fills_with_different_keys() -> None:
    [sell, buy] = decode(decoder(ALICE, BOB), [single(ALICE, ALICE, BOB, log_index=5)])
    assert (sell.leader, sell.side, buy.leader, buy.side) == (ALICE, "SELL", BOB, "BUY")
    assert (sell.tx_hash, sell.log_index, sell.sub_index) == (buy.tx_hash, buy.log_index, buy.sub_index)
    assert sell.dedup_key != buy.dedup_key
    assert DedupCache().check_and_insert([sell.dedup_key, buy.dedup_key]) == [True, True]
    # The retraction of that log carries the same two keys.
    removed = single(ALICE, ALICE, BOB, log_index=5) | {"removed": True}
    assert [s.dedup_key for s in decode(decoder(ALICE, BOB), [removed])] == [sell.dedup_key, buy.dedup_key]


def test_order_filled_keys_are_unchanged() -> None:
    [row] = decode(decoder(ALICE), [v1_filled(ALICE, BOB, YES, 0, 10, 4, 3)])
    assert row.dedup_key == dedup_key(TX, 3, 0)


def test_the_table_names_every_entry_a_rule_relies_on() -> None:
    for role, names in polygon.DECODER_ROLES.items():
        assert names, role
        assert all(name in polygon.POLYGON for name in names), role
    assert ADAPTER in ROLES["non_trading"]
    assert V1_NEG_RISK in ROLES["v1_exchanges"]
    assert len(ROLES["non_trading"]) == 7  # both published candidates of each collateral adapter
