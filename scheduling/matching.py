"""Ranking tutors for one open request, on a candidate index the batch solver shares.

Pure: no database, no clock. The input is a ``Snapshot`` of the tutors'
schedules (``scheduling.conflicts.TutorSchedule``) and booked sessions, the
students' booked sessions and how often each student met each tutor; the
loader in ``scheduling.matching_store`` builds one from the database.

A tutor can take a request when:

- they hold a ``TutorQualification`` for its subject and level (a tutor with no
  qualification rows is never proposed: matching needs to know what they teach);
- the slot lies inside their availability (``scheduling.availability.expand``,
  weekly rules in their own zone, with the same rule as bookings for a tutor
  with no weekly rules: free except time off);
- it keeps their buffer from every booked session, stays within their daily
  and weekly limits (days and weeks in their zone), and the student is free.

Ranking puts continuity first (tutors who already taught the student, most
sessions first), then load (fewer sessions in that tutor-local week), then the
earliest slot. Every offered slot is confirmed by ``find_conflicts``, the check
every booking goes through, and a tutor left out carries its messages.

``_Index`` (each qualified tutor's free time flattened to UTC minutes, and the
feasible starts of a request) is the one reading of "can take a request" that
ranking and ``scheduling.match_batch`` both build on, so a batch never offers a
slot that ranking would refuse; it is private to the two modules.
"""

from __future__ import annotations

import bisect
import math
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo

from scheduling.availability import (
    MINUTES_PER_DAY,
    DateException,
    ExceptionKind,
    Interval,
    expand,
    local_instant,
    local_interval,
    subtract,
)
from scheduling.conflicts import Booked, Proposal, TutorSchedule, find_conflicts

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class TutorSnapshot:
    """One tutor as matching sees them: schedule settings and booked sessions."""

    id: str
    schedule: TutorSchedule
    booked: tuple[Booked, ...] = ()


@dataclass(frozen=True)
class Snapshot:
    """Everything matching reads, taken at one moment.

    Args:
        tutors: the tutors who may be proposed.
        student_sessions: each student's booked sessions (a slot must not clash).
        history: sessions each (student id, tutor id) pair has had together.
    """

    tutors: tuple[TutorSnapshot, ...]
    student_sessions: Mapping[str, tuple[Booked, ...]] = field(default_factory=dict)
    history: Mapping[tuple[str, str], int] = field(default_factory=dict)


@dataclass(frozen=True)
class MatchRequest:
    """A student wants ``duration`` of ``subject`` at ``level`` inside one of ``windows`` (UTC)."""

    student_id: str
    subject: str
    level: str
    windows: tuple[Interval, ...]
    duration: timedelta
    id: str = ""

    def __post_init__(self) -> None:
        if self.duration <= timedelta(0):
            raise ValueError("duration must be positive")
        if not self.windows:
            raise ValueError("a request needs at least one window")


@dataclass(frozen=True)
class Candidate:
    """A tutor who can take the request, with the slot offered and why they rank here."""

    tutor_id: str
    start: datetime
    end: datetime
    sessions_with_student: int
    sessions_that_week: int
    reasons: tuple[str, ...]


class ExclusionCode(StrEnum):
    NOT_QUALIFIED = "not_qualified"
    NOT_FREE = "not_free"


@dataclass(frozen=True)
class Excluded:
    """A tutor who cannot take the request, and why, in words a coordinator can act on."""

    tutor_id: str
    code: ExclusionCode
    reasons: tuple[str, ...]


@dataclass(frozen=True)
class Ranking:
    candidates: list[Candidate]
    excluded: list[Excluded]


def _key(label: str) -> str:
    return label.strip().casefold()


