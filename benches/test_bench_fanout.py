"""Fan-out of one signal to 10,000 followers: `FanoutIndex.match` beside a pure-Python dict-of-lists loop.

The index holds FOLLOWERS configs of one leader: a mix of fixed, ratio, percent-of-balance and tiered
sizing, per-trade caps, a side filter on some and the venue minimum (skip or bump) on all. Both sides get the
same signal and minimum and hold the same balances (Proxy address → collateral, for the percent configs:
the baseline in a dict, ours recorded once with `set_balances`), and produce the same amounts (checked in
`test_outputs_agree`). `fanout_10k_vs_python` times `match` as the
API returns it: every intent computed and held in Rust, each `CopyIntent` object built when the caller
reads it. `fanout_10k_objects_vs_python` also builds all 8,999 objects up front (`to_list()`), as the
baseline builds its tuples; Python's cyclic GC, which both sides' allocations trigger, makes that pair's
mean noisy. Figures are per call (one signal, 10,000
configs); divide by FOLLOWERS on both sides alike for per-config figures.
"""

from __future__ import annotations

from typing import Any

import pytest

from polyhunter._core import FanoutIndex, Signal

FOLLOWERS = 10_000
LEADER = "0x1111111111111111111111111111111111111111"
MIN_TOKENS = 1_000_000
PPM, BPS = 1_000_000, 10_000
TIERS = [(0, 1_000_000_000, 500_000), (1_000_000_000, None, 100_000)]


def _config(i: int) -> dict[str, Any]:
    cfg: dict[str, Any] = {
        "config_id": i + 1,
        "follower": f"0x{0xA0000000 + i:040x}",
        "proxy": f"0x{0xB0000000 + i:040x}",
        "leader": LEADER,
        "min_size_policy": "bump" if i % 2 else "skip",
    }
    kind = i % 10
    if kind < 4:
        cfg |= {"mode": "fixed", "fixed_usd": 1_000_000 + i * 1_000}
    elif kind < 7:
        cfg |= {"mode": "ratio", "ratio_ppm": 10_000 + i * 37}
    elif kind < 9:
        cfg |= {"mode": "percent", "percent_bps": 1 + i % 500}
    else:
        cfg |= {"mode": "tiered", "tiers": TIERS}
    if i % 3 == 0:
        cfg["max_per_trade_usd"] = 5_000_000
    if i % 17 == 0:
        cfg["side_filter"] = "SELL"
    return cfg


CONFIGS = [_config(i) for i in range(FOLLOWERS)]
BALANCES = {c["proxy"]: 20_000_000 + n * 1_000 for n, c in enumerate(CONFIGS) if c["mode"] == "percent"}
SIGNAL = Signal(
    leader=LEADER,
    token_id=123456789,
    side="BUY",
    size=200_000_000,
    usd=110_000_000,
    price_num=110_000_000,
    price_den=200_000_000,
    tx_hash=b"\xab" * 32,
    log_index=1,
)
INDEX = FanoutIndex()
INDEX.upsert_many(CONFIGS)
INDEX.set_balances(BALANCES)


# --- the baseline: leader → list of config dicts, one Python loop doing the same sizing --------------------

BY_LEADER: dict[str, list[dict[str, Any]]] = {}
for _c in CONFIGS:
    BY_LEADER.setdefault(_c["leader"], []).append(_c)


def python_fanout(
    signal: Signal, balances: dict[str, int], min_tokens: int
) -> list[tuple[int, str, str, int]]:
    """BUY side of the rules in `FanoutIndex`'s docstring (the benchmark's signal is a BUY with a price)."""
    side, num, den = signal.side, signal.price_num, signal.price_den
    usd = num
    limit = -(-num * PPM // den)
    out = []
    for cfg in BY_LEADER.get(signal.leader, []):
        if cfg.get("side_filter") not in (None, side):
            continue
        mode = cfg["mode"]
        if mode == "fixed":
            amount = cfg["fixed_usd"]
        elif mode == "ratio":
            amount = usd * cfg["ratio_ppm"] // PPM
        elif mode == "percent":
            balance = balances.get(cfg["proxy"])
            if balance is None:
                continue
            amount = balance * cfg["percent_bps"] // BPS
        else:
            tier = next((t for t in cfg["tiers"] if t[0] <= usd and (t[1] is None or usd < t[1])), None)
            if tier is None:
                continue
            amount = usd * tier[2] // PPM
        cap = cfg.get("max_per_trade_usd")
        if cap is not None:
            amount = min(amount, cap)
        if amount * den // num < min_tokens:
            bumped = -(-min_tokens * num // den)
            if cfg["min_size_policy"] != "bump" or (cap is not None and bumped > cap):
                continue
            amount = bumped
        if amount > 0:
            out.append((cfg["config_id"], cfg["follower"], cfg["proxy"], amount, limit))
    return out


def ours_lazy() -> int:
    return len(INDEX.match([SIGNAL], min_size=MIN_TOKENS))


def ours_objects() -> int:
    return len(INDEX.match([SIGNAL], min_size=MIN_TOKENS).to_list())


def python() -> int:
    return len(python_fanout(SIGNAL, BALANCES, MIN_TOKENS))


def test_outputs_agree() -> None:
    ours = {
        (i.config_id, i.follower, i.proxy, i.amount, i.limit_price_ppm)
        for i in INDEX.match([SIGNAL], min_size=MIN_TOKENS)
    }
    assert ours == set(python_fanout(SIGNAL, BALANCES, MIN_TOKENS))
    # The data fixes the count: 589 SELL-only configs (every 17th) are filtered and 412 skip-policy configs
    # size under the venue minimum, so both sides must produce exactly the other 8,999.
    assert len(ours) == FOLLOWERS - 589 - 412


@pytest.mark.benchmark(group="fanout")
def test_fanout_10k_ours(benchmark: Any, ratios: Any) -> None:
    benchmark(ours_lazy)
    ratios.record("fanout_10k_ours", benchmark)


@pytest.mark.benchmark(group="fanout")
def test_fanout_10k_ours_objects(benchmark: Any, ratios: Any) -> None:
    benchmark(ours_objects)
    ratios.record("fanout_10k_ours_objects", benchmark)


@pytest.mark.benchmark(group="fanout")
def test_fanout_10k_python(benchmark: Any, ratios: Any) -> None:
    benchmark(python)
    ratios.record("fanout_10k_python", benchmark)
    ratios.pair("fanout_10k_vs_python", "fanout_10k_python", "fanout_10k_ours")
    ratios.pair("fanout_10k_objects_vs_python", "fanout_10k_python", "fanout_10k_ours_objects")
