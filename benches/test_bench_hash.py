"""keccak256 and dedup keys: ours beside eth_utils (pycryptodome) in the same run."""

from __future__ import annotations

from typing import Any

from eth_utils import keccak

from polyhunter import dedup_key, keccak256

PAYLOAD = bytes(range(256)) * 4
TX = bytes.fromhex("ab" * 32)


def test_keccak_ours(benchmark: Any, ratios: Any) -> None:
    benchmark(keccak256, PAYLOAD)
    ratios.record("keccak_ours", benchmark)


def test_keccak_eth_utils(benchmark: Any, ratios: Any) -> None:
    benchmark(keccak, PAYLOAD)
    ratios.record("keccak_eth_utils", benchmark)
    ratios.pair("keccak_vs_eth_utils", "keccak_eth_utils", "keccak_ours")


def _python_dedup_key() -> bytes:
    return keccak(TX + (7).to_bytes(8, "big") + (0).to_bytes(4, "big"))


def test_dedup_key_ours(benchmark: Any, ratios: Any) -> None:
    benchmark(dedup_key, TX, 7, 0)
    ratios.record("dedup_key_ours", benchmark)


def test_dedup_key_python(benchmark: Any, ratios: Any) -> None:
    benchmark(_python_dedup_key)
    ratios.record("dedup_key_python", benchmark)
    ratios.pair("dedup_key_vs_python", "dedup_key_python", "dedup_key_ours")
