"""Reading and replacing a tutor's qualifications, availability and limits.

The rows live in ``scheduling.models``; ``load_schedule`` turns them into the
pure ``TutorSchedule`` that ``scheduling.conflicts`` checks bookings against.
Writers replace a whole set at once (PUT semantics), so a coordinator's form
is the single source of truth and there is no partial state to reconcile.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from core.ids import new_id
from scheduling.availability import DateException, WeeklyRule
from scheduling.conflicts import Limits, TutorSchedule
from scheduling.models import (
    AvailabilityException,
    AvailabilityRule,
    Tutor,
    TutorLimits,
    TutorQualification,
)


async def qualifications_of(db: AsyncSession, tutor_id: str) -> list[TutorQualification]:
    rows = await db.scalars(
        select(TutorQualification)
        .where(TutorQualification.tutor_id == tutor_id)
        .order_by(TutorQualification.subject, TutorQualification.level)
    )
    return list(rows)


async def rules_of(db: AsyncSession, tutor_id: str) -> list[AvailabilityRule]:
    rows = await db.scalars(
        select(AvailabilityRule)
        .where(AvailabilityRule.tutor_id == tutor_id)
        .order_by(AvailabilityRule.weekday, AvailabilityRule.start_minute)
    )
    return list(rows)


async def exceptions_of(db: AsyncSession, tutor_id: str) -> list[AvailabilityException]:
    rows = await db.scalars(
        select(AvailabilityException)
        .where(AvailabilityException.tutor_id == tutor_id)
        .order_by(
            AvailabilityException.on_date,
            AvailabilityException.starts_at,
            AvailabilityException.id,
        )
    )
    return list(rows)


async def limits_of(db: AsyncSession, tutor_id: str) -> TutorLimits | None:
    return await db.get(TutorLimits, tutor_id)


async def replace_qualifications(
    db: AsyncSession, tutor_id: str, pairs: Sequence[tuple[str, str]], *, now: datetime
) -> list[TutorQualification]:
    """Make ``pairs`` (subject, level) the tutor's whole set of qualifications."""
    await db.execute(delete(TutorQualification).where(TutorQualification.tutor_id == tutor_id))
    for subject, level in dict.fromkeys(pairs):
        db.add(
            TutorQualification(
                id=new_id("qal"), tutor_id=tutor_id, subject=subject, level=level, created_at=now
            )
        )
    await db.flush()
    return await qualifications_of(db, tutor_id)


async def replace_availability(
    db: AsyncSession,
    tutor_id: str,
    *,
    rules: Sequence[WeeklyRule],
    exceptions: Sequence[tuple[DateException, str | None]],
    now: datetime,
) -> None:
    """Make ``rules`` and ``exceptions`` (each with an optional note) the tutor's availability."""
    await db.execute(delete(AvailabilityRule).where(AvailabilityRule.tutor_id == tutor_id))
    await db.execute(
        delete(AvailabilityException).where(AvailabilityException.tutor_id == tutor_id)
    )
    for r in dict.fromkeys(rules):
        db.add(
            AvailabilityRule(
                id=new_id("avr"),
                tutor_id=tutor_id,
                weekday=r.weekday,
                start_minute=r.start_minute,
                end_minute=r.end_minute,
                created_at=now,
            )
        )
    for x, note in exceptions:
        db.add(
            AvailabilityException(
                id=new_id("avx"),
                tutor_id=tutor_id,
                kind=x.kind,
                on_date=x.on_date,
                start_minute=x.start_minute,
                end_minute=x.end_minute,
                starts_at=x.starts_at,
                ends_at=x.ends_at,
                note=note,
                created_at=now,
            )
        )
    await db.flush()


async def set_limits(
    db: AsyncSession,
    tutor_id: str,
    *,
    max_sessions_per_day: int | None,
    max_sessions_per_week: int | None,
    buffer_minutes: int,
    now: datetime,
) -> TutorLimits:
    row = await db.get(TutorLimits, tutor_id)
    if row is None:
        row = TutorLimits(tutor_id=tutor_id, updated_at=now)
        db.add(row)
    row.max_sessions_per_day = max_sessions_per_day
    row.max_sessions_per_week = max_sessions_per_week
    row.buffer_minutes = buffer_minutes
    row.updated_at = now
    await db.flush()
    return row


def to_rule(row: AvailabilityRule) -> WeeklyRule:
    return WeeklyRule(row.weekday, row.start_minute, row.end_minute)


def to_exception(row: AvailabilityException) -> DateException:
    return DateException(
        row.kind,
        on_date=row.on_date,
        start_minute=row.start_minute,
        end_minute=row.end_minute,
        starts_at=row.starts_at,
        ends_at=row.ends_at,
    )


async def load_schedule(db: AsyncSession, tutor: Tutor) -> TutorSchedule:
    """The tutor's zone, availability, qualifications and limits, ready for the checker."""
    limits = await limits_of(db, tutor.id)
    return TutorSchedule(
        zone=ZoneInfo(tutor.time_zone),
        rules=tuple(to_rule(r) for r in await rules_of(db, tutor.id)),
        exceptions=tuple(to_exception(x) for x in await exceptions_of(db, tutor.id)),
        qualifications=frozenset(
            (q.subject, q.level) for q in await qualifications_of(db, tutor.id)
        ),
        limits=Limits(
            max_sessions_per_day=limits.max_sessions_per_day,
            max_sessions_per_week=limits.max_sessions_per_week,
            buffer_minutes=limits.buffer_minutes,
        )
        if limits is not None
        else Limits(),
    )
