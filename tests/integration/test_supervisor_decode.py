"""`polyhunter._core` decodes LocalExchange's real logs (from anvil, by `eth_getLogs` with the supervisor's
own filters) into exactly the expected signals: one per leader fill (the taker order's row, whose maker is the
leader), nothing for the market maker's row, the CTF transfers the exchange makes, or a non-leader's fill."""

from __future__ import annotations

import json
from typing import Any

import pytest

from polyhunter._core import LogDecoder, Signal, dedup_key
from polyhunter.chain.local import LocalChain
from polyhunter.detector.filters import leader_filters

pytestmark = [pytest.mark.integration]

SHARE = USD = 1_000_000
# The local world is deterministic (the fixed test mnemonic, a fixed deployment order): its literals.
LEADER_0 = "0xcd5691ea878d262516be278cb46f2fd7ff132083"
LEADER_1 = "0x9b63f0cef479924e5d2c4e22dbe31e6d0353b448"
EXCHANGE = "0xb879843ab57b29eaae807fe4ddde6d95b5de8b88"  # LocalExchange
CTF = "0x0162c4eb1539e0123da26d8a6747f3deb2e01fe2"
YES_0 = 85582852254055604730434497073296615212033849972277199800761754422625228641162
YES_1 = 12000160944125382909189917342373168777675419367426770874741373505615396201824


def _get_logs(chain: LocalChain, params: dict[str, Any]) -> bytes:
    """The raw JSON-RPC reply of `eth_getLogs(params)`, as the detector hands it to the decoder."""
    reply = chain.w3.provider.make_request("eth_getLogs", [params])  # type: ignore[arg-type]
    return json.dumps(reply).encode()


def _decode(
    chain: LocalChain, decoder: LogDecoder, first: int, last: int, leaders: list[str]
) -> list[Signal]:
    signals: list[Signal] = []
    for flt in leader_filters(exchanges=[EXCHANGE], ctf=CTF, leaders=leaders):
        decoded = decoder.decode(_get_logs(chain, flt.params(first, last)))
        assert decoded.rejects == []
        signals += decoded.signals
    return sorted(signals, key=lambda s: (s.block_number or 0, s.log_index))


def _expected(receipt: Any, **fields: Any) -> dict[str, Any]:
    tx_hash = bytes(receipt["transactionHash"])
    # The signal names the filled order by the row's topic 1, as the receipt shows it.
    [row] = [log for log in receipt["logs"] if log["logIndex"] == fields["log_index"]]
    return {
        "tx_hash": tx_hash,
        "block_number": receipt["blockNumber"],
        "block_hash": bytes(receipt["blockHash"]),
        "exchange": EXCHANGE,
        "source": "v2",
        "removed": False,
        "sub_index": 0,
        "dedup_key": dedup_key(tx_hash, fields["log_index"]),
        "order_hash": bytes(row["topics"][1]),
        **fields,
    }


def _comparable(signal: Signal) -> dict[str, Any]:
    out = signal.to_dict()
    assert out.pop("seen_at_ns") > 0
    return out


def test_the_local_world_is_the_one_the_literals_describe(local_chain: LocalChain) -> None:
    d = local_chain.deployment
    assert d.accounts.leaders[:2] == [LEADER_0, LEADER_1]
    assert (d.contracts.local_exchange, d.contracts.ctf) == (EXCHANGE, CTF)
    assert [m.yes_token_id for m in d.markets][:2] == [YES_0, YES_1]


def test_leader_fills_decode_to_exactly_the_expected_signals(local_chain: LocalChain) -> None:
    decoder = LogDecoder(ctf=CTF, v2_exchanges=[EXCHANGE], leaders=[LEADER_0])
    start = local_chain.w3.eth.block_number + 1
    buy = local_chain.trade(LEADER_0, "BUY", YES_0, 200 * SHARE, 100 * USD)
    sell = local_chain.trade(LEADER_0, "SELL", YES_0, 50 * SHARE, 30 * USD)
    untracked = local_chain.trade(LEADER_1, "BUY", YES_1, 25 * SHARE, 10 * USD)

    # The watched leader's fills: its taker rows (log 3 of each block: collateral or CTF transfer, CTF
    # transfer, the maker's row, then the leader's), priced exactly as collateral ÷ tokens.
    signals = _decode(local_chain, decoder, start, untracked["blockNumber"], [LEADER_0])
    assert [_comparable(s) for s in signals] == [
        _expected(
            buy,
            leader=LEADER_0,
            token_id=YES_0,
            side="BUY",
            size=200_000_000,
            price_num=100_000_000,
            price_den=200_000_000,
            usd=100_000_000,
            log_index=3,
        ),
        _expected(
            sell,
            leader=LEADER_0,
            token_id=YES_0,
            side="SELL",
            size=50_000_000,
            price_num=30_000_000,
            price_den=50_000_000,
            usd=30_000_000,
            log_index=3,
        ),
    ]

    # Every log of the fills' blocks, unfiltered: still exactly those two signals. The market maker's rows,
    # the CTF transfers the exchange operates and the untracked leader's fill give none; the exchange's
    # `OrdersMatched` summary (which the supervisor's filters never ask for) is a reject, not a signal.
    everything = decoder.decode(
        _get_logs(
            local_chain,
            {"address": [EXCHANGE, CTF], "fromBlock": hex(start), "toBlock": hex(untracked["blockNumber"])},
        )
    )
    assert [(s.tx_hash, s.log_index) for s in everything.signals] == [
        (bytes(buy["transactionHash"]), 3),
        (bytes(sell["transactionHash"]), 3),
    ]
    assert len(everything.rejects) == 3  # one OrdersMatched per fill
    assert all("unknown event topic0" in r.reason for r in everything.rejects)

    # Tracking both leaders: the second leader's fill decodes too.
    decoder.set_leaders([LEADER_0, LEADER_1])
    both = _decode(local_chain, decoder, untracked["blockNumber"], untracked["blockNumber"], [LEADER_1])
    assert [_comparable(s) for s in both] == [
        _expected(
            untracked,
            leader=LEADER_1,
            token_id=YES_1,
            side="BUY",
            size=25_000_000,
            price_num=10_000_000,
            price_den=25_000_000,
            usd=10_000_000,
            log_index=3,
        )
    ]
