"""Type stub of `polyhunter._core`, the Rust extension (the hot path)."""

__all__ = ["DEDUP_KEY_LEN", "__version__", "dedup_key", "keccak256"]

__version__: str
DEDUP_KEY_LEN: int

def keccak256(data: bytes) -> bytes:
    """Keccak-256 of `data` (Ethereum's hash)."""

def dedup_key(tx_hash: bytes | str, log_index: int, sub_index: int = 0) -> bytes:
    """The 32-byte key keccak256(tx_hash ‖ be64(log_index) ‖ be32(sub_index)).

    `tx_hash` is 32 raw bytes or "0x" + 64 hex digits; anything else raises `InvalidInputError`
    (bytes of the wrong length) or `DecodeError` (bad hex).
    """
