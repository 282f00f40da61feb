"""Why a proposed booking cannot go ahead: every reason at once, without I/O.

``find_conflicts`` takes the proposed session, the sessions already booked for
its tutor and students, and the tutor's schedule (zone, availability,
qualifications, limits), and returns a ``ScheduleConflict`` per problem. An
empty list means the booking may be written. The caller loads the data and
decides what to do; see ``scheduling.bookings.check_conflicts``.

What is checked, and when:

- double booking of the tutor or of any student: always;
- outside availability: time off always; the weekly windows only when the tutor
  has any weekly rule or extra hours (an unconfigured tutor is free any time);
- qualification: only when the tutor has any qualification rows;
- daily and weekly limits and the buffer: only when set.

Cancelled sessions never conflict, and the session being changed is not
compared with itself. Intervals are half-open: back-to-back sessions are fine.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo

from scheduling.availability import (
    MINUTES_PER_DAY,
    DateException,
    ExceptionKind,
    Interval,
    WeeklyRule,
    expand,
    local_interval,
)


class ConflictCode(StrEnum):
    """Stable machine codes of the reasons a booking is refused."""

    TUTOR_DOUBLE_BOOKED = "tutor_double_booked"
    STUDENT_DOUBLE_BOOKED = "student_double_booked"
    OUTSIDE_AVAILABILITY = "outside_availability"
    TUTOR_NOT_QUALIFIED = "tutor_not_qualified"
    DAILY_LIMIT = "daily_limit_reached"
    WEEKLY_LIMIT = "weekly_limit_reached"
    INSIDE_BUFFER = "inside_buffer"


@dataclass(frozen=True)
class ScheduleConflict:
    """One reason a booking is refused, with a message a coordinator can act on.

    ``field`` names the request field to change (``tutor_id``, ``student_ids``,
    ``subject``, ``scheduled_start``); ``session_id`` and ``student_id`` name the
    clashing session and student where there is one.
    """

    code: ConflictCode
    message: str
    field: str
    session_id: str | None = None
    student_id: str | None = None


@dataclass(frozen=True)
class Proposal:
    """The session someone wants to book (or to change ``session_id`` into)."""

    tutor_id: str
    student_ids: tuple[str, ...]
    subject: str
    start: datetime
    end: datetime
    student_levels: dict[str, str | None] = field(default_factory=dict)
    session_id: str | None = None
    # Display names, for messages a coordinator reads; an id stands in for one missing.
    student_names: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Booked:
    """A session already in the calendar."""

    id: str
    tutor_id: str
    student_ids: frozenset[str]
    start: datetime
    end: datetime
    cancelled: bool = False
    subject: str = ""  # named in messages when known


@dataclass(frozen=True)
class Limits:
    max_sessions_per_day: int | None = None
    max_sessions_per_week: int | None = None
    buffer_minutes: int = 0


@dataclass(frozen=True)
class TutorSchedule:
    """What the checker needs to know about the proposal's tutor."""

    zone: ZoneInfo
    rules: tuple[WeeklyRule, ...] = ()
    exceptions: tuple[DateException, ...] = ()
    qualifications: frozenset[tuple[str, str]] = frozenset()
    limits: Limits = Limits()


def _key(label: str) -> str:
    return label.strip().casefold()


def _hm(dt: datetime, zone: ZoneInfo) -> str:
    return dt.astimezone(zone).strftime("%a %Y-%m-%d %H:%M")


def _span(s: Booked, zone: ZoneInfo) -> str:
    end = s.end.astimezone(zone).strftime("%H:%M")
    return f"{_hm(s.start, zone)}-{end} {zone.key}"


def find_conflicts(
    proposal: Proposal, existing: Iterable[Booked], tutor: TutorSchedule
) -> list[ScheduleConflict]:
    """Every reason ``proposal`` cannot be booked, in a stable order; empty if it can.

    Args:
        proposal: the new session, or the new shape of ``proposal.session_id``.
        existing: sessions of the same tutor or students near the proposal's time
            (at least its tutor-local week and the buffer around it); others are ignored.
        tutor: the tutor's zone, availability, qualifications and limits.

    Raises:
        ValueError: if the proposal ends before it starts or has naive times.
    """
    me = Interval(proposal.start, proposal.end)
    if me.end <= me.start:
        raise ValueError("a session must end after it starts")
    zone = tutor.zone
    others = sorted(
        (
            s
            for s in existing
            if not s.cancelled and s.id != proposal.session_id and s.end > s.start
        ),
        key=lambda s: (s.start, s.id),
    )
    out: list[ScheduleConflict] = []
    out += _double_bookings(proposal, me, others, zone)
    out += _availability(me, tutor)
    out += _qualification(proposal, tutor)
    out += _limits(proposal, me, others, tutor)
    return out


def _double_bookings(
    p: Proposal, me: Interval, others: list[Booked], zone: ZoneInfo
) -> list[ScheduleConflict]:
    out: list[ScheduleConflict] = []
    students = set(p.student_ids)
    for s in others:
        if not me.overlaps(Interval(s.start, s.end)):
            continue
        # The clashing lesson by its subject where known (a coordinator knows lessons by
        # what and when, not by id), its id kept for whoever looks it up.
        what = f"{s.subject} (session {s.id})" if s.subject else f"session {s.id}"
        if s.tutor_id == p.tutor_id:
            out.append(
                ScheduleConflict(
                    ConflictCode.TUTOR_DOUBLE_BOOKED,
                    f"the tutor already teaches {what} at {_span(s, zone)}; "
                    "choose another time or another tutor",
                    "tutor_id",
                    session_id=s.id,
                )
            )
        for sid in sorted(students & s.student_ids):
            out.append(
                ScheduleConflict(
                    ConflictCode.STUDENT_DOUBLE_BOOKED,
                    f"{p.student_names.get(sid, f'student {sid}')} is already in {what} at "
                    f"{_span(s, zone)}; "
                    "choose another time or leave them out",
                    "student_ids",
                    session_id=s.id,
                    student_id=sid,
                )
            )
    return out


