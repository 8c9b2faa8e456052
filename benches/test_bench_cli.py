"""Start-up of `polyhunter --help` and of every command's `--help`, beside `python -c pass` in the same run.

Each round runs, one after the other, `python -c pass` (the interpreter's own floor), `polyhunter --help`
and `polyhunter <command> --help` for every command, as fresh processes through the installed entry point;
interleaving them puts the same machine load on each. The medians go to `benches/results/cli.json` as
`cli_help_startup_ms` (the root help), the slowest command's help, and `met` against the 200 ms target,
recorded and never asserted: the run asserts only that each help exits 0 and prints its usage.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

from polyhunter.cli import LAZY_COMMANDS

RESULTS = Path(__file__).resolve().parent / "results"
ROUNDS = 15
TARGET_MS = 200.0


def _entry_point() -> list[str]:
    script = Path(sys.executable).parent / "polyhunter"
    return [str(script)] if script.is_file() else [sys.executable, "-m", "polyhunter"]


def _elapsed_ms(argv: list[str], expect: str | None) -> float:
    started = time.perf_counter()
    done = subprocess.run(argv, capture_output=True, text=True, check=False, timeout=120)
    elapsed = (time.perf_counter() - started) * 1000
    assert done.returncode == 0, done.stderr[-2000:]
    if expect is not None:
        assert expect in done.stdout, done.stdout[:500]
    return elapsed


def test_cli_help_startup(tmp_path: Path) -> None:
    cli = _entry_point()
    samples: dict[str, list[float]] = {"python -c pass": [], "polyhunter --help": []}
    samples.update({f"polyhunter {name} --help": [] for name in LAZY_COMMANDS})
    for _round in range(ROUNDS):
        samples["python -c pass"].append(_elapsed_ms([sys.executable, "-c", "pass"], None))
        samples["polyhunter --help"].append(_elapsed_ms([*cli, "--help"], "Usage: polyhunter"))
        for name in LAZY_COMMANDS:
            samples[f"polyhunter {name} --help"].append(
                _elapsed_ms([*cli, name, "--help"], f"Usage: polyhunter {name}")
            )
    medians = {what: round(statistics.median(times), 1) for what, times in samples.items()}
    commands = {
        what: ms for what, ms in medians.items() if what not in ("python -c pass", "polyhunter --help")
    }
    slowest = max(commands, key=lambda what: commands[what])
    result = {
        "what": "median wall time of a fresh process, entry point to exit, interleaved rounds",
        "rounds": ROUNDS,
        "target_ms": TARGET_MS,
        "python_c_pass_ms": medians["python -c pass"],
        "cli_help_startup_ms": medians["polyhunter --help"],
        "slowest_command_help": {"command": slowest, "ms": commands[slowest]},
        "commands_help_ms": commands,
        "met": medians["polyhunter --help"] <= TARGET_MS and commands[slowest] <= TARGET_MS,
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "cli.json").write_text(json.dumps(result, indent=2, sort_keys=True) + "\n")
    print(json.dumps(result, indent=2))
