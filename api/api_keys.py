"""Integrations' API keys: listing, issuing and revoking them within one organisation.

The table is ``api.models.ApiKey`` and keys are made and checked by ``api.auth``,
so these use cases live beside them in ``api`` rather than in a domain package.
A key is returned in clear only once, by ``issue_api_key``; only its SHA-256 is kept.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from api.auth import generate_api_key
from api.models import ApiKey
from core.ids import new_id
from core.pagination import PageWindow, fetch_page

__all__ = [
    "DEFAULT_SCOPES",
    "IssuedKey",
    "Scope",
    "find_api_keys",
    "issue_api_key",
    "revoke_api_key",
]


class Scope(StrEnum):
    """What a key may do. A route needs ``read`` (GET) or ``write`` (anything else); a
    route over a student's personal data needs ``personal_data`` as well; managing keys,
    the audit log, exports and erasure need ``admin``."""

    READ = "read"
    WRITE = "write"
    PERSONAL_DATA = "personal_data"
    ADMIN = "admin"


# Least privilege: a key reads and books, but sees no child's data unless asked for.
DEFAULT_SCOPES = (Scope.READ, Scope.WRITE)


@dataclass(frozen=True)
class IssuedKey:
    """A new key's row, and the key itself, which is never stored."""

    row: ApiKey
    key: str


async def find_api_keys(
    db: AsyncSession, *, org_id: str, page: PageWindow
) -> tuple[list[ApiKey], int]:
    """One page of the organisation's keys, oldest first (revoked ones included)."""
    return await fetch_page(
        db,
        select(ApiKey),
        where=[ApiKey.org_id == org_id],
        order_by=[ApiKey.created_at, ApiKey.id],
        page=page,
    )


async def issue_api_key(
    db: AsyncSession,
    *,
    org_id: str,
    name: str,
    created_by: str | None,
    now: datetime,
    scopes: tuple[Scope, ...] = DEFAULT_SCOPES,
    lifetime: timedelta,
) -> IssuedKey:
    """Make a key that acts as a coordinator of ``org_id`` within ``scopes``, until
    ``lifetime`` from ``now``; ``created_by`` is a user id."""
    key, prefix, digest = generate_api_key()
    row = ApiKey(
        id=new_id("key"),
        org_id=org_id,
        name=name,
        prefix=prefix,
        key_hash=digest,
        created_by=created_by,
        created_at=now,
        scopes=sorted({s.value for s in scopes}),
        expires_at=now + lifetime,
    )
    db.add(row)
    await db.flush()
    return IssuedKey(row=row, key=key)


async def revoke_api_key(
    db: AsyncSession, *, org_id: str, key_id: str, now: datetime
) -> ApiKey | None:
    """Revoke the organisation's key ``key_id`` (a revoked key stays revoked as it was).

    Returns ``None`` when the organisation has no such key.
    """
    row = await db.scalar(select(ApiKey).where(ApiKey.id == key_id, ApiKey.org_id == org_id))
    if row is not None and row.revoked_at is None:
        row.revoked_at = now
    return row
