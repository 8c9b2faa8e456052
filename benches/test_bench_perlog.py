"""The per-log path: raw bytes to the store's rows and the queue's payloads, ours beside hand-tuned Python.

Both sides take the same JSON-RPC notifications (one V2 `OrderFilled` each, a leader with FOLLOWERS followers)
one message at a time, as the detector hands them over, and produce for every copy the store's insert row
(`job_row`, PENDING) and the queue payload (`CopyJob.to_bytes()`), with equal values (checked first):
- ours is the pipeline's code path today: `LogDecoder.decode`, `DedupCache.check_and_insert`,
  `FanoutIndex.match`, then the batch handed over in one crossing: `Intents.jobs()` (each job's fields and
  its payload bytes) and `Intents.rows()` (the store's rows);
- the reference is what a careful Python engineer would write: orjson parse, a V2 `OrderFilled` decoder for
  the fields used, pycryptodome's C keccak for the dedup and idempotency keys, a dict TTL set, a loop over
  the leader's configs (fixed or ratio sizing, a per-trade cap) building the same tuples and orjson payloads.
Each round is LOGS fresh messages (both sides keep their dedup caches across rounds, as a running supervisor
does); `per_log_path_vs_python` in ratios.json is reference ÷ ours, target 5x (recorded, not asserted).
"""

from __future__ import annotations

import itertools
import random
from collections import deque
from collections.abc import Iterator
from typing import Any

import orjson
import pytest
from Crypto.Hash import keccak

from polyhunter._core import TOPIC_ORDER_FILLED_V2, DedupCache, FanoutIndex, LogDecoder
from polyhunter.loadsim import CTF, EXCHANGE, notification
from polyhunter.models import CopyJob
from polyhunter.store.base import INSERT_COLUMNS, job_row
from polyhunter.supervisor.pipeline import job_of

FOLLOWERS = 100
LEADERS_N = 10
LOGS = 20
ROUNDS = 60
TTL_MS = 60_000
NOW, EXPIRES = 1_700_000_000_000, 1_700_000_300_000
PPM = 1_000_000
USD = 1_000_000

_rng = random.Random(5)
LEADERS = ["0x" + _rng.randbytes(20).hex() for _ in range(LEADERS_N)]
CONFIGS: list[dict[str, Any]] = []
for _l, _leader in enumerate(LEADERS):
    for _f in range(FOLLOWERS):
        _i = _l * FOLLOWERS + _f
        _cfg: dict[str, Any] = {
            "config_id": _i + 1,
            "follower": "0x" + _rng.randbytes(20).hex(),
            "proxy": "0x" + _rng.randbytes(20).hex(),
            "leader": _leader,
        }
        if _i % 2:
            _cfg |= {"mode": "ratio", "ratio_ppm": 50_000 + _i * 11}
        else:
            _cfg |= {"mode": "fixed", "fixed_usd": 5 * USD + _i * 1_000}
        if _i % 3 == 0:
            _cfg["max_per_trade_usd"] = 7 * USD
        CONFIGS.append(_cfg)


def _messages(count: int, seed: int) -> list[bytes]:
    rng = random.Random(seed)
    return [
        notification(
            LEADERS[n % LEADERS_N],
            rng.getrandbits(255),
            "0x" + rng.randbytes(32).hex(),
            1 + n // 10,
            (40 + n % 30) * USD,
            (100 + n % 7) * USD,
        )
        for n in range(count)
    ]


# --- ours: the pipeline's path ------------------------------------------------------------------------------

DECODER = LogDecoder(ctf=CTF, v2_exchanges=[EXCHANGE], leaders=LEADERS)
INDEX = FanoutIndex()
INDEX.upsert_many(CONFIGS)


def ours(raws: list[bytes], dedup: DedupCache) -> tuple[list[tuple[Any, ...]], list[bytes]]:
    rows: list[tuple[Any, ...]] = []
    payloads: list[bytes] = []
    for raw in raws:
        signals = DECODER.decode(raw).signals
        firsts = dedup.check_and_insert([s.dedup_key for s in signals])
        fresh = [s for s, first in zip(signals, firsts, strict=True) if first]
        if not fresh:
            continue
        intents = INDEX.match(fresh)
        # What the pipeline takes from a batch: the jobs' fields and payloads, and the store's rows.
        _fields, made, _owners = intents.jobs()
        payloads += made
        rows += intents.rows(NOW, EXPIRES)
    return rows, payloads


def field_by_field(raws: list[bytes], dedup: DedupCache) -> tuple[list[tuple[Any, ...]], list[bytes]]:
    """The same through each intent's getters (`job_of`), as the pipeline did before: a cross-check."""
    rows: list[tuple[Any, ...]] = []
    payloads: list[bytes] = []
    for raw in raws:
        signals = DECODER.decode(raw).signals
        firsts = dedup.check_and_insert([s.dedup_key for s in signals])
        fresh = [s for s, first in zip(signals, firsts, strict=True) if first]
        for intent in INDEX.match(fresh):
            job = job_of(intent, fresh[intent.signal_index])
            rows.append((*job_row(job, NOW, EXPIRES), None, None, None, 0))
            payloads.append(job.to_bytes())
    return rows, payloads


# --- the reference: hand-tuned Python -----------------------------------------------------------------------

BY_LEADER: dict[str, list[tuple[int, str, str, str, int, int | None]]] = {}
for _c in CONFIGS:
    BY_LEADER.setdefault(_c["leader"], []).append(
        (
            _c["config_id"],
            _c["follower"],
            _c["proxy"],
            _c["mode"],
            _c.get("fixed_usd") or _c.get("ratio_ppm") or 0,
            _c.get("max_per_trade_usd"),
        )
    )
