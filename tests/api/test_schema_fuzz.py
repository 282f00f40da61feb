"""Schemathesis against the served app: every operation answers as /openapi.json says.

Every check is on (no 5xx, status codes, content types, headers and bodies as
documented, schema-invalid data refused, schema-valid data accepted, Allow
headers, auth honoured). What JSON Schema cannot state (a range's end after its
start, ids that must name records) is listed per operation in
``tests/api/schemathesis.toml``. Bounded in time with a fixed seed, so a run
repeats; run ``st`` by hand with another seed to explore further (docs/testing.md).
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from api.app import create_app
from core.clock import FixedClock
from tests.conftest import NOW, loopback_settings, seed_world
from tests.serving import WAIT, port_of, serving

CONFIG = Path(__file__).with_name("schemathesis.toml")
ST = Path(sys.executable).with_name("st")
SECONDS = 60


async def test_every_operation_answers_as_documented(tmp_path: Path) -> None:
    settings = await loopback_settings(
        f"sqlite+aiosqlite:///{tmp_path / 'fuzz.db'}", tmp_path / "var"
    )
    app = create_app(settings, clock=FixedClock(NOW))
    world = await seed_world(app, NOW)
    async with serving(app) as server:
        proc = await asyncio.create_subprocess_exec(
            str(ST),
            "--no-color",
            "--config-file",
            str(CONFIG),
            "run",
            f"http://127.0.0.1:{port_of(server)}/openapi.json",
            "--checks",
            "all",
            "--header",
            f"Authorization: Bearer {world.tokens['coord']}",
            "--phases",
            "examples,coverage,fuzzing",
            "--max-time",
            str(SECONDS),
            "--workers",
            "1",
            "--seed",
            "20261205",
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        async with asyncio.timeout((SECONDS + 120) * WAIT):
            out, _ = await proc.communicate()
    report = out.decode(errors="replace")
    assert proc.returncode == 0, report[-12_000:]
    assert "Tested: " in report and "passed" in report
