"""How much of a tutor's available time is booked over a range: pure arithmetic.

``utilisation`` takes the tutor's available UTC intervals (``availability.expand``)
and their booked sessions, both clipped to the range. Booked time counts whether
or not it lies inside the availability (a coordinator may have booked outside it);
the share is booked over available, so it can pass 1.0 for an overbooked tutor,
and is None when the tutor has no availability in the range.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from scheduling.availability import Interval, merge


@dataclass(frozen=True)
class Utilisation:
    available_minutes: int
    booked_minutes: int
    sessions: int

    @property
    def share(self) -> float | None:
        """Booked over available, or None with no availability."""
        if self.available_minutes == 0:
            return None
        return round(self.booked_minutes / self.available_minutes, 3)


def _minutes(intervals: Iterable[Interval]) -> int:
    return int(sum((i.end - i.start).total_seconds() for i in intervals) // 60)


def _clip(interval: Interval, start: datetime, end: datetime) -> Interval | None:
    lo, hi = max(interval.start, start), min(interval.end, end)
    return Interval(lo, hi) if lo < hi else None


def utilisation(
    available: Sequence[Interval], booked: Sequence[Interval], *, start: datetime, end: datetime
) -> Utilisation:
    """The tutor's available and booked minutes within ``[start, end)``.

    Args:
        available: available intervals (need not be clipped or merged).
        booked: the tutor's sessions that are not cancelled; overlapping ones
            (which the booking checks refuse) would count once.
    """
    clipped_available = [c for i in available if (c := _clip(i, start, end)) is not None]
    clipped_booked = [c for i in booked if (c := _clip(i, start, end)) is not None]
    return Utilisation(
        available_minutes=_minutes(merge(clipped_available)),
        booked_minutes=_minutes(merge(clipped_booked)),
        sessions=len(clipped_booked),
    )
