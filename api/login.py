"""Logging in: an email and password exchanged for a short-lived access token.

A use case of ``api`` itself, beside ``api.auth`` that hashes passwords and
signs tokens. Every refusal reads the same (wrong email, wrong password,
inactive account) and costs the same time, so a caller cannot tell which it was.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from api.auth import Principal, issue_access_token, principal_for_user, verify_password
from core.errors import NotAuthenticated
from core.logging import get_logger
from scheduling.models import User
from scheduling.people import find_user_by_email

__all__ = ["Login", "log_in"]
log = get_logger("liveclass.auth")


@dataclass(frozen=True)
class Login:
    """An access token, when it expires, and whom it is for."""

    access_token: str
    expires_at: datetime
    user: User
    principal: Principal


async def log_in(
    db: AsyncSession,
    *,
    email: str,
    password: str,
    secret: str,
    now: datetime,
    ttl_seconds: int,
) -> Login:
    """Check the credentials of an active user and issue them a token for ``ttl_seconds``.

    Raises:
        NotAuthenticated: (``invalid_credentials``) for any refusal.
    """
    user = await find_user_by_email(db, email)
    ok = await verify_password(user.password_hash if user else None, password)
    if user is None or not ok or not user.is_active:
        log.info("login refused", user=user.id if user else None)
        raise NotAuthenticated("email or password is wrong", code="invalid_credentials")
    token, expires_at = issue_access_token(user, secret=secret, now=now, ttl_seconds=ttl_seconds)
    log.info("login", user=user.id, role=user.role.value)
    principal = await principal_for_user(db, user)
    return Login(access_token=token, expires_at=expires_at, user=user, principal=principal)
