"""Ids of the Gnosis ConditionalTokens (CTF), computed off chain exactly as `CTHelpers.sol` does.

A binary market's YES and NO outcome tokens are the ERC-1155 ids `position_id(collateral,
collection_id(0, condition_id, 1))` and `... index set 2`. The collection id maps
keccak256(condition id ‖ index set) onto a point of the alt_bn128 curve (y² = x³ + 3) and, for nested
collections, adds the parent's point; the result is the x coordinate with y's parity in bit 254.
"""

from __future__ import annotations

from polyhunter._core import keccak256
from polyhunter.chain.create2 import _address_bytes, _bytes32
from polyhunter.errors import InvalidInputError

#: alt_bn128's field prime; P ≡ 3 (mod 4), so a square root is a single exponentiation.
P = 21888242871839275222246405745257275088696311157297823662689037894645226208583
B = 3
YES_INDEX_SET = 0b01
NO_INDEX_SET = 0b10
_ZERO32 = bytes(32)


def _uint256(value: int, what: str) -> bytes:
    if not 0 <= value < 2**256:
        raise InvalidInputError(f"{what} must be a uint256: {value}")
    return value.to_bytes(32, "big")


def condition_id(oracle: str, question_id: bytes | str, outcome_slot_count: int = 2) -> bytes:
    """`keccak256(abi.encodePacked(oracle, questionId, outcomeSlotCount))`."""
    return keccak256(
        _address_bytes(oracle, "oracle")
        + _bytes32(question_id, "question id")
        + _uint256(outcome_slot_count, "outcome slot count")
    )


def _sqrt(x: int) -> int:
    return pow(x, (P + 1) // 4, P)


def _ec_add(p1: tuple[int, int], p2: tuple[int, int]) -> tuple[int, int]:
    """Affine point addition on y² = x³ + 3 over F_P, as the ecAdd precompile (address 6) does."""
    (x1, y1), (x2, y2) = p1, p2
    if x1 == x2:
        if (y1 + y2) % P == 0:
            return (0, 0)  # the point at infinity, as the precompile encodes it
        slope = 3 * x1 * x1 * pow(2 * y1, -1, P) % P
    else:
        slope = (y2 - y1) * pow(x2 - x1, -1, P) % P
    x3 = (slope * slope - x1 - x2) % P
    return x3, (slope * (x1 - x3) - y1) % P


def collection_id(parent_collection_id: bytes | str, condition: bytes | str, index_set: int) -> bytes:
    """`CTHelpers.getCollectionId`, bit for bit."""
    parent = _bytes32(parent_collection_id, "parent collection id")
    x1 = int.from_bytes(keccak256(_bytes32(condition, "condition id") + _uint256(index_set, "index set")))
    odd = x1 >> 255 != 0
    while True:
        x1 = (x1 + 1) % P
        yy = (x1 * x1 * x1 + B) % P
        y1 = _sqrt(yy)
        if y1 * y1 % P == yy:
            break
    if (odd and y1 % 2 == 0) or (not odd and y1 % 2 == 1):
        y1 = P - y1

    x2 = int.from_bytes(parent)
    if x2 != 0:
        odd = x2 >> 254 != 0
        x2 &= (1 << 254) - 1
        yy = (x2 * x2 * x2 + B) % P
        y2 = _sqrt(yy)
        if (odd and y2 % 2 == 0) or (not odd and y2 % 2 == 1):
            y2 = P - y2
        if y2 * y2 % P != yy:
            raise InvalidInputError(f"invalid parent collection id: 0x{parent.hex()}")
        x1, y1 = _ec_add((x1, y1), (x2, y2))

    if y1 % 2 == 1:
        x1 ^= 1 << 254
    return x1.to_bytes(32, "big")


def position_id(collateral: str, collection: bytes | str) -> int:
    """`CTHelpers.getPositionId`: the ERC-1155 token id of a position."""
    return int.from_bytes(
        keccak256(_address_bytes(collateral, "collateral") + _bytes32(collection, "collection id"))
    )


def binary_token_ids(collateral: str, condition: bytes | str) -> tuple[int, int]:
    """(YES, NO) token ids of a binary condition backed by `collateral` (index sets 1 and 2)."""
    return (
        position_id(collateral, collection_id(_ZERO32, condition, YES_INDEX_SET)),
        position_id(collateral, collection_id(_ZERO32, condition, NO_INDEX_SET)),
    )
