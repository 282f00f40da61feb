"""Imports run down the layers of docs/architecture.md, never back up: read from the source.

Each package may import only the packages listed for it. ``sessions.notifications``
counts as a layer of its own (it will be the top-level ``notifications/``, issue 13):
it may use the event bus, which still lives in ``sessions`` (the modules in
``BUS``), but no other part of ``sessions``, and the rest of ``sessions`` may not
import it. ``KNOWN`` lists the one import that breaks this today; the test fails
when a new one appears and when a known one is gone, so the list stays true.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
NOTIFICATIONS = "sessions.notifications"
BUS = {
    "sessions.events",
    "sessions.bus",
    "sessions.streams",
    "sessions.handling",
    "sessions.models",
}
DOMAIN = {"core", "scheduling", "sfu", "signaling", "ai_docs", "sessions", NOTIFICATIONS, *BUS}
ALLOWED: dict[str, set[str]] = {
    "core": set(),
    "scheduling": {"core"},
    "sfu": {"core"},
    "signaling": {"core", "sfu"},
    "ai_docs": {"core"},
    "sessions": {"core", "scheduling", "ai_docs", *BUS},
    NOTIFICATIONS: {"core", "scheduling", *BUS},
    # The composition root, and the benchmarks that drive it, may use everything.
    "api": DOMAIN,
    "bench": DOMAIN | {"api"},
}
PACKAGES = ("core", "scheduling", "sfu", "signaling", "ai_docs", "sessions", "api", "bench")
# The lifecycle sweep queues reminders itself; issue 13 composes the two in api/ instead.
KNOWN = {("sessions/timers.py", "sessions.notifications.reminders")}


def _layer_of_module(module: str) -> str | None:
    """The layer an imported module belongs to (bus modules by their own name)."""
    if module == NOTIFICATIONS or module.startswith(NOTIFICATIONS + "."):
        return NOTIFICATIONS
    for bus in BUS:
        if module == bus or module.startswith(bus + "."):
            return bus
    top = module.split(".")[0]
    return top if top in ALLOWED else None


def _layer_of_file(path: Path) -> str:
    parts = path.relative_to(ROOT).parts
    return NOTIFICATIONS if parts[:2] == ("sessions", "notifications") else parts[0]


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
    for package in (
        "core",
        "scheduling",
        "sfu",
        "signaling",
        "ai_docs",
        "sessions",
        "api",
        "bench",
    ):
        for path in sorted((ROOT / package).rglob("*.py")):
            layer = _layer_of_file(path)
            for module in _imports(path):
                target = _layer_of_module(module)
                if target is None or target == layer:
                    continue
                if target not in ALLOWED[layer]:
                    found.add((str(path.relative_to(ROOT)), module))
    return found


def test_no_import_runs_back_up_a_layer() -> None:
    """Every import between our packages goes down the map (the known debt aside)."""
    assert _violations() - KNOWN == set()


def test_the_known_exceptions_are_still_true() -> None:
    """A fixed exception leaves KNOWN, so the list never excuses a new one."""
    assert KNOWN <= _violations()
