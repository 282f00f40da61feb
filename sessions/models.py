"""What a session's room and handlers store: presence, attendance, exceptions,
transcripts and documents.

The session row itself (``LiveSession``, its status and students) stays in
``scheduling.models``: scheduling books, moves and conflict-checks it, and
scheduling sits below this package. What happens once the room opens is this
package's.

The outbox and the handler ledger they are delivered through live in
``eventbus.models``.
"""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from core.database import Base, SealedText, enum_column


class PresenceType(StrEnum):
    """What a presence record says happened (the names of the events they become)."""

    JOINED = "participant.joined"
    LEFT = "participant.left"


class ChatLine(Base):
    """One chat message sent in a session's room, kept with the session's record.

    Written as it is sent (through signaling's ordered writer, beside the presence
    records), so the tutor's review shows what was typed during the lesson. ``name``
    and ``role`` are as the join token gave them at the time.
    """

    __tablename__ = "chat_lines"
    __table_args__ = (Index("ix_chat_lines_session_at", "session_id", "at", "id"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    session_id: Mapped[str] = mapped_column(ForeignKey("live_sessions.id", ondelete="CASCADE"))
    participant_id: Mapped[str] = mapped_column(String(32))
    name: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(32))
    text: Mapped[str] = mapped_column(String(500))
    at: Mapped[datetime]


class Presence(Base):
    """A participant joined or left a session's room.

    Written as it happens, so a crash after a join still leaves the join; the
    lifecycle turns these into events and attendance. ``at`` is when the room
    changed; ``id`` grows with each write and breaks ties in ``at``, so read
    them ordered by ``(at, id)``. A rejoin from a new connection reads as a
    left (reason ``replaced``) and then a joined. ``participant_id`` is whoever
    the join token named, kept as written even if that user is later removed.
    """

    __tablename__ = "presence_records"
    __table_args__ = (Index("ix_presence_records_session_at", "session_id", "at", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    # No cascade: a session someone has joined keeps its history (deleting it is refused).
    session_id: Mapped[str] = mapped_column(ForeignKey("live_sessions.id"))
    participant_id: Mapped[str] = mapped_column(String(32))
    role: Mapped[str] = mapped_column(String(32))
    type: Mapped[PresenceType] = mapped_column(enum_column(PresenceType, "presence_type"))
    at: Mapped[datetime]
    reason: Mapped[str | None] = mapped_column(String(32))


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
    # Patterns over several sessions (``sessions.risk``), raised on the newest.
    ATTENDANCE_FALLING = "attendance_falling"
    LATENESS_RISING = "lateness_rising"
    TALK_SHARE_FALLING = "talk_share_falling"
    REPEATED_DIFFICULTY = "repeated_difficulty"
    HOMEWORK_NOT_FOLLOWED_UP = "homework_not_followed_up"
    REVIEWS_OVERDUE = "reviews_overdue"
    LATE_STARTS = "late_starts"


class SessionExceptionStatus(StrEnum):
    OPEN = "open"
    ACKNOWLEDGED = "acknowledged"
    RESOLVED = "resolved"


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
        enum_column(SessionExceptionKind, "session_exception_kind")
    )
    subject: Mapped[str] = mapped_column(String(32))
    status: Mapped[SessionExceptionStatus] = mapped_column(
        enum_column(SessionExceptionStatus, "session_exception_status"),
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
    text: Mapped[str] = mapped_column(SealedText)  # AES-GCM when keys are set


class LiveSegmentRecord(Base):
    """One stretch of speech transcribed while the lesson ran (``ai_docs.live``).

    Written as each utterance is transcribed, per recorded file (``stream_id``,
    which ``recording.ready`` names for a file heard in full); times are seconds
    from the start of that file. The transcription handler builds the session's
    transcript from these instead of transcribing the file again. Only a
    participant whose audio may be transcribed (``sessions.consent.
    transcribable``) ever has rows here.
    """

    __tablename__ = "live_segments"

    stream_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    seq: Mapped[int] = mapped_column(Integer, primary_key=True)
    session_id: Mapped[str] = mapped_column(
        ForeignKey("live_sessions.id", ondelete="CASCADE"), index=True
    )
    participant_id: Mapped[str] = mapped_column(String(32))
    start: Mapped[float] = mapped_column(Float)
    end: Mapped[float] = mapped_column(Float)
    text: Mapped[str] = mapped_column(SealedText)  # AES-GCM when keys are set
    at: Mapped[datetime]


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
        enum_column(DocumentStatus, "document_status"), default=DocumentStatus.DRAFT
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


class SessionFacts(Base):
    """What one held session measured, as a row any SQL user can query (``sessions.facts``).

    Rebuilt from stored state (attendance from presence, the transcript, the
    session's document) whenever one of them changes, so it always says what the
    record says now. ``day``, ``week`` (its Monday) and ``month`` (its first) are
    the scheduled start's date in UTC, kept as columns so trends group by plain
    columns, the same on SQLite and PostgreSQL. The document-drawn counts are
    null while the session has no document.
    """

    __tablename__ = "session_facts"
    __table_args__ = (
        Index("ix_session_facts_org_day", "org_id", "day"),
        Index("ix_session_facts_tutor_day", "tutor_id", "day"),
    )

    session_id: Mapped[str] = mapped_column(
        ForeignKey("live_sessions.id", ondelete="CASCADE"), primary_key=True
    )
    org_id: Mapped[str] = mapped_column(ForeignKey("organizations.id"))
    tutor_id: Mapped[str] = mapped_column(String(32))
    subject: Mapped[str] = mapped_column(String(100))
    status: Mapped[str] = mapped_column(String(32))
    scheduled_start: Mapped[datetime]
    day: Mapped[date]
    week: Mapped[date]
    month: Mapped[date]
    scheduled_minutes: Mapped[int] = mapped_column(Integer)
    tutor_present: Mapped[bool] = mapped_column(Boolean)
    tutor_late_minutes: Mapped[int | None] = mapped_column(Integer)
    tutor_seconds_present: Mapped[int] = mapped_column(Integer)
    transcribed: Mapped[bool] = mapped_column(Boolean)
    tutor_talk_share: Mapped[float | None] = mapped_column(Float)
    document_status: Mapped[str | None] = mapped_column(String(32))
    drafted_at: Mapped[datetime | None]
    approved_at: Mapped[datetime | None]
    topics: Mapped[int | None] = mapped_column(Integer)
    checks: Mapped[int | None] = mapped_column(Integer)
    checks_understood: Mapped[int | None] = mapped_column(Integer)
    checks_partly: Mapped[int | None] = mapped_column(Integer)
    checks_not_yet: Mapped[int | None] = mapped_column(Integer)
    difficulties: Mapped[int | None] = mapped_column(Integer)
    homework_set: Mapped[bool | None] = mapped_column(Boolean)
    homework_mentioned: Mapped[bool | None] = mapped_column(Boolean)
    computed_at: Mapped[datetime]


class ParticipantFacts(Base):
    """One participant of one held session: presence, lateness, talk and questions.

    The tutor, every booked student (absent ones too) and anyone else who joined.
    Talk figures are null for anyone whose audio was not transcribed (a student
    without AI-processing consent): unknown, not zero. ``homework_due`` says the
    student's previous session with this tutor and subject set homework;
    ``homework_followed_up`` whether this session took it up (null when nothing was
    due or there is no document to tell). Session columns are repeated so trends
    per student need no join.
    """

    __tablename__ = "participant_facts"
    __table_args__ = (
        Index("ix_participant_facts_student_day", "student_id", "day"),
        Index("ix_participant_facts_org_day", "org_id", "day"),
    )

    session_id: Mapped[str] = mapped_column(
        ForeignKey("live_sessions.id", ondelete="CASCADE"), primary_key=True
    )
    participant_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    org_id: Mapped[str] = mapped_column(ForeignKey("organizations.id"))
    role: Mapped[str] = mapped_column(String(32))
    student_id: Mapped[str | None] = mapped_column(String(32))
    tutor_id: Mapped[str] = mapped_column(String(32))
    subject: Mapped[str] = mapped_column(String(100))
    day: Mapped[date]
    week: Mapped[date]
    month: Mapped[date]
    present: Mapped[bool] = mapped_column(Boolean)
    late_minutes: Mapped[int | None] = mapped_column(Integer)
    seconds_present: Mapped[int] = mapped_column(Integer)
    talk_seconds: Mapped[float | None] = mapped_column(Float)
    talk_share: Mapped[float | None] = mapped_column(Float)
    questions: Mapped[int | None] = mapped_column(Integer)
    homework_due: Mapped[bool | None] = mapped_column(Boolean)
    homework_followed_up: Mapped[bool | None] = mapped_column(Boolean)


class FactItemKind(StrEnum):
    TOPIC = "topic"
    CHECK = "check"
    DIFFICULTY = "difficulty"
    HOMEWORK = "homework"


class FactItem(Base):
    """One topic, comprehension check (with its outcome), difficulty or homework of a
    session's document, as a row: what was covered, queryable across sessions."""

    __tablename__ = "fact_items"

    session_id: Mapped[str] = mapped_column(
        ForeignKey("live_sessions.id", ondelete="CASCADE"), primary_key=True
    )
    kind: Mapped[FactItemKind] = mapped_column(
        enum_column(FactItemKind, "fact_item_kind"), primary_key=True
    )
    position: Mapped[int] = mapped_column(Integer, primary_key=True)
    text: Mapped[str] = mapped_column(String(400))
    outcome: Mapped[str | None] = mapped_column(String(32))


class ProgressReportRecord(Base):
    """A student's progress report for one period (``ai_docs.ProgressReportContent`` as
    JSON) and its review (``sessions.progress_reports``).

    One per student and period start. Drafted from the period's approved documents
    and figures, edited while a draft by a tutor who taught the student in the
    period or a coordinator, then approved: ``progress_report.approved`` sends it to
    the guardians, a PDF attached, and it is frozen.
    """

    __tablename__ = "progress_reports"
    __table_args__ = (
        UniqueConstraint("student_id", "period_start"),
        Index("ix_progress_reports_org_status", "org_id", "status", "drafted_at"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    org_id: Mapped[str] = mapped_column(ForeignKey("organizations.id"))
    student_id: Mapped[str] = mapped_column(ForeignKey("students.id", ondelete="CASCADE"))
    period: Mapped[str] = mapped_column(String(16))
    period_start: Mapped[date]
    period_end: Mapped[date]
    status: Mapped[DocumentStatus] = mapped_column(
        enum_column(DocumentStatus, "progress_report_status"), default=DocumentStatus.DRAFT
    )
    content: Mapped[dict[str, Any]] = mapped_column(JSON)
    session_ids: Mapped[list[str]] = mapped_column(JSON, default=list)
    drafted_at: Mapped[datetime]
    edited_at: Mapped[datetime | None]
    edited_by: Mapped[str | None] = mapped_column(String(32))
    approved_at: Mapped[datetime | None]
    approved_by: Mapped[str | None] = mapped_column(String(32))
