"""Logging in, who you are, and your own email preferences."""

from __future__ import annotations

from datetime import datetime, timedelta

from pydantic import BaseModel, Field

from api.audit_trail import address_of
from api.auth import Principal
from api.login import LoginPolicy, log_in
from api.routing import Call, Router
from api.schemas import Input
from core.errors import Conflict
from core.logging import get_logger
from scheduling.models import Role, User
from scheduling.people import find_user, set_own_reminders

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


@router.post("/api/v1/auth/login", tags=TAGS, auth=False, errors=[401, 429])
async def login(call: Call, body: LoginIn) -> TokenOut:
    """Exchange an email and password for a short-lived access token.

    Failed logins are throttled per account and per address
    (`LIVECLASS_LOGIN_FAILURES_PER_ACCOUNT`, `..._PER_ADDRESS`, within
    `LIVECLASS_LOGIN_THROTTLE_MINUTES`): past either, 429 with `Retry-After`, right
    password or not. Each failure and each throttled try is in the audit log."""
    settings = call.services.settings
    granted = await log_in(
        call.db,
        email=body.email,
        password=body.password,
        secret=call.services.secret,
        now=call.now,
        ttl_seconds=settings.access_token_ttl_seconds,
        address=address_of(call.request),
        policy=LoginPolicy(
            per_account=settings.login_failures_per_account,
            per_address=settings.login_failures_per_address,
            window=timedelta(minutes=settings.login_throttle_minutes),
        ),
        audit=call.services.sessionmaker,
    )
    return TokenOut(
        access_token=granted.access_token,
        expires_at=granted.expires_at,
        user=MeOut.of(granted.principal, granted.user),
    )


@router.get("/api/v1/me", tags=TAGS)
async def me(call: Call) -> MeOut:
    """Who the credentials you sent belong to."""
    p = call.principal
    user = await find_user(call.db, p.id) if p.kind == "user" else None
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
    profile = await set_own_reminders(
        call.db,
        role=p.role,
        tutor_id=p.tutor_id,
        student_id=p.student_id,
        notify_reminders=body.notify_reminders,
    )
    if profile is None:
        where = (
            "choose per child with notify_reminders on "
            "PUT /api/v1/guardians/{id}/students/{student_id}"
            if p.role is Role.GUARDIAN
            else "only tutors and students get session reminders"
        )
        raise Conflict(f"you have no reminder preference here; {where}", code="no_preferences")
    log.info("preferences changed", user=p.id, notify_reminders=body.notify_reminders)
    return PreferencesOut(notify_reminders=profile.notify_reminders)
