"""Copy jobs for the store's unit tests: one leader fill's copies, keyed apart by index."""

from __future__ import annotations

from polyhunter.models import CopyJob, copy_key

FAR = 2**62
"""An expiry no test reaches."""


def store_job(index: int, tx: bytes = b"\xcd" * 32, follower: str = "0x" + "1" * 40) -> CopyJob:
    """The `index`-th copy of the fill in `tx` (a $5 BUY at 0.50 of token 2^255 + index)."""
    return CopyJob(
        key=copy_key(tx[4:] + index.to_bytes(4, "big"), 1),
        config_id=1,
        follower=follower,
        proxy="0x" + "2" * 40,
        leader="0x" + "3" * 40,
        token_id=2**255 + index,
        side="BUY",
        amount=5_000_000,
        limit_price_ppm=500_000,
        tx_hash=tx,
        log_index=index,
        sub_index=0,
        leader_size=5_000_000,
        leader_price_ppm=500_000,
        block_number=100,
    )
