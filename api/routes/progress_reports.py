"""Progress reports: drafted per student and period, reviewed by a tutor or coordinator,
then emailed to guardians with a PDF.

Who may act: coordinators of the organisation, and tutors who taught the student in
the report's period (anyone else gets 404, as for a missing report). Guardians get
the approved report by email (under the summaries' consent and preference); they,
and the student, can also list a child's approved reports and download each PDF.
"""

from __future__ import annotations

import asyncio
from datetime import date, datetime
from typing import Any

from pydantic import BaseModel, Field
from starlette.responses import Response

from ai_docs.progress import ProgressItem, ProgressReportContent
from api.permissions import load_visible, visible_students
from api.routing import Call, Router
from api.schemas import Input, Page, PageQuery
from core.errors import NotFound, PermissionDenied
from notifications.progress_pdf import progress_pdf, progress_pdf_name
from scheduling.models import Role, Student
from sessions.analytics import Period
from sessions.models import DocumentStatus, ProgressReportRecord
from sessions.progress_reports import (
    approve_report,
    approved_reports,
    draft_report,
    edit_report,
    load_report,
    may_review,
    reports_page,
    taught_in,
)

router = Router()
TAGS = ["progress reports"]


class DraftIn(Input):
    day: date = Field(description="Any day of the period to report on.")
    period: Period = Field(default=Period.MONTH, description="`month` (default) or `week`.")


class ReportEditIn(Input):
    summary: str | None = Field(default=None, min_length=1, max_length=1500)
    attendance: str | None = Field(default=None, min_length=1, max_length=400)
    homework: str | None = Field(default=None, min_length=1, max_length=400)
    covered: list[ProgressItem] | None = None
    went_well: list[ProgressItem] | None = None
    working_on: list[ProgressItem] | None = None
    next_steps: list[ProgressItem] | None = None


class ReportOut(BaseModel):
    id: str
    student_id: str
    period: str
    period_start: date
    period_end: date
    status: DocumentStatus
    report: ProgressReportContent
    session_ids: list[str] = Field(description="The held sessions it was drawn from.")
    drafted_at: datetime
    edited_at: datetime | None
    edited_by: str | None
    approved_at: datetime | None
    approved_by: str | None

    @classmethod
    def of(cls, r: ProgressReportRecord) -> ReportOut:
        return cls(
            id=r.id,
            student_id=r.student_id,
            period=r.period,
            period_start=r.period_start,
            period_end=r.period_end,
            status=r.status,
            report=ProgressReportContent.model_validate(r.content),
            session_ids=list(r.session_ids),
            drafted_at=r.drafted_at,
            edited_at=r.edited_at,
            edited_by=r.edited_by,
            approved_at=r.approved_at,
            approved_by=r.approved_by,
        )


class ReportQuery(PageQuery):
    status: DocumentStatus | None = Field(default=None, description="`draft` or `approved`.")
    student_id: str | None = None


class ReportPage(Page[ReportOut]):
    pass


async def _family_may_read(call: Call, report: ProgressReportRecord) -> bool:
    """A guardian of the student, or the student, may read an approved report."""
    if report.status is not DocumentStatus.APPROVED:
        return False
    p = call.principal
    try:
        await load_visible(call.db, p, Student, visible_students(p), report.student_id, "student")
    except NotFound:
        return False
    return True


async def _reviewable(call: Call, report_id: str, action: str) -> ProgressReportRecord:
    p = call.principal
    report = await load_report(call.db, org_id=p.org_id, report_id=report_id)
    call.about(report.student_id)
    if p.is_coordinator:
        return report
    if (
        p.role is Role.TUTOR
        and p.tutor_id
        and await may_review(call.db, report, tutor_id=p.tutor_id)
    ):
        return report
    if p.role is Role.TUTOR:
        raise NotFound(f"no progress report {report_id} of a student you taught")
    raise PermissionDenied(f"only a coordinator or the student's tutor can {action}")


@router.post(
    "/api/v1/students/{student_id}/progress-reports",
    audit="progress_report",
    tags=TAGS,
    status_code=201,
    errors=[404, 409, 422],
)
async def create_progress_report(call: Call, student_id: str, body: DraftIn) -> ReportOut:
    """Draft the student's report for the period holding `day` from its approved session
    documents, attendance and figures; a draft is redrafted, an approved one is a 409. No
    held session in the period is a 404 `nothing_to_report`."""
    p = call.principal
    if not p.is_coordinator:
        allowed = p.role is Role.TUTOR and p.tutor_id is not None
        if not allowed or not await taught_in(
            call.db, tutor_id=p.tutor_id or "", student_id=student_id, day=body.day,
            period=body.period,
        ):  # fmt: skip
            raise PermissionDenied(
                "only a coordinator, or a tutor who taught the student in that period, can "
                "draft their progress report"
            )
    row = await draft_report(
        call.db,
        org_id=p.org_id,
        student_id=student_id,
        day=body.day,
        period=body.period,
        now=call.now,
    )
    return ReportOut.of(row)


