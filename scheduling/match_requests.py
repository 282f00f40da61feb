"""Stored requests for tutoring: what a student wants, kept until booked or withdrawn.

A ``MatchRequestRecord`` keeps one request as matching reads it (a student, a
subject at a level, UTC windows and a duration) and where it stands::

    open ──book──────> booked      (session_id names the session)
      └───withdraw───> withdrawn

Both moves start from ``open`` only; any other is refused with 409
``invalid_state`` naming the state the request is in. A request is booked only
through ``scheduling.bookings.book_session``, so the session passes every
conflict check first, and the session and the request's new state are written
in the same transaction. ``book_offers`` books many proposals, each in a
SAVEPOINT of its own, so one that now conflicts leaves its request open
without undoing the others.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum

from sqlalchemy import (
    JSON,
    CheckConstraint,
    ForeignKey,
    Index,
    String,
    select,
    update,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from core.database import Base, enum_column
from core.errors import Conflict, ErrorDetail, ValidationFailed
from core.ids import new_id
from scheduling.availability import Interval
from scheduling.bookings import book_session
from scheduling.matching import MatchRequest
from scheduling.models import LiveSession


class RequestStatus(StrEnum):
    OPEN = "open"
    BOOKED = "booked"
    WITHDRAWN = "withdrawn"


class MatchRequestRecord(Base):
    """A student's request for sessions of a subject at a level, inside UTC windows.

    ``windows`` is a JSON list of ``{"start", "end"}`` UTC ISO 8601 strings.
    ``session_id`` is set when the request is booked; it becomes null if that
    session is later deleted, and the request stays ``booked``.
    """

    __tablename__ = "match_requests"
    __table_args__ = (
        CheckConstraint("duration_minutes > 0", name="positive_duration"),
        Index("ix_match_requests_org_status", "org_id", "status", "created_at"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    org_id: Mapped[str] = mapped_column(ForeignKey("organizations.id"))
    # A removed student's requests go with them: nobody is left to book.
    student_id: Mapped[str] = mapped_column(
        ForeignKey("students.id", ondelete="CASCADE"), index=True
    )
    subject: Mapped[str] = mapped_column(String(100))
    level: Mapped[str] = mapped_column(String(100))
    windows: Mapped[list[dict[str, str]]] = mapped_column(JSON)
    duration_minutes: Mapped[int]
    status: Mapped[RequestStatus] = mapped_column(
        enum_column(RequestStatus, "match_request_status"), default=RequestStatus.OPEN
    )
    session_id: Mapped[str | None] = mapped_column(
        ForeignKey("live_sessions.id", ondelete="SET NULL")
    )
    note: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]

    @property
    def intervals(self) -> tuple[Interval, ...]:
        """The windows as UTC intervals, in the order they were given."""
        return tuple(
            Interval(datetime.fromisoformat(w["start"]), datetime.fromisoformat(w["end"]))
            for w in self.windows
        )

    @property
    def duration(self) -> timedelta:
        return timedelta(minutes=self.duration_minutes)


def _iso(dt: datetime) -> str:
    return dt.astimezone(UTC).isoformat()


def new_request(
    *,
    org_id: str,
    student_id: str,
    subject: str,
    level: str,
    windows: Sequence[Interval],
    duration_minutes: int,
    note: str | None,
    now: datetime,
) -> MatchRequestRecord:
    """An open request, not yet added; the caller has checked the student and the windows."""
    return MatchRequestRecord(
        id=new_id("req"),
        org_id=org_id,
        student_id=student_id,
        subject=subject,
        level=level,
        windows=[{"start": _iso(w.start), "end": _iso(w.end)} for w in windows],
        duration_minutes=duration_minutes,
        status=RequestStatus.OPEN,
        note=note,
        created_at=now,
        updated_at=now,
    )


def require_open(record: MatchRequestRecord, action: str) -> None:
    """Refuse a move from any state but ``open``.

    Raises:
        Conflict: ``invalid_state``, naming the state the request is in.
    """
    if record.status is not RequestStatus.OPEN:
        raise Conflict(
            f"only an open request can be {action}; this one is {record.status.value}",
            code="invalid_state",
        )


def withdraw(record: MatchRequestRecord, *, now: datetime) -> None:
    """Close an open request without booking it.

    Raises:
        Conflict: the request is not open (``invalid_state``).
    """
    require_open(record, "withdrawn")
    record.status = RequestStatus.WITHDRAWN
    record.updated_at = now


def to_match_request(record: MatchRequestRecord, *, now: datetime) -> MatchRequest | None:
    """The request as matching reads it, with its windows cut to begin no earlier than ``now``.

    None when no window still has room for the session: nothing in the past is proposed.
    """
    windows = tuple(
        Interval(max(w.start, now), w.end)
        for w in record.intervals
        if w.end - max(w.start, now) >= record.duration
    )
    if not windows:
        return None
    return MatchRequest(
        student_id=record.student_id,
        subject=record.subject,
        level=record.level,
        windows=windows,
        duration=record.duration,
        id=record.id,
    )


async def book_request(
    db: AsyncSession,
    record: MatchRequestRecord,
    *,
    tutor_id: str,
    start: datetime,
    now: datetime,
) -> LiveSession:
    """Book ``record`` with ``tutor_id`` from ``start`` for its duration, and mark it booked.

    The session must fit inside one of the request's windows. Nothing is written
    when it is refused.

    Raises:
        Conflict: the request is not open, or stopped being open meanwhile (``invalid_state``).
        ValidationFailed: the session does not fit in any window of the request.
        InvalidReference: the tutor or the student is not in the organisation.
        BookingConflict: the session conflicts with the schedule (every conflict listed).
    """
    require_open(record, "booked")
    slot = Interval(start, start + record.duration)
    if not any(w.contains(slot) for w in record.intervals):
        raise ValidationFailed(
            "the session must fit inside one of the request's windows; "
            "pick a start inside one, such as a ranked candidate's",
            details=[
                ErrorDetail(
                    loc=["body", "start"],
                    message=f"{start.isoformat()} plus {record.duration_minutes} minutes "
                    "is not inside any window of the request",
                    type="outside_windows",
                )
            ],
        )
    live = await book_session(
        db,
        org_id=record.org_id,
        tutor_id=tutor_id,
        student_ids=[record.student_id],
        subject=record.subject,
        scheduled_start=slot.start,
        scheduled_end=slot.end,
        now=now,
    )
    # Conditional, so that two callers who both read the request as open
    # cannot both book it: the second finds no open row and is refused.
    claimed = await db.execute(
        update(MatchRequestRecord)
        .where(MatchRequestRecord.id == record.id, MatchRequestRecord.status == RequestStatus.OPEN)
        .values(status=RequestStatus.BOOKED, session_id=live.id, updated_at=now)
        .execution_options(synchronize_session="fetch")
    )
    if claimed.rowcount != 1:  # type: ignore[attr-defined]
        status = await db.scalar(
            select(MatchRequestRecord.status).where(MatchRequestRecord.id == record.id)
        )
        raise Conflict(
            "only an open request can be booked; this one is "
            f"{status.value if status else 'gone'} (changed meanwhile)",
            code="invalid_state",
        )
    return live


@dataclass(frozen=True)
class Offer:
    """A proposed placement of one request: its tutor and the session's start."""

    request_id: str
    tutor_id: str
    start: datetime