WATCHED = frozenset(LEADERS)
UNCLAIMED = (None, None, None, 0)  # no intake token, no claim: the last columns of `INSERT_COLUMNS`
EXCHANGES = frozenset([EXCHANGE])


def _keccak(data: bytes) -> bytes:
    return keccak.new(digest_bits=256, data=data).digest()


class PythonDedup:
    """A dict key → expiry with a deque in insertion order, as in the dedup benchmark's baseline."""

    def __init__(self) -> None:
        self.expiry: dict[bytes, int] = {}
        self.order: deque[tuple[bytes, int]] = deque()

    def first(self, key: bytes, now_ms: int) -> bool:
        order, expiry = self.order, self.expiry
        while order and order[0][1] <= now_ms:
            del expiry[order.popleft()[0]]
        if key in expiry:
            return False
        expiry[key] = now_ms + TTL_MS
        order.append((key, now_ms + TTL_MS))
        return True


def python(raws: list[bytes], dedup: PythonDedup) -> tuple[list[tuple[Any, ...]], list[bytes]]:
    rows: list[tuple[Any, ...]] = []
    payloads: list[bytes] = []
    dumps = orjson.dumps
    for raw in raws:
        log = orjson.loads(raw)["params"]["result"]
        topics = log["topics"]
        if log["removed"] or log["address"].lower() not in EXCHANGES or topics[0] != TOPIC_ORDER_FILLED_V2:
            continue
        maker, taker = "0x" + topics[2][26:].lower(), "0x" + topics[3][26:].lower()
        leader = maker if maker in WATCHED else taker if taker in WATCHED else None
        if leader is None:
            continue
        data = log["data"]
        side_word, token_id = int(data[2:66], 16), int(data[66:130], 16)
        maker_amount, taker_amount = int(data[130:194], 16), int(data[194:258], 16)
        # The leader's side: the maker's order side, reversed when the leader is the taker.
        buy = (side_word == 0) == (leader == maker)
        side = "BUY" if buy else "SELL"
        usd, size = (maker_amount, taker_amount) if side_word == 0 else (taker_amount, maker_amount)
        tx = bytes.fromhex(log["transactionHash"][2:])
        log_index, block = int(log["logIndex"], 16), int(log["blockNumber"], 16)
        dkey = _keccak(tx + log_index.to_bytes(8, "big") + b"\0\0\0\0")
        if not dedup.first(dkey, NOW):
            continue
        if not buy:
            continue  # the benchmark's leaders only buy; a SELL sizes in tokens (not needed here)
        limit = -(-usd * PPM // size)
        leader_price = usd * PPM // size
        token, tx_hex = str(token_id), tx.hex()
        for config_id, follower, proxy, mode, value, cap in BY_LEADER[leader]:
            amount = value if mode == "fixed" else usd * value // PPM
            if cap is not None and amount > cap:
                amount = cap
            key = _keccak(dkey + config_id.to_bytes(8, "big"))
            head = (key, config_id, follower, proxy, leader, token, side, amount, limit)
            tail = (log_index, 0, size, leader_price, block)
            rows.append(
                (
                    *head,
                    tx,
                    *tail,
                    "PENDING",
                    None,
                    NOW,
                    NOW,
                    EXPIRES,
                    *UNCLAIMED,
                )
            )
            payloads.append(dumps([key.hex(), *head[1:], tx_hex, *tail]))
    return rows, payloads


def test_outputs_agree() -> None:
    raws = _messages(LOGS, seed=99) * 2  # the repeats must be dropped by dedup on both sides
    ours_rows, ours_payloads = ours(raws, DedupCache(TTL_MS, 1_000_000))
    ref_rows, ref_payloads = python(raws, PythonDedup())
    getter_rows, getter_payloads = field_by_field(raws, DedupCache(TTL_MS, 1_000_000))
    assert len(ours_rows) == LOGS * FOLLOWERS
    assert len(ours_rows[0]) == len(INSERT_COLUMNS.split(","))
    assert ours_rows == ref_rows == getter_rows
    assert ours_payloads == ref_payloads == getter_payloads
    assert [CopyJob.from_bytes(p).key for p in ours_payloads] == [r[0] for r in ours_rows]


def _rounds(seed: int) -> Iterator[tuple[tuple[list[bytes]], dict[str, Any]]]:
    pool = _messages(LOGS * (ROUNDS + 1), seed)
    for start in itertools.count(0, LOGS):
        yield (pool[start : start + LOGS],), {}


@pytest.mark.benchmark(group="per_log_path")
def test_per_log_path_ours(benchmark: Any, ratios: Any) -> None:
    dedup = DedupCache(TTL_MS, 1_000_000)
    rounds = _rounds(1)
    benchmark.pedantic(lambda raws: ours(raws, dedup), setup=lambda: next(rounds), rounds=ROUNDS)
    ratios.record("per_log_path_ours", benchmark)


@pytest.mark.benchmark(group="per_log_path")
def test_per_log_path_python(benchmark: Any, ratios: Any) -> None:
    dedup = PythonDedup()
    rounds = _rounds(1)
    benchmark.pedantic(lambda raws: python(raws, dedup), setup=lambda: next(rounds), rounds=ROUNDS)
    ratios.record("per_log_path_python", benchmark)
    ratios.pair("per_log_path_vs_python", "per_log_path_python", "per_log_path_ours")
