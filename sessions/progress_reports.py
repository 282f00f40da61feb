"""Progress reports: drafted per student and period, reviewed, then sent to guardians.

::

    draft_report (a coordinator or tutor asks; or the sweep after each period)
        ──▶ draft ──edit_report──▶ draft ──approve_report──▶ approved
                                       progress_report.approved ──▶ guardian emails + PDF

A report is drawn from the period's held sessions of the student: the approved
documents (drafts are never used), attendance and the period's figures
(``sessions.analytics``), written by ``ai_docs.draft_progress_offline``. Redrafting
a draft replaces it; an approved report is frozen. Who may act: a coordinator of
the organisation, or a tutor who taught the student in the period
(``may_review``). The approval's event names the newest session of the period
(events carry a session) and carries the report itself, so notifications render
the email and the PDF from the event alone.

Periods are calendar months (the default) or weeks starting Monday, on UTC dates
of the scheduled start, like the analytics.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, select
from sqlalchemy.ext.asyncio import AsyncSession

from ai_docs import SessionDocument
from ai_docs.progress import (
    ProgressFigures,
    ProgressInput,
    ProgressReportContent,
    ProgressSession,
    draft_progress_offline,
)
from core.errors import Conflict, NotFound
from core.ids import new_id
from core.pagination import PageWindow, fetch_page
from scheduling.models import Student, Tutor, User
from sessions.analytics import Dimension, Period, TrendQuery, trends
from sessions.errors import NothingToReport
from sessions.events import record
from sessions.models import (
    DocumentStatus,
    ParticipantFacts,
    ProgressReportRecord,
    SessionDocumentRecord,
    SessionFacts,
)

__all__ = [
    "ProgressReportSweep",
    "approve_report",
    "approved_reports",
    "draft_due_reports",
    "draft_report",
    "edit_report",
    "load_report",
    "may_review",
    "period_bounds",
    "reports_page",
    "taught_in",
]


def period_bounds(day: date, period: Period) -> tuple[date, date, str]:
    """The period holding ``day``: its first and last days, and its name."""
    if period is Period.WEEK:
        start = day - timedelta(days=day.weekday())
        end = start + timedelta(days=6)
        return start, end, f"the week of {start.day} {start.strftime('%B %Y')}"
    start = day.replace(day=1)
    end = day.replace(day=calendar.monthrange(day.year, day.month)[1])
    return start, end, start.strftime("%B %Y")


@dataclass(frozen=True)
class _Held:
    facts: SessionFacts
    participant: ParticipantFacts


async def _held(db: AsyncSession, student_id: str, start: date, end: date) -> list[_Held]:
    rows = await db.execute(
        select(SessionFacts, ParticipantFacts)
        .join(ParticipantFacts, ParticipantFacts.session_id == SessionFacts.session_id)
        .where(
            ParticipantFacts.student_id == student_id,
            ParticipantFacts.role == "student",
            SessionFacts.day >= start,
            SessionFacts.day <= end,
        )
        .order_by(SessionFacts.scheduled_start, SessionFacts.session_id)
    )
    return [_Held(s, p) for s, p in rows]


async def may_review(db: AsyncSession, report: ProgressReportRecord, *, tutor_id: str) -> bool:
    """Whether this tutor taught the report's student in its period."""
    return tutor_id in {
        h.facts.tutor_id
        for h in await _held(db, report.student_id, report.period_start, report.period_end)
    }


async def taught_in(
    db: AsyncSession, *, tutor_id: str, student_id: str, day: date, period: Period
) -> bool:
    """Whether this tutor taught the student in the period holding ``day``."""
    start, end, _ = period_bounds(day, period)
    return tutor_id in {h.facts.tutor_id for h in await _held(db, student_id, start, end)}


async def load_report(db: AsyncSession, *, org_id: str, report_id: str) -> ProgressReportRecord:
    """One of the organisation's reports, locked for a change.

    Raises:
        NotFound: no such report in the organisation.
    """
    row = await db.scalar(
        select(ProgressReportRecord)
        .where(ProgressReportRecord.id == report_id, ProgressReportRecord.org_id == org_id)
        .with_for_update()
    )
    if row is None:
        raise NotFound(f"no progress report {report_id}")
    return row


