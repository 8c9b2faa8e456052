"""shard_of: rendezvous hashing, recomputed here with eth_utils' Keccak, and literal test vectors."""

from __future__ import annotations

import pytest
from eth_utils import keccak
from hypothesis import given
from hypothesis import strategies as st

from polyhunter import InvalidInputError
from polyhunter._core import shard_of

addresses = st.binary(min_size=20, max_size=20).map(lambda b: "0x" + b.hex())


def reference(address: str, shard_count: int) -> int:
    """The documented rule: highest keccak256(address ‖ be32(i))[:8] wins, lowest index on a tie."""
    raw = bytes.fromhex(address[2:])
    weights = [int.from_bytes(keccak(raw + i.to_bytes(4, "big"))[:8], "big") for i in range(shard_count)]
    return max(range(shard_count), key=lambda i: (weights[i], -i))


# The same table stands in rust/src/shard.rs.
VECTORS = [
    ("0x0000000000000000000000000000000000000000", 1, 0),
    ("0x0000000000000000000000000000000000000000", 4, 1),
    ("0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266", 2, 1),
    ("0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266", 8, 6),
    ("0x70997970C51812dc3A010C7d01b50e0d17dc79C8", 3, 0),
    ("0x70997970C51812dc3A010C7d01b50e0d17dc79C8", 16, 15),
]


@pytest.mark.parametrize(("address", "count", "shard"), VECTORS)
def test_vectors(address: str, count: int, shard: int) -> None:
    assert shard_of(address, count) == shard
    assert reference(address.lower(), count) == shard


@given(addresses, st.integers(1, 40))
def test_equals_reference(address: str, count: int) -> None:
    assert shard_of(address, count) == reference(address, count)


@given(addresses, st.integers(1, 40))
def test_growth_moves_only_to_the_new_shard(address: str, count: int) -> None:
    before, after = shard_of(address, count), shard_of(address, count + 1)
    assert 0 <= before < count
    assert after in (before, count)


def test_shards_are_balanced() -> None:
    counts = [0] * 4
    for i in range(4_000):
        counts[shard_of("0x" + keccak(i.to_bytes(4, "big"))[:20].hex(), 4)] += 1
    assert min(counts) > 800


def test_bad_input() -> None:
    with pytest.raises(InvalidInputError, match="at least 1"):
        shard_of(VECTORS[0][0], 0)
    with pytest.raises(InvalidInputError, match="40 hex digits"):
        shard_of("0x1234", 2)
