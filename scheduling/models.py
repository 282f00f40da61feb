"""Tables for organisations, people and the sessions they meet in.

A person is one ``User`` (login, role, organisation) with one profile row for
their role: ``Tutor``, ``Student`` or ``Guardian``. A ``Guardianship`` links a
guardian to a student and carries that family's consents and notification
preferences, because they differ per child. A ``LiveSession`` has one tutor
and one or more students (``SessionStudent``). ``Presence`` rows record each
participant joining and leaving a session's room, as the signaling server saw it.
A tutor's ``TutorQualification``, ``AvailabilityRule``, ``AvailabilityException``
and ``TutorLimits`` rows feed the conflict check on every booking. A
``SessionSeries`` is a recurring booking whose occurrences are ordinary
``LiveSession`` rows, and a ``CalendarFeed`` is the secret behind a tutor's or
guardian's iCalendar feed.
"""

from __future__ import annotations

from datetime import date, datetime, time
from enum import StrEnum

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    ForeignKey,
    Index,
    String,
    UniqueConstraint,
    false,
    true,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from core.database import Base, enum_column
from scheduling.availability import ExceptionKind


class Role(StrEnum):
    COORDINATOR = "coordinator"
    TUTOR = "tutor"
    STUDENT = "student"
    GUARDIAN = "guardian"


class ChangeParty(StrEnum):
    """Who asked for a session to be cancelled or moved: the notice policy counts
    against them (a late cancellation by a student may be charged; one by a
    tutor needs a substitute)."""

    STUDENT = "student"
    TUTOR = "tutor"
    ORGANISATION = "organisation"


class SessionStatus(StrEnum):
    """Where a live session stands; the lifecycle issue adds checked transitions."""

    SCHEDULED = "scheduled"
    OPEN = "open"
    LIVE = "live"
    ENDED = "ended"
    DOCUMENTED = "documented"
    CANCELLED = "cancelled"
    NO_SHOW = "no_show"

    @property
    def is_closed(self) -> bool:
        """Over for good: nobody can join any more."""
        return self in (
            SessionStatus.ENDED,
            SessionStatus.DOCUMENTED,
            SessionStatus.CANCELLED,
            SessionStatus.NO_SHOW,
        )


class Organization(Base):
    __tablename__ = "organizations"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime]


class User(Base):
    __tablename__ = "users"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    org_id: Mapped[str] = mapped_column(ForeignKey("organizations.id"), index=True)
    email: Mapped[str] = mapped_column(String(320), unique=True)
    display_name: Mapped[str] = mapped_column(String(200))
    role: Mapped[Role] = mapped_column(enum_column(Role, "role"))
    password_hash: Mapped[str | None] = mapped_column(String(255))
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class Tutor(Base):
    __tablename__ = "tutors"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), unique=True)
    org_id: Mapped[str] = mapped_column(ForeignKey("organizations.id"), index=True)
    subjects: Mapped[list[str]] = mapped_column(JSON, default=list)
    levels: Mapped[list[str]] = mapped_column(JSON, default=list)
    time_zone: Mapped[str] = mapped_column(String(64))
    # Their own session reminders (24 h and 1 h before); emails about changes
    # to their sessions always go.
    notify_reminders: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())
    created_at: Mapped[datetime]

    user: Mapped[User] = relationship(lazy="joined", innerjoin=True)


class Student(Base):
    __tablename__ = "students"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), unique=True)
    org_id: Mapped[str] = mapped_column(ForeignKey("organizations.id"), index=True)
    level: Mapped[str | None] = mapped_column(String(64))
    time_zone: Mapped[str] = mapped_column(String(64))
    # Their own session reminders (24 h and 1 h before); emails about changes
    # to their sessions always go.
    notify_reminders: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())
    # From the consent age on (``sessions.consent.ConsentRule``) the student decides,
    # with these two; until then, or with no date of birth, their guardians do.
    date_of_birth: Mapped[date | None]
    recording_consent: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    ai_processing_consent: Mapped[bool] = mapped_column(
        Boolean, default=False, server_default=false()
    )
    created_at: Mapped[datetime]

    user: Mapped[User] = relationship(lazy="joined", innerjoin=True)


class Guardian(Base):
    __tablename__ = "guardians"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), unique=True)
    org_id: Mapped[str] = mapped_column(ForeignKey("organizations.id"), index=True)
    phone: Mapped[str | None] = mapped_column(String(32))
    time_zone: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime]

    user: Mapped[User] = relationship(lazy="joined", innerjoin=True)
    guardianships: Mapped[list[Guardianship]] = relationship(
        lazy="selectin", cascade="all, delete-orphan", order_by="Guardianship.created_at"
    )