def _minute(dt: datetime) -> int:
    """The whole minute ``dt`` falls in (an interval's end: the last minute it covers)."""
    return int((dt - _EPOCH).total_seconds() // 60)


def _minute_up(dt: datetime) -> int:
    """The first whole minute at or after ``dt`` (an interval's start: a window that opens
    at 14:00:00.5 has room from 14:01, and a slot offered at 14:00 would not fit it)."""
    return -int(-(dt - _EPOCH).total_seconds() // 60)


def _at(minute: int) -> datetime:
    return _EPOCH + timedelta(minutes=minute)


def _local(dt: datetime, zone: ZoneInfo) -> str:
    return f"{dt.astimezone(zone):%a %Y-%m-%d %H:%M}"


@dataclass(eq=False)
class _Tutor:
    """A tutor's schedule flattened to integer UTC minutes for fast look-ups."""

    snap: TutorSnapshot
    id: str
    free: list[tuple[int, int]]  # sorted, disjoint; booked sessions and buffer taken out
    free_starts: list[int]
    day_starts: list[int]  # local midnights in UTC minutes, sorted
    days: list[date]
    day_load: dict[date, int]
    week_load: dict[tuple[int, int], int]
    buffer: int
    week_load_by_day: list[int] = field(default_factory=list)  # aligned with ``days``

    @property
    def zone(self) -> ZoneInfo:
        return self.snap.schedule.zone

    def day_of(self, minute: int) -> date:
        return self.days[bisect.bisect_right(self.day_starts, minute) - 1]

    def load_at(self, minute: int) -> int:
        """Sessions already booked in the tutor-local week of ``minute``."""
        return self.week_load_by_day[bisect.bisect_right(self.day_starts, minute) - 1]

    def starts(self, windows: Sequence[tuple[int, int]], duration: int, step: int) -> list[int]:
        """Starts on the ``step`` grid with ``[start, start + duration)`` free and inside
        one of ``windows`` (``[lo, hi)`` in UTC minutes)."""
        out: list[int] = []
        free, n = self.free, len(self.free)
        for lo, hi in windows:
            i = max(bisect.bisect_right(self.free_starts, lo) - 1, 0)
            while i < n and free[i][0] < hi:
                fs, fe = free[i]
                first = -(-max(lo, fs) // step) * step
                last = min(hi, fe) - duration
                if first <= last:
                    out.extend(range(first, last + 1, step))
                i += 1
        return out


def _week(day: date) -> tuple[int, int]:
    year, week, _ = day.isocalendar()
    return (year, week)


def _prepare(t: TutorSnapshot, start: datetime, end: datetime) -> _Tutor:
    sched = t.schedule
    zone = sched.zone
    exceptions: Sequence[DateException] = sched.exceptions
    configured = bool(sched.rules) or any(
        x.kind is ExceptionKind.EXTRA_HOURS for x in sched.exceptions
    )
    if not configured:  # as bookings treat them: free at any time except time off
        everything = DateException(ExceptionKind.EXTRA_HOURS, starts_at=start, ends_at=end)
        exceptions = (everything, *exceptions)
    available = expand(sched.rules, exceptions, zone=zone, start=start, end=end)
    live = [b for b in t.booked if not b.cancelled and b.end > b.start]
    gap = timedelta(minutes=sched.limits.buffer_minutes)
    busy = [Interval(b.start - gap, b.end + gap) for b in live]
    first_day = start.astimezone(zone).date() - timedelta(days=8)
    n_days = (end - start).days + 17
    days = [first_day + timedelta(days=k) for k in range(n_days)]
    day_starts = [_minute(local_instant(d, 0, zone)) for d in days]
    day_load: dict[date, int] = defaultdict(int)
    week_load: dict[tuple[int, int], int] = defaultdict(int)
    for b in live:
        day = b.start.astimezone(zone).date()
        day_load[day] += 1
        week_load[_week(day)] += 1
    # A local day already at the daily or weekly limit offers nothing.
    limits = sched.limits
    for day in days:
        full_day = (
            limits.max_sessions_per_day is not None
            and day_load.get(day, 0) >= limits.max_sessions_per_day
        )
        full_week = (
            limits.max_sessions_per_week is not None
            and week_load.get(_week(day), 0) >= limits.max_sessions_per_week
        )
        if full_day or full_week:
            busy.append(local_interval(day, 0, MINUTES_PER_DAY, zone))
    free = [(_minute_up(iv.start), _minute(iv.end)) for iv in subtract(available, busy)]
    return _Tutor(
        snap=t,
        id=t.id,
        free=free,
        free_starts=[s for s, _ in free],
        day_starts=day_starts,
        days=days,
        day_load=day_load,
        week_load=week_load,
        buffer=sched.limits.buffer_minutes,
        week_load_by_day=[week_load.get(_week(d), 0) for d in days],
    )


@dataclass(frozen=True)
class _Option:
    request: int
    tutor: _Tutor
    start: int
    end: int
    history: int
    load: int

    @property
    def day(self) -> date:
        return self.tutor.day_of(self.start)

    def rank_key(self) -> tuple[int, int, int, str]:
        return (-self.history, self.load, self.start, self.tutor.id)


class _Index:
    """Tutors prepared once for a set of requests, found by (subject, level)."""

    def __init__(self, snapshot: Snapshot, requests: Sequence[MatchRequest]) -> None:
        self.snapshot = snapshot
        start = min(w.start for r in requests for w in r.windows) - timedelta(days=1)
        end = max(w.end for r in requests for w in r.windows) + timedelta(days=1)
        wanted = {(_key(r.subject), _key(r.level)) for r in requests}
        self.by_qualification: dict[tuple[str, str], list[_Tutor]] = defaultdict(list)
        self.tutors: dict[str, _Tutor] = {}
        for t in snapshot.tutors:
            quals = {(_key(s), _key(lv)) for s, lv in t.schedule.qualifications} & wanted
            if not quals:
                continue
            prepared = self.tutors[t.id] = _prepare(t, start, end)
            for q in quals:
                self.by_qualification[q].append(prepared)
        self.student_busy = {
            sid: sorted((_minute(b.start), _minute(b.end)) for b in sessions if not b.cancelled)
            for sid, sessions in snapshot.student_sessions.items()
        }

    def qualified(self, r: MatchRequest) -> list[_Tutor]:
        return self.by_qualification.get((_key(r.subject), _key(r.level)), [])

    def starts(self, r: MatchRequest, step: int) -> dict[str, list[int]]:
        """Every feasible start (UTC minutes) for each qualified tutor with any, by tutor id."""
        duration = math.ceil(r.duration.total_seconds() / 60)
        busy = self.student_busy.get(r.student_id, [])
        windows = [(_minute_up(w.start), _minute(w.end)) for w in r.windows]
        out: dict[str, list[int]] = {}
        for t in self.qualified(r):
            found = t.starts(windows, duration, step)
            if busy and found:
                found = [
                    s for s in found if not any(bs < s + duration and s < be for bs, be in busy)
                ]
            if found:
                out[t.id] = sorted(set(found)) if len(windows) > 1 else found
        return out

    def option(self, i: int, r: MatchRequest, tutor_id: str, start: int) -> _Option:
        t = self.tutors[tutor_id]
        duration = math.ceil(r.duration.total_seconds() / 60)
        history = self.snapshot.history.get((r.student_id, t.id), 0)
        return _Option(i, t, start, start + duration, history, t.load_at(start))


def _history_reason(n: int) -> str:
    if n:
        return f"has taught this student {n} time(s) before (continuity)"
    return "has not taught this student before"


def _reasons(o: _Option, r: MatchRequest) -> tuple[str, ...]:
    zone = o.tutor.zone
    start, end = _at(o.start), _at(o.end)
    return (
        f"qualified for {r.subject} at level {r.level}",
        f"free {_local(start, zone)}-{end.astimezone(zone):%H:%M} {zone.key}",
        _history_reason(o.history),
        f"{o.load} other session(s) booked that week (in {zone.key})",
    )


def rank(request: MatchRequest, snapshot: Snapshot, *, step_minutes: int = 30) -> Ranking:
    """Every tutor who could take ``request``, best first, and every other tutor with why not.

    Each candidate is offered their earliest free slot (on the ``step_minutes``
    grid), confirmed with ``find_conflicts``.
    """
    index = _Index(snapshot, [request])
    qualified = {t.id for t in index.qualified(request)}
    by_tutor = {
        tid: [index.option(0, request, tid, s) for s in starts]
        for tid, starts in index.starts(request, step_minutes).items()
    }
    student_sessions = snapshot.student_sessions.get(request.student_id, ())
    levels: dict[str, str | None] = {request.student_id: request.level}
    candidates: list[tuple[_Option, Candidate]] = []
    excluded: list[Excluded] = []
    for t in snapshot.tutors:
        if t.id not in qualified:
            excluded.append(_not_qualified(t, request))
            continue
        chosen = None
        for o in by_tutor.get(t.id, []):
            proposal = Proposal(
                tutor_id=t.id,
                student_ids=(request.student_id,),
                subject=request.subject,
                start=_at(o.start),
                end=_at(o.end),
                student_levels=levels,
            )
            if not find_conflicts(proposal, (*t.booked, *student_sessions), t.schedule):
                chosen = o
                break
        if chosen is None:
            excluded.append(_not_free(t, request, student_sessions, levels, step_minutes))
            continue
        candidates.append(
            (
                chosen,
                Candidate(
                    tutor_id=t.id,
                    start=_at(chosen.start),
                    end=_at(chosen.end),
                    sessions_with_student=chosen.history,
                    sessions_that_week=chosen.load,
                    reasons=_reasons(chosen, request),
                ),
            )
        )
    candidates.sort(key=lambda pair: pair[0].rank_key())
    return Ranking(candidates=[c for _, c in candidates], excluded=excluded)


def _not_qualified(t: TutorSnapshot, r: MatchRequest) -> Excluded:
    if not t.schedule.qualifications:
        why = "has no qualifications recorded; add theirs to offer them for matching"
    else:
        held = ", ".join(f"{s} at {lv}" for s, lv in sorted(t.schedule.qualifications))
        why = f"is not qualified for {r.subject} at level {r.level} (holds: {held})"
    return Excluded(t.id, ExclusionCode.NOT_QUALIFIED, (why,))


def _not_free(
    t: TutorSnapshot,
    r: MatchRequest,
    student_sessions: Iterable[Booked],
    levels: dict[str, str | None],
    step: int,
) -> Excluded:
    # Explain with the check bookings use, at the first start the request allows.
    w = min(r.windows)
    first = _at(-(-_minute_up(w.start) // step) * step)
    proposal = Proposal(
        tutor_id=t.id,
        student_ids=(r.student_id,),
        subject=r.subject,
        start=first,
        end=first + r.duration,
        student_levels=levels,
    )
    minutes = int(r.duration.total_seconds() // 60)
    reasons = [f"has no free {minutes}-minute slot inside the requested windows"]
    reasons += [
        f"at {first:%Y-%m-%d %H:%M}Z: {c.message}"
        for c in find_conflicts(proposal, (*t.booked, *student_sessions), t.schedule)
    ]
    return Excluded(t.id, ExclusionCode.NOT_FREE, tuple(reasons))