@dataclass(frozen=True)
class BookingOutcome:
    """What became of one offer: ``session_id`` when booked, else ``code`` and ``reasons``."""

    offer: Offer
    end: datetime
    session_id: str | None = None
    code: str | None = None
    reasons: tuple[str, ...] = ()

    @property
    def booked(self) -> bool:
        return self.session_id is not None


async def book_offers(
    db: AsyncSession,
    records: Mapping[str, MatchRequestRecord],
    offers: Sequence[Offer],
    *,
    now: datetime,
) -> list[BookingOutcome]:
    """Book each offer with ``book_request``, each in a SAVEPOINT of its own.

    An offer refused now (its slot taken since it was proposed, the request no
    longer open, a participant gone) comes back unbooked with the error's code
    and messages, and its request stays as it was; the others are kept.

    Args:
        records: the requests the offers name, by id.
        offers: in the order to book them.
    """
    if not offers:
        return []
    # Take the requests' row locks (PostgreSQL) and the write lock (SQLite)
    # before the first SAVEPOINT. On SQLite this also opens the transaction:
    # pysqlite sends no BEGIN before a SAVEPOINT, whose RELEASE would then
    # commit the first booking on its own.
    ids = [o.request_id for o in offers]
    await db.execute(
        update(MatchRequestRecord)
        .where(MatchRequestRecord.id.in_(ids))
        .values(updated_at=MatchRequestRecord.updated_at)
        .execution_options(synchronize_session=False)
    )
    # Read them again after the lock: another call may have booked or withdrawn one.
    await db.execute(
        select(MatchRequestRecord)
        .where(MatchRequestRecord.id.in_(ids))
        .execution_options(populate_existing=True)
    )
    outcomes = []
    for offer in offers:
        record = records[offer.request_id]
        end = offer.start + record.duration
        try:
            async with db.begin_nested():
                live = await book_request(
                    db, record, tutor_id=offer.tutor_id, start=offer.start, now=now
                )
        except (Conflict, ValidationFailed) as exc:
            reasons = tuple(d.message for d in exc.details) or (exc.message,)
            outcomes.append(BookingOutcome(offer, end, code=exc.code, reasons=reasons))
            continue
        outcomes.append(BookingOutcome(offer, end, session_id=live.id))
    return outcomes
