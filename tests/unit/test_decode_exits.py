"""Leaders' exits against web3.py: random merges and redemptions (the CTF's events and the adapters'),
encoded by eth-abi and decoded by web3's `process_log`; our decoder must give exactly the `LeaderExit` the
rules say (docs/seams.md "Leaders' exits"), and never a signal. Then `exit_filters`' shapes and what the
`ExitFollower` counts without a redeemer."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from eth_utils import to_checksum_address
from eventlogs import CTF, V2_EXCHANGE, encode_log, get_logs_response, notification, topic0
from hexbytes import HexBytes
from hypothesis import given
from hypothesis import strategies as st
from web3 import Web3

from polyhunter._core import (
    TOPIC_ADAPTER_PAYOUT_REDEMPTION,
    TOPIC_ADAPTER_POSITIONS_MERGE,
    TOPIC_PAYOUT_REDEMPTION,
    TOPIC_POSITIONS_MERGE,
    LeaderExit,
    LogDecoder,
)
from polyhunter.detector.exits import ExitFollower, exit_filters, exit_ref
from polyhunter.detector.filters import topic_of

LEADERS = ["0x1111111111111111111111111111111111111111", "0x000000000000000000000000000000000000dead"]
ADAPTER = "0xd91e80cf2e7be2e162c6513ced06f1dd0da35296"  # Polygon's NegRiskAdapter


def _event(name: str, inputs: list[tuple[str, str, bool]]) -> dict[str, Any]:
    return {
        "anonymous": False,
        "name": name,
        "type": "event",
        "inputs": [{"name": n, "type": t, "indexed": i} for n, t, i in inputs],
    }


CTF_MERGE = _event(
    "PositionsMerge",
    [
        ("stakeholder", "address", True),
        ("collateralToken", "address", False),
        ("parentCollectionId", "bytes32", True),
        ("conditionId", "bytes32", True),
        ("partition", "uint256[]", False),
        ("amount", "uint256", False),
    ],
)
CTF_REDEEM = _event(
    "PayoutRedemption",
    [
        ("redeemer", "address", True),
        ("collateralToken", "address", True),
        ("parentCollectionId", "bytes32", True),
        ("conditionId", "bytes32", False),
        ("indexSets", "uint256[]", False),
        ("payout", "uint256", False),
    ],
)
ADAPTER_MERGE = _event(
    "PositionsMerge",
    [("stakeholder", "address", True), ("conditionId", "bytes32", True), ("amount", "uint256", False)],
)
ADAPTER_REDEEM = _event(
    "PayoutRedemption",
    [
        ("redeemer", "address", True),
        ("conditionId", "bytes32", True),
        ("amounts", "uint256[]", False),
        ("payout", "uint256", False),
    ],
)
W3 = Web3()

random_address = st.binary(min_size=20, max_size=20).map(lambda b: "0x" + b.hex())
who = st.one_of(st.sampled_from([*LEADERS, ADAPTER]), random_address)
uint256 = st.one_of(st.integers(0, 2**64), st.integers(0, 2**256 - 1))
word = st.binary(min_size=32, max_size=32)
meta = st.fixed_dictionaries(
    {
        "tx_hash": word,
        "log_index": st.integers(0, 2**64 - 1),
        "block_number": st.integers(0, 2**64 - 1),
        "block_hash": word,
        "removed": st.booleans(),
    }
)


def decoder() -> LogDecoder:
    return LogDecoder(ctf=CTF, v2_exchanges=[V2_EXCHANGE], leaders=LEADERS, non_trading=[ADAPTER])


def web3_args(event: dict[str, Any], log: dict[str, Any]) -> dict[str, Any]:
    raw = {
        "address": to_checksum_address(log["address"]),
        "topics": [HexBytes(t) for t in log["topics"]],
        "data": HexBytes(log["data"]),
        "blockNumber": int(log["blockNumber"], 16),
        "blockHash": HexBytes(log["blockHash"]),
        "transactionHash": HexBytes(log["transactionHash"]),
        "transactionIndex": 0,
        "logIndex": int(log["logIndex"], 16),
    }
    decoded = getattr(W3.eth.contract(abi=[event]).events, event["name"])().process_log(raw)
    return {k: v.lower() if isinstance(v, str) else v for k, v in dict(decoded["args"]).items()}


def ours(log: dict[str, Any]) -> list[dict[str, Any]]:
    out = decoder().decode(notification(log))
    assert out.rejects == []
    assert out.signals == []  # an exit is never a signal
    rows = []
    for e in out.exits:
        assert e.seen_at_ns > 0
        rows.append(
            {
                "leader": e.leader,
                "kind": e.kind,
                "condition_id": e.condition_id,
                "amount": e.amount,
                "via": e.via,
                "tx_hash": e.tx_hash,
                "log_index": e.log_index,
                "block_number": e.block_number,
                "block_hash": e.block_hash,
                "removed": e.removed,
            }
        )
    return rows


def expected(
    log: dict[str, Any], m: dict[str, Any], leader: str, kind: str, condition: bytes, amount: int
) -> list[dict[str, Any]]:
    # The rules: a tracked leader that is not the adapter (whose own CTF merges are plumbing).
    if leader not in LEADERS:
        return []
    return [
        {
            "leader": leader,
            "kind": kind,
            "condition_id": condition,
            "amount": amount,
            "via": log["address"],
            "tx_hash": m["tx_hash"],
            "log_index": m["log_index"],
            "block_number": m["block_number"],
            "block_hash": m["block_hash"],
            "removed": m["removed"],
        }
    ]


@given(
    m=meta,
    stakeholder=who,
    condition=word,
    parent=word,
    partition=st.lists(uint256, max_size=4),
    amount=uint256,
)
def test_ctf_merge_matches_web3(
    m: dict[str, Any], stakeholder: str, condition: bytes, parent: bytes, partition: list[int], amount: int
) -> None:
    args = {
        "stakeholder": stakeholder,
        "collateralToken": "0x" + "33" * 20,
        "parentCollectionId": parent,
        "conditionId": condition,
        "partition": partition,
        "amount": amount,
    }
    log = encode_log(CTF_MERGE, CTF, args, **m)
    ref = web3_args(CTF_MERGE, log)
    assert ours(log) == expected(log, m, ref["stakeholder"], "merge", ref["conditionId"], ref["amount"])


@given(m=meta, redeemer=who, condition=word, index_sets=st.lists(uint256, max_size=4), payout=uint256)
def test_ctf_redemption_matches_web3(
    m: dict[str, Any], redeemer: str, condition: bytes, index_sets: list[int], payout: int
) -> None:
    args = {
        "redeemer": redeemer,
        "collateralToken": "0x" + "33" * 20,
        "parentCollectionId": b"\0" * 32,
        "conditionId": condition,
        "indexSets": index_sets,
        "payout": payout,
    }
    log = encode_log(CTF_REDEEM, CTF, args, **m)
    ref = web3_args(CTF_REDEEM, log)
    assert ours(log) == expected(log, m, ref["redeemer"], "redeem", ref["conditionId"], ref["payout"])


@given(m=meta, stakeholder=who, condition=word, amount=uint256)
def test_adapter_merge_matches_web3(
    m: dict[str, Any], stakeholder: str, condition: bytes, amount: int
) -> None:
    args = {"stakeholder": stakeholder, "conditionId": condition, "amount": amount}
    log = encode_log(ADAPTER_MERGE, ADAPTER, args, **m)
    ref = web3_args(ADAPTER_MERGE, log)
    assert ours(log) == expected(log, m, ref["stakeholder"], "merge", ref["conditionId"], ref["amount"])


@given(m=meta, redeemer=who, condition=word, amounts=st.lists(uint256, max_size=4), payout=uint256)
def test_adapter_redemption_matches_web3(
    m: dict[str, Any], redeemer: str, condition: bytes, amounts: list[int], payout: int
) -> None:
    args = {"redeemer": redeemer, "conditionId": condition, "amounts": amounts, "payout": payout}
    log = encode_log(ADAPTER_REDEEM, ADAPTER, args, **m)
    ref = web3_args(ADAPTER_REDEEM, log)
    assert ours(log) == expected(log, m, ref["redeemer"], "redeem", ref["conditionId"], ref["payout"])


@pytest.mark.parametrize(
    ("event", "topic"),
    [
        (CTF_MERGE, TOPIC_POSITIONS_MERGE),
        (CTF_REDEEM, TOPIC_PAYOUT_REDEMPTION),
        (ADAPTER_MERGE, TOPIC_ADAPTER_POSITIONS_MERGE),
        (ADAPTER_REDEEM, TOPIC_ADAPTER_PAYOUT_REDEMPTION),
    ],
)
def test_topics_are_the_events_signatures(event: dict[str, Any], topic: str) -> None:
    assert topic == topic0(event)


def test_exit_filters_follow_the_leaders_on_topic_1() -> None:
    leaders = [f"0x{i:040x}" for i in range(1, 6)]
    filters = exit_filters(
        ctf=CTF.upper().replace("0X", "0x"), adapters=[ADAPTER, ADAPTER], leaders=leaders, chunk=2
    )
    # Three chunks of leaders, each a CTF filter and an adapters' filter.
    assert len(filters) == 6
    ctf_filters, adapter_filters = filters[0::2], filters[1::2]
    assert all(f.address == (CTF,) for f in ctf_filters)
    assert all(f.address == (ADAPTER,) for f in adapter_filters)
    assert {f.topics[0] for f in ctf_filters} == {(TOPIC_POSITIONS_MERGE, TOPIC_PAYOUT_REDEMPTION)}
    assert {f.topics[0] for f in adapter_filters} == {
        (TOPIC_ADAPTER_POSITIONS_MERGE, TOPIC_ADAPTER_PAYOUT_REDEMPTION)
    }
    covered = [t for f in ctf_filters for t in (f.topics[1] or ())]
    assert covered == sorted(topic_of(a) for a in leaders)
    # Everyone: no topic-1 filter; no leader: no filter; no adapter: the CTF only.
    everyone = exit_filters(ctf=CTF, adapters=[ADAPTER], leaders=None)
    assert [f.topics for f in everyone] == [
        ((TOPIC_POSITIONS_MERGE, TOPIC_PAYOUT_REDEMPTION), None),
        ((TOPIC_ADAPTER_POSITIONS_MERGE, TOPIC_ADAPTER_PAYOUT_REDEMPTION), None),
    ]
    assert exit_filters(ctf=CTF, adapters=[ADAPTER], leaders=[]) == []
    assert len(exit_filters(ctf=CTF, adapters=[], leaders=leaders)) == 1


def _exits(*logs: dict[str, Any]) -> list[LeaderExit]:
    return decoder().decode(get_logs_response(list(logs))).exits


def test_the_follower_counts_exits_and_refs_name_the_log() -> None:
    leader = LEADERS[0]
    merge = encode_log(
        ADAPTER_MERGE, ADAPTER, {"stakeholder": leader, "conditionId": b"\1" * 32, "amount": 5}
    )
    redeem = encode_log(
        CTF_REDEEM,
        CTF,
        {
            "redeemer": leader,
            "collateralToken": "0x" + "33" * 20,
            "parentCollectionId": b"\0" * 32,
            "conditionId": b"\2" * 32,
            "indexSets": [1, 2],
            "payout": 9,
        },
        log_index=8,
    )
    gone = encode_log(
        CTF_MERGE,
        CTF,
        {
            "stakeholder": leader,
            "collateralToken": "0x" + "33" * 20,
            "parentCollectionId": b"\0" * 32,
            "conditionId": b"\3" * 32,
            "partition": [1, 2],
            "amount": 1,
        },
        removed=True,
    )
    exits = _exits(merge, redeem, gone)
    assert [(e.kind, e.removed) for e in exits] == [("merge", False), ("redeem", False), ("merge", True)]
    assert exit_ref(exits[0]) == "0x" + "ab" * 32 + ":7"
    asked: list[str] = []

    def proxies_of(leader: str) -> list[str]:
        asked.append(leader)
        return ["0xp1"]

    # Without a redeemer (an engine that sends nothing) exits are only counted.
    follower = ExitFollower(None, proxies_of)
    asyncio.run(follower.on_exits(exits))
    s = follower.stats
    assert (s.merges, s.redemptions, s.retracted, s.proxies_asked, s.merged, s.failed) == (1, 1, 1, 0, 0, 0)
    assert asked == [leader]
