"""Subscription filters: a leader's OrderFilled rows as maker, and its CTF transfers either way."""

from __future__ import annotations

from eth_utils import keccak

from polyhunter.detector.filters import (
    ORDER_FILLED_V1,
    ORDER_FILLED_V2,
    TRANSFER_BATCH,
    TRANSFER_SINGLE,
    leader_filters,
    topic_of,
)

EXCHANGE = "0x" + "e1" * 20
CTF = "0x" + "C7" * 20


def test_topics_are_the_events_signatures() -> None:
    sig = {
        ORDER_FILLED_V1: b"OrderFilled(bytes32,address,address,uint256,uint256,uint256,uint256,uint256)",
        ORDER_FILLED_V2: b"OrderFilled(bytes32,address,address,uint8,uint256,uint256,uint256,uint256,"
        b"bytes32,bytes32)",
        TRANSFER_SINGLE: b"TransferSingle(address,address,address,uint256,uint256)",
        TRANSFER_BATCH: b"TransferBatch(address,address,address,uint256[],uint256[])",
    }
    for topic, text in sig.items():
        assert topic == "0x" + keccak(text).hex()


def test_leaders_filter_makers_and_both_transfer_sides() -> None:
    leader = "0x" + "AB" * 20
    fills, sent, received = leader_filters(exchanges=[EXCHANGE], ctf=CTF, leaders=[leader])
    assert fills.address == (EXCHANGE,)
    assert fills.topics == ((ORDER_FILLED_V1, ORDER_FILLED_V2), None, (topic_of(leader),))
    assert sent.topics == ((TRANSFER_SINGLE, TRANSFER_BATCH), None, (topic_of(leader),))
    assert received.topics == ((TRANSFER_SINGLE, TRANSFER_BATCH), None, None, (topic_of(leader),))
    assert sent.address == (CTF.lower(),)
    assert topic_of(leader) == "0x" + "00" * 12 + "ab" * 20
    params = fills.params(10, 20)
    assert params["fromBlock"] == "0xa"
    assert params["toBlock"] == "0x14"
    assert params["topics"][1] is None


def test_no_leader_filter_watches_every_fill() -> None:
    fills, transfers = leader_filters(exchanges=[EXCHANGE], ctf=CTF, leaders=None)
    assert fills.topics == ((ORDER_FILLED_V1, ORDER_FILLED_V2),)
    assert transfers.topics == ((TRANSFER_SINGLE, TRANSFER_BATCH),)


def test_many_leaders_split_into_several_subscriptions() -> None:
    leaders = [f"0x{i:040x}" for i in range(1, 1201)]
    filters = leader_filters(exchanges=[EXCHANGE], ctf=None, leaders=leaders, chunk=500)
    assert [len(f.topics[2] or ()) for f in filters] == [500, 500, 200]
    covered = {t for f in filters for t in f.topics[2] or ()}
    assert covered == {topic_of(a) for a in leaders}
