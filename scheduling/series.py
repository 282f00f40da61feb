"""Recurring bookings: a series and its occurrences, booked and changed as a whole.

A series expands its rule (``scheduling.recurrence``) into occurrences that are
ordinary ``LiveSession`` rows. Every occurrence is checked for conflicts like a
single booking, in order, each against the ones before it as well as the rest
of the calendar; if any conflicts, ``SeriesConflict`` lists each conflict with
its occurrence and nothing is written (the caller's transaction rolls back).

An occurrence can be changed alone (``Scope.THIS``) or together with every
later occurrence (``Scope.THIS_AND_FOLLOWING``); earlier ones are never
touched, and an occurrence keeps its ``occurrence_start`` however it moves.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime, time, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, select
from sqlalchemy.ext.asyncio import AsyncSession

from core.errors import Conflict
from core.ids import new_id
from scheduling.bookings import check_conflicts, check_participants, new_session
from scheduling.conflicts import ScheduleConflict
from scheduling.errors import BookingConflict, SeriesConflict
from scheduling.models import LiveSession, SessionSeries, SessionStatus, Tutor
from scheduling.recurrence import expand, shifted


class Scope(StrEnum):
    THIS = "this"
    THIS_AND_FOLLOWING = "this_and_following"


async def occurrences_of(db: AsyncSession, series_id: str) -> list[LiveSession]:
    rows = await db.scalars(
        select(LiveSession)
        .where(LiveSession.series_id == series_id)
        .order_by(LiveSession.occurrence_start, LiveSession.id)
    )
    return list(rows)


async def visible_series(
    db: AsyncSession, series_id: str, *, org_id: str, visible: ColumnElement[bool]
) -> tuple[SessionSeries, list[LiveSession]] | None:
    """The organisation's series and those of its occurrences ``visible`` lets the caller see.

    None when there is no such series in the organisation or the caller sees
    none of its occurrences: a series is as visible as its sessions.
    """
    series = await db.scalar(
        select(SessionSeries).where(SessionSeries.id == series_id, SessionSeries.org_id == org_id)
    )
    if series is None:
        return None
    seen = set(
        await db.scalars(select(LiveSession.id).where(LiveSession.series_id == series.id, visible))
    )
    if not seen:
        return None
    return series, [o for o in await occurrences_of(db, series.id) if o.id in seen]


async def book_series(
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
    """Book every occurrence of a series, or none of them.

    ``time_zone`` is the zone the rule repeats in; empty means the tutor's.

    Raises:
        InvalidReference: the tutor or a student is not in the organisation.
        InvalidRecurrence: the rule cannot be booked (never ends, too long, unreadable).
        SeriesConflict: one entry per conflict, naming its occurrence; call
            this inside a transaction that rolls back on error, as the API does.
    """
    await check_participants(db, org_id=org_id, tutor_id=tutor_id, student_ids=student_ids)
    tutor_zone = await db.scalar(select(Tutor.time_zone).where(Tutor.id == tutor_id))
    zone = ZoneInfo(time_zone or tutor_zone or "UTC")
    occurrences = expand(
        rrule,
        start_date=start_date,
        start_time=start_time,
        duration=timedelta(minutes=duration_minutes),
        zone=zone,
    )
    students = list(dict.fromkeys(student_ids))
    series = SessionSeries(
        id=new_id("ser"),
        org_id=org_id,
        tutor_id=tutor_id,
        student_ids=students,
        subject=subject,
        time_zone=zone.key,
        start_date=start_date,
        start_time=start_time,
        duration_minutes=duration_minutes,
        rrule=rrule.strip(),
        created_at=now,
    )
    db.add(series)
    refused: list[tuple[datetime, ScheduleConflict]] = []
    booked: list[LiveSession] = []
    for occ in occurrences:
        try:
            await check_conflicts(
                db,
                tutor_id=tutor_id,
                student_ids=students,
                subject=subject,
                scheduled_start=occ.start,
                scheduled_end=occ.end,
            )
        except BookingConflict as exc:
            refused += [(occ.occurrence_start, c) for c in exc.conflicts]
            continue
        live = new_session(
            org_id=org_id,
            tutor_id=tutor_id,
            student_ids=students,
            subject=subject,
            scheduled_start=occ.start,
            scheduled_end=occ.end,
            now=now,
            series_id=series.id,
            occurrence_start=occ.occurrence_start,
        )
        db.add(live)
        # Flushed one by one so the next occurrence is checked against this one.
        await db.flush()
        booked.append(live)
    if refused:
        raise SeriesConflict(refused, zone=zone)
    return series, booked


async def chosen_occurrences(
    db: AsyncSession, series: SessionSeries, target: LiveSession, scope: Scope
) -> list[LiveSession]:
    """``target`` alone, or it and every later occurrence still scheduled.

    Raises:
        Conflict: ``target`` is not scheduled (``invalid_state``).
    """
    if target.status is not SessionStatus.SCHEDULED:
        raise Conflict(
            f"only a scheduled occurrence can be changed; this one is {target.status.value}",
            code="invalid_state",
        )
    assert target.occurrence_start is not None
    if scope is Scope.THIS:
        return [target]
    return [
        s
        for s in await occurrences_of(db, series.id)
        if s.status is SessionStatus.SCHEDULED
        and s.occurrence_start is not None
        and s.occurrence_start >= target.occurrence_start
    ]


async def change_occurrence(
    db: AsyncSession,
    series: SessionSeries,
    target: LiveSession,
    *,
    scope: Scope,
    scheduled_start: datetime | None,
    duration_minutes: int | None,
    now: datetime,
) -> list[LiveSession]:
    """Move ``target``, alone or with every later occurrence; return those chosen.

    With ``THIS_AND_FOLLOWING`` each later occurrence moves by as many local days
    as ``target`` does and to its new local time, and takes the new duration.
    Occurrences that are no longer scheduled (held, cancelled) are left alone.
    Cancelling goes through ``sessions.changes.cancel`` for each of
    ``chosen_occurrences``, so each gets its event and its notice.

    Raises:
        Conflict: ``target`` is not scheduled (``invalid_state``).
        SeriesConflict: a moved occurrence conflicts; nothing is changed.
    """
    chosen = await chosen_occurrences(db, series, target, scope)
    assert target.occurrence_start is not None
    zone = ZoneInfo(series.time_zone)
    duration = (
        timedelta(minutes=duration_minutes)
        if duration_minutes is not None
        else target.scheduled_end - target.scheduled_start
    )
    new_start = scheduled_start or target.scheduled_start
    local = new_start.astimezone(zone)
    delta_days = (local.date() - target.occurrence_start.astimezone(zone).date()).days
    refused: list[tuple[datetime, ScheduleConflict]] = []
    # Moving later, the last occurrence goes first (and moving earlier, the first),
    # so none is checked against a sibling's old slot that is about to be vacated.
    later = new_start > target.scheduled_start
    for live in sorted(
        chosen, key=lambda s: s.occurrence_start or s.scheduled_start, reverse=later
    ):
        assert live.occurrence_start is not None
        start = (
            new_start
            if live is target
            else shifted(
                live.occurrence_start, delta_days=delta_days, new_time=local.time(), zone=zone
            )
        )
        try:
            await check_conflicts(
                db,
                tutor_id=live.tutor_id,
                student_ids=live.student_ids,
                subject=live.subject,
                scheduled_start=start,
                scheduled_end=start + duration,
                session_id=live.id,
            )
        except BookingConflict as exc:
            refused += [(live.occurrence_start, c) for c in exc.conflicts]
            continue
        live.scheduled_start, live.scheduled_end = start, start + duration
        live.updated_at = now
        # Flushed one by one so the next occurrence is checked against its new neighbours.
        await db.flush()
    if refused:
        raise SeriesConflict(sorted(refused, key=lambda r: r[0]), zone=zone)
    return chosen
