"""The terms a participant joins a session on: until when, and under which name.

Who may join is the caller's check (a participant of the session); whether the
session can still be joined is this module's: not once it is closed, and not
after its scheduled end plus the grace the settings allow. The join token
itself is signaling's to issue, from these terms.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from core.errors import Conflict
from scheduling.models import LiveSession, Student, Tutor, User

__all__ = ["JoinTerms", "LessonFacts", "join_terms", "lesson_facts"]


@dataclass(frozen=True)
class JoinTerms:
    """What a join token for one participant carries besides who they are."""

    name: str  # the participant's display name, empty when they have none
    expires_at: datetime


async def join_terms(
    db: AsyncSession, live: LiveSession, *, user_id: str, grace: timedelta, now: datetime
) -> JoinTerms:
    """The terms for user ``user_id`` joining ``live`` now.

    Raises:
        Conflict: the session is closed or past its end plus ``grace``
            (``session_closed``); it can no longer be joined.
    """
    expires_at = live.scheduled_end + grace
    if live.status.is_closed or expires_at <= now:
        raise Conflict(
            f"this session is over ({live.status.value}); it can no longer be joined",
            code="session_closed",
        )
    name = await db.scalar(select(User.display_name).where(User.id == user_id))
    return JoinTerms(name=name or "", expires_at=expires_at)


@dataclass(frozen=True)
class LessonFacts:
    """What the lesson page shows of its session: what, with whom, and when."""

    subject: str
    tutor_name: str
    student_names: list[str]
    scheduled_start: datetime
    scheduled_end: datetime


async def lesson_facts(db: AsyncSession, live: LiveSession) -> LessonFacts:
    """The lesson page's header for ``live``: its subject, its people's names, its times."""
    tutor = await db.scalar(
        select(User.display_name)
        .join(Tutor, Tutor.user_id == User.id)
        .where(Tutor.id == live.tutor_id)
    )
    students = (
        await db.scalars(
            select(User.display_name)
            .join(Student, Student.user_id == User.id)
            .where(Student.id.in_(live.student_ids))
            .order_by(User.display_name)
        )
    ).all()
    return LessonFacts(
        subject=live.subject,
        tutor_name=tutor or "",
        student_names=list(students),
        scheduled_start=live.scheduled_start,
        scheduled_end=live.scheduled_end,
    )
