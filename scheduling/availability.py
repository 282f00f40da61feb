"""A tutor's availability as UTC intervals, from weekly rules in their own zone.

Pure: no database, no clock. The weekly rules and date exceptions are stated in
the tutor's local time (minutes from local midnight), and each occurrence is
turned into UTC with ``zoneinfo`` for its own date, so a 09:00-17:00 rule is
09:00-17:00 local on both sides of a daylight-saving change (in London,
09:00Z-17:00Z in winter and 08:00Z-16:00Z in summer; a window that spans the
change itself is an hour shorter or longer in UTC, as the wall clock is).

A local time that does not exist (inside a spring-forward gap) resolves the way
``zoneinfo`` does with ``fold=0``: with the offset before the change, which
lands an hour later on the wall clock. A repeated one (autumn) takes the first.

The expansion::

    available = (weekly rules ∪ extra hours) − time off

with each interval half-open, ``[start, end)``, so back-to-back windows merge
and a session ending at 17:00 fits a window ending at 17:00.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo

MINUTES_PER_DAY = 24 * 60


class ExceptionKind(StrEnum):
    """What a date exception does to the weekly availability."""

    TIME_OFF = "time_off"
    EXTRA_HOURS = "extra_hours"


@dataclass(frozen=True, order=True)
class Interval:
    """A half-open span ``[start, end)`` of aware datetimes (UTC by convention)."""

    start: datetime
    end: datetime

    def __post_init__(self) -> None:
        if self.start.tzinfo is None or self.end.tzinfo is None:
            raise ValueError("interval bounds must be timezone-aware")

    def overlaps(self, other: Interval) -> bool:
        return self.start < other.end and other.start < self.end

    def contains(self, other: Interval) -> bool:
        return self.start <= other.start and other.end <= self.end


@dataclass(frozen=True)
class WeeklyRule:
    """Available every ``weekday`` (0 is Monday) from ``start_minute`` to ``end_minute``,
    counted from local midnight; ``end_minute`` may be 1440 (midnight)."""

    weekday: int
    start_minute: int
    end_minute: int

    def __post_init__(self) -> None:
        if not 0 <= self.weekday <= 6:
            raise ValueError(f"weekday must be 0 (Monday) to 6 (Sunday), not {self.weekday}")
        _check_minutes(self.start_minute, self.end_minute)


@dataclass(frozen=True)
class DateException:
    """Time off or extra hours, either on a local date or over an exact UTC range.

    ``on_date`` with no minutes is that whole local day; with minutes, that part
    of it. Otherwise ``starts_at``/``ends_at`` give the range.
    """

    kind: ExceptionKind
    on_date: date | None = None
    start_minute: int | None = None
    end_minute: int | None = None
    starts_at: datetime | None = None
    ends_at: datetime | None = None

    def __post_init__(self) -> None:
        if self.on_date is not None:
            if self.starts_at is not None or self.ends_at is not None:
                raise ValueError("give either on_date or starts_at/ends_at, not both")
            if (self.start_minute is None) != (self.end_minute is None):
                raise ValueError("give both start_minute and end_minute, or neither")
            if self.start_minute is not None and self.end_minute is not None:
                _check_minutes(self.start_minute, self.end_minute)
        elif self.starts_at is None or self.ends_at is None:
            raise ValueError("give on_date, or both starts_at and ends_at")
        else:
            Interval(self.starts_at, self.ends_at)  # awareness check
            if self.ends_at <= self.starts_at:
                raise ValueError("ends_at must be after starts_at")

    def interval(self, zone: ZoneInfo) -> Interval:
        """The exception as a UTC interval, resolving a local date in ``zone``."""
        if self.on_date is None:
            assert self.starts_at is not None and self.ends_at is not None
            return Interval(_utc(self.starts_at), _utc(self.ends_at))
        return local_interval(
            self.on_date,
            self.start_minute if self.start_minute is not None else 0,
            self.end_minute if self.end_minute is not None else MINUTES_PER_DAY,
            zone,
        )


def _check_minutes(start_minute: int, end_minute: int) -> None:
    if not 0 <= start_minute < end_minute <= MINUTES_PER_DAY:
        raise ValueError(
            f"need 0 <= start < end <= 1440 minutes from midnight, "
            f"not {start_minute} to {end_minute}"
        )


def _utc(dt: datetime) -> datetime:
    return dt.astimezone(ZoneInfo("UTC"))


def local_instant(day: date, minute: int, zone: ZoneInfo) -> datetime:
    """``minute`` minutes after local midnight on ``day`` (1440 is next midnight), in UTC."""
    if minute == MINUTES_PER_DAY:
        day, minute = day + timedelta(days=1), 0
    wall = datetime.combine(day, time(minute // 60, minute % 60), tzinfo=zone)
    return _utc(wall)


def local_interval(day: date, start_minute: int, end_minute: int, zone: ZoneInfo) -> Interval:
    """A local wall-clock window on ``day`` as a UTC interval."""
    return Interval(local_instant(day, start_minute, zone), local_instant(day, end_minute, zone))


def merge(intervals: Iterable[Interval]) -> list[Interval]:
    """Sorted, with overlapping or touching intervals joined."""
    out: list[Interval] = []
    for iv in sorted(intervals):
        if out and iv.start <= out[-1].end:
            if iv.end > out[-1].end:
                out[-1] = Interval(out[-1].start, iv.end)
        else:
            out.append(iv)
    return out


def subtract(intervals: Sequence[Interval], holes: Iterable[Interval]) -> list[Interval]:
    """``intervals`` with every part covered by ``holes`` removed."""
    out = list(merge(intervals))
    for hole in merge(holes):
        kept: list[Interval] = []
        for iv in out:
            if not iv.overlaps(hole):
                kept.append(iv)
                continue
            if iv.start < hole.start:
                kept.append(Interval(iv.start, hole.start))
            if hole.end < iv.end:
                kept.append(Interval(hole.end, iv.end))
        out = kept
    return out


def _local_days(start: datetime, end: datetime, zone: ZoneInfo) -> Iterable[date]:
    # One day either side: a rule on a neighbouring local date can reach into
    # the range when the zone is far from UTC.
    day = start.astimezone(zone).date() - timedelta(days=1)
    last = end.astimezone(zone).date() + timedelta(days=1)
    while day <= last:
        yield day
        day += timedelta(days=1)


def expand(
    rules: Iterable[WeeklyRule],
    exceptions: Iterable[DateException],
    *,
    zone: ZoneInfo,
    start: datetime,
    end: datetime,
) -> list[Interval]:
    """The tutor's available UTC intervals within ``[start, end)``, merged and sorted.

    Args:
        rules: weekly windows in ``zone``.
        exceptions: time off (removed) and extra hours (added).
        zone: the tutor's IANA zone.
        start: aware start of the range.
        end: aware end of the range.

    Raises:
        ValueError: for a naive or empty range.
    """
    window = Interval(_utc(start), _utc(end))
    if window.end <= window.start:
        raise ValueError("end must be after start")
    rules = list(rules)
    exceptions = list(exceptions)
    open_: list[Interval] = []
    for day in _local_days(window.start, window.end, zone):
        for rule in rules:
            if rule.weekday == day.weekday():
                open_.append(local_interval(day, rule.start_minute, rule.end_minute, zone))
    open_ += [x.interval(zone) for x in exceptions if x.kind is ExceptionKind.EXTRA_HOURS]
    off = [x.interval(zone) for x in exceptions if x.kind is ExceptionKind.TIME_OFF]
    clipped = [
        Interval(max(iv.start, window.start), min(iv.end, window.end))
        for iv in subtract(open_, off)
        if iv.overlaps(window)
    ]
    return merge(clipped)


def is_configured(rules: Sequence[WeeklyRule], exceptions: Iterable[DateException]) -> bool:
    """Whether a tutor's availability limits bookings: any weekly rule or extra hours.

    An unconfigured tutor is free at any time except their time off.
    """
    return bool(rules) or any(x.kind is ExceptionKind.EXTRA_HOURS for x in exceptions)


def bookable(
    rules: Sequence[WeeklyRule],
    exceptions: Sequence[DateException],
    *,
    zone: ZoneInfo,
    start: datetime,
    end: datetime,
) -> list[Interval]:
    """The intervals within ``[start, end)`` a booking may fall in, merged and sorted.

    ``expand`` of the rules and exceptions, except that an unconfigured tutor
    (``is_configured`` false) is open over the whole range, less time off.

    Raises:
        ValueError: for a naive or empty range.
    """
    if not is_configured(rules, exceptions):
        everything = DateException(ExceptionKind.EXTRA_HOURS, starts_at=start, ends_at=end)
        exceptions = [everything, *exceptions]
    return expand(rules, exceptions, zone=zone, start=start, end=end)
