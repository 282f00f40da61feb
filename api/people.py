"""Fields and updates every kind of person shares (tutor, student, guardian)."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from api.auth import hash_password
from api.schemas import Email, Input, Name, Password, TimeZoneName
from core.errors import ErrorDetail, ValidationFailed
from scheduling.errors import EmailTaken
from scheduling.models import LiveSession, SessionStudent, User
from scheduling.people import find_user_by_email, normalize_email


class PersonCreate(Input):
    email: Email
    display_name: Name
    password: Password | None = None
    time_zone: TimeZoneName = "UTC"


class PersonUpdate(Input):
    email: Email | None = None
    display_name: Name | None = None
    password: Password | None = None
    time_zone: TimeZoneName | None = None


class PersonOut(BaseModel):
    id: str
    user_id: str
    email: str
    display_name: str
    time_zone: str
    created_at: datetime


async def optional_hash(password: str | None) -> str | None:
    return None if password is None else await hash_password(password)


async def update_user(db: AsyncSession, user: User, body: PersonUpdate, now: datetime) -> None:
    """Apply the user-level fields of a PATCH that were actually sent."""
    sent = body.model_fields_set
    if "email" in sent and body.email is not None and normalize_email(body.email) != user.email:
        if await find_user_by_email(db, body.email) is not None:
            raise EmailTaken()
        user.email = normalize_email(body.email)
    if "display_name" in sent and body.display_name is not None:
        user.display_name = body.display_name
    if "password" in sent and body.password is not None:
        user.password_hash = await hash_password(body.password)
    user.updated_at = now


def reject_nulls(body: BaseModel, *fields: str) -> None:
    """PATCH with an explicit null for a required field is an error, not a no-op."""
    bad = [f for f in fields if f in body.model_fields_set and getattr(body, f) is None]
    if bad:
        raise ValidationFailed(
            "these fields cannot be null; leave them out to keep the current value",
            details=[
                ErrorDetail(loc=["body", f], message="may not be null", type="null_not_allowed")
                for f in bad
            ],
        )


async def sessions_count(
    db: AsyncSession, *, tutor_id: str | None = None, student_id: str | None = None
) -> int:
    """How many sessions name this tutor or student (deleting them would orphan those)."""
    if tutor_id is not None:
        stmt = select(func.count()).where(LiveSession.tutor_id == tutor_id)
    else:
        stmt = select(func.count()).where(SessionStudent.student_id == student_id)
    return int(await db.scalar(stmt) or 0)
