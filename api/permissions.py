"""Who may see and change what. Every route asks here; none decides alone.

Reads are scoped in SQL: each ``visible_*`` returns a WHERE clause for the
caller, so lists, filters and single reads share one rule and a hidden row is
indistinguishable from a missing one (404). The rules:

- coordinator (and API key): everything in their organisation;
- tutor: themselves, their own sessions, the students of those sessions;
- student: themselves, their own sessions, the tutors of those sessions;
- guardian: themselves, their children, their children's sessions and tutors.

Writes to people and sessions are for coordinators only. What happened in a
session's room (presence records) is for coordinators and the session's tutor.
"""

from __future__ import annotations

from typing import Any, TypeVar

from sqlalchemy import ColumnElement, Select, and_, false, select
from sqlalchemy.ext.asyncio import AsyncSession

from api.auth import Principal
from core.errors import NotFound, PermissionDenied
from core.logging import get_logger
from scheduling.models import (
    Guardian,
    Guardianship,
    LiveSession,
    Role,
    SessionStudent,
    Student,
    Tutor,
)

log = get_logger("liveclass.access")
_M = TypeVar("_M", Tutor, Student, Guardian, LiveSession)


def _children(p: Principal) -> Select[Any]:
    return select(Guardianship.student_id).where(Guardianship.guardian_id == p.guardian_id)


def _sessions_of_students(student_ids: Select[Any]) -> Select[Any]:
    return select(SessionStudent.session_id).where(SessionStudent.student_id.in_(student_ids))


def visible_sessions(p: Principal) -> ColumnElement[bool]:
    org = LiveSession.org_id == p.org_id
    if p.role is Role.COORDINATOR:
        return org
    if p.role is Role.TUTOR:
        return and_(org, LiveSession.tutor_id == p.tutor_id)
    if p.role is Role.STUDENT:
        mine = select(SessionStudent.session_id).where(SessionStudent.student_id == p.student_id)
        return and_(org, LiveSession.id.in_(mine))
    if p.role is Role.GUARDIAN:
        return and_(org, LiveSession.id.in_(_sessions_of_students(_children(p))))
    return false()


def visible_students(p: Principal) -> ColumnElement[bool]:
    org = Student.org_id == p.org_id
    if p.role is Role.COORDINATOR:
        return org
    if p.role is Role.TUTOR:
        taught = (
            select(SessionStudent.student_id)
            .join(LiveSession, LiveSession.id == SessionStudent.session_id)
            .where(LiveSession.tutor_id == p.tutor_id)
        )
        return and_(org, Student.id.in_(taught))
    if p.role is Role.STUDENT:
        return and_(org, Student.id == p.student_id)
    if p.role is Role.GUARDIAN:
        return and_(org, Student.id.in_(_children(p)))
    return false()


def visible_tutors(p: Principal) -> ColumnElement[bool]:
    org = Tutor.org_id == p.org_id
    if p.role is Role.COORDINATOR:
        return org
    if p.role is Role.TUTOR:
        return and_(org, Tutor.id == p.tutor_id)
    if p.role is Role.STUDENT:
        mine = select(SessionStudent.session_id).where(SessionStudent.student_id == p.student_id)
        teaching = select(LiveSession.tutor_id).where(LiveSession.id.in_(mine))
        return and_(org, Tutor.id.in_(teaching))
    if p.role is Role.GUARDIAN:
        teaching = select(LiveSession.tutor_id).where(
            LiveSession.id.in_(_sessions_of_students(_children(p)))
        )
        return and_(org, Tutor.id.in_(teaching))
    return false()


def visible_guardians(p: Principal) -> ColumnElement[bool]:
    org = Guardian.org_id == p.org_id
    if p.role is Role.COORDINATOR:
        return org
    if p.role is Role.GUARDIAN:
        return and_(org, Guardian.id == p.guardian_id)
    return false()


def require_coordinator(p: Principal, action: str) -> None:
    """Refuse a write by anyone but a coordinator of the organisation."""
    if not p.is_coordinator:
        log.warning("access denied", principal=p.id, role=p.role.value, action=action)
        raise PermissionDenied(f"only a coordinator can {action}; ask your coordinator")


def require_session_staff(p: Principal, live: LiveSession, action: str) -> None:
    """Refuse anyone but a coordinator of the session's organisation or its own tutor.

    For records of a session that its students and guardians may not read, such
    as who was present; they get the same 403 as for a write.
    """
    if p.is_coordinator and p.org_id == live.org_id:
        return
    if p.role is Role.TUTOR and p.tutor_id == live.tutor_id:
        return
    log.warning("access denied", principal=p.id, role=p.role.value, action=action)
    raise PermissionDenied(
        f"only a coordinator or this session's tutor can {action}; ask your coordinator"
    )


def not_visible(p: Principal, kind: str, resource_id: str) -> NotFound:
    """The 404 for a row the caller may not see (or that does not exist).

    The attempt is logged with ids only: no names, no emails.
    """
    log.warning(
        "access denied or not found",
        principal=p.id,
        role=p.role.value,
        resource=kind,
        resource_id=resource_id,
    )
    return NotFound(f"no {kind} with id {resource_id} that you can see")


async def load_visible(
    db: AsyncSession,
    p: Principal,
    model: type[_M],
    visible: ColumnElement[bool],
    resource_id: str,
    kind: str,
) -> _M:
    """Fetch one row the caller may see, or raise the same 404 as for a missing one."""
    row = await db.scalar(select(model).where(model.id == resource_id, visible))
    if row is None:
        raise not_visible(p, kind, resource_id)
    return row


def require_tutor_or_coordinator(p: Principal, tutor: Tutor, action: str) -> None:
    """Refuse anyone but a coordinator of the tutor's organisation or that tutor.

    For a tutor's own schedule settings (availability, qualifications, limits),
    which students and guardians may not read; they get 403.
    """
    if p.is_coordinator and p.org_id == tutor.org_id:
        return
    if p.role is Role.TUTOR and p.tutor_id == tutor.id:
        return
    log.warning("access denied", principal=p.id, role=p.role.value, action=action)
    raise PermissionDenied(f"only a coordinator or this tutor can {action}; ask your coordinator")
