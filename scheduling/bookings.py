"""Booking live sessions: a tutor, one or more students, a time and a room.

Every booking and every change is checked for conflicts first
(``check_conflicts``): the tutor or a student double-booked, outside the
tutor's availability, tutor not qualified, over a daily or weekly limit, or
inside the tutor's buffer. A refused booking raises ``BookingConflict``
listing every conflict, and writes nothing.

Double booking is always checked. Availability, qualifications and limits are
checked only once a coordinator has configured them for the tutor: a tutor
with no weekly rules (and no extra hours) is free at any time except their
time off, and one with no qualification rows may teach any subject. Cancelled
sessions never conflict. Recurring bookings (``scheduling.series``) check
each occurrence here too; idempotency keys live in the API layer.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from core.errors import ErrorDetail, ValidationFailed
from core.ids import new_id
from core.pagination import PageWindow, fetch_page
from scheduling.conflicts import Booked, Proposal, find_conflicts
from scheduling.errors import BookingConflict, InvalidReference
from scheduling.models import LiveSession, SessionStatus, SessionStudent, Student, Tutor
from scheduling.schedules import load_schedule

# How far around a proposal to load sessions: its tutor-local week (limits)
# plus the largest buffer a coordinator may set (one day), with a day to spare.
_LOOKAROUND = timedelta(days=9)


async def check_participants(
    db: AsyncSession, *, org_id: str, tutor_id: str, student_ids: Sequence[str]
) -> None:
    """Refuse a tutor or student that is not in the organisation.

    Raises:
        InvalidReference: naming the first field that points nowhere.
    """
    tutor = await db.scalar(select(Tutor.id).where(Tutor.id == tutor_id, Tutor.org_id == org_id))
    if tutor is None:
        raise InvalidReference("tutor_id", "tutor", tutor_id)
    await check_student_ids(db, org_id=org_id, student_ids=student_ids)


async def check_student_ids(
    db: AsyncSession, *, org_id: str, student_ids: Sequence[str], field: str = "student_ids"
) -> None:
    """Refuse student ids that are not students of the organisation."""
    found = set(
        await db.scalars(
            select(Student.id).where(Student.id.in_(student_ids), Student.org_id == org_id)
        )
    )
    for sid in student_ids:
        if sid not in found:
            raise InvalidReference(field, "student", sid)


def check_times(start: datetime, end: datetime) -> None:
    if end <= start:
        raise ValidationFailed(
            "scheduled_end must be after scheduled_start",
            details=[
                ErrorDetail(
                    loc=["body", "scheduled_end"],
                    message="must be after scheduled_start",
                    type="value_error",
                )
            ],
        )


async def check_conflicts(
    db: AsyncSession,
    *,
    tutor_id: str,
    student_ids: Sequence[str],
    subject: str,
    scheduled_start: datetime,
    scheduled_end: datetime,
    session_id: str | None = None,
) -> None:
    """Refuse a booking (or the change of ``session_id``) that conflicts with the schedule.

    Locks the tutor's and students' rows first (``FOR UPDATE`` on PostgreSQL), so
    two bookings for the same people are checked one after the other rather than
    both passing; SQLite serialises writers anyway.

    Raises:
        BookingConflict: listing every conflict, in the order the checker finds them.
    """
    tutor = await db.scalar(select(Tutor).where(Tutor.id == tutor_id).with_for_update(of=Tutor))
    if tutor is None:
        raise InvalidReference("tutor_id", "tutor", tutor_id)
    found = list(
        await db.scalars(
            select(Student)
            .where(Student.id.in_(list(student_ids)))
            .order_by(Student.id)
            .with_for_update(of=Student)
        )
    )
    students = {s.id: s.level for s in found}
    attending = select(SessionStudent.session_id).where(
        SessionStudent.student_id.in_(list(student_ids))
    )
    rows = await db.scalars(
        select(LiveSession).where(
            or_(LiveSession.tutor_id == tutor_id, LiveSession.id.in_(attending)),
            LiveSession.status != SessionStatus.CANCELLED,
            LiveSession.scheduled_end > scheduled_start - _LOOKAROUND,
            LiveSession.scheduled_start < scheduled_end + _LOOKAROUND,
        )
    )
    existing = [
        Booked(
            id=s.id,
            tutor_id=s.tutor_id,
            student_ids=frozenset(s.student_ids),
            start=s.scheduled_start,
            end=s.scheduled_end,
            cancelled=s.status is SessionStatus.CANCELLED,
            subject=s.subject,
        )
        for s in rows
    ]
    proposal = Proposal(
        tutor_id=tutor_id,
        student_ids=tuple(dict.fromkeys(student_ids)),
        subject=subject,
        start=scheduled_start,
        end=scheduled_end,
        student_levels=students,
        session_id=session_id,
        student_names={s.id: s.user.display_name for s in found},
    )
    conflicts = find_conflicts(proposal, existing, await load_schedule(db, tutor))
    if conflicts:
        raise BookingConflict(conflicts)


async def book_session(
    db: AsyncSession,
    *,
    org_id: str,
    tutor_id: str,
    student_ids: Sequence[str],
    subject: str,
    scheduled_start: datetime,
    scheduled_end: datetime,
    now: datetime,
) -> LiveSession:
    """Book a session after checking it against the schedule.

    Raises:
        ValidationFailed: the end is not after the start.
        InvalidReference: the tutor or a student is not in the organisation.
        BookingConflict: with every conflict found; nothing is written.
    """
    check_times(scheduled_start, scheduled_end)
    await check_participants(db, org_id=org_id, tutor_id=tutor_id, student_ids=student_ids)
    await check_conflicts(
        db,
        tutor_id=tutor_id,
        student_ids=student_ids,
        subject=subject,
        scheduled_start=scheduled_start,
        scheduled_end=scheduled_end,
    )
    live = new_session(
        org_id=org_id,
        tutor_id=tutor_id,
        student_ids=student_ids,
        subject=subject,
        scheduled_start=scheduled_start,
        scheduled_end=scheduled_end,
        now=now,
    )
    db.add(live)
    await db.flush()
    return live


def new_session(
    *,
    org_id: str,
    tutor_id: str,
    student_ids: Sequence[str],
    subject: str,
    scheduled_start: datetime,
    scheduled_end: datetime,
    now: datetime,
    series_id: str | None = None,
    occurrence_start: datetime | None = None,
) -> LiveSession:
    """A scheduled session with its own room, not yet added or checked."""
    session_id = new_id("ses")
    return LiveSession(
        id=session_id,
        org_id=org_id,
        tutor_id=tutor_id,
        subject=subject,
        scheduled_start=scheduled_start,
        scheduled_end=scheduled_end,
        status=SessionStatus.SCHEDULED,
        room=f"room_{session_id.removeprefix('ses_').lower()}",
        series_id=series_id,
        occurrence_start=occurrence_start,
        created_at=now,
        updated_at=now,
        students=[SessionStudent(student_id=sid) for sid in dict.fromkeys(student_ids)],
    )


async def find_sessions(
    db: AsyncSession,
    *,
    visible: ColumnElement[bool],
    page: PageWindow,
    tutor_id: str | None = None,
    student_id: str | None = None,
    status: SessionStatus | None = None,
    starts_after: datetime | None = None,
    starts_before: datetime | None = None,
    late_cancellation: bool | None = None,
) -> tuple[list[LiveSession], int]:
    """One page of the sessions ``visible`` lets the caller see, by start, and their total.

    Each filter left out (or empty) does not narrow the list; ``starts_after``
    is inclusive and ``starts_before`` exclusive, on the scheduled start.
    """
    where = [visible]
    if tutor_id:
        where.append(LiveSession.tutor_id == tutor_id)
    if student_id:
        attending = select(SessionStudent.session_id).where(SessionStudent.student_id == student_id)
        where.append(LiveSession.id.in_(attending))
    if status:
        where.append(LiveSession.status == status)
    if starts_after:
        where.append(LiveSession.scheduled_start >= starts_after)
    if starts_before:
        where.append(LiveSession.scheduled_start < starts_before)
    if late_cancellation is not None:
        where.append(LiveSession.late_cancellation.is_(late_cancellation))
    return await fetch_page(
        db,
        select(LiveSession),
        where=where,
        order_by=[LiveSession.scheduled_start, LiveSession.id],
        page=page,
    )
