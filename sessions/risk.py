"""At-risk signals: patterns over a student's or tutor's recent sessions, as pure decisions.

Each rule reads one person's sessions in time order (the newest last, none after
the session being looked at) and either finds its pattern, with the sessions it
rests on and a sentence saying why, or does not. The rules look only at the
newest stretch of sessions, so run after every session they find a pattern as
it forms; ``sessions.risk_detection`` runs them on new data and raises what they
find as exceptions, once per stretch (``is_new``).

Students:

- ``attendance_falling``: absent from the newest session and from at least four
  of the last six, after coming to at least four in five of the ten before.
- ``lateness_rising``: late (five minutes or more) to each of the last three
  sessions attended, later each time, and ten minutes or more the last time.
- ``talk_share_falling``: their share of the talk over the last three
  transcribed sessions is at most 60% of what it was over the ten before, and
  under 20% the last time. (Never for a student whose audio may not be
  transcribed: there is nothing to measure.)
- ``repeated_difficulty``: the same difficulty in three of the last four
  documented sessions.
- ``homework_not_followed_up``: homework was due and not taken up in each of
  the last three sessions where some was due.

Tutors:

- ``reviews_overdue``: two or more of the last five drafts were not approved
  within ``review_within`` of being drafted (or still wait, longer than that).
- ``late_starts``: the tutor joined five minutes or more late to three or more
  of their last five sessions.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum

__all__ = [
    "DEFAULT_POLICY",
    "Finding",
    "RiskKind",
    "RiskPolicy",
    "StudentPoint",
    "TutorPoint",
    "is_new",
    "student_findings",
    "tutor_findings",
]


class RiskKind(StrEnum):
    """What a pattern is called; the value is also the exception's kind."""

    ATTENDANCE_FALLING = "attendance_falling"
    LATENESS_RISING = "lateness_rising"
    TALK_SHARE_FALLING = "talk_share_falling"
    REPEATED_DIFFICULTY = "repeated_difficulty"
    HOMEWORK_NOT_FOLLOWED_UP = "homework_not_followed_up"
    REVIEWS_OVERDUE = "reviews_overdue"
    LATE_STARTS = "late_starts"


@dataclass(frozen=True)
class RiskPolicy:
    """The thresholds of the rules; the defaults are those the module docstring states."""

    late_minutes: int = 5
    attendance_window: int = 6
    attendance_baseline: int = 10
    attendance_before: float = 0.8
    attendance_missed: int = 4
    lateness_run: int = 3
    lateness_last: int = 10
    talk_window: int = 3
    talk_baseline: int = 10
    talk_ratio: float = 0.6
    talk_last: float = 0.2
    difficulty_window: int = 4
    difficulty_repeats: int = 3
    homework_run: int = 3
    review_within: timedelta = timedelta(hours=72)
    review_window: int = 5
    reviews_late: int = 2
    late_start_window: int = 5
    late_starts: int = 3


DEFAULT_POLICY = RiskPolicy()


@dataclass(frozen=True)
class StudentPoint:
    """One session of a student, as the rules need it."""

    session_id: str
    at: datetime
    present: bool
    late_minutes: int | None = None
    talk_share: float | None = None
    documented: bool = False
    difficulties: tuple[str, ...] = ()
    homework_due: bool | None = None
    homework_followed_up: bool | None = None


@dataclass(frozen=True)
class TutorPoint:
    """One session of a tutor, as the rules need it."""

    session_id: str
    at: datetime
    present: bool
    late_minutes: int | None = None
    drafted_at: datetime | None = None
    approved_at: datetime | None = None


@dataclass(frozen=True)
class Finding:
    """A pattern found: what, about whom, why in words, and the sessions it rests on
    (oldest first; ``values`` says what each showed)."""

    kind: RiskKind
    subject: str
    why: str
    sessions: tuple[str, ...]
    values: tuple[str, ...] = field(default=())


def _day(at: datetime) -> str:
    return at.strftime("%d %b")


