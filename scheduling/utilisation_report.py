"""The organisation's tutors' utilisation over a range, read from their schedules and bookings.

This module does the reads and leaves the arithmetic to ``scheduling.utilisation``,
which stays pure: each tutor's availability is expanded in their own zone (after
time off), their sessions that are not cancelled are the booked time, and a tutor
with no weekly rules and no extra hours has no availability to measure against.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from core.pagination import PageWindow, fetch_page
from scheduling.availability import ExceptionKind, Interval, expand
from scheduling.models import LiveSession, SessionStatus, Tutor, User
from scheduling.schedules import exceptions_of, rules_of, to_exception, to_rule
from scheduling.utilisation import Utilisation, utilisation

__all__ = ["TutorUtilisation", "tutors_utilisation"]


@dataclass(frozen=True)
class TutorUtilisation:
    """One tutor's available and booked time over the range."""

    tutor: Tutor
    configured: bool  # False: no weekly rules or extra hours, so nothing is available
    used: Utilisation


async def tutors_utilisation(
    db: AsyncSession, *, org_id: str, start: datetime, end: datetime, page: PageWindow
) -> tuple[list[TutorUtilisation], int]:
    """One page of the organisation's tutors, by name, with their utilisation in
    ``[start, end)``; and how many tutors there are."""
    tutors, total = await fetch_page(
        db,
        select(Tutor).join(User, User.id == Tutor.user_id),
        where=[Tutor.org_id == org_id],
        order_by=[User.display_name, Tutor.id],
        page=page,
    )
    return [await _of(db, tutor, start=start, end=end) for tutor in tutors], total


async def _of(
    db: AsyncSession, tutor: Tutor, *, start: datetime, end: datetime
) -> TutorUtilisation:
    rules = [to_rule(r) for r in await rules_of(db, tutor.id)]
    exceptions = [to_exception(x) for x in await exceptions_of(db, tutor.id)]
    configured = bool(rules) or any(x.kind is ExceptionKind.EXTRA_HOURS for x in exceptions)
    available = (
        expand(rules, exceptions, zone=ZoneInfo(tutor.time_zone), start=start, end=end)
        if configured
        else []
    )
    booked = [
        Interval(s.scheduled_start, s.scheduled_end)
        for s in await db.scalars(
            select(LiveSession).where(
                LiveSession.tutor_id == tutor.id,
                LiveSession.status != SessionStatus.CANCELLED,
                LiveSession.scheduled_end > start,
                LiveSession.scheduled_start < end,
            )
        )
    ]
    return TutorUtilisation(tutor, configured, utilisation(available, booked, start=start, end=end))
