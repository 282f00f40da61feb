"""Logging in, who you are, and your own email preferences."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from api.auth import Principal, issue_access_token, principal_for_user, verify_password
from api.routing import Call, Router
from api.schemas import Input
from core.errors import Conflict, NotAuthenticated
from core.logging import get_logger
from scheduling.models import Role, Student, Tutor, User
from scheduling.people import find_user_by_email

router = Router()
TAGS = ["auth"]
log = get_logger("liveclass.auth")


class LoginIn(Input):
    email: str = Field(max_length=320)
    password: str = Field(max_length=256)


class MeOut(BaseModel):
    kind: str = Field(description="'user', or 'api_key' for an integration.")
    id: str
    org_id: str
    role: Role
    email: str | None = None
    display_name: str | None = None
    tutor_id: str | None = None
    student_id: str | None = None
    guardian_id: str | None = None

    @classmethod
    def of(cls, p: Principal, user: User | None) -> MeOut:
        return cls(
            kind=p.kind,
            id=p.id,
            org_id=p.org_id,
            role=p.role,
            email=user.email if user else None,
            display_name=user.display_name if user else None,
            tutor_id=p.tutor_id,
            student_id=p.student_id,
            guardian_id=p.guardian_id,
        )


class TokenOut(BaseModel):
    access_token: str
    token_type: str = "bearer"
    expires_at: datetime
    user: MeOut


@router.post("/api/v1/auth/login", tags=TAGS, auth=False, errors=[401])
async def login(call: Call, body: LoginIn) -> TokenOut:
    """Exchange an email and password for a short-lived access token."""
    user = await find_user_by_email(call.db, body.email)
    ok = await verify_password(user.password_hash if user else None, body.password)
    if user is None or not ok or not user.is_active:
        log.info("login refused", user=user.id if user else None)
        raise NotAuthenticated("email or password is wrong", code="invalid_credentials")
    token, expires_at = issue_access_token(
        user,
        secret=call.services.secret,
        now=call.now,
        ttl_seconds=call.services.settings.access_token_ttl_seconds,
    )
    log.info("login", user=user.id, role=user.role.value)
    principal = await principal_for_user(call.db, user)
    return TokenOut(access_token=token, expires_at=expires_at, user=MeOut.of(principal, user))


@router.get("/api/v1/me", tags=TAGS)
async def me(call: Call) -> MeOut:
    """Who the credentials you sent belong to."""
    p = call.principal
    user = await call.db.get(User, p.id) if p.kind == "user" else None
    return MeOut.of(p, user)


class PreferencesIn(Input):
    notify_reminders: bool = Field(
        description="Email me a reminder 24 h and 1 h before each of my sessions."
    )


class PreferencesOut(BaseModel):
    notify_reminders: bool


@router.patch("/api/v1/me/preferences", tags=TAGS, errors=[409])
async def update_my_preferences(call: Call, body: PreferencesIn) -> PreferencesOut:
    """Turn your own session reminders on or off (tutors and students).

    Emails about changes to your sessions (cancelled, moved, another tutor)
    always go. Guardians choose per child, with `notify_reminders` on
    `PUT /api/v1/guardians/{id}/students/{student_id}`; coordinators get no reminders.
    """
    p = call.principal
    profile: Tutor | Student | None = None
    if p.role is Role.TUTOR and p.tutor_id is not None:
        profile = await call.db.get(Tutor, p.tutor_id)
    elif p.role is Role.STUDENT and p.student_id is not None:
        profile = await call.db.get(Student, p.student_id)
    if profile is None:
        where = (
            "choose per child with notify_reminders on "
            "PUT /api/v1/guardians/{id}/students/{student_id}"
            if p.role is Role.GUARDIAN
            else "only tutors and students get session reminders"
        )
        raise Conflict(f"you have no reminder preference here; {where}", code="no_preferences")
    profile.notify_reminders = body.notify_reminders
    await call.db.flush()
    log.info("preferences changed", user=p.id, notify_reminders=body.notify_reminders)
    return PreferencesOut(notify_reminders=profile.notify_reminders)
