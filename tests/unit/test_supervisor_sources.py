"""The supervisor's sources: which run (SUPERVISOR_SOURCES and its default), the attribution addresses its
log decoder gets from the deployment (and Polygon's table on chain 137), and pending sightings turned into
detection leads by the log's signal, without ever making a signal of their own."""

from __future__ import annotations

import json
import logging

import pytest
from eventlogs import TRANSFER_SINGLE, encode_log

from polyhunter._core import LogDecoder, Signal
from polyhunter.chain import polygon
from polyhunter.chain.deployment import Accounts, Contracts, Deployment
from polyhunter.settings import Settings
from polyhunter.supervisor.sources import (
    PendingSightings,
    enabled_sources,
    non_trading_addresses,
)

CTF = "0x" + "c7" * 20
EXCHANGE = "0x" + "e2" * 20
LEADER = "0x" + "a1" * 20
STRANGER = "0x" + "5e" * 20
PLUMBING = {
    "neg_risk_adapter": "0x" + "01" * 20,
    "collateral_adapter": "0x" + "02" * 20,
    "neg_risk_collateral_adapter": "0x" + "03" * 20,
    "onramp": "0x" + "04" * 20,
    "offramp": "0x" + "05" * 20,
}
TX = b"\x42" * 32
MS = 1_000_000


def deployment(chain_id: int = 31337, **contracts: str) -> Deployment:
    return Deployment(
        chain_id=chain_id,
        rpc_url="http://127.0.0.1:8545",
        ws_url="ws://127.0.0.1:8545",
        contracts=Contracts(
            executor="0x" + "10" * 20,
            proxy_factory="0x" + "11" * 20,
            treasury="0x" + "12" * 20,
            collateral="0x" + "13" * 20,
            ctf=CTF,
            **contracts,
        ),
        proxy_init_code_hash="0x" + "00" * 32,
        accounts=Accounts(owner="0x" + "14" * 20),
    )


def transfer(operator: str, src: str, dst: str) -> bytes:
    args = {"operator": operator, "from": src, "to": dst, "id": 7, "value": 5 * MS}
    log = encode_log(TRANSFER_SINGLE, CTF, args, tx_hash=TX, log_index=3)
    return json.dumps({"jsonrpc": "2.0", "id": 1, "result": [log]}).encode()


def test_the_local_worlds_adapters_and_ramps_are_non_trading() -> None:
    local = deployment(**PLUMBING)
    assert sorted(non_trading_addresses(local)) == sorted(PLUMBING.values())
    decoder = LogDecoder(
        ctf=CTF, v2_exchanges=[EXCHANGE], leaders=[LEADER], non_trading=non_trading_addresses(local)
    )
    for address in PLUMBING.values():
        for operator, src, dst in [
            (address, address, LEADER),
            (LEADER, LEADER, address),
            (address, STRANGER, LEADER),
        ]:
            assert decoder.decode(transfer(operator, src, dst)).signals == [], (operator, src, dst)
    # The same transfer between two users, operated by neither, is a fill.
    assert len(decoder.decode(transfer(STRANGER, STRANGER, LEADER)).signals) == 1


def test_a_deployment_without_them_has_none_and_polygon_has_the_tables() -> None:
    assert non_trading_addresses(deployment()) == []
    on_polygon = non_trading_addresses(deployment(chain_id=137))
    assert on_polygon == polygon.decoder_addresses()["non_trading"]
    assert polygon.POLYGON["neg_risk_adapter"].candidates[0].lower() in on_polygon
    # Not on Amoy: the Polygon table does not describe it.
    assert non_trading_addresses(deployment(chain_id=80002)) == []


@pytest.mark.parametrize(
    ("value", "ws_url", "expected"),
    [
        (None, "ws://127.0.0.1:8545", {"logs", "mempool"}),
        (None, None, {"logs"}),
        ("logs", "ws://127.0.0.1:8545", {"logs"}),
        ("logs,mempool", None, {"logs", "mempool"}),  # without a websocket: txpool_content is polled
        ("mempool, logs ,mempool", None, {"logs", "mempool"}),
    ],
)
def test_which_sources_run(value: str | None, ws_url: str | None, expected: set[str]) -> None:
    settings = Settings(supervisor_sources=value) if value is not None else Settings()
    assert enabled_sources(settings, ws_url) == expected


