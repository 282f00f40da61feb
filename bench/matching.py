"""Batch matching on a generated week: CP-SAT against greedy first fit.

    .venv/bin/python -m bench.matching [--tutors 500] [--requests 5000] [--seed 7]

The instance is seeded, so a run is reproducible up to the solver's time limit:
tutors in four zones with weekly availability in their afternoons and weekend
mornings, qualifications over 8 subjects x 4 levels, some sessions already
booked, daily and weekly limits and buffers; open requests with 1-3 windows
each in the student's own local afternoons. Prints one JSON object and a line
for people. No database, no network.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import time
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from scheduling.availability import Interval, WeeklyRule, local_instant
from scheduling.conflicts import Booked, Limits, TutorSchedule
from scheduling.match_batch import match_batch, match_greedy
from scheduling.matching import MatchRequest, Snapshot, TutorSnapshot

ZONES = ["Europe/London", "America/New_York", "America/Los_Angeles", "Asia/Singapore"]
SUBJECTS = [
    "maths",
    "physics",
    "chemistry",
    "biology",
    "english",
    "french",
    "history",
    "computing",
]
LEVELS = ["ks3", "gcse", "a-level", "university"]
MONDAY = date(2030, 1, 14)


@dataclass(frozen=True)
class Instance:
    snapshot: Snapshot
    requests: list[MatchRequest]


def generate(*, tutors: int, requests: int, seed: int) -> Instance:
    """A reproducible week of tutors, bookings and open requests."""
    rng = random.Random(seed)
    week = [MONDAY + timedelta(days=d) for d in range(7)]
    snaps: list[TutorSnapshot] = []
    student_sessions: dict[str, list[Booked]] = {}
    by_qual: dict[tuple[str, str], list[str]] = {}
    n_students = max(1, requests * 3 // 5)
    for k in range(tutors):
        tid = f"tut_{k:04d}"
        zone = ZoneInfo(rng.choice(ZONES))
        rules = []
        for d in sorted(rng.sample(range(5), rng.randint(3, 5))):
            start = rng.choice([14, 15, 16]) * 60
            rules.append(WeeklyRule(d, start, start + rng.choice([3, 4, 5]) * 60))
        if rng.random() < 0.4:
            rules.append(WeeklyRule(rng.choice([5, 6]), 9 * 60, 13 * 60))
        subjects = rng.sample(SUBJECTS, rng.randint(1, 2))
        levels = rng.sample(LEVELS, rng.randint(2, 3))
        quals = frozenset((s, lv) for s in subjects for lv in levels)
        for q in quals:
            by_qual.setdefault(q, []).append(tid)
        limits = Limits(
            max_sessions_per_day=rng.choice([3, 4, 5, None]),
            max_sessions_per_week=rng.choice([10, 15, 20, None]),
            buffer_minutes=rng.choice([0, 10, 15]),
        )
        booked: list[Booked] = []
        for n, rule in enumerate(rng.sample(rules, min(len(rules), rng.randint(0, 4)))):
            day = next(d for d in week if d.weekday() == rule.weekday)
            at = local_instant(day, rule.start_minute, zone)
            sid = f"stu_{rng.randrange(n_students):05d}"
            b = Booked(f"ses_{k}_{n}", tid, frozenset({sid}), at, at + timedelta(hours=1))
            booked.append(b)
            student_sessions.setdefault(sid, []).append(b)
        snaps.append(
            TutorSnapshot(
                tid,
                TutorSchedule(zone=zone, rules=tuple(rules), qualifications=quals, limits=limits),
                tuple(booked),
            )
        )
    history: dict[tuple[str, str], int] = {}
    open_: list[MatchRequest] = []
    pairs = sorted(by_qual)
    for k in range(requests):
        sid = f"stu_{rng.randrange(n_students):05d}"
        subject, level = rng.choice(pairs)
        zone = ZoneInfo(rng.choice(ZONES))
        duration = timedelta(minutes=rng.choice([45, 60, 60, 60, 90]))
        windows = []
        for day in rng.sample(week[:5], rng.randint(1, 3)):
            start = rng.choice([15, 16, 17]) * 60
            length = rng.choice([2, 3, 4]) * 60
            windows.append(
                Interval(local_instant(day, start, zone), local_instant(day, start + length, zone))
            )
        if rng.random() < 0.3:
            history[sid, rng.choice(by_qual[subject, level])] = rng.randint(1, 12)
        open_.append(MatchRequest(sid, subject, level, tuple(windows), duration, id=f"req_{k}"))
    snapshot = Snapshot(tuple(snaps), {s: tuple(b) for s, b in student_sessions.items()}, history)
    return Instance(snapshot, open_)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--tutors", type=int, default=500)
    parser.add_argument("--requests", type=int, default=5000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--time-limit", type=float, default=8.0, help="seconds for a solver call")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--json", help="also write the JSON here")
    args = parser.parse_args(argv)

    instance = generate(tutors=args.tutors, requests=args.requests, seed=args.seed)
    started = time.perf_counter()
    greedy = match_greedy(instance.requests, instance.snapshot)
    greedy_s = time.perf_counter() - started
    started = time.perf_counter()
    solved = match_batch(
        instance.requests,
        instance.snapshot,
        time_limit=args.time_limit,
        workers=args.workers,
        seed=args.seed,
    )
    solver_s = time.perf_counter() - started
    n = len(instance.requests)
    unplaced: dict[str, int] = {}
    for u in solved.unplaced:
        unplaced[u.code.value] = unplaced.get(u.code.value, 0) + 1
    report = {
        "tutors": args.tutors,
        "requests": n,
        "seed": args.seed,
        "cpus": os.cpu_count(),
        "load_average": os.getloadavg()[0],
        "options": solved.options,
        "solver": {
            "method": solved.method,
            "status": solved.status,
            "neighbourhoods": solved.rounds,
            "wall_s": round(solver_s, 2),
            "time_limit_s": args.time_limit,
            "placed": len(solved.placements),
            "placed_share": round(len(solved.placements) / n, 4),
            "unplaced": unplaced,
        },
        "greedy": {
            "wall_s": round(greedy_s, 2),
            "placed": len(greedy.placements),
            "placed_share": round(len(greedy.placements) / n, 4),
        },
        "at": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    text = json.dumps(report, indent=2)
    print(text)
    if args.json:
        with open(args.json, "w") as f:
            f.write(text + "\n")
    print(
        f"matching {n} requests over {args.tutors} tutors: cp-sat placed "
        f"{len(solved.placements)} ({len(solved.placements) / n:.1%}) in {solver_s:.1f} s "
        f"({solved.status}, {solved.rounds} neighbourhoods); greedy first fit placed "
        f"{len(greedy.placements)} "
        f"({len(greedy.placements) / n:.1%}) in {greedy_s:.1f} s",
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