def _attendance(subject: str, points: Sequence[StudentPoint], p: RiskPolicy) -> Finding | None:
    window = points[-p.attendance_window :]
    before = points[-p.attendance_window - p.attendance_baseline : -p.attendance_window]
    if len(window) < p.attendance_window or len(before) < p.attendance_baseline // 2:
        return None
    if window[-1].present:
        return None  # raised on the absence that tips it
    missed = [x for x in window if not x.present]
    came_before = sum(x.present for x in before)
    if len(missed) < p.attendance_missed or came_before / len(before) < p.attendance_before:
        return None
    return Finding(
        RiskKind.ATTENDANCE_FALLING,
        subject,
        f"missed {len(missed)} of the last {len(window)} sessions, after coming to "
        f"{came_before} of the {len(before)} before",
        tuple(x.session_id for x in missed),
        tuple(f"missed the session of {_day(x.at)}" for x in missed),
    )


def _lateness(subject: str, points: Sequence[StudentPoint], p: RiskPolicy) -> Finding | None:
    came = [x for x in points if x.present and x.late_minutes is not None]
    run = came[-p.lateness_run :]
    if len(run) < p.lateness_run or points[-1] is not run[-1]:
        return None
    late = [x.late_minutes or 0 for x in run]
    rising = all(a < b for a, b in zip(late, late[1:], strict=False))
    if min(late) < p.late_minutes or not rising or late[-1] < p.lateness_last:
        return None
    return Finding(
        RiskKind.LATENESS_RISING,
        subject,
        f"late to each of the last {len(run)} sessions, later each time: "
        + ", ".join(f"{m} min" for m in late),
        tuple(x.session_id for x in run),
        tuple(f"{m} min late" for m in late),
    )


def _talk(subject: str, points: Sequence[StudentPoint], p: RiskPolicy) -> Finding | None:
    known = [x for x in points if x.talk_share is not None]
    window = known[-p.talk_window :]
    before = known[-p.talk_window - p.talk_baseline : -p.talk_window]
    if len(window) < p.talk_window or len(before) < p.talk_window or points[-1] is not window[-1]:
        return None
    now = sum(x.talk_share or 0.0 for x in window) / len(window)
    then = sum(x.talk_share or 0.0 for x in before) / len(before)
    last = window[-1].talk_share or 0.0
    if then <= 0 or now > p.talk_ratio * then or last >= p.talk_last:
        return None
    return Finding(
        RiskKind.TALK_SHARE_FALLING,
        subject,
        f"spoke {now:.0%} of the time over the last {len(window)} sessions, down from "
        f"{then:.0%} over the {len(before)} before, and {last:.0%} in the last",
        tuple(x.session_id for x in window),
        tuple(f"{x.talk_share or 0.0:.0%} of the talk" for x in window),
    )


# Words that say a difficulty is one, not what it is about.
_GENERIC = frozenset(
    """found finds find hard harder difficult difficulty difficulties tricky still again
    struggled struggles struggle struggling unsure sure confused confusing stuck mixed mix
    forgot forgets forget remember remembering needs need help more practice with the and
    was were about how to in on of a an at when his her their they it is be""".split()
)
_WORD = re.compile(r"[a-z][a-z'-]+")


def _gist(text: str, names: Collection[str]) -> frozenset[str]:
    """The words of a difficulty that say what it is about."""
    skip = _GENERIC | {n.lower() for n in names}
    return frozenset(w for w in _WORD.findall(text.lower()) if w not in skip and len(w) > 2)


def _same(a: frozenset[str], b: frozenset[str]) -> bool:
    return bool(a and b) and len(a & b) / len(a | b) >= 0.6


