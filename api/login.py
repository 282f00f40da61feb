"""Logging in: an email and password exchanged for a short-lived access token.

A use case of ``api`` itself, beside ``api.auth`` that hashes passwords and
signs tokens. Every refusal reads the same (wrong email, wrong password,
inactive account) and costs the same time, so a caller cannot tell which it was.

Guessing is throttled per account and per address: each failed login is an
audit entry (``login_failed``, with the account's user id when the email names
one, and the caller's address), and ``throttle`` counts them over a sliding
window. Past a limit the login is refused with 429 and ``Retry-After`` before
the password is checked, right or wrong, and that too is an entry
(``login_throttled``). The entries live in the database, so every node of a
deployment counts the same failures.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from math import ceil

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from api.auth import Principal, issue_access_token, principal_for_user, verify_password
from core.errors import NotAuthenticated, TooManyRequests
from core.logging import get_logger
from scheduling.audit import Actor, AuditAction, AuditEntry, record
from scheduling.models import User
from scheduling.people import find_user_by_email

__all__ = ["Login", "LoginPolicy", "log_in", "throttle"]
log = get_logger("liveclass.auth")
ROUTE = "POST /api/v1/auth/login"


@dataclass(frozen=True)
class Login:
    """An access token, when it expires, and whom it is for."""

    access_token: str
    expires_at: datetime
    user: User
    principal: Principal


@dataclass(frozen=True)
class LoginPolicy:
    """How many failures an account and an address may have within ``window``."""

    per_account: int = 10
    per_address: int = 30
    window: timedelta = timedelta(minutes=15)


def throttle(
    account_failures: Sequence[datetime],
    address_failures: Sequence[datetime],
    policy: LoginPolicy,
    now: datetime,
) -> float | None:
    """Seconds until a login may be tried again, or None if it may be tried now.

    Each list holds the failures within the window. At ``limit`` failures the next
    try waits until the oldest of the last ``limit`` leaves the window.
    """
    waits = []
    for failures, limit in (
        (account_failures, policy.per_account),
        (address_failures, policy.per_address),
    ):
        recent = sorted(f for f in failures if f > now - policy.window)
        if len(recent) >= limit:
            waits.append((recent[-limit] + policy.window - now).total_seconds())
    return max(waits) if waits else None


async def _failures(db: AsyncSession, since: datetime, **where: str) -> list[datetime]:
    ((column, value),) = where.items()
    rows = await db.scalars(
        select(AuditEntry.at).where(
            AuditEntry.action == AuditAction.LOGIN_FAILED.value,
            getattr(AuditEntry, column) == value,
            AuditEntry.at > since,
        )
    )
    return list(rows)


async def log_in(
    db: AsyncSession,
    *,
    email: str,
    password: str,
    secret: str,
    now: datetime,
    ttl_seconds: int,
    address: str | None,
    policy: LoginPolicy,
    audit: async_sessionmaker[AsyncSession],
) -> Login:
    """Check the credentials of an active user and issue them a token for ``ttl_seconds``.

    ``audit`` opens the transactions that record failures: the login's own is rolled
    back when it is refused.

    Raises:
        TooManyRequests: (``login_throttled``) too many failures for the account or
            the address within the window.
        NotAuthenticated: (``invalid_credentials``) for any other refusal.
    """
    user = await find_user_by_email(db, email)
    since = now - policy.window
    account = await _failures(db, since, resource_id=user.id) if user else []
    by_address = await _failures(db, since, address=address) if address else []
    wait = throttle(account, by_address, policy, now)
    if wait is not None:
        await _record(audit, AuditAction.LOGIN_THROTTLED, user, address, now)
        log.warning("login throttled", user=user.id if user else None, address=address)
        raise TooManyRequests(
            f"too many failed logins; try again in {ceil(wait)} seconds",
            retry_after=ceil(wait),
            code="login_throttled",
        )
    ok = await verify_password(user.password_hash if user else None, password)
    if user is None or not ok or not user.is_active:
        await _record(audit, AuditAction.LOGIN_FAILED, user, address, now)
        log.info("login refused", user=user.id if user else None)
        raise NotAuthenticated("email or password is wrong", code="invalid_credentials")
    token, expires_at = issue_access_token(user, secret=secret, now=now, ttl_seconds=ttl_seconds)
    log.info("login", user=user.id, role=user.role.value)
    principal = await principal_for_user(db, user)
    return Login(access_token=token, expires_at=expires_at, user=user, principal=principal)


async def _record(
    audit: async_sessionmaker[AsyncSession],
    action: AuditAction,
    user: User | None,
    address: str | None,
    now: datetime,
) -> None:
    async with audit() as db, db.begin():
        record(
            db,
            Actor("anonymous", None, user.org_id if user else None),
            action,
            "user",
            at=now,
            route=ROUTE,
            resource_id=user.id if user else None,
            address=address,
        )