async def _input(
    db: AsyncSession, student: Student, start: date, end: date, label: str, period: Period
) -> tuple[ProgressInput, list[str]]:
    held = await _held(db, student.id, start, end)
    if not held:
        raise NothingToReport(
            f"{student.user.display_name} had no held session from {start} to {end}; "
            "choose a period with sessions"
        )
    ids = [h.facts.session_id for h in held]
    documents = {
        r.session_id: SessionDocument.model_validate(r.content)
        for r in await db.scalars(
            select(SessionDocumentRecord).where(
                SessionDocumentRecord.session_id.in_(ids),
                SessionDocumentRecord.status == DocumentStatus.APPROVED,
            )
        )
    }
    tutors = {
        t.id: t.user.display_name
        for t in await db.scalars(
            select(Tutor).where(Tutor.id.in_({h.facts.tutor_id for h in held}))
        )
    }
    rows, _ = await trends(
        db,
        TrendQuery(
            org_id=student.org_id,
            dimension=Dimension.STUDENT,
            start=start,
            end=end,
            period=period,
            student_id=student.id,
        ),
    )
    total: dict[str, int] = {}
    shares: list[tuple[float, int]] = []
    for row in rows:
        for name in (
            "sessions",
            "attended",
            "late",
            "questions",
            "checks",
            "checks_understood",
            "homework_due",
            "homework_followed_up",
        ):
            total[name] = total.get(name, 0) + int(row.figures[name] or 0)
        share = row.figures["mean_talk_share"]
        if isinstance(share, float):
            shares.append((share, int(row.figures["attended"] or 0)))
    weight = sum(n for _, n in shares)
    figures = ProgressFigures(
        **total,
        mean_talk_share=round(sum(s * n for s, n in shares) / weight, 4) if weight else None,
    )
    data = ProgressInput(
        student_name=student.user.display_name,
        period_start=start,
        period_end=end,
        period_label=label,
        sessions=[
            ProgressSession(
                session_id=h.facts.session_id,
                day=h.facts.day,
                subject=h.facts.subject,
                tutor_name=tutors.get(h.facts.tutor_id, "their tutor"),
                attended=h.participant.present,
                late_minutes=h.participant.late_minutes,
                document=documents.get(h.facts.session_id),
            )
            for h in held
        ],
        figures=figures,
    )
    return data, ids


async def draft_report(
    db: AsyncSession,
    *,
    org_id: str,
    student_id: str,
    day: date,
    period: Period = Period.MONTH,
    now: datetime,
) -> ProgressReportRecord:
    """Draft (or redraft) the report of the period holding ``day``; the caller commits.

    Raises:
        NotFound: no such student in the organisation.
        NothingToReport: they had no held session in the period.
        Conflict: the period's report is already approved.
    """
    student = await db.get(Student, student_id)
    if student is None or student.org_id != org_id:
        raise NotFound(f"no student {student_id} in your organisation")
    start, end, label = period_bounds(day, period)
    existing = await db.scalar(
        select(ProgressReportRecord)
        .where(
            ProgressReportRecord.student_id == student_id,
            ProgressReportRecord.period_start == start,
        )
        .with_for_update()
    )
    if existing is not None and existing.status is DocumentStatus.APPROVED:
        raise Conflict(
            f"the report for {label} was approved on {existing.approved_at:%Y-%m-%d} and "
            "cannot be drafted again",
            code="report_approved",
        )
    data, ids = await _input(db, student, start, end, label, period)
    content = draft_progress_offline(data).model_dump(mode="json")
    if existing is None:
        existing = ProgressReportRecord(
            id=new_id("rep"),
            org_id=org_id,
            student_id=student_id,
            period=period.value,
            period_start=start,
            period_end=end,
            status=DocumentStatus.DRAFT,
        )
        db.add(existing)
    existing.content = content
    existing.session_ids = ids
    existing.drafted_at = now
    existing.edited_at = existing.edited_by = None
    return existing


EDITABLE = frozenset(
    {"summary", "attendance", "covered", "went_well", "working_on", "homework", "next_steps"}
)


def edit_report(
    report: ProgressReportRecord, changes: dict[str, Any], *, by: str, now: datetime
) -> ProgressReportRecord:
    """Apply a reviewer's changes to a draft's text; the caller commits.

    Raises:
        Conflict: the report is approved (frozen).
        pydantic.ValidationError: the edited report is not a valid report.
    """
    if report.status is DocumentStatus.APPROVED:
        raise Conflict(
            "this report is approved and can no longer be edited", code="report_approved"
        )
    edited = ProgressReportContent.model_validate(
        {**report.content, **{k: v for k, v in changes.items() if k in EDITABLE}}
    )
    report.content = edited.model_dump(mode="json")
    report.edited_at, report.edited_by = now, by
    return report


