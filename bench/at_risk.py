"""The at-risk detector's precision and recall on generated histories.

Each run generates histories (``bench.histories``) of a year of weekly sessions,
plants a pattern in about half of the students and tutors (a student whose
audio may not be transcribed never gets the talk-share one: there is nothing to
measure) and leaves the rest as clean controls. Each history is stored in a
fresh SQLite database the way the application stores sessions, its facts are
built, and the detector runs after every session in time order, as the facts
handler would have as each was recorded. Then:

- a raised exception is right when its subject had that pattern planted and the
  newest session it cites is in the planted stretch; anything else is a false
  alarm;
- a planted pattern never raised is a miss;
- a pattern raised twice for the same person is counted (target: none).

    python -m bench.at_risk [--seeds 8] [--weeks 52] [--json out.json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine

import api.models  # noqa: F401  (every table on the metadata)
from api.migrate import upgrade
from bench.histories import PATTERN_SESSIONS, STUDENT_PATTERNS, TUTOR_PATTERNS, History, generate
from bench.histories import write as write_history
from core.database import create_sessionmaker
from scheduling.models import LiveSession
from sessions.facts import rebuild_all
from sessions.models import SessionException
from sessions.risk import RiskKind
from sessions.risk_detection import detect_for_session

RISKS = frozenset(k.value for k in RiskKind)
NOW = datetime(2026, 1, 1, tzinfo=UTC)


async def replay(sessionmaker: async_sessionmaker[Any], history: History) -> list[SessionException]:
    """Store ``history``, build its facts, then run the detector after each session in time
    order (an hour after its end); the at-risk exceptions raised, oldest first."""
    async with sessionmaker() as db, db.begin():
        await write_history(db, history, now=NOW)
        await rebuild_all(db, now=NOW, consent_age=13, org_id=history.ids["org"])
        sessions = list(
            await db.scalars(
                select(LiveSession)
                .where(LiveSession.org_id == history.ids["org"])
                .order_by(LiveSession.scheduled_start, LiveSession.id)
            )
        )
        for live in sessions:
            await detect_for_session(db, live.id, now=live.scheduled_end + timedelta(hours=1))
        rows = await db.scalars(
            select(SessionException)
            .where(SessionException.org_id == history.ids["org"])
            .order_by(SessionException.raised_at, SessionException.id)
        )
        return [x for x in rows if x.kind.value in RISKS]


def plant(seed: int, *, tutors: int, students_per_tutor: int, share: float) -> dict[str, str]:
    """About ``share`` of the students and tutors, each with one pattern."""
    rng = random.Random(seed * 7919)
    planted: dict[str, str] = {}
    for t in range(tutors):
        if rng.random() < share:
            planted[f"t{t}"] = rng.choice(TUTOR_PATTERNS)
    for n in range(tutors * students_per_tutor):
        if rng.random() < share:
            # Student n % 4 == 3 has no AI consent (bench.histories): no talk share to watch.
            choices = [p for p in STUDENT_PATTERNS if n % 4 != 3 or p != "talk_share_falling"]
            planted[f"s{n}"] = rng.choice(choices)
    return planted


@dataclass
class Tally:
    planted: Counter[str] = field(default_factory=Counter)
    found: Counter[str] = field(default_factory=Counter)
    false_alarms: Counter[str] = field(default_factory=Counter)
    repeats: int = 0
    controls: int = 0  # people with nothing planted
    examples: list[dict[str, Any]] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        def ratio(a: int, b: int) -> float | None:
            return round(a / b, 3) if b else None

        kinds = sorted(set(self.planted) | set(self.false_alarms))
        per_kind = {
            k: {
                "planted": self.planted[k],
                "found": self.found[k],
                "false_alarms": self.false_alarms[k],
                "precision": ratio(self.found[k], self.found[k] + self.false_alarms[k]),
                "recall": ratio(self.found[k], self.planted[k]),
            }
            for k in kinds
        }
        found, alarms = sum(self.found.values()), sum(self.false_alarms.values())
        return {
            "planted": sum(self.planted.values()),
            "clean_controls": self.controls,
            "precision": ratio(found, found + alarms),
            "recall": ratio(found, sum(self.planted.values())),
            "false_alarms": alarms,
            "raised_twice": self.repeats,
            "per_kind": per_kind,
            "false_alarm_examples": self.examples[:5],
        }


def score(history: History, raised: list[SessionException], into: Tally) -> None:
    """Tally one history's exceptions against what was planted in it."""
    key_of = {v: k for k, v in history.ids.items()}
    weeks = max((p.start.date() - history.first_day).days // 7 for p in history.sessions) + 1
    # The planted stretch: each person's sessions in the last PATTERN_SESSIONS weeks.
    tail = {
        sid
        for sid, start in history.session_starts.items()
        if (start.date() - history.first_day).days // 7 >= weeks - PATTERN_SESSIONS
    }
    into.planted.update(history.planted.values())
    people = [*history.tutors, *history.students]
    into.controls += sum(1 for p in people if p not in history.planted)
    seen: Counter[tuple[str, str]] = Counter()
    for x in raised:
        key = key_of.get(x.subject, x.subject)
        seen[(x.kind.value, key)] += 1
        # Sessions before the stretch may join in (an ordinary missed follow-up just
        # before the planted ones); the newest it cites must be planted.
        in_stretch = x.details["sessions"][-1] in tail
        if history.planted.get(key) == x.kind.value and in_stretch:
            if seen[(x.kind.value, key)] == 1:
                into.found[x.kind.value] += 1
            else:
                into.repeats += 1
        else:
            into.false_alarms[x.kind.value] += 1
            into.examples.append({"kind": x.kind.value, "who": key, "why": x.details["why"]})


async def run(seeds: int, weeks: int, tutors: int, students_per_tutor: int) -> dict[str, Any]:
    tally = Tally()
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as folder:
        for seed in range(seeds):
            url = f"sqlite+aiosqlite:///{Path(folder) / f'risk-{seed}.db'}"
            engine = create_async_engine(url)
            try:
                await upgrade(engine)
                history = generate(
                    seed=seed,
                    weeks=weeks,
                    tutors=tutors,
                    students_per_tutor=students_per_tutor,
                    planted=plant(
                        seed, tutors=tutors, students_per_tutor=students_per_tutor, share=0.5
                    ),
                )
                raised = await replay(create_sessionmaker(engine), history)
                score(history, raised, tally)
            finally:
                await engine.dispose()
            print(f"history {seed + 1}/{seeds} scored", file=sys.stderr)
    return {
        "histories": seeds,
        "weeks": weeks,
        "tutors_per_history": tutors,
        "students_per_history": tutors * students_per_tutor,
        "seconds": round(time.perf_counter() - started, 1),
        **tally.summary(),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.at_risk", description=__doc__)
    parser.add_argument("--seeds", type=int, default=8, help="histories to generate (default 8)")
    parser.add_argument("--weeks", type=int, default=52, help="weeks in each (default 52)")
    parser.add_argument("--tutors", type=int, default=4, help="tutors in each (default 4)")
    parser.add_argument(
        "--students-per-tutor", type=int, default=3, help="students of each tutor (default 3)"
    )
    parser.add_argument("--json", type=Path, help="also write the result here")
    args = parser.parse_args(argv)
    out = asyncio.run(run(args.seeds, args.weeks, args.tutors, args.students_per_tutor))
    text = json.dumps(out, indent=1)
    if args.json:
        args.json.write_text(text + "\n")
    print(text)
    print(
        f"precision {out['precision']}, recall {out['recall']} over {out['planted']} planted "
        f"patterns and {out['clean_controls']} clean controls; {out['raised_twice']} raised "
        f"twice; {out['seconds']} s",
        file=sys.stderr,
    )


if __name__ == "__main__":
    main()
