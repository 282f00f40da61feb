"""Booking, cancelling and moving sessions under the notice policy, with their events.

Every booking (one session, a series, a stored request, a matched batch) comes
through here too and emits ``session.scheduled``, which ``ChangeNotices`` turns
into confirmations with calendar invites.

Every path that cancels or moves a session (``POST /sessions/{id}/cancel``,
``PATCH /sessions/{id}``, a series occurrence, alone or with the ones after
it) comes through here, so each change records who asked for it, how much
notice it gave (``scheduling.notice``) and emits the event that
``ChangeNotices`` turns into emails: ``session.cancelled`` (a lifecycle
transition, refused from ``live`` and later states) or ``session.rescheduled``.
An edit that changes the tutor emits ``session.tutor_substituted``, as a
confirmed substitution does. A booking made by mistake, that nobody joined
and that has no history yet, is deleted outright (``delete_booking``).
The caller commits; the session row and its event go together.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from core.errors import Conflict, NotFound
from eventbus.models import HandledEvent, HandlerFailure, OutboxEvent
from scheduling.bookings import book_session, check_conflicts, check_participants, check_times
from scheduling.match_requests import (
    MatchRequestRecord,
    RequestMatch,
    book_stored_request,
    match_open_requests,
)
from scheduling.models import ChangeParty, LiveSession, SessionSeries, SessionStatus, SessionStudent
from scheduling.notice import Notice, notice_for
from scheduling.series import (
    Scope,
    book_series,
    change_occurrence,
    chosen_occurrences,
    occurrences_of,
)
from sessions.events import record
from sessions.lifecycle import Action
from sessions.models import Presence
from sessions.service import apply


@dataclass(frozen=True)
class Slot:
    """Where a session was before a move: its times and tutor."""

    start: datetime
    end: datetime
    tutor_id: str

    @classmethod
    def of(cls, live: LiveSession) -> Slot:
        return cls(live.scheduled_start, live.scheduled_end, live.tutor_id)


async def cancel(
    db: AsyncSession,
    session_id: str,
    *,
    now: datetime,
    requested_by: ChangeParty,
    late_after: timedelta,
    by: str | None = None,
    reason: str | None = None,
) -> tuple[LiveSession, Notice]:
    """Cancel a session that has not gone live, and say whether that was late.

    Raises:
        NotFound: no such session.
        InvalidTransition: it is live or over already (the message says which).
    """
    live = await db.get(LiveSession, session_id)
    if live is None:
        raise NotFound(f"no session {session_id}")
    notice = notice_for(live.scheduled_start, now=now, required=late_after)
    await apply(
        db,
        session_id,
        Action.CANCEL,
        now=now,
        by=by,
        reason=reason,
        details={
            "requested_by": requested_by.value,
            "scheduled_start": live.scheduled_start.isoformat(),
            "tutor_id": live.tutor_id,
            "student_ids": live.student_ids,
            "notice_hours": notice.hours,
            "late": notice.late,
        },
    )
    live.cancelled_at, live.cancelled_by = now, requested_by
    live.late_cancellation = notice.late
    await db.flush()
    return live, notice


def rescheduled(
    db: AsyncSession,
    live: LiveSession,
    before: Slot,
    *,
    now: datetime,
    requested_by: ChangeParty,
    late_after: timedelta,
    by: str | None = None,
    reason: str | None = None,
) -> OutboxEvent | None:
    """Emit ``session.rescheduled`` for a session whose times changed from ``before``.

    Call it after the new times are set (and checked for conflicts). Returns
    None, emitting nothing, when the times did not change.
    """
    if (live.scheduled_start, live.scheduled_end) == (before.start, before.end):
        return None
    notice = notice_for(before.start, now=now, required=late_after)
    payload: dict[str, object] = {
        "requested_by": requested_by.value,
        "from_start": before.start.isoformat(),
        "from_end": before.end.isoformat(),
        "to_start": live.scheduled_start.isoformat(),
        "to_end": live.scheduled_end.isoformat(),
        "tutor_id": live.tutor_id,
        "student_ids": live.student_ids,
        "notice_hours": notice.hours,
        "late": notice.late,
    }
    if by is not None:
        payload["by"] = by
    if reason is not None:
        payload["reason"] = reason
    return record(db, "session.rescheduled", session_id=live.id, at=now, payload=payload)


def retutored(
    db: AsyncSession, live: LiveSession, before: Slot, *, now: datetime, by: str | None
) -> OutboxEvent | None:
    """Emit ``session.tutor_substituted`` when an edit gave the session another tutor,
    as a confirmed substitution does, so the same people are told. None if it did not."""
    if live.tutor_id == before.tutor_id:
        return None
    return record(
        db,
        "session.tutor_substituted",
        session_id=live.id,
        at=now,
        payload={
            "from_tutor_id": before.tutor_id,
            "to_tutor_id": live.tutor_id,
            "by": by,
            "student_ids": list(live.student_ids),
            "note": None,
        },
    )


async def change_session(
    db: AsyncSession,
    live: LiveSession,
    *,
    org_id: str,
    tutor_id: str | None,
    student_ids: Sequence[str] | None,
    subject: str | None,
    scheduled_start: datetime | None,
    scheduled_end: datetime | None,
    requested_by: ChangeParty,
    late_after: timedelta,
    now: datetime,
    by: str | None = None,
    reason: str | None = None,
) -> LiveSession:
    """Change a scheduled session's tutor, students, subject or times; None keeps each.

    The changed session is checked as a new booking is, then its events are
    emitted: ``session.rescheduled`` for new times, ``session.tutor_substituted``
    for a new tutor.

    Raises:
        Conflict: the session is not scheduled (``invalid_state``).
        ValidationFailed: the end is not after the start.
        InvalidReference: the tutor or a student is not in the organisation.
        BookingConflict: with every conflict found; nothing is changed.
    """
    if live.status is not SessionStatus.SCHEDULED:
        raise Conflict(
            f"only a scheduled session can be changed; this one is {live.status.value}",
            code="invalid_state",
        )
    start = scheduled_start or live.scheduled_start
    end = scheduled_end or live.scheduled_end
    check_times(start, end)
    students = student_ids if student_ids is not None else live.student_ids
    tutor = tutor_id or live.tutor_id
    await check_participants(db, org_id=org_id, tutor_id=tutor, student_ids=students)
    await check_conflicts(
        db,
        tutor_id=tutor,
        student_ids=students,
        subject=subject or live.subject,
        scheduled_start=start,
        scheduled_end=end,
        session_id=live.id,
    )
    before = Slot.of(live)
    live.tutor_id, live.scheduled_start, live.scheduled_end = tutor, start, end
    if subject is not None:
        live.subject = subject
    if student_ids is not None:
        keep = {s.student_id: s for s in live.students}
        live.students = [
            keep.get(sid) or SessionStudent(student_id=sid) for sid in dict.fromkeys(students)
        ]
    live.updated_at = now
    await db.flush()
    rescheduled(
        db,
        live,
        before,
        now=now,
        requested_by=requested_by,
        late_after=late_after,
        by=by,
        reason=reason,
    )
    retutored(db, live, before, now=now, by=by)
    return live


async def change_series(
    db: AsyncSession,
    series: SessionSeries,
    target: LiveSession,
    *,
    occurrences: Sequence[LiveSession],
    scope: Scope,
    cancel_them: bool,
    scheduled_start: datetime | None,
    duration_minutes: int | None,
    requested_by: ChangeParty,
    late_after: timedelta,
    now: datetime,
    by: str | None = None,
    reason: str | None = None,
) -> list[LiveSession]:
    """Cancel or move ``target``, alone or with every later occurrence of ``series``;
    return all of the series' occurrences afterwards, by original start.

    Each cancelled occurrence emits ``session.cancelled`` and each moved one
    ``session.rescheduled``, under the notice policy like a single session.

    Args:
        occurrences: the series' occurrences as they were before; each moved
            one must be among them (its old slot goes into its event).
        cancel_them: cancel instead of moving.

    Raises:
        Conflict: ``target`` is not scheduled (``invalid_state``).
        SeriesConflict: a moved occurrence conflicts; nothing is changed.
        InvalidTransition: a chosen occurrence can no longer be cancelled.
    """
    if cancel_them:
        for live in await chosen_occurrences(db, series, target, scope):
            await cancel(
                db,
                live.id,
                now=now,
                requested_by=requested_by,
                late_after=late_after,
                by=by,
                reason=reason,
            )
        return await occurrences_of(db, series.id)
    before = {o.id: Slot.of(o) for o in occurrences}
    moved = await change_occurrence(
        db,
        series,
        target,
        scope=scope,
        scheduled_start=scheduled_start,
        duration_minutes=duration_minutes,
        now=now,
    )
    for live in moved:
        rescheduled(
            db,
            live,
            before[live.id],
            now=now,
            requested_by=requested_by,
            late_after=late_after,
            by=by,
            reason=reason,
        )
    return await occurrences_of(db, series.id)


async def delete_booking(db: AsyncSession, live: LiveSession) -> None:
    """Delete a session booked by mistake: scheduled, never joined, with no event but its
    ``session.scheduled``, which no handler has taken yet (nobody was sent its
    confirmation); that event goes with it.

    Presence records and other events are history that is kept, so a session that has
    either, or whose confirmation went out, can only be cancelled, which tells the people
    who expected it.

    Raises:
        Conflict: it is not scheduled, someone joined it, or it has events
            (``invalid_state``, saying which).
    """
    if live.status is not SessionStatus.SCHEDULED:
        raise Conflict(
            f"only a scheduled session can be deleted; this one is {live.status.value}",
            code="invalid_state",
        )
    attended = select(Presence.id).where(Presence.session_id == live.id).limit(1)
    if await db.scalar(attended) is not None:
        raise Conflict(
            "someone has already joined this session, and its presence records are kept; "
            "it can no longer be deleted",
            code="invalid_state",
        )
    events = list(await db.scalars(select(OutboxEvent).where(OutboxEvent.session_id == live.id)))
    if any(e.type != "session.scheduled" for e in events):
        raise Conflict(
            "this session has a history (it was moved or substituted) that is kept; "
            "cancel it instead: POST /api/v1/sessions/{id}/cancel",
            code="invalid_state",
        )
    ids = [e.id for e in events]
    told = select(HandledEvent.event_id).where(HandledEvent.event_id.in_(ids)).limit(1)
    # Relayed to Redis, a worker may be taking it right now: its ledger row would then
    # name an event deleted here. Only an announcement nothing has picked up goes.
    if any(e.dispatched_at is not None for e in events) or await db.scalar(told) is not None:
        raise Conflict(
            "its booking confirmation has gone to the people in it; cancel it instead, "
            "which tells them and removes it from their calendars: "
            "POST /api/v1/sessions/{id}/cancel",
            code="invalid_state",
        )
    # Nobody was told yet: the booking's own announcement goes with it.
    await db.execute(delete(HandlerFailure).where(HandlerFailure.event_id.in_(ids)))
    await db.execute(delete(OutboxEvent).where(OutboxEvent.id.in_(ids)))
    await db.delete(live)


def scheduled(
    db: AsyncSession, live: LiveSession, *, now: datetime, first_of_series: bool = False
) -> OutboxEvent:
    """Emit ``session.scheduled`` for a session just booked (alone, from a request or as a
    series occurrence: ``series_id`` says which); ``ChangeNotices`` sends the invites.
    The caller commits, with the booking."""
    return record(
        db,
        "session.scheduled",
        session_id=live.id,
        at=now,
        payload={
            "series_id": live.series_id,
            # The series' confirmation (all its occurrences in one email) rides on this one.
            "first_of_series": first_of_series,
            "scheduled_start": live.scheduled_start.isoformat(),
            "scheduled_end": live.scheduled_end.isoformat(),
        },
    )


async def book(
    db: AsyncSession,
    *,
    org_id: str,
    tutor_id: str,
    student_ids: Sequence[str],
    subject: str,
    scheduled_start: datetime,
    scheduled_end: datetime,
    now: datetime,
) -> LiveSession:
    """Book one session (``scheduling.bookings.book_session``, same checks and errors)
    and announce it: the booking and its ``session.scheduled`` commit together."""
    live = await book_session(
        db,
        org_id=org_id,
        tutor_id=tutor_id,
        student_ids=student_ids,
        subject=subject,
        scheduled_start=scheduled_start,
        scheduled_end=scheduled_end,
        now=now,
    )
    scheduled(db, live, now=now)
    return live


async def book_recurring(
    db: AsyncSession,
    *,
    org_id: str,
    tutor_id: str,
    student_ids: Sequence[str],
    subject: str,
    start_date: date,
    start_time: time,
    duration_minutes: int,
    rrule: str,
    time_zone: str | None,
    now: datetime,
) -> tuple[SessionSeries, list[LiveSession]]:
    """Book a series (``scheduling.series.book_series``, same checks and errors) and
    announce each occurrence."""
    booked_series, booked = await book_series(
        db,
        org_id=org_id,
        tutor_id=tutor_id,
        student_ids=student_ids,
        subject=subject,
        start_date=start_date,
        start_time=start_time,
        duration_minutes=duration_minutes,
        rrule=rrule,
        time_zone=time_zone,
        now=now,
    )
    for n, live in enumerate(sorted(booked, key=lambda o: o.scheduled_start)):
        scheduled(db, live, now=now, first_of_series=n == 0)
    return booked_series, booked


async def announce_booked(db: AsyncSession, session_ids: Sequence[str], *, now: datetime) -> None:
    """Emit ``session.scheduled`` for sessions booked elsewhere in this transaction (a
    matched request's: ``scheduling.match_requests``)."""
    for live in await db.scalars(select(LiveSession).where(LiveSession.id.in_(session_ids))):
        scheduled(db, live, now=now)


async def book_open_request(
    db: AsyncSession, *, org_id: str, request_id: str, tutor_id: str, start: datetime, now: datetime
) -> MatchRequestRecord | None:
    """Book a stored request (``scheduling.match_requests.book_stored_request``, same
    errors) and announce its session; None when the organisation has no such request."""
    record = await book_stored_request(
        db, org_id=org_id, request_id=request_id, tutor_id=tutor_id, start=start, now=now
    )
    if record is not None and record.session_id is not None:
        await announce_booked(db, [record.session_id], now=now)
    return record


async def match_and_book(
    db: AsyncSession,
    *,
    org_id: str,
    request_ids: Sequence[str] | None,
    book: bool,
    now: datetime,
) -> RequestMatch:
    """Match open requests (``scheduling.match_requests.match_open_requests``) and, with
    ``book``, announce every session booked."""
    match = await match_open_requests(
        db, org_id=org_id, request_ids=request_ids, book=book, now=now
    )
    await announce_booked(db, [o.session_id for o in match.outcomes if o.session_id], now=now)
    return match
