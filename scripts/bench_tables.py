"""Writes README's performance tables from benches/results/*.json, between `<!-- bench:NAME -->` markers.

`make bench` runs it after the benchmarks; `--check` only compares (exit 1 when README differs), which is what
tests/unit/test_bench_tables.py does with the committed results, so a hand edit of a measured number fails.
Each table says which machine measured it and when (`machine.json`, stamped by benches/conftest.py).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benches" / "results"
README = ROOT / "README.md"
MARKER = re.compile(r"(<!-- bench:(?P<name>[a-z_]+) -->\n)(?P<body>.*?)(<!-- /bench:(?P=name) -->)", re.S)

Json = dict[str, Any]


class TablesError(Exception):
    """A results file or a README marker is missing or malformed."""


def _load(results: Path, name: str) -> Json:
    path = results / name
    try:
        data: Json = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise TablesError(f"cannot read {path.name}: {exc}") from None
    return data


def _stamp(results: Path, *files: str) -> str:
    stamps = _load(results, "machine.json")
    seen = []
    for name in files:
        if name not in stamps:
            raise TablesError(f"machine.json has no stamp for {name}: rerun its benchmark")
        s = stamps[name]
        text = f"{s['cpu']}, {s['cores']} cores, {s['date']}"
        if text not in seen:
            seen.append(text)
    return f"_Measured on {'; '.join(seen)} (`{'`, `'.join(files)}`)._\n\n"


def _n(value: float, digits: int = 0) -> str:
    return f"{value:,.{digits}f}"


def _met(flag: bool | None) -> str:
    """A target's outcome; None for a figure recorded with no target."""
    if flag is None:
        return "no target (recorded)"
    return "yes" if flag else "**no**"


def ratios_table(results: Path) -> str:
    ratios = _load(results, "ratios.json")
    targets = _load(results, "ratio_targets.json")
    lines = ["| key (reference ÷ ours) | target | measured | met |", "|---|---:|---:|---|"]
    for key in sorted(ratios):
        t = targets.get(key)
        target = f"≥ {t['target']:g}" if t else "—"
        met = _met(t["met"]) if t else "—"
        lines.append(f"| `{key}` | {target} | {ratios[key]:g} | {met} |")
    return _stamp(results, "ratios.json") + "\n".join(lines) + "\n"


LOADSIM_RUNS = {
    "embedded_20s": "SQLite + memory, 20 s, defaults",
    "embedded_20s_asyncio": "SQLite + memory, 20 s, defaults",
    "embedded_saturated_20s": "SQLite + memory, 20 s, 15,000/s asked (saturated)",
    "embedded_6k_20s": "SQLite + memory, 20 s, 6,000/s asked",
    "embedded_60s": "SQLite + memory, 60 s, defaults",
    "postgres_redis_20s": "PostgreSQL + Redis, 20 s, defaults",
    "postgres_redis_2_instances_20s": "PostgreSQL + Redis, 2 sharded instances, 20 s",
    "burst_10k": "SQLite + memory, burst: 1 fill × 10,000 followers",
}


