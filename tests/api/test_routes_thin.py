"""Routes parse, authorise, call one use case and render: read from the source.

A route module that imports SQLAlchemy is building queries itself, and one that
imports another route module shares a use case that belongs in a domain
package. Both fail here (issue 13); the use cases live in ``scheduling``,
``sessions``, ``notifications``, ``eventbus`` and ``ai_docs``.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROUTES = Path(__file__).resolve().parents[2] / "api" / "routes"
MODULES = sorted(p for p in ROUTES.glob("*.py") if p.name != "__init__.py")


def _imports(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add("." * node.level + node.module)
    return found


@pytest.mark.parametrize("path", MODULES, ids=lambda p: p.name)
def test_a_route_builds_no_query(path: Path) -> None:
    """No route module imports SQLAlchemy: its reads and writes are a use case's."""
    assert {m for m in _imports(path) if m.split(".")[0] == "sqlalchemy"} == set()


@pytest.mark.parametrize("path", MODULES, ids=lambda p: p.name)
def test_a_route_imports_no_other_route(path: Path) -> None:
    """What two routes share lives below them, not in one of them."""
    assert {m for m in _imports(path) if m.startswith(("api.routes", "."))} == set()
