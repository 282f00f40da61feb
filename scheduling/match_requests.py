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

The use cases a coordinator's calls run (``store_request``, ``find_requests``,
``withdraw_request``, ``rank_for_request``, ``book_stored_request`` and
``match_open_requests``) take the caller's organisation and touch only its
requests; the ones that name a request return None when the organisation has
none by that id, for the caller to answer as it answers any row it may not see.
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
    func,
    select,
    update,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from core.database import Base, enum_column
from core.errors import Conflict, ErrorDetail, ValidationFailed
from core.ids import new_id
from core.pagination import PageWindow, fetch_page
from scheduling.availability import Interval
from scheduling.bookings import book_session
from scheduling.match_batch import BatchResult
from scheduling.matching import MatchRequest
from scheduling.models import LiveSession
from scheduling.proposals import (
    MAX_SPAN,
    Proposals,
    TutorRanking,
    check_students,
    propose,
    rank_tutors,
)

# The most requests one match takes; more are matched in batches named by id.
MAX_BATCH = 2000


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


async def store_request(
    db: AsyncSession,
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
    """Store an open request for a student of the organisation, and return it.

    The windows are checked for shape already (ordered, each long enough, all
    within ``MAX_SPAN``); here at least one must still end after ``now``.

    Raises:
        ValidationFailed: the student is not in the organisation
            (``invalid_reference``), or every window has passed.
    """
    await check_students(db, org_id=org_id, refs=[(["body", "student_id"], student_id)])
    if all(w.end <= now for w in windows):
        raise ValidationFailed(
            "every window has already passed; give windows in the future",
            details=[
                ErrorDetail(
                    loc=["body", "windows"], message="all windows have passed", type="value_error"
                )
            ],
        )
    record = new_request(
        org_id=org_id,
        student_id=student_id,
        subject=subject,
        level=level,
        windows=windows,
        duration_minutes=duration_minutes,
        note=note,
        now=now,
    )
    db.add(record)
    await db.flush()
    return record


async def find_requests(
    db: AsyncSession,
    *,
    org_id: str,
    page: PageWindow,
    status: RequestStatus | None = None,
    student_id: str | None = None,
    subject: str | None = None,
    level: str | None = None,
) -> tuple[list[MatchRequestRecord], int]:
    """One page of the organisation's requests, oldest first, and how many match in all.

    Each filter left out (or empty) matches every request; ``subject`` and
    ``level`` ignore case and surrounding spaces, as stored labels are compared.
    """
    where = [MatchRequestRecord.org_id == org_id]
    if status:
        where.append(MatchRequestRecord.status == status)
    if student_id:
        where.append(MatchRequestRecord.student_id == student_id)
    if subject:
        where.append(func.lower(MatchRequestRecord.subject) == subject.strip().lower())
    if level:
        where.append(func.lower(MatchRequestRecord.level) == level.strip().lower())
    return await fetch_page(
        db,
        select(MatchRequestRecord),
        where=where,
        order_by=[MatchRequestRecord.created_at, MatchRequestRecord.id],
        page=page,
    )


async def find_request(
    db: AsyncSession, *, org_id: str, request_id: str, lock: bool = False
) -> MatchRequestRecord | None:
    """The organisation's request ``request_id``, row-locked with ``lock`` (before a move)."""
    stmt = select(MatchRequestRecord).where(
        MatchRequestRecord.id == request_id, MatchRequestRecord.org_id == org_id
    )
    return await db.scalar(stmt.with_for_update() if lock else stmt)


async def withdraw_request(
    db: AsyncSession, *, org_id: str, request_id: str, now: datetime
) -> MatchRequestRecord | None:
    """Withdraw the organisation's open request ``request_id``; None if it has none by that id.

    Raises:
        Conflict: the request is not open (``invalid_state``).
    """
    record = await find_request(db, org_id=org_id, request_id=request_id, lock=True)
    if record is None:
        return None
    withdraw(record, now=now)
    await db.flush()
    return record


async def rank_for_request(
    db: AsyncSession, *, org_id: str, request_id: str, now: datetime
) -> tuple[MatchRequestRecord, TutorRanking] | None:
    """The tutors who could take the open request ``request_id`` from ``now`` on, ranked.

    None if the organisation has no request by that id.

    Raises:
        Conflict: the request is not open (``invalid_state``), or every window
            has passed (``windows_passed``).
    """
    record = await find_request(db, org_id=org_id, request_id=request_id)
    if record is None:
        return None
    require_open(record, "matched")
    request = to_match_request(record, now=now)
    if request is None:
        raise Conflict(
            "every window of this request has passed; withdraw it, or store it again "
            "with new windows",
            code="windows_passed",
        )
    return record, await rank_tutors(db, org_id=org_id, request=request)


async def book_stored_request(
    db: AsyncSession,
    *,
    org_id: str,
    request_id: str,
    tutor_id: str,
    start: datetime,
    now: datetime,
) -> MatchRequestRecord | None:
    """Book the organisation's request ``request_id`` as ``book_request`` does, and return it.

    None if the organisation has no request by that id.

    Raises:
        the errors of ``book_request``; nothing is written when it refuses.
    """
    record = await find_request(db, org_id=org_id, request_id=request_id, lock=True)
    if record is None:
        return None
    await book_request(db, record, tutor_id=tutor_id, start=start, now=now)
    return record


@dataclass(frozen=True)
class RequestMatch:
    """What matching the open requests came to.

    ``proposals`` covers the requests that still had room; ``expired`` names
    those left out because no window has room after now; ``outcomes`` says what
    became of each proposal when they were booked (empty when only proposed).
    """

    proposals: Proposals
    expired: list[str]
    outcomes: list[BookingOutcome]


async def _named_requests(
    db: AsyncSession, org_id: str, request_ids: Sequence[str]
) -> list[MatchRequestRecord]:
    found = {
        r.id: r
        for r in await db.scalars(
            select(MatchRequestRecord).where(
                MatchRequestRecord.org_id == org_id, MatchRequestRecord.id.in_(request_ids)
            )
        )
    }
    missing = [(i, rid) for i, rid in enumerate(request_ids) if rid not in found]
    if missing:
        raise ValidationFailed(
            "request_ids name requests that are not in your organisation",
            code="invalid_reference",
            details=[
                ErrorDetail(
                    loc=["body", "request_ids", i],
                    message=f"no request with id {rid}",
                    type="invalid_reference",
                )
                for i, rid in missing
            ],
        )
    records = [found[rid] for rid in request_ids]
    closed = [r for r in records if r.status is not RequestStatus.OPEN]
    if closed:
        raise Conflict(
            "only open requests can be matched; "
            + ", ".join(f"{r.id} is {r.status.value}" for r in closed),
            code="invalid_state",
        )
    return records


async def _open_requests(db: AsyncSession, org_id: str) -> list[MatchRequestRecord]:
    records = list(
        await db.scalars(
            select(MatchRequestRecord)
            .where(
                MatchRequestRecord.org_id == org_id,
                MatchRequestRecord.status == RequestStatus.OPEN,
            )
            .order_by(MatchRequestRecord.created_at, MatchRequestRecord.id)
            .limit(MAX_BATCH + 1)
        )
    )
    if len(records) > MAX_BATCH:
        raise ValidationFailed(
            f"more than {MAX_BATCH} requests are open; match them in batches with request_ids"
        )
    return records


async def match_open_requests(
    db: AsyncSession,
    *,
    org_id: str,
    request_ids: Sequence[str] | None,
    book: bool,
    now: datetime,
) -> RequestMatch:
    """Propose a tutor and a slot for the organisation's open requests, and with ``book`` book them.

    Args:
        request_ids: the requests to match, unique and at most ``MAX_BATCH``;
            None for every open request of the organisation.
        book: book each proposal with ``book_offers``; a refused one leaves its
            request open and the others booked.

    Raises:
        ValidationFailed: a named request is not in the organisation
            (``invalid_reference``), more than ``MAX_BATCH`` are open, or the
            windows span more than ``MAX_SPAN``.
        Conflict: a named request is not open (``invalid_state``).
    """
    if request_ids is not None:
        records = await _named_requests(db, org_id, request_ids)
    else:
        records = await _open_requests(db, org_id)
    requests: list[MatchRequest] = []
    expired: list[str] = []
    for r in records:
        request = to_match_request(r, now=now)
        if request is None:
            expired.append(r.id)
        else:
            requests.append(request)
    if not requests:
        nothing = Proposals(BatchResult([], [], "cp-sat", "OPTIMAL", 0), total=0, names={})
        return RequestMatch(nothing, expired, [])
    first = min(w.start for r in requests for w in r.windows)
    last = max(w.end for r in requests for w in r.windows)
    if last - first > MAX_SPAN:
        raise ValidationFailed(
            f"the requests' windows span {first:%Y-%m-%d} to {last:%Y-%m-%d}, more than 31 "
            "days; name the requests of a 31-day stretch in request_ids",
            details=[
                ErrorDetail(
                    loc=["body", "request_ids"],
                    message="the windows of one batch must fall within 31 days",
                    type="value_error",
                )
            ],
        )
    proposals = await propose(db, org_id=org_id, requests=requests)
    if not book:
        return RequestMatch(proposals, expired, [])
    by_id = {r.id: r for r in records}
    offers = [Offer(p.request_id, p.tutor_id, p.start) for p in proposals.result.placements]
    return RequestMatch(proposals, expired, await book_offers(db, by_id, offers, now=now))
