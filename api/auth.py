"""Who is calling: passwords, login tokens and API keys, resolved to a ``Principal``.

Login tokens are short-lived HS256 JWTs with the API audience. API keys
(``lck_<prefix>_<secret>``) are for integrations: high-entropy, so a SHA-256
is enough to store them, and they act as a coordinator of their organisation.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import jwt
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from api.models import ApiKey
from core.errors import NotAuthenticated
from scheduling.models import Guardian, Role, Student, Tutor, User

API_AUDIENCE = "liveclass:api"
ISSUER = "liveclass"
API_KEY_HEADER = "x-api-key"
_hasher = PasswordHasher()
# Verified against when the email is unknown, so a miss costs as long as a hit.
_DUMMY_HASH = _hasher.hash("liveclass-timing-equaliser")


@dataclass(frozen=True, slots=True)
class Principal:
    """An authenticated caller: a user, or an integration's API key."""

    kind: str  # "user" or "api_key"
    id: str
    org_id: str
    role: Role
    tutor_id: str | None = None
    student_id: str | None = None
    guardian_id: str | None = None
    # An API key's scopes (``api.api_keys.Scope`` values); None: a user, limited by role.
    scopes: frozenset[str] | None = None

    @property
    def is_coordinator(self) -> bool:
        return self.role is Role.COORDINATOR


async def hash_password(password: str) -> str:
    """Argon2id hash, computed off the event loop (it is deliberately slow)."""
    return await asyncio.to_thread(_hasher.hash, password)


async def verify_password(password_hash: str | None, password: str) -> bool:
    def check() -> bool:
        try:
            return (
                _hasher.verify(password_hash or _DUMMY_HASH, password) and password_hash is not None
            )
        except (VerificationError, InvalidHashError):
            return False

    return await asyncio.to_thread(check)


def issue_access_token(
    user: User, *, secret: str, now: datetime, ttl_seconds: int
) -> tuple[str, datetime]:
    expires_at = now + timedelta(seconds=ttl_seconds)
    claims = {
        "iss": ISSUER,
        "aud": API_AUDIENCE,
        "sub": user.id,
        "org": user.org_id,
        "role": user.role.value,
        "iat": int(now.timestamp()),
        "exp": int(expires_at.timestamp()),
    }
    return jwt.encode(claims, secret, algorithm="HS256"), expires_at


def _user_id_from_token(token: str, *, secret: str, now: datetime) -> str:
    try:
        claims = jwt.decode(
            token,
            secret,
            algorithms=["HS256"],
            audience=API_AUDIENCE,
            issuer=ISSUER,
            options={
                "require": ["exp", "sub"],
                "verify_exp": False,
                "verify_iat": False,
                "verify_nbf": False,
            },
        )
    except jwt.InvalidTokenError as exc:
        raise NotAuthenticated(
            "access token is not valid; log in again with POST /api/v1/auth/login",
            code="invalid_token",
        ) from exc
    if now.timestamp() >= int(claims["exp"]):
        raise NotAuthenticated(
            "access token has expired; log in again with POST /api/v1/auth/login",
            code="token_expired",
        )
    return str(claims["sub"])


def generate_api_key() -> tuple[str, str, str]:
    """Return ``(key, prefix, sha256)``; only the last two are stored."""
    prefix = secrets.token_hex(6)
    key = f"lck_{prefix}_{secrets.token_urlsafe(32)}"
    return key, prefix, _digest(key)


def _digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


async def principal_for_user(db: AsyncSession, user: User) -> Principal:
    profile_id: dict[str, str | None] = {}
    for role, model, field in (
        (Role.TUTOR, Tutor, "tutor_id"),
        (Role.STUDENT, Student, "student_id"),
        (Role.GUARDIAN, Guardian, "guardian_id"),
    ):
        if user.role is role:
            profile_id[field] = await db.scalar(select(model.id).where(model.user_id == user.id))
    return Principal(
        kind="user",
        id=user.id,
        org_id=user.org_id,
        role=user.role,
        tutor_id=profile_id.get("tutor_id"),
        student_id=profile_id.get("student_id"),
        guardian_id=profile_id.get("guardian_id"),
    )


async def authenticate(
    db: AsyncSession, *, authorization: str | None, api_key: str | None, secret: str, now: datetime
) -> Principal:
    """Resolve the request's credentials to a principal.

    Raises:
        NotAuthenticated: no credentials, or ones that are bad, expired or revoked.
    """
    if api_key:
        return await _principal_for_api_key(db, api_key, now)
    if not authorization:
        raise NotAuthenticated(
            "this endpoint needs credentials: send 'Authorization: Bearer <token>' from "
            "POST /api/v1/auth/login, or an 'X-API-Key' header"
        )
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise NotAuthenticated(
            "the Authorization header must be 'Bearer <token>'", code="invalid_token"
        )
    token = token.strip()
    if token.startswith("lck_"):
        return await _principal_for_api_key(db, token, now)
    user_id = _user_id_from_token(token, secret=secret, now=now)
    user = await db.get(User, user_id)
    if user is None or not user.is_active:
        raise NotAuthenticated("this account no longer exists or is disabled", code="invalid_token")
    return await principal_for_user(db, user)


async def _principal_for_api_key(db: AsyncSession, key: str, now: datetime) -> Principal:
    parts = key.split("_", 2)
    bad = NotAuthenticated("API key is not valid or has been revoked", code="invalid_api_key")
    if len(parts) != 3 or parts[0] != "lck":
        raise bad
    row = await db.scalar(select(ApiKey).where(ApiKey.prefix == parts[1]))
    if (
        row is None
        or row.revoked_at is not None
        or not hmac.compare_digest(row.key_hash, _digest(key))
    ):
        raise bad
    if row.expires_at is not None and row.expires_at <= now:
        raise NotAuthenticated(
            "this API key has expired; a coordinator can create a new one",
            code="api_key_expired",
        )
    row.last_used_at = now.astimezone(UTC)
    return Principal(
        kind="api_key",
        id=row.id,
        org_id=row.org_id,
        role=Role.COORDINATOR,
        scopes=frozenset(row.scopes) if row.scopes is not None else None,
    )