FEED_URL = "ws://127.0.0.1:9001"


@pytest.mark.parametrize(
    ("value", "ws_url", "expected"),
    [
        (None, "ws://127.0.0.1:8545", {"logs", "mempool", "feed"}),
        (None, None, {"logs", "feed"}),
        ("logs,feed", None, {"logs", "feed"}),
        ("logs", "ws://127.0.0.1:8545", {"logs"}),
    ],
)
def test_the_feed_runs_where_it_has_a_url(value: str | None, ws_url: str | None, expected: set[str]) -> None:
    settings = Settings(supervisor_sources=value) if value is not None else Settings()
    assert enabled_sources(settings, ws_url, FEED_URL) == expected


def test_feed_without_a_url_is_left_out_with_one_warning(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="polyhunter.supervisor.sources"):
        assert enabled_sources(Settings(supervisor_sources="logs,feed"), None) == {"logs"}
    assert [r.getMessage() for r in caplog.records] == [
        "SUPERVISOR_SOURCES: feed has no URL on this chain (set SUPERVISOR_FEED_URL); running logs"
    ]


@pytest.mark.parametrize("value", ["mempool", "feed", "logs,chatter"])
def test_sources_without_logs_or_unknown_are_refused(value: str) -> None:
    with pytest.raises(ValueError, match="supervisor_sources"):
        Settings(supervisor_sources=value)


def signal(side: str = "BUY", *, source: str = "v2", seen_ms: int, priced: bool = True) -> Signal:
    return Signal(
        leader=LEADER,
        token_id=7,
        side=side,  # type: ignore[arg-type]
        size=10 * MS,
        tx_hash=TX,
        log_index=2**64 - 1 if source == "mempool" else 5,
        price_num=4 * MS if priced else None,
        price_den=10 * MS if priced else None,
        source=source,  # type: ignore[arg-type]
        seen_at_ns=seen_ms * MS,
    )


def test_a_pending_sighting_gives_the_lead_of_its_log() -> None:
    sightings = PendingSightings()
    sightings.saw_pending([signal(source="mempool", seen_ms=1_000)])
    sightings.saw_pending([signal(source="mempool", seen_ms=1_400)])  # seen again: the first counts
    assert sightings.saw_log(signal(seen_ms=3_250)) == 2_250
    assert sightings.lead_ms(TX, LEADER.upper().replace("0X", "0x"), 7, "BUY") == 2_250
    # The same log again (a duplicate notification) is not a second confirmation.
    assert sightings.saw_log(signal(seen_ms=3_300)) == 2_250
    stats = sightings.stats
    assert (stats.pending, stats.confirmed, stats.logged_only) == (2, 1, 0)
    assert (stats.last_lead_ms, stats.max_lead_ms, stats.total_lead_ms) == (2_250, 2_250, 2_250)
    assert stats.coverage_ppm == 1_000_000


def test_fills_not_seen_pending_have_no_lead() -> None:
    sightings = PendingSightings()
    sightings.saw_pending([signal("SELL", source="mempool", seen_ms=1_000)])
    assert sightings.saw_log(signal("BUY", seen_ms=2_000)) is None  # another side: another fill
    assert sightings.saw_log(signal("SELL", seen_ms=2_000, priced=False)) is None  # a CTF transfer
    assert sightings.stats.confirmed == 0
    assert sightings.stats.logged_only == 1
    assert sightings.stats.coverage_ppm == 0
    assert sightings.saw_log(signal("SELL", seen_ms=2_500)) == 1_500
    assert sightings.stats.coverage_ppm == 500_000


def test_sightings_are_bounded() -> None:
    sightings = PendingSightings(limit=2)
    sightings.saw_pending([signal(source="mempool", seen_ms=0)])
    for token in (100, 101):
        other = Signal(
            leader=LEADER, token_id=token, side="BUY", size=1, tx_hash=TX, log_index=0, seen_at_ns=0
        )
        sightings.saw_pending([other])
    # The oldest sighting (token 7) was forgotten: its log has no lead, and memory stays bounded.
    assert sightings.saw_log(signal(seen_ms=10)) is None
