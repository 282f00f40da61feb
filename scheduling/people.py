"""Creating, changing and removing organisations and people: the rules every entry point shares.

The API, ``liveclass create-user``, ``liveclass demo`` and the tests all create
people through these functions, so email normalisation and uniqueness are
checked the same way everywhere. Password hashing belongs to ``api``; these
functions take the finished hash.

Changes follow PATCH semantics: ``None`` keeps a field whose value may not be
null; ``UNCHANGED`` keeps one where null is a value (a student's level).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date, datetime
from enum import Enum
from typing import Final

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from core.errors import Conflict
from core.ids import new_id
from scheduling.bookings import check_student_ids
from scheduling.errors import EmailTaken
from scheduling.guardianships import GuardianshipTerms, add_guardianship
from scheduling.models import (
    Guardian,
    LiveSession,
    Organization,
    Role,
    SessionStudent,
    Student,
    Tutor,
    User,
)


class Unchanged(Enum):
    """The type of ``UNCHANGED``: keep a field that may be set to null."""

    UNCHANGED = "unchanged"


UNCHANGED: Final = Unchanged.UNCHANGED


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
    date_of_birth: date | None = None,
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
        date_of_birth=date_of_birth,
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
    children: Mapping[str, GuardianshipTerms] | None = None,
) -> Guardian:
    """Add a guardian, linked to ``children`` (student id to the terms of each link).

    Raises:
        InvalidReference: a child id names no student of the organisation
            (checked before anything is written; the field is ``students``).
        EmailTaken: the address is in use.
    """
    children = children or {}
    await check_student_ids(db, org_id=org_id, student_ids=list(children), field="students")
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
    for student_id, terms in children.items():
        add_guardianship(guardian, student_id, terms, now=now)
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


async def find_user(db: AsyncSession, user_id: str) -> User | None:
    return await db.get(User, user_id)


async def update_user(
    db: AsyncSession,
    user: User,
    *,
    email: str | None = None,
    display_name: str | None = None,
    password_hash: str | None = None,
    now: datetime,
) -> None:
    """Change the fields every kind of person has; ``None`` keeps a field.

    Raises:
        EmailTaken: the new address belongs to someone else.
    """
    if email is not None and normalize_email(email) != user.email:
        if await find_user_by_email(db, email) is not None:
            raise EmailTaken()
        user.email = normalize_email(email)
    if display_name is not None:
        user.display_name = display_name
    if password_hash is not None:
        user.password_hash = password_hash
    user.updated_at = now


async def sessions_count(
    db: AsyncSession, *, tutor_id: str | None = None, student_id: str | None = None
) -> int:
    """How many sessions name this tutor or student (deleting them would orphan those)."""
    if tutor_id is not None:
        stmt = select(func.count()).where(LiveSession.tutor_id == tutor_id)
    else:
        stmt = select(func.count()).where(SessionStudent.student_id == student_id)
    return int(await db.scalar(stmt) or 0)


async def change_tutor(
    db: AsyncSession,
    tutor: Tutor,
    *,
    email: str | None = None,
    display_name: str | None = None,
    password_hash: str | None = None,
    time_zone: str | None = None,
    notify_reminders: bool | None = None,
    subjects: Sequence[str] | None = None,
    levels: Sequence[str] | None = None,
    now: datetime,
) -> Tutor:
    """Change a tutor's details; ``None`` keeps a field.

    Raises:
        EmailTaken: the new address belongs to someone else.
    """
    await update_user(
        db,
        tutor.user,
        email=email,
        display_name=display_name,
        password_hash=password_hash,
        now=now,
    )
    if notify_reminders is not None:
        tutor.notify_reminders = notify_reminders
    if subjects is not None:
        tutor.subjects = list(subjects)
    if levels is not None:
        tutor.levels = list(levels)
    if time_zone is not None:
        tutor.time_zone = time_zone
    await db.flush()
    return tutor


async def change_student(
    db: AsyncSession,
    student: Student,
    *,
    email: str | None = None,
    display_name: str | None = None,
    password_hash: str | None = None,
    time_zone: str | None = None,
    notify_reminders: bool | None = None,
    level: str | None | Unchanged = UNCHANGED,
    date_of_birth: date | None | Unchanged = UNCHANGED,
    now: datetime,
) -> Student:
    """Change a student's details; ``None`` keeps a field, ``UNCHANGED`` the level and
    the date of birth (which may be cleared: unknown, so the guardians decide).

    Raises:
        EmailTaken: the new address belongs to someone else.
    """
    await update_user(
        db,
        student.user,
        email=email,
        display_name=display_name,
        password_hash=password_hash,
        now=now,
    )
    if notify_reminders is not None:
        student.notify_reminders = notify_reminders
    if not isinstance(level, Unchanged):
        student.level = level
    if not isinstance(date_of_birth, Unchanged):
        student.date_of_birth = date_of_birth
    if time_zone is not None:
        student.time_zone = time_zone
    await db.flush()
    return student


async def set_own_consents(
    db: AsyncSession,
    student: Student,
    *,
    recording_consent: bool | None = None,
    ai_processing_consent: bool | None = None,
) -> Student:
    """Record the consents a student of the consent age gave or withdrew themselves;
    ``None`` keeps one. Whether they count is ``sessions.consent``'s rule."""
    if recording_consent is not None:
        student.recording_consent = recording_consent
    if ai_processing_consent is not None:
        student.ai_processing_consent = ai_processing_consent
    await db.flush()
    return student


