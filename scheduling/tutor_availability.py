"""A tutor's weekly availability and date exceptions, read and replaced as one record.

The routes show rules and exceptions together and replace them together (PUT),
and the windows they open are worked out from the same rows, so each of these
reads both. The rows are ``scheduling.schedules``'; the expansion is the pure
``scheduling.availability``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession

from scheduling.availability import DateException, Interval, WeeklyRule, bookable, is_configured
from scheduling.models import AvailabilityException, AvailabilityRule, Tutor
from scheduling.schedules import (
    exceptions_of,
    replace_availability,
    rules_of,
    to_exception,
    to_rule,
)

__all__ = [
    "AvailabilityWindows",
    "TutorAvailability",
    "availability_of",
    "availability_windows",
    "set_availability",
]


@dataclass(frozen=True)
class TutorAvailability:
    """A tutor's weekly rules and date exceptions, in the order they are shown."""

    rules: list[AvailabilityRule]
    exceptions: list[AvailabilityException]


@dataclass(frozen=True)
class AvailabilityWindows:
    """When a tutor is available in a range; ``configured`` false: free but for time off."""

    configured: bool
    items: list[Interval]


async def availability_of(db: AsyncSession, tutor_id: str) -> TutorAvailability:
    return TutorAvailability(
        rules=await rules_of(db, tutor_id), exceptions=await exceptions_of(db, tutor_id)
    )


async def set_availability(
    db: AsyncSession,
    tutor_id: str,
    *,
    rules: Sequence[WeeklyRule],
    exceptions: Sequence[tuple[DateException, str | None]],
    now: datetime,
) -> TutorAvailability:
    """Make ``rules`` and ``exceptions`` (each with an optional note) the tutor's availability.

    Existing bookings are not re-checked.
    """
    await replace_availability(db, tutor_id, rules=rules, exceptions=exceptions, now=now)
    return await availability_of(db, tutor_id)


async def availability_windows(
    db: AsyncSession, tutor: Tutor, *, start: datetime, end: datetime
) -> AvailabilityWindows:
    """The UTC intervals the tutor is available in ``[start, end)``, from their rules
    and exceptions in their own zone; booked sessions are not taken out.

    Raises:
        ValueError: for a naive or empty range.
    """
    rules = [to_rule(r) for r in await rules_of(db, tutor.id)]
    exceptions = [to_exception(x) for x in await exceptions_of(db, tutor.id)]
    return AvailabilityWindows(
        configured=is_configured(rules, exceptions),
        items=bookable(rules, exceptions, zone=ZoneInfo(tutor.time_zone), start=start, end=end),
    )
