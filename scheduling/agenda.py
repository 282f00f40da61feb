"""One tutor's or one student's sessions over a range, with the names to show beside them.

The caller says which sessions it may see (``visible``) and which students it
may name (``nameable``): every tutor of a visible session may be named, not
every student, so a student the caller may not see is listed without a name.
Local times are the route's to render; rows stay in UTC here.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, select
from sqlalchemy.ext.asyncio import AsyncSession

from core.pagination import PageWindow, fetch_page
from scheduling.models import LiveSession, SessionStatus, SessionStudent, Student, Tutor, User

__all__ = ["Agenda", "student_agenda", "tutor_agenda"]


@dataclass(frozen=True)
class Agenda:
    """One page of sessions, their total, and the display names they mention."""

    sessions: list[LiveSession]
    total: int
    tutor_names: dict[str, str]
    student_names: dict[str, str]


async def tutor_agenda(
    db: AsyncSession,
    tutor_id: str,
    *,
    visible: ColumnElement[bool],
    nameable: ColumnElement[bool],
    start: datetime,
    end: datetime,
    status: SessionStatus | None,
    page: PageWindow,
) -> Agenda:
    """The tutor's sessions that overlap ``start``..``end`` and that ``visible`` allows."""
    return await _agenda(
        db,
        LiveSession.tutor_id == tutor_id,
        visible=visible,
        nameable=nameable,
        start=start,
        end=end,
        status=status,
        page=page,
    )


async def student_agenda(
    db: AsyncSession,
    student_id: str,
    *,
    visible: ColumnElement[bool],
    nameable: ColumnElement[bool],
    start: datetime,
    end: datetime,
    status: SessionStatus | None,
    page: PageWindow,
) -> Agenda:
    """The sessions the student attends that overlap ``start``..``end`` and ``visible`` allows."""
    attending = select(SessionStudent.session_id).where(SessionStudent.student_id == student_id)
    return await _agenda(
        db,
        LiveSession.id.in_(attending),
        visible=visible,
        nameable=nameable,
        start=start,
        end=end,
        status=status,
        page=page,
    )


async def _agenda(
    db: AsyncSession,
    person: ColumnElement[bool],
    *,
    visible: ColumnElement[bool],
    nameable: ColumnElement[bool],
    start: datetime,
    end: datetime,
    status: SessionStatus | None,
    page: PageWindow,
) -> Agenda:
    where = [
        visible,
        person,
        LiveSession.scheduled_end > start,
        LiveSession.scheduled_start < end,
    ]
    if status:
        where.append(LiveSession.status == status)
    rows, total = await fetch_page(
        db,
        select(LiveSession),
        where=where,
        order_by=[LiveSession.scheduled_start, LiveSession.id],
        page=page,
    )
    # Every tutor of a session you can see is one you can see; not every student is.
    tutor_names = await _names(db, Tutor, {s.tutor_id for s in rows})
    student_names = await _names(
        db, Student, {sid for s in rows for sid in s.student_ids}, nameable
    )
    return Agenda(rows, total, tutor_names, student_names)


async def _names(
    db: AsyncSession,
    model: type[Tutor] | type[Student],
    ids: set[str],
    *where: ColumnElement[bool],
) -> dict[str, str]:
    """Display names of the ``model`` rows in ``ids`` that also meet ``where``."""
    if not ids:
        return {}
    rows = await db.execute(
        select(model.id, User.display_name)
        .join(User, User.id == model.user_id)
        .where(model.id.in_(ids), *where)
    )
    return dict(rows.all())
