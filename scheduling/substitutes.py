"""Who could stand in for a session's tutor, best first, and why.

When a tutor cancels or does not show, a coordinator needs the tutors who
could take the session instead. A candidate is another tutor of the same
organisation for whom the session, given to them, has no conflict at all
(``scheduling.conflicts.find_conflicts``, the check every booking goes
through: free then, within their availability, qualified for its subject and
its students' levels, within their limits and buffer). So a tutor this list
offers is one the confirmation (``scheduling.bookings.check_conflicts``)
accepts, unless the schedule changed in between.

Ranking puts continuity first (more past sessions, ended or documented, with
any of the session's students), then load (fewer sessions in that tutor-local
week), then the tutor id so the order is stable. Each candidate carries
``reasons`` a coordinator can read: ``qualified for maths at level gcse``,
``taught Sam 3 times before``, ``2 sessions that week``.

``rank`` is pure over a ``Vacancy`` and a ``scheduling.matching.Snapshot``;
``substitutes_for`` loads both for a ``LiveSession``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from scheduling.conflicts import Proposal, TutorSchedule, find_conflicts
from scheduling.matching import Snapshot, TutorSnapshot
from scheduling.matching_store import load_snapshot, load_tutors
from scheduling.models import LiveSession, SessionStatus, SessionStudent, Student

# Sessions that count as having taught a student.
TAUGHT = (SessionStatus.ENDED, SessionStatus.DOCUMENTED)


@dataclass(frozen=True)
class Vacancy:
    """The session that needs another tutor, as the ranking sees it.

    Args:
        tutor_id: the tutor being replaced (never proposed).
        student_levels: each student's level, where one is recorded.
        student_names: how the reasons name each student.
    """

    session_id: str
    tutor_id: str
    subject: str
    start: datetime
    end: datetime
    student_ids: tuple[str, ...]
    student_levels: Mapping[str, str | None]
    student_names: Mapping[str, str]


@dataclass(frozen=True)
class Substitute:
    """A tutor who could take the session, and why they rank where they do.

    ``sessions_with_students`` counts past sessions (ended or documented,
    before this one) the tutor taught with any of its students;
    ``sessions_that_week`` their sessions in the tutor-local week of its start.
    """

    tutor_id: str
    name: str
    sessions_with_students: int
    sessions_that_week: int
    reasons: tuple[str, ...]

    @property
    def taught_before(self) -> bool:
        return self.sessions_with_students > 0

    def to_json(self) -> dict[str, Any]:
        return {
            "tutor_id": self.tutor_id,
            "name": self.name,
            "taught_before": self.taught_before,
            "sessions_with_students": self.sessions_with_students,
            "sessions_that_week": self.sessions_that_week,
            "reasons": list(self.reasons),
        }


def _times(n: int) -> str:
    return "once" if n == 1 else "twice" if n == 2 else f"{n} times"


def _qualification_reason(vacancy: Vacancy, schedule: TutorSchedule) -> str:
    if not schedule.qualifications:
        return "no qualifications recorded, so any subject is accepted"
    levels = sorted(
        {lv for sid in vacancy.student_ids if (lv := vacancy.student_levels.get(sid)) is not None}
    )
    if not levels:
        return f"qualified for {vacancy.subject}"
    return f"qualified for {vacancy.subject} at level {', '.join(levels)}"


def _continuity_reasons(
    vacancy: Vacancy, tutor_id: str, history: Mapping[tuple[str, str], int]
) -> list[str]:
    out = []
    for sid in vacancy.student_ids:
        n = history.get((sid, tutor_id), 0)
        name = vacancy.student_names.get(sid, sid)
        out.append(f"taught {name} {_times(n)} before" if n else f"has not taught {name} before")
    return out


def _load_reason(n: int) -> str:
    if n == 0:
        return "no other sessions that week"
    return f"{n} session{'s' if n != 1 else ''} that week"


def rank(
    vacancy: Vacancy,
    snapshot: Snapshot,
    *,
    taught: Mapping[str, int] | None = None,
    tutor_names: Mapping[str, str] | None = None,
) -> list[Substitute]:
    """Every tutor of ``snapshot`` who could take ``vacancy``, best first.

    Args:
        snapshot: the candidate tutors with their schedules and sessions around
            the vacancy, the students' sessions, and ``history``: how many past
            sessions each (student id, tutor id) pair has had.
        taught: past sessions per tutor with any of the students (a session
            with two of them counts once); summed from ``history`` if absent.
        tutor_names: display names, for ``Substitute.name``.
    """
    names = tutor_names or {}
    out: list[Substitute] = []
    students = set(vacancy.student_ids)
    student_sessions = [
        b for sid in vacancy.student_ids for b in snapshot.student_sessions.get(sid, ())
    ]
    for t in snapshot.tutors:
        if t.id == vacancy.tutor_id:
            continue
        proposal = Proposal(
            tutor_id=t.id,
            student_ids=vacancy.student_ids,
            subject=vacancy.subject,
            start=vacancy.start,
            end=vacancy.end,
            student_levels=dict(vacancy.student_levels),
            session_id=vacancy.session_id,  # given away, not doubled
        )
        if find_conflicts(proposal, (*t.booked, *student_sessions), t.schedule):
            continue
        load = _week_load(vacancy, t)
        if taught is not None:
            past = taught.get(t.id, 0)
        else:
            past = sum(
                n for (sid, tid), n in snapshot.history.items() if tid == t.id and sid in students
            )
        out.append(
            Substitute(
                tutor_id=t.id,
                name=names.get(t.id, ""),
                sessions_with_students=past,
                sessions_that_week=load,
                reasons=(
                    _qualification_reason(vacancy, t.schedule),
                    _free_reason(vacancy, t.schedule),
                    *_continuity_reasons(vacancy, t.id, snapshot.history),
                    _load_reason(load),
                ),
            )
        )
    out.sort(key=lambda s: (-s.sessions_with_students, s.sessions_that_week, s.tutor_id))
    return out


def _week_load(vacancy: Vacancy, t: TutorSnapshot) -> int:
    zone = t.schedule.zone
    week = vacancy.start.astimezone(zone).isocalendar()[:2]
    return sum(
        1
        for b in t.booked
        if b.id != vacancy.session_id
        and not b.cancelled
        and b.start.astimezone(zone).isocalendar()[:2] == week
    )


def _free_reason(vacancy: Vacancy, schedule: TutorSchedule) -> str:
    zone = schedule.zone
    start, end = vacancy.start.astimezone(zone), vacancy.end.astimezone(zone)
    return f"free {start:%a %Y-%m-%d %H:%M}-{end:%H:%M} {zone.key}"


async def substitutes_for(db: AsyncSession, live: LiveSession) -> list[Substitute]:
    """Tutors of ``live``'s organisation who could take it instead of its tutor, best first."""
    students = list(await db.scalars(select(Student).where(Student.id.in_(live.student_ids))))
    vacancy = Vacancy(
        session_id=live.id,
        tutor_id=live.tutor_id,
        subject=live.subject,
        start=live.scheduled_start,
        end=live.scheduled_end,
        student_ids=tuple(live.student_ids),
        student_levels={s.id: s.level for s in students},
        student_names={s.id: s.user.display_name for s in students},
    )
    tutors = await load_tutors(db, live.org_id)
    snapshot = await load_snapshot(
        db,
        org_id=live.org_id,
        student_ids=live.student_ids,
        start=live.scheduled_start,
        end=live.scheduled_end,
        tutors=tutors,
    )
    past = (
        LiveSession.org_id == live.org_id,
        LiveSession.status.in_(TAUGHT),
        LiveSession.scheduled_start < live.scheduled_start,
        SessionStudent.student_id.in_(live.student_ids),
    )
    history: dict[tuple[str, str], int] = {}
    for student_id, tutor_id, n in await db.execute(
        select(SessionStudent.student_id, LiveSession.tutor_id, func.count())
        .join(LiveSession, LiveSession.id == SessionStudent.session_id)
        .where(*past)
        .group_by(SessionStudent.student_id, LiveSession.tutor_id)
    ):
        history[student_id, tutor_id] = n
    taught: dict[str, int] = {}
    for tutor_id, n in await db.execute(
        select(LiveSession.tutor_id, func.count(func.distinct(LiveSession.id)))
        .join(SessionStudent, SessionStudent.session_id == LiveSession.id)
        .where(*past)
        .group_by(LiveSession.tutor_id)
    ):
        taught[tutor_id] = n
    return rank(
        vacancy,
        replace(snapshot, history=history),
        taught=taught,
        tutor_names={t.id: t.user.display_name for t in tutors},
    )
