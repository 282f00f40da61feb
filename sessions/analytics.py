"""Trends over held sessions, per student, tutor or subject and week or month.

Read from the structured session data (``sessions.facts``). The database only
counts and sums (plain ``GROUP BY`` on stored period columns, booleans summed as
0/1), and rates are divided here and rounded, so SQLite and PostgreSQL give the
same answer to the same question, and the CSV export, which reads through the
same function, matches the JSON page for page.

A row's counts cover the sessions in its period; a rate is null when nothing
was there to divide (no session attended, no check made).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from typing import Any

from sqlalchemy import ColumnElement, Integer, Select, case, cast, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from core.pagination import PageWindow
from scheduling.models import Student, Tutor, User
from sessions.models import ParticipantFacts, SessionFacts

__all__ = [
    "LATE_MINUTES",
    "METRICS",
    "Dimension",
    "Period",
    "TrendQuery",
    "TrendRow",
    "trends",
]

# Arriving this many minutes after the start counts as late.
LATE_MINUTES = 5


class Dimension(StrEnum):
    STUDENT = "student"
    TUTOR = "tutor"
    SUBJECT = "subject"


class Period(StrEnum):
    WEEK = "week"
    MONTH = "month"


@dataclass(frozen=True)
class TrendQuery:
    """Which trends: one dimension, by week or month, for sessions on days in
    ``[start, end]`` (UTC dates of the scheduled start), optionally narrowed."""

    org_id: str
    dimension: Dimension
    start: date
    end: date
    period: Period = Period.MONTH
    student_id: str | None = None
    tutor_id: str | None = None
    subject: str | None = None


@dataclass(frozen=True)
class TrendRow:
    """One key (a student, tutor or subject) in one period, and its figures by name
    (``METRICS[dimension]`` gives the names in order)."""

    key: str
    name: str
    period_start: date
    figures: dict[str, int | float | None]


def _n(condition: ColumnElement[bool]) -> ColumnElement[Any]:
    """How many rows meet ``condition``: the same SQL on SQLite and PostgreSQL."""
    return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)


def _sum(column: Any) -> ColumnElement[Any]:
    return func.coalesce(func.sum(column), 0)


# Shares are stored to four decimals; they are summed as whole ten-thousandths so the
# total is exact, and a mean cannot round one way on SQLite and the other on PostgreSQL.
SHARE_SCALE = 10_000


def _share_sum(column: Any) -> ColumnElement[Any]:
    return _sum(cast(func.round(column * SHARE_SCALE), Integer))


def _mean_share(total: int, count: int) -> float | None:
    return round(total / count / SHARE_SCALE, 4) if count else None


# name -> what a reader is told it means; the order of the CSV's columns.
METRICS: dict[Dimension, dict[str, str]] = {
    Dimension.STUDENT: {
        "sessions": "Held sessions the student was booked into (no-shows included).",
        "attended": "Of those, sessions they joined.",
        "attendance_rate": "attended / sessions.",
        "late": f"Sessions they joined {LATE_MINUTES} or more minutes after the start.",
        "mean_late_minutes": "Mean minutes late over attended sessions.",
        "minutes_present": "Minutes in the room, all sessions together.",
        "mean_talk_share": "Mean share of the session's speech that was theirs, over "
        "sessions whose audio of theirs could be transcribed (null when none).",
        "questions": "Questions they asked (transcribed sessions).",
        "checks": "Comprehension checks in their sessions' documents.",
        "checks_understood": "Of those, understood.",
        "understood_rate": "checks_understood / checks.",
        "homework_due": "Sessions that followed one where homework was set.",
        "homework_followed_up": "Of those, sessions where the homework was taken up.",
    },
    Dimension.TUTOR: {
        "sessions": "Held sessions (no-shows included).",
        "tutor_present": "Sessions the tutor joined.",
        "late_starts": f"Sessions the tutor joined {LATE_MINUTES} or more minutes late.",
        "mean_late_minutes": "Mean minutes the tutor was late, over sessions joined.",
        "mean_talk_share": "Mean share of the session's speech that was the tutor's.",
        "documented": "Sessions with a drafted document.",
        "approved": "Of those, documents reviewed and approved.",
        "checks": "Comprehension checks in the documents.",
        "checks_understood": "Of those, understood.",
        "understood_rate": "checks_understood / checks.",
        "homework_set": "Sessions that set homework.",
    },
    Dimension.SUBJECT: {
        "sessions": "Held sessions (no-shows included).",
        "tutor_present": "Sessions the tutor joined.",
        "documented": "Sessions with a drafted document.",
        "topics": "Topics in the documents.",
        "checks": "Comprehension checks in the documents.",
        "checks_understood": "Of those, understood.",
        "understood_rate": "checks_understood / checks.",
        "difficulties": "Difficulties in the documents.",
        "homework_set": "Sessions that set homework.",
    },
}


def _rate(numerator: int, denominator: int) -> float | None:
    return round(numerator / denominator, 4) if denominator else None


def _mean(total: float, count: int) -> float | None:
    return round(total / count, 4) if count else None


def _student_select(period: Any) -> Select[Any]:
    p, s = ParticipantFacts, SessionFacts
    present = p.present.is_(True)
    talked = p.talk_share.is_not(None)
    return (
        select(
            p.student_id.label("key"),
            User.display_name.label("name"),
            period.label("period_start"),
            func.count().label("sessions"),
            _n(present).label("attended"),
            _n(present & (p.late_minutes >= LATE_MINUTES)).label("late"),
            _sum(case((present, p.late_minutes), else_=0)).label("late_minutes"),
            _sum(p.seconds_present).label("seconds_present"),
            _share_sum(p.talk_share).label("talk_share_total"),
            _n(talked).label("talked"),
            _sum(p.questions).label("questions"),
            _sum(s.checks).label("checks"),
            _sum(s.checks_understood).label("checks_understood"),
            _n(p.homework_due.is_(True)).label("homework_due"),
            _n(p.homework_followed_up.is_(True)).label("homework_followed_up"),
        )
        .join(s, s.session_id == p.session_id)
        .join(Student, Student.id == p.student_id)
        .join(User, User.id == Student.user_id)
    )


def _student_figures(row: Any) -> dict[str, int | float | None]:
    return {
        "sessions": row.sessions,
        "attended": row.attended,
        "attendance_rate": _rate(row.attended, row.sessions),
        "late": row.late,
        "mean_late_minutes": _mean(row.late_minutes, row.attended),
        "minutes_present": int(row.seconds_present) // 60,
        "mean_talk_share": _mean_share(int(row.talk_share_total), row.talked),
        "questions": int(row.questions),
        "checks": int(row.checks),
        "checks_understood": int(row.checks_understood),
        "understood_rate": _rate(int(row.checks_understood), int(row.checks)),
        "homework_due": row.homework_due,
        "homework_followed_up": row.homework_followed_up,
    }


def _session_select(period: Any, key: Any, name: Any) -> Select[Any]:
    s = SessionFacts
    present = s.tutor_present.is_(True)
    return select(
        key.label("key"),
        name.label("name"),
        period.label("period_start"),
        func.count().label("sessions"),
        _n(present).label("tutor_present"),
        _n(present & (s.tutor_late_minutes >= LATE_MINUTES)).label("late_starts"),
        _sum(case((present, s.tutor_late_minutes), else_=0)).label("late_minutes"),
        _share_sum(s.tutor_talk_share).label("talk_share_total"),
        _n(s.tutor_talk_share.is_not(None)).label("talked"),
        _n(s.document_status.is_not(None)).label("documented"),
        _n(s.document_status == "approved").label("approved"),
        _sum(s.topics).label("topics"),
        _sum(s.checks).label("checks"),
        _sum(s.checks_understood).label("checks_understood"),
        _sum(s.difficulties).label("difficulties"),
        _n(s.homework_set.is_(True)).label("homework_set"),
    )


def _tutor_figures(row: Any) -> dict[str, int | float | None]:
    return {
        "sessions": row.sessions,
        "tutor_present": row.tutor_present,
        "late_starts": row.late_starts,
        "mean_late_minutes": _mean(row.late_minutes, row.tutor_present),
        "mean_talk_share": _mean_share(int(row.talk_share_total), row.talked),
        "documented": row.documented,
        "approved": row.approved,
        "checks": int(row.checks),
        "checks_understood": int(row.checks_understood),
        "understood_rate": _rate(int(row.checks_understood), int(row.checks)),
        "homework_set": row.homework_set,
    }


def _subject_figures(row: Any) -> dict[str, int | float | None]:
    return {
        "sessions": row.sessions,
        "tutor_present": row.tutor_present,
        "documented": row.documented,
        "topics": int(row.topics),
        "checks": int(row.checks),
        "checks_understood": int(row.checks_understood),
        "understood_rate": _rate(int(row.checks_understood), int(row.checks)),
        "difficulties": int(row.difficulties),
        "homework_set": row.homework_set,
    }


def _statement(q: TrendQuery) -> tuple[Select[Any], Sequence[Any]]:
    """The grouped query for ``q`` and its grouping columns: key, name, period (a subject
    is its own name)."""
    s = SessionFacts
    if q.dimension is Dimension.STUDENT:
        p = ParticipantFacts
        period = p.week if q.period is Period.WEEK else p.month
        stmt = _student_select(period).where(
            p.org_id == q.org_id, p.role == "student", p.day >= q.start, p.day <= q.end
        )
        if q.student_id is not None:
            stmt = stmt.where(p.student_id == q.student_id)
        if q.tutor_id is not None:
            stmt = stmt.where(p.tutor_id == q.tutor_id)
        if q.subject is not None:
            stmt = stmt.where(p.subject == q.subject)
        return stmt, (p.student_id, User.display_name, period)
    period = s.week if q.period is Period.WEEK else s.month
    if q.dimension is Dimension.TUTOR:
        stmt = (
            _session_select(period, s.tutor_id, User.display_name)
            .join(Tutor, Tutor.id == s.tutor_id)
            .join(User, User.id == Tutor.user_id)
        )
        group: Sequence[Any] = (s.tutor_id, User.display_name, period)
    else:
        stmt = _session_select(period, s.subject, s.subject)
        group = (s.subject, s.subject, period)
    stmt = stmt.where(s.org_id == q.org_id, s.day >= q.start, s.day <= q.end)
    if q.tutor_id is not None:
        stmt = stmt.where(s.tutor_id == q.tutor_id)
    if q.subject is not None:
        stmt = stmt.where(s.subject == q.subject)
    if q.student_id is not None:
        booked = select(ParticipantFacts.session_id).where(
            ParticipantFacts.student_id == q.student_id
        )
        stmt = stmt.where(s.session_id.in_(booked))
    return stmt, group


_FIGURES = {
    Dimension.STUDENT: _student_figures,
    Dimension.TUTOR: _tutor_figures,
    Dimension.SUBJECT: _subject_figures,
}


async def trends(
    db: AsyncSession, q: TrendQuery, *, page: PageWindow | None = None
) -> tuple[list[TrendRow], int]:
    """One page of ``q``'s rows (all of them without ``page``), ordered by name, key and
    period; and how many rows there are on all pages."""
    stmt, group = _statement(q)
    grouped = stmt.group_by(*dict.fromkeys(group))
    total = await db.scalar(select(func.count()).select_from(grouped.subquery()))
    ordered = grouped.order_by(group[1], group[0], group[-1])
    if page is not None:
        ordered = ordered.limit(page.limit).offset(page.offset)
    figures = _FIGURES[q.dimension]
    rows = [
        TrendRow(
            key=row.key,
            name=row.name,
            period_start=_as_date(row.period_start),
            figures=figures(row),
        )
        for row in await db.execute(ordered)
    ]
    return rows, int(total or 0)


def _as_date(value: Any) -> date:
    """A grouped date column as a date (SQLite may hand back its ISO text)."""
    return value if isinstance(value, date) else date.fromisoformat(str(value))
