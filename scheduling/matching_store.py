"""Loading the ``scheduling.matching.Snapshot`` of one organisation from the database.

A handful of set-wise queries, whatever the number of tutors: every tutor of
the organisation with their qualifications, weekly rules, exceptions and
limits; their sessions around the requested windows (a tutor-local week and
the largest buffer either side, as the booking check loads); the requesting
students' sessions in the same range; and how many sessions each requesting
student has had with each tutor. Cancelled sessions are left out.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from scheduling.availability import DateException, WeeklyRule
from scheduling.conflicts import Booked, Limits, TutorSchedule
from scheduling.matching import Snapshot, TutorSnapshot
from scheduling.models import (
    AvailabilityException,
    AvailabilityRule,
    LiveSession,
    SessionStatus,
    SessionStudent,
    Tutor,
    TutorLimits,
    TutorQualification,
)
from scheduling.schedules import to_exception, to_rule

_LOOKAROUND = timedelta(days=9)


def _booked(s: LiveSession) -> Booked:
    return Booked(
        id=s.id,
        tutor_id=s.tutor_id,
        student_ids=frozenset(s.student_ids),
        start=s.scheduled_start,
        end=s.scheduled_end,
    )


async def load_tutors(db: AsyncSession, org_id: str) -> list[Tutor]:
    """The organisation's tutors, ordered by id (the order ties are broken in)."""
    return list(await db.scalars(select(Tutor).where(Tutor.org_id == org_id).order_by(Tutor.id)))


async def load_snapshot(
    db: AsyncSession,
    *,
    org_id: str,
    student_ids: Iterable[str],
    start: datetime,
    end: datetime,
    tutors: list[Tutor] | None = None,
) -> Snapshot:
    """What matching needs to place requests of ``student_ids`` between ``start`` and ``end``.

    Args:
        org_id: only this organisation's tutors and sessions are read.
        student_ids: the students asking; their sessions and history are loaded.
        start: the earliest window start of the requests.
        end: the latest window end.
        tutors: the organisation's tutors if the caller has them already.
    """
    if tutors is None:
        tutors = await load_tutors(db, org_id)
    students = sorted(set(student_ids))
    in_org = select(Tutor.id).where(Tutor.org_id == org_id)
    quals: dict[str, set[tuple[str, str]]] = defaultdict(set)
    for q in await db.scalars(
        select(TutorQualification).where(TutorQualification.tutor_id.in_(in_org))
    ):
        quals[q.tutor_id].add((q.subject, q.level))
    rules: dict[str, list[WeeklyRule]] = defaultdict(list)
    for r in await db.scalars(
        select(AvailabilityRule)
        .where(AvailabilityRule.tutor_id.in_(in_org))
        .order_by(AvailabilityRule.weekday, AvailabilityRule.start_minute)
    ):
        rules[r.tutor_id].append(to_rule(r))
    exceptions: dict[str, list[DateException]] = defaultdict(list)
    for x in await db.scalars(
        select(AvailabilityException).where(AvailabilityException.tutor_id.in_(in_org))
    ):
        exceptions[x.tutor_id].append(to_exception(x))
    limits = {
        row.tutor_id: Limits(
            max_sessions_per_day=row.max_sessions_per_day,
            max_sessions_per_week=row.max_sessions_per_week,
            buffer_minutes=row.buffer_minutes,
        )
        for row in await db.scalars(select(TutorLimits).where(TutorLimits.tutor_id.in_(in_org)))
    }
    near = (
        LiveSession.org_id == org_id,
        LiveSession.status != SessionStatus.CANCELLED,
        LiveSession.scheduled_end > start - _LOOKAROUND,
        LiveSession.scheduled_start < end + _LOOKAROUND,
    )
    booked: dict[str, list[Booked]] = defaultdict(list)
    for s in await db.scalars(select(LiveSession).where(*near)):
        booked[s.tutor_id].append(_booked(s))
    student_sessions: dict[str, list[Booked]] = defaultdict(list)
    attending = select(SessionStudent.session_id).where(SessionStudent.student_id.in_(students))
    for s in await db.scalars(select(LiveSession).where(*near, LiveSession.id.in_(attending))):
        for sid in set(s.student_ids) & set(students):
            student_sessions[sid].append(_booked(s))
    history: dict[tuple[str, str], int] = {}
    rows = await db.execute(
        select(SessionStudent.student_id, LiveSession.tutor_id, func.count())
        .join(LiveSession, LiveSession.id == SessionStudent.session_id)
        .where(
            SessionStudent.student_id.in_(students),
            LiveSession.org_id == org_id,
            LiveSession.status != SessionStatus.CANCELLED,
        )
        .group_by(SessionStudent.student_id, LiveSession.tutor_id)
    )
    for student_id, tutor_id, n in rows:
        history[student_id, tutor_id] = n
    return Snapshot(
        tutors=tuple(
            TutorSnapshot(
                t.id,
                TutorSchedule(
                    zone=ZoneInfo(t.time_zone),
                    rules=tuple(rules[t.id]),
                    exceptions=tuple(exceptions[t.id]),
                    qualifications=frozenset(quals[t.id]),
                    limits=limits.get(t.id, Limits()),
                ),
                tuple(sorted(booked[t.id], key=lambda b: (b.start, b.id))),
            )
            for t in tutors
        ),
        student_sessions={sid: tuple(v) for sid, v in student_sessions.items()},
        history=history,
    )
