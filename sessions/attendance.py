"""Attendance: who was in a session's room, from when to when, worked out from presence.

``compute`` is pure: it takes the presence records of one session and turns
them into join/leave intervals per participant. A rejoin is a new interval; an
interval still open at the session's end closes there; a join or leave that
repeats the state the participant is already in (a lost leave, a duplicate
join) is ignored rather than guessed at. Students who never joined are listed
as absent. ``AttendanceHandler`` stores the result when the session ends;
``session_attendance`` is what a reader gets, stored or worked out so far.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from eventbus.outbox import DomainEvent
from scheduling.models import LiveSession, Student, Tutor
from sessions.models import Attendance, Presence, PresenceType


@dataclass(frozen=True)
class Interval:
    joined: datetime
    left: datetime

    @property
    def seconds(self) -> int:
        return max(0, int((self.left - self.joined).total_seconds()))


@dataclass
class ParticipantAttendance:
    """One participant's time in the room."""

    participant_id: str
    role: str
    student_id: str | None = None
    intervals: list[Interval] = field(default_factory=list)
    late_minutes: int | None = None

    @property
    def first_joined_at(self) -> datetime | None:
        return self.intervals[0].joined if self.intervals else None

    @property
    def seconds_present(self) -> int:
        return sum(i.seconds for i in self.intervals)

    @property
    def absent(self) -> bool:
        return not self.intervals


@dataclass(frozen=True)
class Expected:
    """Who should have been there: the tutor's user id and each student's (user id, student id)."""

    tutor_user_id: str | None
    students: tuple[tuple[str, str], ...]


def compute(
    records: Iterable[Presence],
    *,
    expected: Expected,
    scheduled_start: datetime,
    end: datetime,
) -> list[ParticipantAttendance]:
    """Attendance per participant: the tutor first, then students, then anyone else.

    Args:
        records: the session's presence records, in any order.
        expected: whom to list even if they never joined.
        scheduled_start: lateness is measured from here (never negative).
        end: open intervals close here; anything after it is ignored.
    """
    people: dict[str, ParticipantAttendance] = {}
    if expected.tutor_user_id is not None:
        people[expected.tutor_user_id] = ParticipantAttendance(expected.tutor_user_id, "tutor")
    for user_id, student_id in expected.students:
        people[user_id] = ParticipantAttendance(user_id, "student", student_id=student_id)
    open_since: dict[str, datetime] = {}
    for r in sorted(records, key=lambda r: (r.at, r.id)):
        if r.at > end:
            continue
        person = people.setdefault(
            r.participant_id, ParticipantAttendance(r.participant_id, r.role)
        )
        if r.type is PresenceType.JOINED:
            open_since.setdefault(r.participant_id, r.at)
        elif (since := open_since.pop(r.participant_id, None)) is not None:
            person.intervals.append(Interval(since, r.at))
    for participant_id, since in open_since.items():
        people[participant_id].intervals.append(Interval(since, end))
    for person in people.values():
        person.intervals.sort(key=lambda i: i.joined)
        first = person.first_joined_at
        if first is not None:
            late = (first - scheduled_start).total_seconds() / 60
            person.late_minutes = max(0, math.floor(late))
    return list(people.values())


async def expected_of(db: AsyncSession, live: LiveSession) -> Expected:
    tutor_user = await db.scalar(select(Tutor.user_id).where(Tutor.id == live.tutor_id))
    students = (
        await db.execute(
            select(Student.user_id, Student.id)
            .where(Student.id.in_(live.student_ids))
            .order_by(Student.id)
        )
    ).all()
    return Expected(tutor_user, tuple((u, s) for u, s in students))


async def attendance_of(
    db: AsyncSession, live: LiveSession, *, end: datetime
) -> list[ParticipantAttendance]:
    """Attendance of ``live`` from its stored presence records, open intervals closed at ``end``."""
    records = await db.scalars(select(Presence).where(Presence.session_id == live.id))
    return compute(
        records,
        expected=await expected_of(db, live),
        scheduled_start=live.scheduled_start,
        end=end,
    )


@dataclass(frozen=True)
class SessionAttendance:
    """A session's attendance as a reader gets it.

    ``stored`` holds the rows written when the session ended (the tutor first, then
    students by id, then anyone else); until then it is empty and ``computed`` is
    worked out from the presence records so far.
    """

    stored: list[Attendance]
    computed: list[ParticipantAttendance]

    @property
    def final(self) -> bool:
        return bool(self.stored)


ROLE_ORDER = {"tutor": 0, "student": 1}


async def session_attendance(
    db: AsyncSession, live: LiveSession, *, now: datetime
) -> SessionAttendance:
    """The attendance stored when ``live`` ended, or else the attendance so far with
    open intervals closed at ``now``."""
    rows = list(await db.scalars(select(Attendance).where(Attendance.session_id == live.id)))
    if rows:
        rows.sort(key=lambda r: (ROLE_ORDER.get(r.role, 2), r.student_id or "", r.participant_id))
        return SessionAttendance(stored=rows, computed=[])
    return SessionAttendance(stored=[], computed=await attendance_of(db, live, end=now))


def to_rows(
    session_id: str, people: Sequence[ParticipantAttendance], *, now: datetime
) -> list[Attendance]:
    return [
        Attendance(
            session_id=session_id,
            participant_id=p.participant_id,
            role=p.role,
            student_id=p.student_id,
            intervals=[[i.joined.isoformat(), i.left.isoformat()] for i in p.intervals],
            first_joined_at=p.first_joined_at,
            late_minutes=p.late_minutes,
            seconds_present=p.seconds_present,
            absent=p.absent,
            computed_at=now,
        )
        for p in people
    ]


@dataclass(frozen=True)
class AttendanceHandler:
    """On ``session.ended``: store the session's attendance, its room closed at the end."""

    clock: Callable[[], datetime]
    name: str = "attendance"
    types: frozenset[str] = frozenset({"session.ended"})

    async def handle(self, db: AsyncSession, event: DomainEvent) -> None:
        live = await db.get(LiveSession, event.session_id)
        if live is None:
            return
        people = await attendance_of(db, live, end=event.occurred_at)
        # Replayed by hand after a fix: the fresh result replaces the old one.
        await db.execute(delete(Attendance).where(Attendance.session_id == live.id))
        db.add_all(to_rows(live.id, people, now=self.clock()))
