"""Tables for organisations, people and the sessions they meet in.

A person is one ``User`` (login, role, organisation) with one profile row for
their role: ``Tutor``, ``Student`` or ``Guardian``. A ``Guardianship`` links a
guardian to a student and carries that family's consents and notification
preferences, because they differ per child. A ``LiveSession`` has one tutor
and one or more students (``SessionStudent``). ``Presence`` rows record each
participant joining and leaving a session's room, as the signaling server saw it.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    Enum,
    ForeignKey,
    Index,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from core.database import Base


class Role(StrEnum):
    COORDINATOR = "coordinator"
    TUTOR = "tutor"
    STUDENT = "student"
    GUARDIAN = "guardian"


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


class PresenceType(StrEnum):
    """What a presence record says happened (the names of the events they become)."""

    JOINED = "participant.joined"
    LEFT = "participant.left"


def _enum(enum: type[StrEnum], name: str) -> Enum:
    # VARCHAR + CHECK rather than a native type: identical on SQLite and
    # PostgreSQL, and adding a value later is a plain migration.
    return Enum(
        enum,
        name=name,
        native_enum=False,
        create_constraint=True,
        length=32,
        values_callable=lambda e: [m.value for m in e],
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
    role: Mapped[Role] = mapped_column(_enum(Role, "role"))
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
    created_at: Mapped[datetime]

    user: Mapped[User] = relationship(lazy="joined", innerjoin=True)


class Student(Base):
    __tablename__ = "students"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), unique=True)
    org_id: Mapped[str] = mapped_column(ForeignKey("organizations.id"), index=True)
    level: Mapped[str | None] = mapped_column(String(64))
    time_zone: Mapped[str] = mapped_column(String(64))
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
    """A guardian's link to one student, with that family's consents and wishes."""

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
        _enum(SessionStatus, "session_status"), default=SessionStatus.SCHEDULED
    )
    room: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]

    students: Mapped[list[SessionStudent]] = relationship(
        lazy="selectin", cascade="all, delete-orphan", order_by="SessionStudent.student_id"
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
    type: Mapped[PresenceType] = mapped_column(_enum(PresenceType, "presence_type"))
    at: Mapped[datetime]
    reason: Mapped[str | None] = mapped_column(String(32))
