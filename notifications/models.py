"""The delivery log: one row per email we mean to send a guardian, tutor or student.

A row is written in the same transaction as the event handler that decided
the email should exist (``key`` is unique, so a retried handler never queues
twice), then moved by the dispatcher: pending → sending → sent, or back to
pending with a later ``next_attempt_at`` after a failure, or failed after the
last attempt. A guardian whose preferences or consents rule an email out gets
a ``skipped`` row with the reason and no body: the log shows why nothing went.

Most emails go to guardians about one of their children. Session reminders
(``session_reminder``) also go to the tutor and to each student themselves,
and a substitution (``tutor_substituted``) to the new and the replaced tutor:
``recipient_role`` says whose the row is, and ``guardian_id`` then holds that
recipient's own profile id (a ``tut_``, ``stu_`` or ``gua_`` id). A reminder
withdrawn before it went (its session cancelled, moved or started) is
``skipped`` too, keeping its body, with the reason.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import ForeignKey, Index, Integer, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from core.database import Base, enum_column


class DeliveryKind(StrEnum):
    ABSENCE_NOTICE = "absence_notice"
    SESSION_SUMMARY = "session_summary"
    # Before a session starts (24 h and 1 h by default; the offset is in the key).
    SESSION_REMINDER = "session_reminder"
    # Another tutor takes a session: to its guardians and to both tutors.
    TUTOR_SUBSTITUTED = "tutor_substituted"
    # A session is cancelled or moved: to its guardians, students and tutor.
    SESSION_CANCELLED = "session_cancelled"
    SESSION_RESCHEDULED = "session_rescheduled"
    # A student's approved progress report, its PDF attached: to their guardians.
    PROGRESS_REPORT = "progress_report"
    # A session was booked, its iCalendar invite attached: to its tutor, students, guardians.
    SESSION_BOOKED = "session_booked"


class RecipientRole(StrEnum):
    """Who an email is for: the role of the profile in ``Delivery.guardian_id``."""

    GUARDIAN = "guardian"
    TUTOR = "tutor"
    STUDENT = "student"


class DeliveryStatus(StrEnum):
    PENDING = "pending"
    SENDING = "sending"
    SENT = "sent"
    FAILED = "failed"
    SKIPPED = "skipped"


class Delivery(Base):
    """One intended email to one person, about one student and usually one session.

    For a guardian (``recipient_role`` ``guardian``), ``guardian_id`` is the
    guardian and ``student_id`` their child the email is about. For a tutor or
    a student (session reminders), ``guardian_id`` is that tutor's or student's
    own profile id; ``student_id`` is the student themselves, or for a tutor
    the session's first student (the email names them all).
    """

    __tablename__ = "notification_deliveries"
    __table_args__ = (
        # The dispatcher's scan: what is due, oldest first.
        Index("ix_notification_deliveries_status_due", "status", "next_attempt_at"),
        Index("ix_notification_deliveries_org_created", "org_id", "created_at"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    # "{kind}:{event_id}:{guardian_id}", or for reminders
    # "session_reminder:{session_id}:{start}:{offset}:{recipient}": the idempotency
    # key of the queueing.
    key: Mapped[str] = mapped_column(String(160), unique=True)
    org_id: Mapped[str] = mapped_column(ForeignKey("organizations.id"))
    # No foreign keys to people: the log outlives a guardian or student removed later.
    # The recipient's profile id: a guardian's unless ``recipient_role`` says otherwise.
    guardian_id: Mapped[str] = mapped_column(String(32), index=True)
    recipient_role: Mapped[RecipientRole] = mapped_column(
        enum_column(RecipientRole, "delivery_recipient"),
        default=RecipientRole.GUARDIAN,
        server_default=RecipientRole.GUARDIAN.value,
    )
    student_id: Mapped[str] = mapped_column(String(32))
    session_id: Mapped[str | None] = mapped_column(String(32), index=True)
    kind: Mapped[DeliveryKind] = mapped_column(enum_column(DeliveryKind, "delivery_kind"))
    to_address: Mapped[str] = mapped_column(String(320))
    subject: Mapped[str | None] = mapped_column(String(300))
    text_body: Mapped[str | None] = mapped_column(Text)
    html_body: Mapped[str | None] = mapped_column(Text)
    # The one-click stop for this kind of email (notifications.unsubscribe), for the
    # List-Unsubscribe headers; None where the email has none (tutors', changes).
    unsubscribe_url: Mapped[str | None] = mapped_column(String(1000))
    # A file sent with the email (a progress report's PDF), made when it was queued so
    # that every resend carries the same bytes.
    attachment_name: Mapped[str | None] = mapped_column(String(200))
    attachment: Mapped[bytes | None] = mapped_column(LargeBinary)
    # Derived from ``key``, so every resend of this email carries the same Message-ID.
    message_id: Mapped[str] = mapped_column(String(200))
    status: Mapped[DeliveryStatus] = mapped_column(enum_column(DeliveryStatus, "delivery_status"))
    skip_reason: Mapped[str | None] = mapped_column(String(200))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(String(2000))
    next_attempt_at: Mapped[datetime | None]
    # Which dispatcher pass holds a ``sending`` row, and since when (its lease).
    claim_token: Mapped[str | None] = mapped_column(String(32))
    claimed_at: Mapped[datetime | None]
    created_at: Mapped[datetime]
    sent_at: Mapped[datetime | None]
