"""The tutor's review of a session's drafted document: read, edit, approve.

The drafting handler (``sessions.documentation``) writes a draft; from there
the review is commands, not events::

    draft ──edit_draft (any number of times)──▶ draft
      └──approve_draft (the tutor or a coordinator), or approve_due (the sweep, after
         LIVECLASS_SUMMARY_AUTO_APPROVE_MINUTES)──▶ approved ──▶ summary.approved

An approved document is frozen: its parent summary has gone to the guardians
(``approved_summary`` is what they read), so a second approval or an edit is
refused with ``InvalidTransition``. Each command runs in the caller's
transaction and does not commit.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from pydantic import ValidationError
from sqlalchemy import ColumnElement, and_, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from ai_docs import SessionDocument, SourceTranscript
from core.errors import NotFound, ValidationFailed
from eventbus.models import OutboxEvent
from scheduling.models import LiveSession, SessionStudent
from sessions.documentation import transcript_of
from sessions.errors import InvalidTransition
from sessions.events import record
from sessions.models import DocumentStatus, SessionDocumentRecord

APPROVE_BATCH = 100


async def document_of(
    db: AsyncSession, session_id: str, *, lock: bool = False
) -> SessionDocumentRecord:
    """The session's document (draft or approved), locked for a change when ``lock``.

    Raises:
        NotFound: it is not drafted yet.
    """
    query = select(SessionDocumentRecord).where(SessionDocumentRecord.session_id == session_id)
    if lock:
        query = query.with_for_update()
    row = await db.scalar(query)
    if row is None:
        raise NotFound(
            f"session {session_id} has no document yet; it is drafted once the session has "
            "ended and its recording is transcribed"
        )
    return row


async def edit_draft(
    db: AsyncSession, *, session_id: str, changes: dict[str, Any], by: str, now: datetime
) -> SessionDocumentRecord:
    """A reviewer's edit of the session's draft, checked against its stored transcript.

    ``changes`` holds the content fields to replace (as JSON); the rest stay as
    drafted. The caller commits.

    Raises:
        NotFound: the session has no document yet.
        InvalidTransition: the document is already approved.
        ValidationFailed: the edited document is invalid or cites a missing segment.
    """
    row = await document_of(db, session_id, lock=True)
    transcript = await transcript_of(db, session_id)
    return edit_document(row, changes, transcript, by=by, now=now)


async def approve_draft(
    db: AsyncSession, *, session_id: str, by: str, now: datetime
) -> SessionDocumentRecord:
    """A reviewer's approval of the session's draft: ``summary.approved`` is written and
    the parent summary goes to the guardians. The caller commits.

    Raises:
        NotFound: the session has no document yet.
        InvalidTransition: it was approved before.
    """
    row = await document_of(db, session_id, lock=True)
    await approve_document(db, row, by=by, now=now)
    return row


@dataclass(frozen=True)
class ApprovedSummary:
    """What guardians read of a session: the approved parent summary and how it was approved."""

    text: str
    automatic: bool  # approved without the tutor's review
    approved_at: datetime


async def approved_summary(db: AsyncSession, session_id: str) -> ApprovedSummary | None:
    """The session's approved parent summary, or None while there is none."""
    row = await db.scalar(
        select(SessionDocumentRecord).where(
            SessionDocumentRecord.session_id == session_id,
            SessionDocumentRecord.status == DocumentStatus.APPROVED,
        )
    )
    if row is None or row.approved_at is None:
        return None
    document = SessionDocument.model_validate(row.content)
    return ApprovedSummary(
        text=document.parent_summary.text,
        automatic=row.approved_by is None,
        approved_at=row.approved_at,
    )


async def approved_summaries(
    db: AsyncSession,
    *,
    student_id: str,
    visible: ColumnElement[bool],
    limit: int,
    offset: int,
) -> tuple[list[tuple[LiveSession, ApprovedSummary]], int]:
    """A student's approved summaries, newest session first, among the sessions ``visible``
    (the caller's rule) allows; and how many there are in all."""
    attended = select(SessionStudent.session_id).where(SessionStudent.student_id == student_id)
    where = and_(
        visible,
        LiveSession.id.in_(attended),
        SessionDocumentRecord.status == DocumentStatus.APPROVED,
        SessionDocumentRecord.approved_at.is_not(None),
    )
    joined = select(LiveSession, SessionDocumentRecord).join(
        SessionDocumentRecord, SessionDocumentRecord.session_id == LiveSession.id
    )
    total = await db.scalar(select(func.count()).select_from(joined.where(where).subquery()))
    rows = await db.execute(
        joined.where(where)
        .order_by(LiveSession.scheduled_start.desc(), LiveSession.id)
        .limit(limit)
        .offset(offset)
    )
    out = []
    for live, row in rows.all():
        assert row.approved_at is not None
        document = SessionDocument.model_validate(row.content)
        summary = ApprovedSummary(
            text=document.parent_summary.text,
            automatic=row.approved_by is None,
            approved_at=row.approved_at,
        )
        out.append((live, summary))
    return out, total or 0