async def approve_report(
    db: AsyncSession, report: ProgressReportRecord, *, by: str, now: datetime
) -> ProgressReportRecord:
    """Approve a draft and write ``progress_report.approved`` (the guardians' emails);
    the caller commits.

    Raises:
        Conflict: it is already approved.
    """
    if report.status is DocumentStatus.APPROVED:
        raise Conflict("this report is already approved and was sent", code="report_approved")
    report.status = DocumentStatus.APPROVED
    report.approved_at, report.approved_by = now, by
    newest = report.session_ids[-1]
    approver = await db.get(User, by)
    record(
        db,
        "progress_report.approved",
        session_id=newest,
        at=now,
        payload={
            "report_id": report.id,
            "student_id": report.student_id,
            "student_ids": [report.student_id],
            "period_start": report.period_start.isoformat(),
            "period_end": report.period_end.isoformat(),
            "report": report.content,
            "by": by,
            "approver_name": approver.display_name if approver is not None else None,
        },
    )
    return report


async def reports_page(
    db: AsyncSession,
    *,
    org_id: str,
    page: PageWindow,
    status: DocumentStatus | None = None,
    student_id: str | None = None,
    tutor_id: str | None = None,
) -> tuple[list[ProgressReportRecord], int]:
    """The organisation's reports, oldest draft first; a tutor's only those of students
    they taught in the report's period."""
    where: list[ColumnElement[bool]] = [ProgressReportRecord.org_id == org_id]
    if status is not None:
        where.append(ProgressReportRecord.status == status)
    if student_id is not None:
        where.append(ProgressReportRecord.student_id == student_id)
    if tutor_id is not None:
        taught = (
            select(ParticipantFacts.student_id)
            .where(
                ParticipantFacts.tutor_id == tutor_id,
                ParticipantFacts.day >= ProgressReportRecord.period_start,
                ParticipantFacts.day <= ProgressReportRecord.period_end,
            )
            .correlate(ProgressReportRecord)
        )
        where.append(ProgressReportRecord.student_id.in_(taught))
    return await fetch_page(
        db,
        select(ProgressReportRecord),
        where=where,
        order_by=[ProgressReportRecord.drafted_at, ProgressReportRecord.id],
        page=page,
    )


async def approved_reports(
    db: AsyncSession, *, student_id: str, page: PageWindow
) -> tuple[list[ProgressReportRecord], int]:
    """A student's approved reports, newest period first (what their family may read)."""
    return await fetch_page(
        db,
        select(ProgressReportRecord),
        where=[
            ProgressReportRecord.student_id == student_id,
            ProgressReportRecord.status == DocumentStatus.APPROVED,
        ],
        order_by=[ProgressReportRecord.period_start.desc(), ProgressReportRecord.id],
        page=page,
    )


async def draft_due_reports(
    db: AsyncSession, *, now: datetime, period: Period, limit: int = 50
) -> list[ProgressReportRecord]:
    """Draft the reports of the period that ended before ``now`` for every student with a
    held session in it and no report yet (at most ``limit`` a call); the caller commits.
    The lifecycle sweep calls it, so each period's reports wait for review when it ends."""
    last_day = now.date() - timedelta(days=1)
    start, end, _ = period_bounds(last_day, period)
    if end > last_day:
        start, end, _ = period_bounds(start - timedelta(days=1), period)
    reported = select(ProgressReportRecord.student_id).where(
        ProgressReportRecord.period_start == start
    )
    due = list(
        (
            await db.execute(
                select(ParticipantFacts.student_id, ParticipantFacts.org_id)
                .where(
                    ParticipantFacts.role == "student",
                    ParticipantFacts.student_id.is_not(None),
                    ParticipantFacts.day >= start,
                    ParticipantFacts.day <= end,
                    ParticipantFacts.student_id.not_in(reported),
                )
                .distinct()
                .order_by(ParticipantFacts.student_id)
                .limit(limit)
            )
        ).all()
    )
    drafted = []
    for student_id, org_id in due:
        if student_id is None:
            continue
        drafted.append(
            await draft_report(
                db, org_id=org_id, student_id=student_id, day=start, period=period, now=now
            )
        )
    return drafted


@dataclass(frozen=True)
class ProgressReportSweep:
    """Drafting the reports of the period just ended, as one step of the lifecycle sweep
    (``sessions.timers.SweepStep``): each waits for a tutor's or coordinator's review."""

    period: Period = Period.MONTH
    name: str = "progress_reports"

    async def __call__(self, db: AsyncSession, now: datetime) -> int:
        return len(await draft_due_reports(db, now=now, period=self.period))
