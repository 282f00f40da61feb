"""Listing people: tutors, students and guardians, a page at a time.

Every list is scoped by ``visible``, the caller's WHERE clause (``api.permissions``
builds it), so a filter can never reach past what the caller may see. Pages are
sorted by display name, then id, so a page boundary is stable between requests.
"""

from __future__ import annotations

import json

from sqlalchemy import ColumnElement, String, cast, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

from core.pagination import PageWindow, fetch_page
from scheduling.models import Guardian, Guardianship, Student, Tutor, User

__all__ = ["find_guardians", "find_students", "find_tutors"]


def _json_list_has(column: InstrumentedAttribute[list[str]], value: str) -> ColumnElement[bool]:
    # Portable "JSON array contains" for SQLite and PostgreSQL: both keep the
    # text that json.dumps wrote, so the quoted element is a substring of it.
    return cast(column, String).contains(json.dumps(value))


async def find_tutors(
    db: AsyncSession,
    *,
    visible: ColumnElement[bool],
    subject: str | None = None,
    level: str | None = None,
    page: PageWindow,
) -> tuple[list[Tutor], int]:
    """One page of the tutors the caller sees, who teach ``subject`` and ``level`` if given."""
    where = [visible]
    if subject:
        where.append(_json_list_has(Tutor.subjects, subject))
    if level:
        where.append(_json_list_has(Tutor.levels, level))
    return await fetch_page(
        db,
        select(Tutor).join(User, User.id == Tutor.user_id),
        where=where,
        order_by=[User.display_name, Tutor.id],
        page=page,
    )


async def find_students(
    db: AsyncSession,
    *,
    visible: ColumnElement[bool],
    level: str | None = None,
    guardian_id: str | None = None,
    page: PageWindow,
) -> tuple[list[Student], int]:
    """One page of the students the caller sees, at ``level`` and of ``guardian_id`` if given."""
    where = [visible]
    if level:
        where.append(Student.level == level)
    if guardian_id:
        children = select(Guardianship.student_id).where(Guardianship.guardian_id == guardian_id)
        where.append(Student.id.in_(children))
    return await fetch_page(
        db,
        select(Student).join(User, User.id == Student.user_id),
        where=where,
        order_by=[User.display_name, Student.id],
        page=page,
    )


async def find_guardians(
    db: AsyncSession,
    *,
    visible: ColumnElement[bool],
    student_id: str | None = None,
    page: PageWindow,
) -> tuple[list[Guardian], int]:
    """One page of the guardians the caller sees, of ``student_id`` if given."""
    where = [visible]
    if student_id:
        where.append(
            Guardian.id.in_(
                select(Guardianship.guardian_id).where(Guardianship.student_id == student_id)
            )
        )
    return await fetch_page(
        db,
        select(Guardian).join(User, User.id == Guardian.user_id),
        where=where,
        order_by=[User.display_name, Guardian.id],
        page=page,
    )