def loadsim_table(results: Path) -> str:
    data = _load(results, "loadsim.json")
    runs = data.get("runs", {})
    lines = [
        "| run | loop | offered tasks/s (asked) | tasks/s (EXECUTED ÷ elapsed) | dropped | CPU µs/task "
        "| hand-off p50 / p99 | peak RSS |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for name, label in LOADSIM_RUNS.items():
        r = runs.get(name)
        if r is None:
            continue
        if r.get("burst_followers"):
            offered = f"burst; last copy handed over {_n(r['burst_last_handoff_ms'])} ms after the log"
        else:
            offered = f"{_n(r['offered_tasks_per_s'])} ({_n(r['nominal_tasks_per_s'])})"
        # Runs recorded before the loop was a setting carry no `event_loop`: shown as unknown, not guessed.
        loop = r.get("event_loop") or "—"
        lines.append(
            f"| {label} | {loop} | {offered} | {_n(r['tasks_per_s'])} | {_n(r['dropped'])} "
            f"| {_n(r['cpu_us_per_task'])} | {_n(r['handoff_p50_ms'], 1)} / {_n(r['handoff_p99_ms'], 1)} ms "
            f"| {_n(r['peak_rss_mb'])} MB |"
        )
    lines += ["", "| target | measured | met |", "|---|---:|---|"]
    for key, t in data.get("targets", {}).items():
        lines.append(f"| `{key}` {t['target']} | {t['measured']:,g} | {_met(t['met'])} |")
    loops = data.get("loops")
    on_uvloop, on_asyncio = runs.get("embedded_20s"), runs.get("embedded_20s_asyncio")
    if loops and on_uvloop and on_asyncio:
        # One run each, on a machine others may share: throughput and CPU per task are both shown.
        lines += [
            "",
            f"Event loops, 20 s at the defaults (one run each): uvloop {_n(loops['uvloop_tasks_per_s'])} "
            f"tasks/s, asyncio {_n(loops['asyncio_tasks_per_s'])} tasks/s (uvloop ÷ asyncio "
            f"{loops['uvloop_over_asyncio']:g}); CPU {_n(on_uvloop['cpu_us_per_task'])} µs/task on uvloop, "
            f"{_n(on_asyncio['cpu_us_per_task'])} on asyncio.",
        ]
    return _stamp(results, "loadsim.json") + "\n".join(lines) + "\n"


def latency_table(results: Path) -> str:
    data = _load(results, "latency.json")
    t = data["targets"]
    lines = [
        f"| case ({data['followers']} followers) | offered tasks/s | copies | p50 | p99 | max "
        "| of which the durable commit, p50 / p99 "
        f"| met (p50 ≤ {t['p50_ms']:g} ms, p99 ≤ {t['p99_ms']:g} ms) |",
        "|---|---:|---:|---:|---:|---:|---:|---|",
    ]
    for case, c in data["cases"].items():
        commit = (
            f"{c['commit_p50_ms']:g} / {c['commit_p99_ms']:g} ms" if "commit_p50_ms" in c else "not recorded"
        )
        lines.append(
            f"| `{case}` | {_n(c['offered_tasks_per_s'])} | {_n(c['copies'])} | {c['p50_ms']:g} ms "
            f"| {c['p99_ms']:g} ms | {c['max_ms']:g} ms | {commit} | {_met(c['met'])} |"
        )
    return _stamp(results, "latency.json") + "\n".join(lines) + "\n"


def engine_table(results: Path) -> str:
    data = _load(results, "engine.json")
    by_wallets: dict[int, dict[str, Json]] = {}
    for run in data["runs"]:
        by_wallets.setdefault(run["wallets"], {})[run["mode"]] = run
    lines = [
        "| wallets | venue | one per wallet (copies/s) | pipelined (copies/s) | pipelined run |",
        "|---:|---|---:|---:|---|",
    ]
    for wallets in sorted(by_wallets):
        one, piped = by_wallets[wallets].get("one_per_wallet"), by_wallets[wallets].get("pipelined")
        one_rate = f"{one['copies_per_s']:g}" if one else "—"
        piped_rate = f"{piped['copies_per_s']:g}" if piped else "—"
        run = f"{_n(piped['copies'])} copies in {piped['seconds']:g} s" if piped else "—"
        lines.append(f"| {wallets} | LocalExchange | {one_rate} | {piped_rate} | {run} |")
    clob = data.get("clob_run")
    if clob:
        lines.append(
            f"| {clob['wallets']} | local CLOB, deposit wallets | — | {clob['copies_per_s']:g} "
            f"| {_n(clob['copies'])} copies in {clob['seconds']:g} s, {clob['orders']} orders, "
            f"{clob['transactions']} transactions |"
        )
    return _stamp(results, "engine.json") + "\n".join(lines) + "\n"


def _ms(summary: Json, key: str) -> str:
    value = summary.get(key)
    return "—" if value is None else f"{_n(value)} ms"


def detection_table(results: Path) -> str:
    data = _load(results, "detection.json")
    fills = data["fills"]
    names = {"mempool": "mempool (pending `matchOrders`)", "feed": "activity feed"}
    lines = [
        f"| source ({fills} leader fills, {data['block_time_s']:g} s blocks, local only) "
        "| seen before the log | first | lead over the log p50 | p99 |",
        "|---|---:|---:|---:|---:|",
    ]
    first = data["first_seen_by"]
    for name, label in names.items():
        s = data["sources"][name]
        lines.append(
            f"| {label} | {s['seen_before_log']} of {fills} | {first.get(name, 0)} "
            f"| {_ms(s, 'p50_ms')} | {_ms(s, 'p99_ms')} |"
        )
    lines.append(f"| chain logs (`OrderFilled`) | — | {first.get('log', 0)} | — | — |")
    to_post, log_to_post = data["first_sighting_to_order_posted_ms"], data["log_to_order_posted_ms"]
    lines += [
        "",
        f"| our copy order reaching the CLOB (`SUPERVISOR_ACT_ON={data['act_on']}`, "
        f"{_n(to_post['samples'])} copies) | p50 | p99 |",
        "|---|---:|---:|",
        f"| from the first sighting | {_ms(to_post, 'p50_ms')} | {_ms(to_post, 'p99_ms')} |",
        f"| from the log | {_ms(log_to_post, 'p50_ms')} | {_ms(log_to_post, 'p99_ms')} |",
        "",
        f"_{data['label']}._",
    ]
    return _stamp(results, "detection.json") + "\n".join(lines) + "\n"


def cli_table(results: Path) -> str:
    data = _load(results, "cli.json")
    slowest = data["slowest_command_help"]
    target = data["target_ms"]
    lines = [
        f"| fresh process ({data['rounds']} interleaved rounds) | median | within {target:g} ms |",
        "|---|---:|---|",
        f"| `python -c pass` (the interpreter alone) | {data['python_c_pass_ms']:g} ms | — |",
        f"| `polyhunter --help` (`cli_help_startup_ms`) | {data['cli_help_startup_ms']:g} ms "
        f"| {_met(data['cli_help_startup_ms'] <= target)} |",
        f"| slowest command help: `{slowest['command']}` | {slowest['ms']:g} ms "
        f"| {_met(slowest['ms'] <= target)} |",
    ]
    return _stamp(results, "cli.json") + "\n".join(lines) + "\n"


def gas_table(results: Path) -> str:
    data = _load(results, "gas.json")
    lines = [
        f"| Executor operation | single tx | batch of {data['proxies']} Proxies | batched, per Proxy |",
        "|---|---:|---:|---:|",
    ]
    for op in data["operations"]:
        batch = "—" if op["batch"] is None else _n(op["batch"])
        per_proxy = "—" if op["per_proxy"] is None else _n(op["per_proxy"])
        lines.append(f"| `{op['name']}` | {_n(op['single'])} | {batch} | {per_proxy} |")
    return _stamp(results, "gas.json") + "\n".join(lines) + "\n"


TABLES: dict[str, Callable[[Path], str]] = {
    "ratios": ratios_table,
    "loadsim": loadsim_table,
    "latency": latency_table,
    "engine": engine_table,
    "detection": detection_table,
    "cli": cli_table,
    "gas": gas_table,
}


def rewrite(readme: str, results: Path = RESULTS) -> str:
    """README's text with every marked table regenerated from `results`; every table must be marked once."""
    found = [m.group("name") for m in MARKER.finditer(readme)]
    for name in TABLES:
        if found.count(name) != 1:
            raise TablesError(f"README must hold exactly one <!-- bench:{name} --> block, found {found}")

    def table(match: re.Match[str]) -> str:
        name = match.group("name")
        if name not in TABLES:
            raise TablesError(f"README has a bench:{name} block this script does not know")
        return f"{match.group(1)}{TABLES[name](results)}{match.group(4)}"

    return MARKER.sub(table, readme)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--check", action="store_true", help="Only compare; exit 1 when README differs.")
    args = parser.parse_args(argv)
    try:
        current = README.read_text()
        wanted = rewrite(current)
    except TablesError as exc:
        print(f"bench_tables: {exc}", file=sys.stderr)
        return 2
    if wanted == current:
        return 0
    if args.check:
        print(
            "bench_tables: README's tables differ from benches/results: run scripts/bench_tables.py",
            file=sys.stderr,
        )
        return 1
    README.write_text(wanted)
    print("bench_tables: README's tables rewritten from benches/results")
    return 0


if __name__ == "__main__":
    sys.exit(main())
