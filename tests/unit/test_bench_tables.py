"""README's performance tables are exactly what scripts/bench_tables.py makes from the committed results."""

from __future__ import annotations

import importlib.util
import json
import shutil
import sys
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_tables", ROOT / "scripts" / "bench_tables.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


TABLES = _script()
README = (ROOT / "README.md").read_text()


def test_readme_tables_match_the_committed_results() -> None:
    assert TABLES.rewrite(README) == README, "README's tables differ: run scripts/bench_tables.py"


def test_every_table_is_in_the_readme_and_names_its_machine() -> None:
    for name in TABLES.TABLES:
        start = README.index(f"<!-- bench:{name} -->")
        body = README[start : README.index(f"<!-- /bench:{name} -->")]
        assert "_Measured on " in body
        assert " cores, " in body
        assert "|---" in body


def test_a_hand_edited_number_is_caught() -> None:
    start = README.index("<!-- bench:ratios -->")
    row_start = README.index("\n| `", start) + 1
    row = README[row_start : README.index("\n", row_start)]
    cells = row.split(" | ")
    cells[2] = "9999.5"  # the measured column
    edited = README.replace(row, " | ".join(cells), 1)
    assert edited != README
    assert TABLES.rewrite(edited) == README


def test_missing_marker_or_stamp_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(TABLES.TablesError, match="bench:latency"):
        TABLES.rewrite(README.replace("<!-- bench:latency -->", "<!-- latency -->"))
    results = tmp_path / "results"
    shutil.copytree(ROOT / "benches" / "results", results)
    stamps = json.loads((results / "machine.json").read_text())
    del stamps["engine.json"]
    (results / "machine.json").write_text(json.dumps(stamps))
    with pytest.raises(TABLES.TablesError, match=r"engine\.json"):
        TABLES.rewrite(README, results)


def test_the_detection_table_is_labelled_local_only_and_follows_its_results(tmp_path: Path) -> None:
    start = README.index("<!-- bench:detection -->")
    body = README[start : README.index("<!-- /bench:detection -->")]
    assert "local only" in body
    assert "not a Polygon measurement" in body
    results = tmp_path / "results"
    shutil.copytree(ROOT / "benches" / "results", results)
    data = json.loads((results / "detection.json").read_text())
    data["sources"]["feed"]["p50_ms"] = 123456.0
    (results / "detection.json").write_text(json.dumps(data))
    assert "| activity feed |" in TABLES.detection_table(results)
    assert "123,456 ms" in TABLES.detection_table(results)
    assert "123,456 ms" not in body


def test_the_gas_table_follows_its_results(tmp_path: Path) -> None:
    start = README.index("<!-- bench:gas -->")
    body = README[start : README.index("<!-- /bench:gas -->")]
    assert "measured by `benches/test_bench_gas.py`" in README[:start]
    assert README.index("## The supervisor") > start  # in the Contracts section, beside the Executor's prose
    results = tmp_path / "results"
    shutil.copytree(ROOT / "benches" / "results", results)
    data = json.loads((results / "gas.json").read_text())
    data["proxies"] = 7
    data["operations"] = [
        {"name": "pullERC20 (collateral, BUY)", "single": 123457, "batch": 300001, "per_proxy": 42857},
        {"name": "pushERC1155WithDebt (Smart Buffer)", "single": 88888, "batch": None, "per_proxy": None},
    ]
    (results / "gas.json").write_text(json.dumps(data))
    table = TABLES.gas_table(results)
    assert "| Executor operation | single tx | batch of 7 Proxies | batched, per Proxy |" in table
    assert "| `pullERC20 (collateral, BUY)` | 123,457 | 300,001 | 42,857 |" in table
    assert "| `pushERC1155WithDebt (Smart Buffer)` | 88,888 | — | — |" in table
    assert "123,457" not in body
    committed = json.loads((ROOT / "benches" / "results" / "gas.json").read_text())
    for op in committed["operations"]:
        assert f"| `{op['name']}` | {op['single']:,} |" in body
