"""Who could stand in for a tutor: a simple ranking until scheduling's matching replaces it.

A candidate is another tutor of the same organisation for whom the session,
given to them, has no conflict at all (``scheduling.conflicts``: free at that
time, available, qualified for its subject and level, within their limits).
Those who have taught one of its students before come first, then those with
fewer sessions that week, then by id so the order is stable.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from scheduling.conflicts import Booked, Proposal, find_conflicts
from scheduling.models import LiveSession, SessionStatus, SessionStudent, Student, Tutor
from scheduling.schedules import load_schedule

_LOOKAROUND = timedelta(days=9)  # as scheduling.bookings: the week and the largest buffer


@dataclass(frozen=True)
class Substitute:
    tutor_id: str
    taught_before: bool
    sessions_that_week: int

    def to_json(self) -> dict[str, Any]:
        return {
            "tutor_id": self.tutor_id,
            "taught_before": self.taught_before,
            "sessions_that_week": self.sessions_that_week,
        }


async def _booked_around(db: AsyncSession, tutor_id: str, live: LiveSession) -> list[Booked]:
    attending = select(SessionStudent.session_id).where(
        SessionStudent.student_id.in_(live.student_ids)
    )
    rows = await db.scalars(
        select(LiveSession).where(
            or_(LiveSession.tutor_id == tutor_id, LiveSession.id.in_(attending)),
            LiveSession.status != SessionStatus.CANCELLED,
            LiveSession.scheduled_end > live.scheduled_start - _LOOKAROUND,
            LiveSession.scheduled_start < live.scheduled_end + _LOOKAROUND,
        )
    )
    return [
        Booked(
            id=s.id,
            tutor_id=s.tutor_id,
            student_ids=frozenset(s.student_ids),
            start=s.scheduled_start,
            end=s.scheduled_end,
        )
        for s in rows
    ]


async def substitutes_for(db: AsyncSession, live: LiveSession) -> list[Substitute]:
    """Tutors who could take ``live`` instead of its tutor, best first."""
    levels = {
        s.id: s.level
        for s in await db.scalars(select(Student).where(Student.id.in_(live.student_ids)))
    }
    candidates = await db.scalars(
        select(Tutor)
        .where(Tutor.org_id == live.org_id, Tutor.id != live.tutor_id)
        .order_by(Tutor.id)
    )
    out: list[Substitute] = []
    for tutor in candidates:
        proposal = Proposal(
            tutor_id=tutor.id,
            student_ids=tuple(live.student_ids),
            subject=live.subject,
            start=live.scheduled_start,
            end=live.scheduled_end,
            student_levels=levels,
            session_id=live.id,  # the session itself is being given away, not doubled
        )
        schedule = await load_schedule(db, tutor)
        booked = await _booked_around(db, tutor.id, live)
        if find_conflicts(proposal, booked, schedule):
            continue
        week = live.scheduled_start.astimezone(schedule.zone).isocalendar()[:2]
        that_week = sum(
            1
            for b in booked
            if b.tutor_id == tutor.id
            and b.start.astimezone(schedule.zone).isocalendar()[:2] == week
        )
        taught = await db.scalar(
            select(func.count())
            .select_from(LiveSession)
            .join(SessionStudent, SessionStudent.session_id == LiveSession.id)
            .where(
                LiveSession.tutor_id == tutor.id,
                SessionStudent.student_id.in_(live.student_ids),
                LiveSession.scheduled_start < live.scheduled_start,
                LiveSession.status.in_([SessionStatus.ENDED, SessionStatus.DOCUMENTED]),
            )
        )
        out.append(Substitute(tutor.id, bool(taught), that_week))
    out.sort(key=lambda s: (not s.taught_before, s.sessions_that_week, s.tutor_id))
    return out