class Guardianship(Base):
    """A guardian's link to one student, with that family's consents and wishes.

    Both consents are off until set, and each counts only when the student has a
    guardian on file and every one gave it (``sessions.consent``):
    ``recording_consent`` lets the student's audio be recorded;
    ``ai_processing_consent`` lets that audio be transcribed (without it, it is never
    turned into text), lets the session's transcript go to the configured model when
    every student's guardians gave it, and lets this guardian be emailed the summary.
    """

    __tablename__ = "guardianships"
    __table_args__ = (UniqueConstraint("guardian_id", "student_id"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    guardian_id: Mapped[str] = mapped_column(ForeignKey("guardians.id", ondelete="CASCADE"))
    student_id: Mapped[str] = mapped_column(
        ForeignKey("students.id", ondelete="CASCADE"), index=True
    )
    relationship_label: Mapped[str | None] = mapped_column(String(64))
    recording_consent: Mapped[bool] = mapped_column(Boolean, default=False)
    ai_processing_consent: Mapped[bool] = mapped_column(Boolean, default=False)
    notify_email: Mapped[bool] = mapped_column(Boolean, default=True)
    notify_summaries: Mapped[bool] = mapped_column(Boolean, default=True)
    notify_absences: Mapped[bool] = mapped_column(Boolean, default=True)
    notify_reminders: Mapped[bool] = mapped_column(Boolean, default=True)
    # A minor's reminder links into the lesson without a login only when every
    # guardian on file allows it (``notifications.reminders.login_required``).
    join_without_login: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class LiveSession(Base):
    __tablename__ = "live_sessions"
    __table_args__ = (
        CheckConstraint("scheduled_end > scheduled_start", name="ends_after_start"),
        Index("ix_live_sessions_tutor_start", "tutor_id", "scheduled_start"),
        Index("ix_live_sessions_org_start", "org_id", "scheduled_start"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    org_id: Mapped[str] = mapped_column(ForeignKey("organizations.id"))
    tutor_id: Mapped[str] = mapped_column(ForeignKey("tutors.id"))
    subject: Mapped[str] = mapped_column(String(100))
    scheduled_start: Mapped[datetime]
    scheduled_end: Mapped[datetime]
    status: Mapped[SessionStatus] = mapped_column(
        enum_column(SessionStatus, "session_status"), default=SessionStatus.SCHEDULED
    )
    room: Mapped[str] = mapped_column(String(64), unique=True)
    # When it ended, set from its ``session.ended`` event: "completed" in the schedule.
    ended_at: Mapped[datetime | None]
    # An occurrence of a series keeps the start its rule gave it, however it is
    # moved later: that is its identity within the series.
    series_id: Mapped[str | None] = mapped_column(
        ForeignKey("session_series.id", ondelete="SET NULL"), index=True
    )
    occurrence_start: Mapped[datetime | None]
    # Set when it is cancelled: when, at whose request, and whether that was
    # later than the notice policy asks (``LIVECLASS_LATE_CANCEL_HOURS``).
    cancelled_at: Mapped[datetime | None]
    cancelled_by: Mapped[ChangeParty | None] = mapped_column(
        enum_column(ChangeParty, "change_party", check=False)
    )
    late_cancellation: Mapped[bool | None] = mapped_column(Boolean)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]

    students: Mapped[list[SessionStudent]] = relationship(
        lazy="selectin",
        cascade="all, delete-orphan",
        order_by="SessionStudent.student_id",
        foreign_keys="SessionStudent.session_id",
    )

    @property
    def student_ids(self) -> list[str]:
        return [s.student_id for s in self.students]


class SessionStudent(Base):
    __tablename__ = "session_students"

    session_id: Mapped[str] = mapped_column(
        ForeignKey("live_sessions.id", ondelete="CASCADE"), primary_key=True
    )
    student_id: Mapped[str] = mapped_column(ForeignKey("students.id"), primary_key=True, index=True)
    # This student's next session with the same tutor, linked once this one has
    # ended, so that a briefing written from this session can be attached there.
    next_session_id: Mapped[str | None] = mapped_column(
        ForeignKey("live_sessions.id", ondelete="SET NULL")
    )


class TutorQualification(Base):
    """A tutor may teach this subject at this level (the issue-6 qualification check).

    A tutor with no rows here is not checked: bookings fall back to the free-form
    ``Tutor.subjects``/``levels`` lists, which are descriptive only.
    """

    __tablename__ = "tutor_qualifications"
    __table_args__ = (UniqueConstraint("tutor_id", "subject", "level"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    tutor_id: Mapped[str] = mapped_column(ForeignKey("tutors.id", ondelete="CASCADE"), index=True)
    subject: Mapped[str] = mapped_column(String(100))
    level: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime]


class AvailabilityRule(Base):
    """A weekly window in the tutor's own time zone (``Tutor.time_zone``).

    Minutes from local midnight, so a 09:00-17:00 rule stays 09:00-17:00 on both
    sides of a daylight-saving change; ``end_minute`` 1440 means midnight.
    ``weekday`` is Python's: 0 is Monday.
    """

    __tablename__ = "availability_rules"
    __table_args__ = (
        CheckConstraint("weekday >= 0 AND weekday <= 6", name="weekday_range"),
        CheckConstraint(
            "start_minute >= 0 AND end_minute <= 1440 AND end_minute > start_minute",
            name="minutes_range",
        ),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    tutor_id: Mapped[str] = mapped_column(ForeignKey("tutors.id", ondelete="CASCADE"), index=True)
    weekday: Mapped[int]
    start_minute: Mapped[int]
    end_minute: Mapped[int]
    created_at: Mapped[datetime]


class AvailabilityException(Base):
    """Time off or extra hours on one local date, or over an exact UTC range.

    Either ``on_date`` (a date in the tutor's zone; ``start_minute``/``end_minute``
    narrow it, both empty means the whole day) or ``starts_at``/``ends_at`` (UTC).
    """

    __tablename__ = "availability_exceptions"
    __table_args__ = (
        CheckConstraint(
            "(on_date IS NOT NULL AND starts_at IS NULL AND ends_at IS NULL) OR "
            "(on_date IS NULL AND starts_at IS NOT NULL AND ends_at > starts_at)",
            name="date_or_range",
        ),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    tutor_id: Mapped[str] = mapped_column(ForeignKey("tutors.id", ondelete="CASCADE"), index=True)
    kind: Mapped[ExceptionKind] = mapped_column(enum_column(ExceptionKind, "exception_kind"))
    on_date: Mapped[date | None]
    start_minute: Mapped[int | None]
    end_minute: Mapped[int | None]
    starts_at: Mapped[datetime | None]
    ends_at: Mapped[datetime | None]
    note: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime]


class TutorLimits(Base):
    """How much one tutor may teach; an empty column means no limit of that kind.

    Days and weeks (Monday to Sunday) are counted in the tutor's own zone.
    """

    __tablename__ = "tutor_limits"

    tutor_id: Mapped[str] = mapped_column(
        ForeignKey("tutors.id", ondelete="CASCADE"), primary_key=True
    )
    max_sessions_per_day: Mapped[int | None]
    max_sessions_per_week: Mapped[int | None]
    buffer_minutes: Mapped[int] = mapped_column(default=0)
    updated_at: Mapped[datetime]


class SessionSeries(Base):
    """A recurring booking: an RFC 5545 RRULE from a local start in a stated zone.

    The local start (``start_date`` at ``start_time`` in ``time_zone``) is what
    the rule repeats, so a 16:00 lesson stays 16:00 across a daylight-saving
    change; the occurrences it expanded to are ``LiveSession`` rows (UTC) with
    ``series_id`` set. ``student_ids`` is the roster the occurrences were booked with.
    """

    __tablename__ = "session_series"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    org_id: Mapped[str] = mapped_column(ForeignKey("organizations.id"), index=True)
    tutor_id: Mapped[str] = mapped_column(ForeignKey("tutors.id"), index=True)
    student_ids: Mapped[list[str]] = mapped_column(JSON, default=list)
    subject: Mapped[str] = mapped_column(String(100))
    time_zone: Mapped[str] = mapped_column(String(64))
    start_date: Mapped[date]
    start_time: Mapped[time]
    duration_minutes: Mapped[int]
    rrule: Mapped[str] = mapped_column(String(500))
    created_at: Mapped[datetime]


class FeedOwner(StrEnum):
    TUTOR = "tutor"
    GUARDIAN = "guardian"


class CalendarFeed(Base):
    """The secret of one person's calendar feed; only a SHA-256 of the token is kept.

    One row per owner: rotating replaces the hash, so the old URL stops working.
    """

    __tablename__ = "calendar_feeds"
    __table_args__ = (UniqueConstraint("owner_kind", "owner_id"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    org_id: Mapped[str] = mapped_column(ForeignKey("organizations.id"), index=True)
    owner_kind: Mapped[FeedOwner] = mapped_column(enum_column(FeedOwner, "feed_owner"))
    owner_id: Mapped[str] = mapped_column(String(32))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime]
    rotated_at: Mapped[datetime | None]