def _availability(me: Interval, tutor: TutorSchedule) -> list[ScheduleConflict]:
    zone = tutor.zone
    weekly = bool(tutor.rules) or any(x.kind is ExceptionKind.EXTRA_HOURS for x in tutor.exceptions)
    if not weekly and not tutor.exceptions:
        return []
    # The whole local day around the proposal, so the message can list the windows.
    day_start = me.start - timedelta(days=1)
    day_end = me.end + timedelta(days=1)
    if weekly:
        free = expand(tutor.rules, tutor.exceptions, zone=zone, start=day_start, end=day_end)
    else:
        everything = DateException(ExceptionKind.EXTRA_HOURS, starts_at=day_start, ends_at=day_end)
        free = expand((), (everything, *tutor.exceptions), zone=zone, start=day_start, end=day_end)
    if any(iv.contains(me) for iv in free):
        return []
    local_day = me.start.astimezone(zone).date()
    day = local_interval(local_day, 0, MINUTES_PER_DAY, zone)
    same_day = [
        Interval(max(iv.start, day.start), min(iv.end, day.end)) for iv in free if iv.overlaps(day)
    ]
    windows = ", ".join(
        f"{iv.start.astimezone(zone):%H:%M}-"
        + ("24:00" if iv.end == day.end else f"{iv.end.astimezone(zone):%H:%M}")
        for iv in same_day
    )
    offered = f"they are available {windows}" if windows else "they are not available at all"
    return [
        ScheduleConflict(
            ConflictCode.OUTSIDE_AVAILABILITY,
            f"{_hm(me.start, zone)}-{me.end.astimezone(zone):%H:%M} {zone.key} is outside the "
            f"tutor's availability; on {local_day:%a %Y-%m-%d} {offered} ({zone.key})",
            "scheduled_start",
        )
    ]


def _qualification(p: Proposal, tutor: TutorSchedule) -> list[ScheduleConflict]:
    if not tutor.qualifications:
        return []
    quals = {(_key(s), _key(lv)) for s, lv in tutor.qualifications}
    subject = _key(p.subject)
    levels = {lv for sid in p.student_ids if (lv := p.student_levels.get(sid)) is not None}
    if not levels:
        if any(s == subject for s, _ in quals):
            return []
        missing = [f"{p.subject} at any level"]
    else:
        missing = [
            f"{p.subject} at level {lv}"
            for lv in sorted(levels)
            if (subject, _key(lv)) not in quals
        ]
    if not missing:
        return []
    return [
        ScheduleConflict(
            ConflictCode.TUTOR_NOT_QUALIFIED,
            f"the tutor is not qualified to teach {', '.join(missing)}; "
            "choose a qualified tutor or add the qualification",
            "subject",
        )
    ]


def _limits(
    p: Proposal, me: Interval, others: list[Booked], tutor: TutorSchedule
) -> list[ScheduleConflict]:
    zone, limits = tutor.zone, tutor.limits
    mine = [s for s in others if s.tutor_id == p.tutor_id]
    out: list[ScheduleConflict] = []
    day = me.start.astimezone(zone).date()
    if limits.max_sessions_per_day is not None:
        n = sum(1 for s in mine if s.start.astimezone(zone).date() == day)
        if n + 1 > limits.max_sessions_per_day:
            out.append(
                ScheduleConflict(
                    ConflictCode.DAILY_LIMIT,
                    f"the tutor already has {n} session(s) on {day:%a %Y-%m-%d} ({zone.key}), "
                    f"and their limit is {limits.max_sessions_per_day} a day; choose another day",
                    "scheduled_start",
                )
            )
    if limits.max_sessions_per_week is not None:
        week = day.isocalendar()[:2]
        n = sum(1 for s in mine if s.start.astimezone(zone).date().isocalendar()[:2] == week)
        if n + 1 > limits.max_sessions_per_week:
            monday = day - timedelta(days=day.weekday())
            out.append(
                ScheduleConflict(
                    ConflictCode.WEEKLY_LIMIT,
                    f"the tutor already has {n} session(s) in the week of {monday:%Y-%m-%d}, "
                    f"and their limit is {limits.max_sessions_per_week} a week; "
                    "choose another week",
                    "scheduled_start",
                )
            )
    if limits.buffer_minutes > 0:
        gap = timedelta(minutes=limits.buffer_minutes)
        padded = Interval(me.start - gap, me.end + gap)
        for s in mine:
            other = Interval(s.start, s.end)
            if padded.overlaps(other) and not me.overlaps(other):
                out.append(
                    ScheduleConflict(
                        ConflictCode.INSIDE_BUFFER,
                        f"the tutor needs {limits.buffer_minutes} minutes between sessions, "
                        f"and session {s.id} at {_span(s, zone)} is closer than that; "
                        "move this session further from it",
                        "scheduled_start",
                        session_id=s.id,
                    )
                )
    return out
