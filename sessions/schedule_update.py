"""The schedule after a session: marked completed, and each student's next session linked.

On ``session.ended`` the session gets its ``ended_at`` (its attendance rows are
the attendance handler's), and every student's ``next_session_id`` points at
their next session with the same tutor that is still to come, so that a
briefing written from this session has a place to attach.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from eventbus.outbox import DomainEvent
from scheduling.models import LiveSession, SessionStatus, SessionStudent

UPCOMING = (SessionStatus.SCHEDULED, SessionStatus.OPEN, SessionStatus.LIVE)


async def next_session_with_tutor(
    db: AsyncSession, live: LiveSession, student_id: str
) -> str | None:
    """The student's first session with ``live``'s tutor that starts after ``live`` and is on."""
    return await db.scalar(
        select(LiveSession.id)
        .join(SessionStudent, SessionStudent.session_id == LiveSession.id)
        .where(
            SessionStudent.student_id == student_id,
            LiveSession.tutor_id == live.tutor_id,
            LiveSession.id != live.id,
            LiveSession.scheduled_start >= live.scheduled_start,
            LiveSession.status.in_(UPCOMING),
        )
        .order_by(LiveSession.scheduled_start, LiveSession.id)
        .limit(1)
    )


@dataclass(frozen=True)
class ScheduleUpdateHandler:
    """On ``session.ended``: mark the session completed and link each student's next one."""

    name: str = "schedule_update"
    types: frozenset[str] = frozenset({"session.ended"})

    async def handle(self, db: AsyncSession, event: DomainEvent) -> None:
        live = await db.get(LiveSession, event.session_id, populate_existing=True)
        if live is None:
            return
        if live.ended_at is None:
            live.ended_at = event.occurred_at
        for link in live.students:
            link.next_session_id = await next_session_with_tutor(db, live, link.student_id)
