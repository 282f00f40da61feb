"""The audit log: who read or changed a student's personal data, and who was refused.

Every read and change of a student's personal data (profile, guardianships and
consents, attendance, recordings, transcripts, documents, notifications, progress
reports, analytics) and every refused attempt at one is an ``AuditEntry``: who
(a user or an API key, or nobody for a failed login), what (the kind of data, its
id and the student it is about), when, through which route and from which address.
An entry holds ids only, never the data itself: the log can be read by a
coordinator, exported, and kept longer than what it describes.

The log is append-only for the application: the migration puts a trigger on the
table that refuses every UPDATE, on SQLite and PostgreSQL alike. Only the
retention sweep deletes, and only entries older than ``LIVECLASS_RETENTION_AUDIT_DAYS``.
Entries are written by the API's router (``api.routing``, for each route that
declares the data it touches) and by the use cases that act without a route
(logins, erasure, exports, the retention sweep).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from sqlalchemy import Index, String, delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from core.database import Base
from core.ids import new_id

__all__ = [
    "Actor",
    "AuditAction",
    "AuditEntry",
    "AuditFilter",
    "SYSTEM",
    "audit_page",
    "expire_entries",
    "record",
]


class AuditAction(StrEnum):
    READ = "read"
    CREATE = "create"
    UPDATE = "update"
    DELETE = "delete"
    DENIED = "denied"  # the caller may not see or change it (403, or 404 for what they cannot see)
    LOGIN_FAILED = "login_failed"
    LOGIN_THROTTLED = "login_throttled"
    EXPORT = "export"
    ERASE = "erase"
    EXPIRE = "expire"  # the retention sweep deleted it


class AuditEntry(Base):
    __tablename__ = "audit_log"
    __table_args__ = (
        Index("ix_audit_log_org_at", "org_id", "at"),
        Index("ix_audit_log_student_at", "student_id", "at"),
        Index("ix_audit_log_actor_at", "actor_id", "at"),
        Index("ix_audit_log_address_at", "address", "at"),
        Index("ix_audit_log_resource_at", "resource_id", "at"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    at: Mapped[datetime]
    org_id: Mapped[str | None] = mapped_column(String(32))
    actor_kind: Mapped[str] = mapped_column(String(16))  # user, api_key, anonymous, system
    actor_id: Mapped[str | None] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(24))
    resource: Mapped[str] = mapped_column(String(32))
    resource_id: Mapped[str | None] = mapped_column(String(64))
    student_id: Mapped[str | None] = mapped_column(String(32))
    route: Mapped[str] = mapped_column(String(200))
    address: Mapped[str | None] = mapped_column(String(64))


@dataclass(frozen=True)
class Actor:
    """Who acted: ``kind`` is user, api_key, anonymous, system or calendar_feed (a feed
    address was read: ``id`` is its owner's tutor or guardian id); ``org_id`` is theirs."""

    kind: str
    id: str | None
    org_id: str | None


SYSTEM = Actor("system", None, None)


def record(
    db: AsyncSession,
    actor: Actor,
    action: AuditAction,
    resource: str,
    *,
    at: datetime,
    route: str,
    resource_id: str | None = None,
    student_ids: Iterable[str | None] = (None,),
    address: str | None = None,
    org_id: str | None = None,
) -> list[AuditEntry]:
    """Add one entry per student the data is about (one with none when it is about
    nobody in particular) to ``db``'s transaction: they land with the change, or not at all."""
    entries = [
        AuditEntry(
            id=new_id("aud"),
            at=at,
            org_id=org_id or actor.org_id,
            actor_kind=actor.kind,
            actor_id=actor.id,
            action=action.value,
            resource=resource,
            resource_id=resource_id,
            student_id=student_id,
            route=route[:200],
            address=address[:64] if address else None,
        )
        for student_id in dict.fromkeys(student_ids) or (None,)
    ]
    db.add_all(entries)
    return entries


@dataclass(frozen=True)
class AuditFilter:
    org_id: str
    student_id: str | None = None
    actor_id: str | None = None
    action: str | None = None
    since: datetime | None = None
    until: datetime | None = None


async def audit_page(
    db: AsyncSession, where: AuditFilter, *, limit: int, offset: int
) -> tuple[Sequence[AuditEntry], int]:
    """One page of an organisation's entries, newest first, and how many match in all."""
    query = select(AuditEntry).where(AuditEntry.org_id == where.org_id)
    if where.student_id is not None:
        query = query.where(AuditEntry.student_id == where.student_id)
    if where.actor_id is not None:
        query = query.where(AuditEntry.actor_id == where.actor_id)
    if where.action is not None:
        query = query.where(AuditEntry.action == where.action)
    if where.since is not None:
        query = query.where(AuditEntry.at >= where.since)
    if where.until is not None:
        query = query.where(AuditEntry.at < where.until)
    total = await db.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = await db.scalars(
        query.order_by(AuditEntry.at.desc(), AuditEntry.id.desc()).limit(limit).offset(offset)
    )
    return rows.all(), total


async def expire_entries(db: AsyncSession, *, days: int, now: datetime) -> int:
    """Delete entries older than ``days`` (0: keep them all); the only delete there is."""
    if not days:
        return 0
    result = await db.execute(delete(AuditEntry).where(AuditEntry.at < now - timedelta(days=days)))
    return int(getattr(result, "rowcount", 0) or 0)
