"""The matching benchmark runs end to end, as `make bench-matching` runs it, on a small instance."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent


def test_benchmark_reports_solver_and_greedy_on_the_same_input(tmp_path: Path) -> None:
    """The JSON has both figures, and the solver places at least as many as greedy."""
    out = tmp_path / "bench.json"
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "bench.matching",
            "--tutors=30",
            "--requests=200",
            "--time-limit=3",
            f"--json={out}",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stderr
    report = json.loads(out.read_text())
    assert report["requests"] == 200
    assert report["solver"]["method"] == "cp-sat"
    assert report["solver"]["placed"] >= report["greedy"]["placed"] > 0
    assert "greedy first fit placed" in run.stderr
