"""The queue payload of a copy job (`CopyJob.to_bytes`): compact JSON through orjson, exact for uint256."""

from __future__ import annotations

import json

from hypothesis import given
from hypothesis import strategies as st

from polyhunter.models import CopyJob

UINT256 = st.integers(0, 2**256 - 1)


def _job(token_id: int, amount: int, leader_size: int, leader_price_ppm: int | None) -> CopyJob:
    return CopyJob(
        key=bytes(range(32)),
        config_id=7,
        follower="0x" + "f0" * 20,
        proxy="0x" + "9a" * 20,
        leader="0x" + "1e" * 20,
        token_id=token_id,
        side="SELL",
        amount=amount,
        limit_price_ppm=430_000,
        tx_hash=b"\xab" * 32,
        log_index=3,
        sub_index=1,
        leader_size=leader_size,
        leader_price_ppm=leader_price_ppm,
        block_number=12_345_678,
    )


@given(UINT256, UINT256, UINT256, st.none() | st.integers(0, 10**6))
def test_a_job_survives_the_queue_exactly(token_id: int, amount: int, size: int, price: int | None) -> None:
    job = _job(token_id, amount, size, price)
    payload = job.to_bytes()
    assert CopyJob.from_bytes(payload) == job
    # The same compact bytes the standard library writes: entries queued before the switch still read.
    assert payload == json.dumps(json.loads(payload), separators=(",", ":")).encode()
