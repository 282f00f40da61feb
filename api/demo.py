"""Seeding a demo organisation so a newcomer can log in and look around."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from api.auth import hash_password
from core.clock import Clock
from core.ids import new_id
from scheduling.bookings import book_session
from scheduling.models import (
    Guardian,
    Guardianship,
    LiveSession,
    Role,
    SessionStatus,
    SessionStudent,
    Student,
    Tutor,
    User,
)
from scheduling.people import (
    create_organization,
    create_person,
    find_organization,
    find_user_by_email,
)
from signaling.tokens import JoinGrant, issue_join_token

DEMO_ORG = "Liveclass Demo School"
DEMO_PEOPLE = {
    "coordinator": ("coordinator@demo.example.org", "Casey Coordinator"),
    "tutor": ("tutor@demo.example.org", "Taylor Tutor"),
    "student": ("student@demo.example.org", "Sam Student"),
    "guardian": ("guardian@demo.example.org", "Glenn Guardian"),
}


@dataclass(frozen=True)
class DemoLogin:
    email: str
    password: str
    join_url: str | None = None


@dataclass(frozen=True)
class DemoSeed:
    session_id: str
    org_id: str
    logins: dict[str, DemoLogin]


async def seed_demo(
    sessionmaker: async_sessionmaker[AsyncSession],
    clock: Clock,
    *,
    secret: str,
    public_url: str,
    join_grace: timedelta,
) -> DemoSeed:
    """Create (or refresh) the demo people and book a new 60-minute session starting now.

    Running it again reuses the people, gives them fresh passwords (printed
    once, never stored in clear) and books another session, starting when the
    demo tutor's and student's sessions still to come end, so it never double-books.
    """
    now = clock.now()
    passwords = {role: secrets.token_urlsafe(9) for role in DEMO_PEOPLE}
    hashes = {role: await hash_password(pw) for role, pw in passwords.items()}
    async with sessionmaker() as db, db.begin():
        org = await find_organization(db, DEMO_ORG) or await create_organization(
            db, DEMO_ORG, now=now
        )
        ids = {
            role: await _ensure_person(db, org.id, role, hashes[role], now) for role in DEMO_PEOPLE
        }
        link = await db.scalar(
            select(Guardianship).where(
                Guardianship.guardian_id == ids["guardian"],
                Guardianship.student_id == ids["student"],
            )
        )
        if link is None:
            db.add(
                Guardianship(
                    id=new_id("gsp"),
                    guardian_id=ids["guardian"],
                    student_id=ids["student"],
                    relationship_label="parent",
                    recording_consent=True,
                    ai_processing_consent=True,
                    notify_email=True,
                    notify_summaries=True,
                    notify_absences=True,
                    notify_reminders=True,
                    created_at=now,
                    updated_at=now,
                )
            )
        start = await _free_from(
            db, ids["tutor"], ids["student"], now.replace(second=0, microsecond=0)
        )
        live = await book_session(
            db,
            org_id=org.id,
            tutor_id=ids["tutor"],
            student_ids=[ids["student"]],
            subject="mathematics",
            scheduled_start=start,
            scheduled_end=start + timedelta(minutes=60),
            now=now,
        )
    joins: dict[str, str] = {}
    for role in ("tutor", "student"):
        email, name = DEMO_PEOPLE[role]
        async with sessionmaker() as db:
            user = await find_user_by_email(db, email)
        assert user is not None
        grant = JoinGrant(
            session_id=live.id,
            participant_id=user.id,
            role=role,
            name=name,
            expires_at=live.scheduled_end + join_grace,
        )
        token = issue_join_token(grant, secret=secret, now=now)
        joins[role] = f"{public_url}/join/{live.id}?token={token}"
    logins = {
        role: DemoLogin(email=DEMO_PEOPLE[role][0], password=pw, join_url=joins.get(role))
        for role, pw in passwords.items()
    }
    return DemoSeed(session_id=live.id, org_id=org.id, logins=logins)


async def _ensure_person(
    db: AsyncSession, org_id: str, role: str, password_hash: str, now: datetime
) -> str:
    """Return the demo person's profile id (user id for the coordinator), creating them if new."""
    email, name = DEMO_PEOPLE[role]
    user = await find_user_by_email(db, email)
    if user is not None:
        user.password_hash, user.is_active, user.updated_at = password_hash, True, now
        return await _profile_id(db, user)
    return await create_person(
        db,
        Role(role),
        org_id=org_id,
        email=email,
        display_name=name,
        password_hash=password_hash,
        now=now,
        time_zone="Europe/London",
        subjects=["mathematics"],
        levels=["year-9"],
        level="year-9",
    )


async def _profile_id(db: AsyncSession, user: User) -> str:
    for model in (Tutor, Student, Guardian):
        found = await db.scalar(select(model.id).where(model.user_id == user.id))
        if found is not None:
            return str(found)
    return user.id


async def _free_from(db: AsyncSession, tutor_id: str, student_id: str, start: datetime) -> datetime:
    """``start``, or the end of the demo pair's last session still running then or to come."""
    attending = select(SessionStudent.session_id).where(SessionStudent.student_id == student_id)
    last_end = await db.scalar(
        select(func.max(LiveSession.scheduled_end)).where(
            or_(LiveSession.tutor_id == tutor_id, LiveSession.id.in_(attending)),
            LiveSession.status != SessionStatus.CANCELLED,
            LiveSession.scheduled_end > start,
        )
    )
    return max(start, last_end) if last_end is not None else start
