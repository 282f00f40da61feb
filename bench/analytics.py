"""Analytics over a generated year, on SQLite and PostgreSQL: time, and the same answers.

Writes one generated year (``bench.histories``: 4 tutors, 12 students, weekly
sessions) into a fresh SQLite file and a fresh PostgreSQL database, builds the
facts (``liveclass facts rebuild``'s code), then asks every trend (student, tutor,
subject; by month and by week) of both and times it. Exits 1 if the two
databases answer differently.

    python -m bench.analytics [--weeks 52] [--postgres postgresql://postgres@127.0.0.1/test]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import sys
import tempfile
import time
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import asyncpg  # type: ignore[import-untyped]
from sqlalchemy.ext.asyncio import create_async_engine

import api.models  # noqa: F401  (every table on the metadata)
from api.migrate import upgrade
from bench.histories import generate
from bench.histories import write as write_history
from core.database import create_sessionmaker
from sessions.analytics import Dimension, Period, TrendQuery, trends
from sessions.facts import rebuild_all

NOW = datetime(2026, 1, 1, tzinfo=UTC)
PG = os.environ.get("LIVECLASS_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")


async def measure(url: str, weeks: int) -> tuple[dict[str, Any], dict[str, Any]]:
    """Timings, and every trend's rows (comparable across databases), for one database."""
    engine = create_async_engine(url)
    try:
        await upgrade(engine)
        maker = create_sessionmaker(engine)
        history = generate(seed=2026, weeks=weeks, tutors=4, students_per_tutor=3)
        started = time.perf_counter()
        async with maker() as db, db.begin():
            await write_history(db, history, now=NOW)
        wrote = time.perf_counter() - started
        started = time.perf_counter()
        async with maker() as db, db.begin():
            count = await rebuild_all(db, now=NOW, consent_age=13)
        rebuilt = time.perf_counter() - started
        answers: dict[str, Any] = {}
        timings: dict[str, float] = {}
        key_of = {v: k for k, v in history.ids.items()}
        async with maker() as db:
            for dimension in Dimension:
                for period in Period:
                    q = TrendQuery(
                        org_id=history.ids["org"],
                        dimension=dimension,
                        start=date(2025, 1, 1),
                        end=date(2025, 12, 31),
                        period=period,
                    )
                    started = time.perf_counter()
                    rows, _ = await trends(db, q)
                    timings[f"{dimension.value}/{period.value}_ms"] = round(
                        (time.perf_counter() - started) * 1000, 1
                    )
                    answers[f"{dimension.value}/{period.value}"] = [
                        (key_of.get(r.key, r.key), r.period_start.isoformat(), r.figures)
                        for r in rows
                    ]
        return {
            "sessions": count,
            "write_s": round(wrote, 2),
            "facts_rebuild_s": round(rebuilt, 2),
            "facts_per_s": round(count / rebuilt, 1),
            "rows": {k: len(v) for k, v in answers.items()},
            **timings,
        }, answers
    finally:
        await engine.dispose()


async def run(weeks: int, postgres: str) -> dict[str, Any]:
    out: dict[str, Any] = {"weeks": weeks}
    with tempfile.TemporaryDirectory() as folder:
        out["sqlite"], lite = await measure(f"sqlite+aiosqlite:///{Path(folder) / 'a.db'}", weeks)
    name = f"liveclass_bench_{secrets.token_hex(4)}"
    admin = await asyncpg.connect(postgres)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
        url = postgres.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://")
        out["postgresql"], pg = await measure(f"{url}/{name}", weeks)
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()
    out["same_answers"] = lite == pg
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.analytics", description=__doc__)
    parser.add_argument("--weeks", type=int, default=52, help="weeks of sessions (default 52)")
    parser.add_argument("--postgres", default=PG, help="a PostgreSQL server's admin URL")
    args = parser.parse_args(argv)
    out = asyncio.run(run(args.weeks, args.postgres))
    print(json.dumps(out, indent=1))
    if not out["same_answers"]:
        print("SQLite and PostgreSQL answered differently", file=sys.stderr)
        raise SystemExit(1)


if __name__ == "__main__":
    main()
