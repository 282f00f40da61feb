"""Retention: what a session leaves behind is kept only as long as its purpose lasts.

Per kind, a number of days (``LIVECLASS_RETENTION_*_DAYS``; 0 keeps it):

- recordings: after the session's document is approved (the recordings were made
  to draft it), or, never approved, three times as long after the session ended;
- transcripts (segments, live captions, chat): after the session ended;
- documents (the document, its drafted items, the briefings written from it):
  after the session ended;
- presence records: after they were written (attendance figures stay).

``due`` is the pure decision; ``sweep_retention`` applies it, deletes rows and
files, and writes an audit entry (``expire``, by the system) per session and kind
naming the session's students. Emails and the audit log have their own
(``notifications.retention``, ``scheduling.audit.expire_entries``); ``api.retention``
runs the three hourly on the lifecycle sweep's beat.
"""

from __future__ import annotations

import asyncio
import shutil
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from scheduling.audit import SYSTEM, AuditAction, record
from scheduling.models import LiveSession, SessionStudent
from sessions.models import (
    BriefingRecord,
    ChatLine,
    DocumentStatus,
    FactItem,
    LiveSegmentRecord,
    Presence,
    SessionDocumentRecord,
    TranscriptSegment,
)

__all__ = ["ROUTE", "RetentionPolicy", "SessionAge", "Swept", "due", "sweep_retention"]

ROUTE = "retention sweep"


@dataclass(frozen=True)
class RetentionPolicy:
    """Days per kind; 0 keeps that kind."""

    recordings_days: int = 30
    transcripts_days: int = 365
    documents_days: int = 730
    presence_days: int = 365


@dataclass(frozen=True)
class SessionAge:
    """What the decision needs of one ended session."""

    ended_at: datetime
    approved_at: datetime | None


def due(policy: RetentionPolicy, age: SessionAge, now: datetime) -> set[str]:
    """The kinds of this session's data whose time is up: ``recordings``,
    ``transcripts``, ``documents``."""
    kinds = set()
    if policy.recordings_days:
        keep = timedelta(days=policy.recordings_days)
        start = age.approved_at if age.approved_at is not None else age.ended_at
        if age.approved_at is None:
            keep *= 3
        if now >= start + keep:
            kinds.add("recordings")
    if policy.transcripts_days and now >= age.ended_at + timedelta(days=policy.transcripts_days):
        kinds.add("transcripts")
    if policy.documents_days and now >= age.ended_at + timedelta(days=policy.documents_days):
        kinds.add("documents")
    return kinds


@dataclass
class Swept:
    rows: Counter[str] = field(default_factory=Counter)
    files: int = 0


async def sweep_retention(
    db: AsyncSession, *, policy: RetentionPolicy, recordings_dir: Path, now: datetime
) -> Swept:
    """Delete what ``policy`` says is due, everywhere, as of ``now``."""
    out = Swept()
    oldest = min(
        (d for d in (policy.recordings_days, policy.transcripts_days, policy.documents_days) if d),
        default=0,
    )
    if oldest:
        ended = func.coalesce(LiveSession.ended_at, LiveSession.scheduled_end)
        rows = await db.execute(
            select(LiveSession.id, LiveSession.org_id, ended, SessionDocumentRecord.approved_at)
            .outerjoin(
                SessionDocumentRecord,
                (SessionDocumentRecord.session_id == LiveSession.id)
                & (SessionDocumentRecord.status == DocumentStatus.APPROVED),
            )
            .where(ended <= now - timedelta(days=oldest))
        )
        for session_id, org_id, ended_at, approved_at in rows.all():
            kinds = due(policy, SessionAge(ended_at, approved_at), now)
            for kind in sorted(kinds):
                if await _expire(db, kind, session_id, recordings_dir, out):
                    students = await db.scalars(
                        select(SessionStudent.student_id).where(
                            SessionStudent.session_id == session_id
                        )
                    )
                    record(
                        db,
                        SYSTEM,
                        AuditAction.EXPIRE,
                        kind.removesuffix("s"),
                        at=now,
                        route=ROUTE,
                        resource_id=session_id,
                        student_ids=list(students) or [None],
                        org_id=org_id,
                    )
    if policy.presence_days:
        result = await db.execute(
            delete(Presence).where(Presence.at < now - timedelta(days=policy.presence_days))
        )
        out.rows["presence_records"] += int(getattr(result, "rowcount", 0) or 0)
    return out


async def _expire(
    db: AsyncSession, kind: str, session_id: str, recordings_dir: Path, out: Swept
) -> bool:
    """Delete one kind of one session's data; whether there was anything to delete."""
    before = sum(out.rows.values()) + out.files
    if kind == "recordings":
        folder = recordings_dir / session_id
        if folder.is_dir():
            out.files += sum(1 for p in folder.rglob("*") if p.is_file())
            await asyncio.to_thread(shutil.rmtree, folder)
    elif kind == "transcripts":
        for model, table in (
            (TranscriptSegment, "transcript_segments"),
            (LiveSegmentRecord, "live_segments"),
            (ChatLine, "chat_lines"),
        ):
            result = await db.execute(delete(model).where(model.session_id == session_id))
            out.rows[table] += int(getattr(result, "rowcount", 0) or 0)
    elif kind == "documents":
        for table, statement in (
            (
                "session_documents",
                delete(SessionDocumentRecord).where(SessionDocumentRecord.session_id == session_id),
            ),
            ("fact_items", delete(FactItem).where(FactItem.session_id == session_id)),
            (
                "briefings",
                delete(BriefingRecord).where(BriefingRecord.source_session_id == session_id),
            ),
        ):
            result = await db.execute(statement)
            out.rows[table] += int(getattr(result, "rowcount", 0) or 0)
    return sum(out.rows.values()) + out.files > before