def _difficulty(
    subject: str, points: Sequence[StudentPoint], p: RiskPolicy, names: Collection[str]
) -> Finding | None:
    documented = [x for x in points if x.documented]
    window = documented[-p.difficulty_window :]
    if len(window) < p.difficulty_repeats or points[-1] is not window[-1]:
        return None
    for text in window[-1].difficulties:
        gist = _gist(text, names)
        hits = [x for x in window if any(_same(gist, _gist(d, names)) for d in x.difficulties)]
        if len(hits) >= p.difficulty_repeats:
            return Finding(
                RiskKind.REPEATED_DIFFICULTY,
                subject,
                f"the same difficulty in {len(hits)} of the last {len(window)} documented "
                f'sessions: "{text}"',
                tuple(x.session_id for x in hits),
                tuple(
                    next(d for d in x.difficulties if _same(gist, _gist(d, names))) for x in hits
                ),
            )
    return None


def _homework(subject: str, points: Sequence[StudentPoint], p: RiskPolicy) -> Finding | None:
    due = [x for x in points if x.homework_due and x.homework_followed_up is not None]
    run = due[-p.homework_run :]
    if len(run) < p.homework_run or points[-1] is not run[-1]:
        return None
    if any(x.homework_followed_up for x in run):
        return None
    return Finding(
        RiskKind.HOMEWORK_NOT_FOLLOWED_UP,
        subject,
        f"homework was set and not taken up at the next session, {len(run)} times running",
        tuple(x.session_id for x in run),
        tuple("not followed up" for _ in run),
    )


def student_findings(
    student_id: str,
    points: Sequence[StudentPoint],
    *,
    policy: RiskPolicy = DEFAULT_POLICY,
    names: Collection[str] = (),
) -> list[Finding]:
    """The patterns in one student's sessions (time order, the newest last) that end at
    the newest. ``names`` are the student's names, ignored when comparing difficulties."""
    if not points:
        return []
    found = [
        _attendance(student_id, points, policy),
        _lateness(student_id, points, policy),
        _talk(student_id, points, policy),
        _difficulty(student_id, points, policy, names),
        _homework(student_id, points, policy),
    ]
    return [f for f in found if f is not None]


def tutor_findings(
    tutor_id: str,
    points: Sequence[TutorPoint],
    *,
    now: datetime,
    policy: RiskPolicy = DEFAULT_POLICY,
) -> list[Finding]:
    """The patterns in one tutor's sessions (time order, the newest last) at ``now``."""
    found: list[Finding] = []
    drafted = [x for x in points if x.drafted_at is not None]
    window = drafted[-policy.review_window :]

    def overdue(x: TutorPoint) -> bool:
        assert x.drafted_at is not None
        approved = x.approved_at is not None and x.approved_at <= now
        done = x.approved_at if approved and x.approved_at is not None else now
        return done - x.drafted_at > policy.review_within

    late = [x for x in window if overdue(x)]
    if len(late) >= policy.reviews_late:
        hours = int(policy.review_within.total_seconds() // 3600)
        found.append(
            Finding(
                RiskKind.REVIEWS_OVERDUE,
                tutor_id,
                f"{len(late)} of the last {len(window)} drafts were not reviewed within "
                f"{hours} hours",
                tuple(x.session_id for x in late),
                tuple(
                    "still a draft" if x.approved_at is None else f"approved {_day(x.approved_at)}"
                    for x in late
                ),
            )
        )
    recent = points[-policy.late_start_window :]
    starts = [x for x in recent if x.present and (x.late_minutes or 0) >= policy.late_minutes]
    if len(starts) >= policy.late_starts and starts and points[-1] is starts[-1]:
        found.append(
            Finding(
                RiskKind.LATE_STARTS,
                tutor_id,
                f"started {len(starts)} of the last {len(recent)} sessions "
                f"{policy.late_minutes} or more minutes late",
                tuple(x.session_id for x in starts),
                tuple(f"{x.late_minutes} min late" for x in starts),
            )
        )
    return found


def is_new(finding: Finding, raised: Sequence[tuple[bool, Collection[str]]]) -> bool:
    """Whether ``finding`` should be raised, given the exceptions of its kind already raised
    about its subject as ``(still open, sessions cited)``: not while one is open, nor
    again for a stretch that shares a session with one raised before."""
    cited = set(finding.sessions)
    return not any(still_open or cited & set(sessions) for still_open, sessions in raised)