@router.get(
    "/api/v1/students/{student_id}/progress-reports",
    audit="progress_report",
    tags=TAGS,
    errors=[404],
)
async def list_student_reports(call: Call, student_id: str, query: PageQuery) -> ReportPage:
    """A student's approved progress reports, newest period first: for their guardians,
    the student, coordinators and their tutors. Drafts never appear here."""
    p = call.principal
    student = await load_visible(call.db, p, Student, visible_students(p), student_id, "student")
    rows, total = await approved_reports(call.db, student_id=student.id, page=query)
    call.about(*(r.student_id for r in rows))
    return ReportPage(
        items=[ReportOut.of(r) for r in rows], total=total, limit=query.limit, offset=query.offset
    )


@router.get("/api/v1/progress-reports", audit="progress_report", tags=TAGS)
async def list_progress_reports(call: Call, query: ReportQuery) -> ReportPage:
    """Reports, the longest waiting first: every one of the organisation for a
    coordinator, those of the students a tutor taught in each report's period."""
    p = call.principal
    if p.role not in (Role.TUTOR, Role.COORDINATOR):
        raise PermissionDenied("only coordinators and tutors review progress reports")
    rows, total = await reports_page(
        call.db,
        org_id=p.org_id,
        page=query,
        status=query.status,
        student_id=query.student_id,
        tutor_id=None if p.is_coordinator else p.tutor_id or "",
    )
    call.about(*(r.student_id for r in rows))
    return ReportPage(
        items=[ReportOut.of(r) for r in rows], total=total, limit=query.limit, offset=query.offset
    )


@router.get(
    "/api/v1/progress-reports/{report_id}", audit="progress_report", tags=TAGS, errors=[404]
)
async def get_progress_report(call: Call, report_id: str) -> ReportOut:
    """One report, draft or approved, with the sessions it was drawn from."""
    return ReportOut.of(await _reviewable(call, report_id, "read a progress report"))


@router.patch(
    "/api/v1/progress-reports/{report_id}",
    audit="progress_report",
    tags=TAGS,
    errors=[404, 409, 422],
)
async def edit_progress_report(call: Call, report_id: str, body: ReportEditIn) -> ReportOut:
    """Change a draft's text (the summary, attendance, homework or any list); an approved
    report is a 409."""
    report = await _reviewable(call, report_id, "edit a progress report")
    changes: dict[str, Any] = body.model_dump(mode="json", exclude_none=True)
    row = edit_report(report, changes, by=call.principal.id, now=call.now)
    return ReportOut.of(row)


@router.post(
    "/api/v1/progress-reports/{report_id}/approve",
    audit="progress_report",
    tags=TAGS,
    errors=[404, 409],
)
async def approve_progress_report(call: Call, report_id: str) -> ReportOut:
    """Approve a draft: it is emailed, with its PDF, to every guardian of the student who
    gets session summaries and consented to AI processing (once). A second approval is a
    409."""
    report = await _reviewable(call, report_id, "approve a progress report")
    row = await approve_report(call.db, report, by=call.principal.id, now=call.now)
    return ReportOut.of(row)


@router.get(
    "/api/v1/progress-reports/{report_id}/report.pdf",
    audit="progress_report",
    tags=TAGS,
    errors=[404],
    media_type="application/pdf",
)
async def progress_report_pdf(call: Call, report_id: str) -> Response:
    """The report as the PDF guardians get: for reviewers (a draft's too, to check before
    approving), and once approved for the student's guardians and the student."""
    p = call.principal
    if p.role in (Role.GUARDIAN, Role.STUDENT):
        report = await load_report(call.db, org_id=p.org_id, report_id=report_id)
        call.about(report.student_id)
        if not await _family_may_read(call, report):
            raise NotFound(f"no approved progress report {report_id} of your child")
    else:
        report = await _reviewable(call, report_id, "read a progress report")
    pdf = await asyncio.to_thread(progress_pdf, report.content)  # tens of ms: off the loop
    return Response(
        pdf,
        media_type="application/pdf",
        headers={"Content-Disposition": f'inline; filename="{progress_pdf_name(report.content)}"'},
    )
