"""The outbox and what handlers store: attendance, exceptions, transcripts and documents.

Domain events are written in the same transaction as what caused them.

A state change and its event commit together or not at all, so a crash can
neither lose an event nor announce a change that did not happen. Dispatchers
(the embedded bus, Redis Streams) read undelivered rows in ``seq`` order and
mark them; handlers de-duplicate on ``id``.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Enum,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from core.database import Base


class OutboxEvent(Base):
    __tablename__ = "outbox_events"
    __table_args__ = (
        Index("ix_outbox_events_session_seq", "session_id", "seq"),
        Index("ix_outbox_events_undispatched", "dispatched_at", "seq"),
    )

    # Commit order within this database; ties in ``occurred_at`` are common.
    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    id: Mapped[str] = mapped_column(String(32), unique=True)
    type: Mapped[str] = mapped_column(String(64))
    schema_version: Mapped[int] = mapped_column(Integer, default=1)
    # No cascade: a session with a history keeps it.
    session_id: Mapped[str] = mapped_column(ForeignKey("live_sessions.id"))
    occurred_at: Mapped[datetime]
    payload: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    dispatched_at: Mapped[datetime | None]


class HandledEvent(Base):
    """The ledger: this handler has taken this event's effect, exactly once.

    Written in the same transaction as the handler's own writes, so an effect
    and its ledger row commit together: a retry after a crash finds the row
    and skips, or finds neither and does the work again from scratch.
    """

    __tablename__ = "handled_events"

    handler: Mapped[str] = mapped_column(String(64), primary_key=True)
    event_id: Mapped[str] = mapped_column(ForeignKey("outbox_events.id"), primary_key=True)
    handled_at: Mapped[datetime]


class HandlerFailure(Base):
    """A handler that failed on an event: when to try again, or that it gave up (dead)."""

    __tablename__ = "handler_failures"

    handler: Mapped[str] = mapped_column(String(64), primary_key=True)
    event_id: Mapped[str] = mapped_column(ForeignKey("outbox_events.id"), primary_key=True)
    attempts: Mapped[int] = mapped_column(Integer)
    last_error: Mapped[str] = mapped_column(String(2000))
    next_attempt_at: Mapped[datetime]
    dead: Mapped[bool] = mapped_column(Boolean, default=False)


class Attendance(Base):
    """Who was in a session's room and when, stored by the attendance handler on its end.

    One row per participant: the session's tutor, each of its students (absent
    ones too, with no intervals) and anyone else who joined. ``intervals`` is a
    list of ``[joined, left]`` ISO-8601 pairs; a rejoin is a new pair, and one
    still open at the end closes at the session's end.
    """

    __tablename__ = "attendance"

    session_id: Mapped[str] = mapped_column(
        ForeignKey("live_sessions.id", ondelete="CASCADE"), primary_key=True
    )
    participant_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    role: Mapped[str] = mapped_column(String(32))
    student_id: Mapped[str | None] = mapped_column(String(32))
    intervals: Mapped[list[list[str]]] = mapped_column(JSON, default=list)
    first_joined_at: Mapped[datetime | None]
    late_minutes: Mapped[int | None]
    seconds_present: Mapped[int] = mapped_column(Integer, default=0)
    absent: Mapped[bool] = mapped_column(Boolean, default=False)
    computed_at: Mapped[datetime]


class SessionExceptionKind(StrEnum):
    TUTOR_NO_SHOW = "tutor_no_show"
    STUDENT_ABSENT = "student_absent"
    NO_RECORDING = "no_recording"
    DRAFTING_FAILED = "drafting_failed"


class SessionExceptionStatus(StrEnum):
    OPEN = "open"
    ACKNOWLEDGED = "acknowledged"
    RESOLVED = "resolved"


def _enum(enum: type[StrEnum], name: str) -> Enum:
    return Enum(
        enum,
        name=name,
        native_enum=False,
        create_constraint=True,
        length=32,
        values_callable=lambda e: [m.value for m in e],
    )


class SessionException(Base):
    """Something about a session that a coordinator should look at.

    ``subject`` says whom it is about (the tutor's or student's id, or the
    session's own id), so the same exception is never raised twice.
    """

    __tablename__ = "session_exceptions"
    __table_args__ = (
        UniqueConstraint("session_id", "kind", "subject"),
        Index("ix_session_exceptions_org_status", "org_id", "status", "raised_at"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    org_id: Mapped[str] = mapped_column(ForeignKey("organizations.id"))
    session_id: Mapped[str] = mapped_column(ForeignKey("live_sessions.id", ondelete="CASCADE"))
    kind: Mapped[SessionExceptionKind] = mapped_column(
        _enum(SessionExceptionKind, "session_exception_kind")
    )
    subject: Mapped[str] = mapped_column(String(32))
    status: Mapped[SessionExceptionStatus] = mapped_column(
        _enum(SessionExceptionStatus, "session_exception_status"),
        default=SessionExceptionStatus.OPEN,
    )
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    raised_at: Mapped[datetime]
    acknowledged_at: Mapped[datetime | None]
    acknowledged_by: Mapped[str | None] = mapped_column(String(32))
    resolved_at: Mapped[datetime | None]
    resolved_by: Mapped[str | None] = mapped_column(String(32))
    note: Mapped[str | None] = mapped_column(String(1000))


class TranscriptSegment(Base):
    """One stretch of one participant's speech, on the session clock (seconds from the
    recording's start), as the transcription handler stored it.

    Stored as rows, not a blob, so a document's citations (``index``) and the
    captions come from the same data. A re-transcription replaces all of a
    session's rows in one transaction.
    """

    __tablename__ = "transcript_segments"

    session_id: Mapped[str] = mapped_column(
        ForeignKey("live_sessions.id", ondelete="CASCADE"), primary_key=True
    )
    index: Mapped[int] = mapped_column(Integer, primary_key=True)
    start: Mapped[float] = mapped_column(Float)
    end: Mapped[float] = mapped_column(Float)
    participant_id: Mapped[str] = mapped_column(String(32))
    speaker: Mapped[str] = mapped_column(String(200))
    role: Mapped[str | None] = mapped_column(String(32))
    text: Mapped[str] = mapped_column(Text)


class DocumentStatus(StrEnum):
    DRAFT = "draft"
    APPROVED = "approved"


class SessionDocumentRecord(Base):
    """A session's document (``ai_docs.SessionDocument`` as JSON) and its review.

    One per session. ``content`` is the drafter's output, edited in place by the
    tutor while it is a draft; once approved it is frozen and its parent summary
    goes to the guardians (``summary.approved``).
    """

    __tablename__ = "session_documents"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    session_id: Mapped[str] = mapped_column(
        ForeignKey("live_sessions.id", ondelete="CASCADE"), unique=True
    )
    status: Mapped[DocumentStatus] = mapped_column(
        _enum(DocumentStatus, "document_status"), default=DocumentStatus.DRAFT
    )
    content: Mapped[dict[str, Any]] = mapped_column(JSON)
    drafted_by: Mapped[str] = mapped_column(String(200))
    fallback_reason: Mapped[str | None] = mapped_column(String(2000))
    drafted_at: Mapped[datetime]
    edited_at: Mapped[datetime | None]
    edited_by: Mapped[str | None] = mapped_column(String(32))
    approved_at: Mapped[datetime | None]
    approved_by: Mapped[str | None] = mapped_column(String(32))


class BriefingRecord(Base):
    """A briefing for a tutor's next session with one student (``ai_docs.Briefing`` as JSON).

    Attached to that next session; ``source_session_id`` is the session whose
    documenting wrote it (the newest of the documents it was drawn from).
    """

    __tablename__ = "briefings"

    session_id: Mapped[str] = mapped_column(
        ForeignKey("live_sessions.id", ondelete="CASCADE"), primary_key=True
    )
    student_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    source_session_id: Mapped[str] = mapped_column(String(32))
    content: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime]