async def documents_by_status(
    db: AsyncSession,
    *,
    status: DocumentStatus,
    visible: ColumnElement[bool],
    limit: int,
    offset: int,
) -> tuple[list[tuple[LiveSession, SessionDocumentRecord]], int]:
    """Documents in ``status`` of the sessions ``visible`` (the caller's rule) allows,
    oldest draft first (the one waiting longest is reviewed first); and how many in all."""
    where = and_(visible, SessionDocumentRecord.status == status)
    joined = select(LiveSession, SessionDocumentRecord).join(
        SessionDocumentRecord, SessionDocumentRecord.session_id == LiveSession.id
    )
    total = await db.scalar(select(func.count()).select_from(joined.where(where).subquery()))
    rows = await db.execute(
        joined.where(where)
        .order_by(SessionDocumentRecord.drafted_at, LiveSession.id)
        .limit(limit)
        .offset(offset)
    )
    return [(live, row) for live, row in rows.all()], total or 0


def edit_document(
    row: SessionDocumentRecord,
    changes: dict[str, Any],
    transcript: SourceTranscript,
    *,
    by: str,
    now: datetime,
) -> SessionDocumentRecord:
    """Apply a reviewer's changes to a draft's content fields; the caller commits.

    Raises:
        InvalidTransition: the document is already approved.
        ValidationFailed: the changed document does not fit the schema, or cites
            a segment the transcript does not have.
    """
    if row.status is DocumentStatus.APPROVED:
        raise InvalidTransition(
            "cannot edit a document that is approved; its summary has gone to the guardians"
        )
    merged = {**row.content, **changes}
    try:
        document = SessionDocument.model_validate(merged, context={"segments": transcript.indices})
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise ValidationFailed(
            f"the edited document is invalid at {where}: {first['msg']}"
        ) from exc
    row.content = document.model_dump(mode="json")
    row.edited_at, row.edited_by = now, by
    return row


# The offline drafter ended every parent summary with this until it was seen to be
# untrue by the time guardians read it; approval takes it out of drafts written before.
REVIEW_PROMISE = "This is an automatic summary; the tutor will review it."


def _without_review_promise(text: str) -> str:
    kept = text.replace(f" {REVIEW_PROMISE}", "").replace(REVIEW_PROMISE, "").strip()
    return kept or text


async def approve_document(
    db: AsyncSession,
    row: SessionDocumentRecord,
    *,
    by: str | None,
    now: datetime,
    after: timedelta | None = None,
) -> OutboxEvent:
    """Approve a draft and write ``summary.approved`` (its parent summary goes to every
    guardian of the session's students); the caller commits.

    ``by`` is the reviewer's user id, or None for an automatic approval (the
    document then stays labelled as automatic); ``after`` is, for an automatic
    approval, the wait that ran out (``LIVECLASS_SUMMARY_AUTO_APPROVE_MINUTES``).
    The payload says which (``automatic``, ``by``, ``after_minutes``), so the
    guardian's email can say how the summary came to be sent.

    Raises:
        InvalidTransition: it was approved before.
    """
    if row.status is DocumentStatus.APPROVED:
        when = row.approved_at.isoformat() if row.approved_at else "earlier"
        raise InvalidTransition(f"cannot approve a document that is already approved (at {when})")
    row.status = DocumentStatus.APPROVED
    row.approved_at, row.approved_by = now, by
    content = dict(row.content)
    if by is not None:
        content["automatic"] = False
    summary = dict(content["parent_summary"])
    summary["text"] = _without_review_promise(summary["text"])
    content["parent_summary"] = summary
    row.content = content
    live = await db.get(LiveSession, row.session_id)
    student_ids = live.student_ids if live is not None else []
    automatic = by is None
    return record(
        db,
        "summary.approved",
        session_id=row.session_id,
        at=now,
        payload={
            "document_id": row.id,
            "student_ids": student_ids,
            "parent_summary": summary["text"],
            "by": by,
            "automatic": automatic,
            "after_minutes": (
                int(after.total_seconds() // 60) if automatic and after is not None else None
            ),
        },
    )


async def approve_due(db: AsyncSession, now: datetime, *, after: timedelta) -> list[OutboxEvent]:
    """Approve every draft drafted at least ``after`` ago (``LIVECLASS_SUMMARY_AUTO_APPROVE_
    MINUTES``); the caller commits. Reads only stored state, so a restart catches up."""
    rows = await db.scalars(
        select(SessionDocumentRecord)
        .where(
            SessionDocumentRecord.status == DocumentStatus.DRAFT,
            SessionDocumentRecord.drafted_at <= now - after,
        )
        .order_by(SessionDocumentRecord.drafted_at)
        .limit(APPROVE_BATCH)
        .with_for_update(skip_locked=True)
    )
    return [await approve_document(db, row, by=None, now=now, after=after) for row in list(rows)]
