"""Imports run down the layers of docs/architecture.md, never back up: read from the source.

Each package may import only the packages listed for it in ``ALLOWED``; a
package missing from the table fails the test, so a new one must take its
place in the map. ``KNOWN`` lists the imports that break this today; the test
fails when a new one appears and when a known one is gone, so the list stays true.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ALLOWED: dict[str, set[str]] = {
    "core": set(),
    "eventbus": {"core"},
    "scheduling": {"core"},
    "sfu": {"core"},
    "signaling": {"core", "sfu"},
    "ai_docs": {"core"},
    "sessions": {"core", "eventbus", "scheduling", "ai_docs"},
    "notifications": {"core", "eventbus", "scheduling"},
}
# The composition root, and the benchmarks that drive it, may use everything.
ALLOWED["api"] = set(ALLOWED)
ALLOWED["bench"] = set(ALLOWED)
KNOWN: set[tuple[str, str]] = set()
NOT_OURS = {"tests", "scripts", "docs"}


def _packages() -> list[str]:
    """Every top-level directory that holds Python we ship (``api`` is a namespace package)."""
    return sorted(
        p.name
        for p in ROOT.iterdir()
        if p.is_dir()
        and not p.name.startswith(".")
        and p.name not in NOT_OURS
        and any(p.glob("*.py"))
    )


def _imports(path: Path) -> set[str]:
    modules: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            modules.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            modules.add(node.module)
    return modules


def _violations() -> set[tuple[str, str]]:
    found = set()
    for package in _packages():
        for path in sorted((ROOT / package).rglob("*.py")):
            for module in _imports(path):
                target = module.split(".")[0]
                if target == package or target not in ALLOWED:
                    continue
                if target not in ALLOWED[package]:
                    found.add((str(path.relative_to(ROOT)), module))
    return found


def test_every_package_has_a_place_in_the_map() -> None:
    """A new top-level package is added to ALLOWED (and the map) before it can be imported."""
    assert set(_packages()) == set(ALLOWED)


def test_no_import_runs_back_up_a_layer() -> None:
    """Every import between our packages goes down the map (the known debt aside)."""
    assert _violations() - KNOWN == set()


def test_the_known_exceptions_are_still_true() -> None:
    """A fixed exception leaves KNOWN, so the list never excuses a new one."""
    assert KNOWN <= _violations()
