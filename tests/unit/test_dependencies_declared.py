"""Every third-party library the package imports is a declared dependency of its own, not something that
happens to arrive through another one (aiohttp and websockets once came only through web3)."""

from __future__ import annotations

import ast
import re
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "python" / "polyhunter"

# Import name -> distribution name, where they differ beyond `_` vs `-` and case.
DISTRIBUTION = {"yaml": "pyyaml"}
# Libraries a feature needs only when asked for (the module imports them where that feature runs): the extra
# of pyproject's optional-dependencies that declares each.
OPTIONAL = {"matplotlib": "plot"}


_IMPORT_ERRORS = {"ImportError", "ModuleNotFoundError"}


def _normal(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _requirement_name(requirement: str) -> str:
    match = re.match(r"[A-Za-z0-9][A-Za-z0-9._-]*", requirement)
    assert match, requirement
    return _normal(match.group(0))


def _guarded(node: ast.AST, parents: dict[ast.AST, ast.AST]) -> bool:
    """Whether the import sits in a `try` that handles ImportError: the code works without the library."""
    while node in parents:
        node = parents[node]
        if isinstance(node, ast.Try):
            for handler in node.handlers:
                names = handler.type.elts if isinstance(handler.type, ast.Tuple) else [handler.type]
                if any(isinstance(n, ast.Name) and n.id in _IMPORT_ERRORS for n in names):
                    return True
    return False


def imported_libraries(package: Path) -> dict[str, list[str]]:
    """Top-level third-party modules the package imports unconditionally -> files importing them."""
    found: dict[str, list[str]] = {}
    for source in sorted(package.rglob("*.py")):
        tree = ast.parse(source.read_text(), str(source))
        parents = {child: node for node in ast.walk(tree) for child in ast.iter_child_nodes(node)}
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            if _guarded(node, parents):
                continue
            for name in names:
                top = name.split(".")[0]
                if top in sys.stdlib_module_names or top in {"polyhunter", "__future__"}:
                    continue
                found.setdefault(top, []).append(str(source.relative_to(package.parent)))
    return found


def _project() -> dict[str, object]:
    project: dict[str, object] = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    return project


def test_every_imported_library_is_a_declared_dependency() -> None:
    project = _project()
    declared = {_requirement_name(r) for r in project["dependencies"]}  # type: ignore[attr-defined]
    extras: dict[str, list[str]] = project["optional-dependencies"]  # type: ignore[assignment]
    undeclared = []
    for module, files in sorted(imported_libraries(PACKAGE).items()):
        distribution = _normal(DISTRIBUTION.get(module, module))
        if module in OPTIONAL:
            in_extra = {_requirement_name(r) for r in extras[OPTIONAL[module]]}
            ok = distribution in in_extra
        else:
            ok = distribution in declared
        if not ok:
            undeclared.append(f"{module} (imported by {files[0]})")
    assert undeclared == [], f"imported but not declared in pyproject.toml: {undeclared}"


def test_the_walk_sees_the_libraries_it_must_check() -> None:
    # A walk that found nothing would pass the test above without checking anything.
    found = imported_libraries(PACKAGE)
    for library in ("click", "web3", "aiohttp", "websockets", "redis", "asyncpg"):
        assert library in found, library
    assert "json" not in found
    assert "polyhunter" not in found


def test_an_import_guarded_by_import_error_is_optional(tmp_path: Path) -> None:
    (tmp_path / "a.py").write_text(
        "try:\n    import optional_lib\nexcept ImportError:\n    optional_lib = None\nimport needed_lib.sub\n"
    )
    assert set(imported_libraries(tmp_path)) == {"needed_lib"}
