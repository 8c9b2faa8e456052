"""docs/configuration.md lists exactly the settings the code reads: every field of `Settings` and every
variable the package reads from the environment directly, no more and no fewer."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from polyhunter.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "configuration.md"
PACKAGE = ROOT / "python" / "polyhunter"

# A table row of the page: | `NAME` | default | meaning |
_ROW = re.compile(r"^\| `([A-Z][A-Z0-9_]*)` \|")
# os.environ.get("NAME"), os.environ["NAME"], os.getenv("NAME")
_ENV_READ = re.compile(r"""os\.(?:environ\.get\(|environ\[|getenv\()\s*["']([A-Z][A-Z0-9_]*)["']""")


def documented() -> list[str]:
    return [m.group(1) for line in DOC.read_text().splitlines() if (m := _ROW.match(line))]


def read_by_code() -> set[str]:
    names = {name.upper() for name in Settings.model_fields}
    for source in PACKAGE.rglob("*.py"):
        names.update(_ENV_READ.findall(source.read_text()))
    return names


def test_every_setting_the_code_reads_is_documented() -> None:
    missing = read_by_code() - set(documented())
    assert not missing, f"read by the code, not in docs/configuration.md: {sorted(missing)}"


def test_every_documented_setting_is_read_by_the_code() -> None:
    stale = set(documented()) - read_by_code()
    assert not stale, f"in docs/configuration.md, read by no code: {sorted(stale)}"


def test_each_setting_is_documented_once() -> None:
    names = documented()
    assert len(names) == len(set(names)), sorted(n for n in set(names) if names.count(n) > 1)


def test_documented_defaults_match_the_code() -> None:
    """The default column of every plain value (a number, a word) is the model's default."""
    rows = {
        m.group(1): line.split("|")[2].strip()
        for line in DOC.read_text().splitlines()
        if (m := _ROW.match(line))
    }
    for name, field in Settings.model_fields.items():
        default, shown = field.default, rows[name.upper()]
        if isinstance(default, bool):
            assert shown == f"`{str(default).lower()}`", name
        elif isinstance(default, int | float) and name != "copy_trading_buffer_usd":
            if "^" in shown:  # 10^15
                base, exponent = shown.strip("`").split("^")
                assert int(base) ** int(exponent) == default, name
            else:
                assert shown == f"`{default}`", name
        elif default is None:
            assert shown.startswith("unset"), name


@pytest.mark.parametrize("name", ["SUPERVISOR_FANOUT_CONCURRENCY", "CHAIN_ID", "POLYHUNTER_ANVIL"])
def test_the_parser_sees_known_names(name: str) -> None:
    """Guards the two parsers above against matching nothing (both-way checks on empty sets pass)."""
    assert name in documented()
    assert name in read_by_code()
