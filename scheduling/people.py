"""Creating organisations and people: one place for the rules every entry point shares.

The API, ``liveclass create-user``, ``liveclass demo`` and the tests all create
people through these functions, so email normalisation and uniqueness are
checked the same way everywhere. Password hashing belongs to ``api``; these
functions take the finished hash.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from core.ids import new_id
from scheduling.errors import EmailTaken
from scheduling.models import Guardian, Organization, Role, Student, Tutor, User


def normalize_email(email: str) -> str:
    return email.strip().lower()


async def create_organization(db: AsyncSession, name: str, *, now: datetime) -> Organization:
    org = Organization(id=new_id("org"), name=name, created_at=now)
    db.add(org)
    await db.flush()
    return org


async def find_organization(db: AsyncSession, name: str) -> Organization | None:
    result = await db.scalars(select(Organization).where(Organization.name == name))
    return result.first()


async def find_user_by_email(db: AsyncSession, email: str) -> User | None:
    result = await db.scalars(select(User).where(func.lower(User.email) == normalize_email(email)))
    return result.first()


async def create_user(
    db: AsyncSession,
    *,
    org_id: str,
    role: Role,
    email: str,
    display_name: str,
    password_hash: str | None,
    now: datetime,
) -> User:
    """Add a user; raises ``EmailTaken`` if the address is in use anywhere."""
    if await find_user_by_email(db, email) is not None:
        raise EmailTaken()
    user = User(
        id=new_id("usr"),
        org_id=org_id,
        role=role,
        email=normalize_email(email),
        display_name=display_name,
        password_hash=password_hash,
        is_active=True,
        created_at=now,
        updated_at=now,
    )
    db.add(user)
    await db.flush()
    return user


async def create_tutor(
    db: AsyncSession,
    *,
    org_id: str,
    email: str,
    display_name: str,
    password_hash: str | None,
    subjects: Sequence[str],
    levels: Sequence[str],
    time_zone: str,
    now: datetime,
) -> Tutor:
    user = await create_user(
        db,
        org_id=org_id,
        role=Role.TUTOR,
        email=email,
        display_name=display_name,
        password_hash=password_hash,
        now=now,
    )
    tutor = Tutor(
        id=new_id("tut"),
        user_id=user.id,
        org_id=org_id,
        subjects=list(subjects),
        levels=list(levels),
        time_zone=time_zone,
        created_at=now,
        user=user,
    )
    db.add(tutor)
    await db.flush()
    return tutor


async def create_student(
    db: AsyncSession,
    *,
    org_id: str,
    email: str,
    display_name: str,
    password_hash: str | None,
    level: str | None,
    time_zone: str,
    now: datetime,
) -> Student:
    user = await create_user(
        db,
        org_id=org_id,
        role=Role.STUDENT,
        email=email,
        display_name=display_name,
        password_hash=password_hash,
        now=now,
    )
    student = Student(
        id=new_id("stu"),
        user_id=user.id,
        org_id=org_id,
        level=level,
        time_zone=time_zone,
        created_at=now,
        user=user,
    )
    db.add(student)
    await db.flush()
    return student


async def create_guardian(
    db: AsyncSession,
    *,
    org_id: str,
    email: str,
    display_name: str,
    password_hash: str | None,
    phone: str | None,
    time_zone: str,
    now: datetime,
) -> Guardian:
    user = await create_user(
        db,
        org_id=org_id,
        role=Role.GUARDIAN,
        email=email,
        display_name=display_name,
        password_hash=password_hash,
        now=now,
    )
    guardian = Guardian(
        id=new_id("gua"),
        user_id=user.id,
        org_id=org_id,
        phone=phone,
        time_zone=time_zone,
        created_at=now,
        user=user,
        guardianships=[],
    )
    db.add(guardian)
    await db.flush()
    return guardian


async def create_person(
    db: AsyncSession,
    role: Role,
    *,
    org_id: str,
    email: str,
    display_name: str,
    password_hash: str | None,
    now: datetime,
    time_zone: str = "UTC",
    subjects: Sequence[str] = (),
    levels: Sequence[str] = (),
    level: str | None = None,
    phone: str | None = None,
) -> str:
    """Create a person of any role with its profile; return the profile id.

    For a coordinator, who has no profile, the user id is returned. Fields that
    do not apply to the role are ignored.
    """
    if role is Role.TUTOR:
        tutor = await create_tutor(
            db,
            org_id=org_id,
            email=email,
            display_name=display_name,
            password_hash=password_hash,
            subjects=subjects,
            levels=levels,
            time_zone=time_zone,
            now=now,
        )
        return tutor.id
    if role is Role.STUDENT:
        student = await create_student(
            db,
            org_id=org_id,
            email=email,
            display_name=display_name,
            password_hash=password_hash,
            level=level,
            time_zone=time_zone,
            now=now,
        )
        return student.id
    if role is Role.GUARDIAN:
        guardian = await create_guardian(
            db,
            org_id=org_id,
            email=email,
            display_name=display_name,
            password_hash=password_hash,
            phone=phone,
            time_zone=time_zone,
            now=now,
        )
        return guardian.id
    user = await create_user(
        db,
        org_id=org_id,
        role=role,
        email=email,
        display_name=display_name,
        password_hash=password_hash,
        now=now,
    )
    return user.id