async def change_guardian(
    db: AsyncSession,
    guardian: Guardian,
    *,
    email: str | None = None,
    display_name: str | None = None,
    password_hash: str | None = None,
    time_zone: str | None = None,
    phone: str | None | Unchanged = UNCHANGED,
    now: datetime,
) -> Guardian:
    """Change a guardian's details; ``None`` keeps a field, ``UNCHANGED`` the phone.

    Raises:
        EmailTaken: the new address belongs to someone else.
    """
    await update_user(
        db,
        guardian.user,
        email=email,
        display_name=display_name,
        password_hash=password_hash,
        now=now,
    )
    if not isinstance(phone, Unchanged):
        guardian.phone = phone
    if time_zone is not None:
        guardian.time_zone = time_zone
    await db.flush()
    return guardian


async def remove_tutor(db: AsyncSession, tutor: Tutor) -> None:
    """Delete a tutor and their user, unless sessions still name them.

    Raises:
        Conflict: (``in_use``) the tutor has sessions.
    """
    if n := await sessions_count(db, tutor_id=tutor.id):
        raise Conflict(
            f"this tutor has {n} session(s); reassign or delete them first", code="in_use"
        )
    await db.delete(tutor)
    await db.delete(tutor.user)


async def remove_student(db: AsyncSession, student: Student) -> None:
    """Delete a student and their user, unless they are booked into sessions.

    Raises:
        Conflict: (``in_use``) the student is in sessions.
    """
    if n := await sessions_count(db, student_id=student.id):
        raise Conflict(
            f"this student is in {n} session(s); remove them from those first", code="in_use"
        )
    await db.delete(student)
    await db.delete(student.user)


async def remove_guardian(db: AsyncSession, guardian: Guardian) -> None:
    """Delete a guardian, their user and their links to children."""
    await db.delete(guardian)
    await db.delete(guardian.user)


async def set_own_reminders(
    db: AsyncSession,
    *,
    role: Role,
    tutor_id: str | None,
    student_id: str | None,
    notify_reminders: bool,
) -> Tutor | Student | None:
    """Turn a tutor's or student's own session reminders on or off.

    Returns the changed profile, or ``None`` for someone whose reminders are not
    theirs to set here (guardians choose per child, coordinators get none).
    """
    profile: Tutor | Student | None = None
    if role is Role.TUTOR and tutor_id is not None:
        profile = await db.get(Tutor, tutor_id)
    elif role is Role.STUDENT and student_id is not None:
        profile = await db.get(Student, student_id)
    if profile is None:
        return None
    profile.notify_reminders = notify_reminders
    await db.flush()
    return profile
