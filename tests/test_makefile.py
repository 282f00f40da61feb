"""The two commands do what the README says: read from `make -n` (what make would run)."""

from __future__ import annotations

import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _plan(tmp_path: Path, *args: str) -> str:
    """The commands `make` would run from a fresh state (a virtual environment not yet made)."""
    r = subprocess.run(
        ["make", "-n", "-C", str(ROOT), f"VENV={tmp_path / 'venv'}",
         f"WHEELHOUSE={tmp_path / 'wheels'}", *args],
        capture_output=True,
        text=True,
        timeout=60,
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    return r.stdout


def test_make_run_installs_only_wheels_of_what_serving_needs(tmp_path: Path) -> None:
    """`make run` installs the package without the dev extras, wheels only, and builds
    no llama.cpp; then it migrates and serves."""
    plan = _plan(tmp_path, "run")
    installs = [line for line in plan.splitlines() if "pip install" in line]
    assert any("--only-binary :all: -e ." in line for line in installs), installs
    assert not any("[dev]" in line or "llama" in line for line in installs), installs
    assert "pip wheel" not in plan
    assert "liveclass migrate" in plan and "liveclass serve --host 127.0.0.1 --port 8000" in plan


def test_make_run_takes_host_and_port(tmp_path: Path) -> None:
    """`make run PORT=9000 HOST=0.0.0.0` serves there."""
    plan = _plan(tmp_path, "run", "PORT=9000", "HOST=0.0.0.0")
    assert "liveclass serve --host 0.0.0.0 --port 9000" in plan


def test_make_test_builds_llama_cpp_portably_outside_pips_cache(tmp_path: Path) -> None:
    """`make test` builds llama.cpp without native CPU flags, never from pip's wheel cache,
    and installs that wheel before the dev extras."""
    plan = _plan(tmp_path, "test")
    build = next(line for line in plan.splitlines() if "pip wheel" in line)
    assert "-DGGML_NATIVE=OFF" in plan and "--no-cache-dir" in build
    if "x86_64" in subprocess.run(["uname", "-m"], capture_output=True, text=True).stdout:
        for flag in ("-DGGML_AVX512=OFF", "-DGGML_AMX_TILE=OFF", "-DGGML_AVX2=ON"):
            assert flag in plan
    lines = plan.splitlines()
    from_wheelhouse = next(i for i, line in enumerate(lines) if "--no-index" in line)
    dev = next(i for i, line in enumerate(lines) if "'.[dev]'" in line)
    assert from_wheelhouse < dev
