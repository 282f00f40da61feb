"""Booking live sessions: a tutor, one or more students, a time and a room.

This is the plain form the foundation needs; the scheduling issue adds
availability, recurrence and conflict checks on top of ``book_session``.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from core.errors import ErrorDetail, ValidationFailed
from core.ids import new_id
from scheduling.errors import InvalidReference
from scheduling.models import LiveSession, SessionStatus, SessionStudent, Student, Tutor


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
    check_times(scheduled_start, scheduled_end)
    await check_participants(db, org_id=org_id, tutor_id=tutor_id, student_ids=student_ids)
    session_id = new_id("ses")
    live = LiveSession(
        id=session_id,
        org_id=org_id,
        tutor_id=tutor_id,
        subject=subject,
        scheduled_start=scheduled_start,
        scheduled_end=scheduled_end,
        status=SessionStatus.SCHEDULED,
        room=f"room_{session_id.removeprefix('ses_').lower()}",
        created_at=now,
        updated_at=now,
        students=[SessionStudent(student_id=sid) for sid in dict.fromkeys(student_ids)],
    )
    db.add(live)
    await db.flush()
    return live
