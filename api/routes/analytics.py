"""Analytics for coordinators: trends per student, tutor and subject, as JSON pages or CSV.

Both shapes read through ``sessions.analytics.trends`` with the same query, so
the CSV holds exactly the rows of the JSON pages, in the same order.
"""

from __future__ import annotations

import csv
import io
from datetime import date, timedelta

from pydantic import BaseModel, Field
from starlette.responses import Response

from api.permissions import require_coordinator
from api.routing import Call, Router
from api.schemas import Input, Page, PageQuery
from core.errors import ErrorDetail, ValidationFailed
from sessions.analytics import METRICS, Dimension, Period, TrendQuery, TrendRow, trends

router = Router()
TAGS = ["analytics"]
MAX_RANGE = timedelta(days=400)


class RangeFilter(Input):
    start: date = Field(description="First day (UTC date of the scheduled start), inclusive.")
    end: date = Field(description="Last day, inclusive; at most 400 days after `start`.")
    period: Period = Field(default=Period.MONTH, description="Group by `week` or `month`.")
    student_id: str | None = Field(default=None, description="Only this student's sessions.")
    tutor_id: str | None = Field(default=None, description="Only this tutor's sessions.")
    subject: str | None = Field(default=None, description="Only this subject's sessions.")


class TrendPageQuery(RangeFilter, PageQuery):
    pass


class TrendOut(BaseModel):
    key: str = Field(description="The student's or tutor's id, or the subject.")
    name: str = Field(description="The student's or tutor's name, or the subject.")
    period_start: date = Field(description="The Monday of the week or the first of the month.")
    figures: dict[str, int | float | None] = Field(
        description="Counts and rates by name; `GET /api/v1/analytics/metrics` says what "
        "each one means. A rate is null when there was nothing to divide."
    )


class TrendPage(Page[TrendOut]):
    dimension: Dimension
    period: Period
    start: date
    end: date


class MetricsOut(BaseModel):
    student: dict[str, str]
    tutor: dict[str, str]
    subject: dict[str, str]


def _query(call: Call, dimension: Dimension, f: RangeFilter) -> TrendQuery:
    require_coordinator(call.principal, "read analytics")
    if not timedelta(0) <= f.end - f.start <= MAX_RANGE:
        raise ValidationFailed(
            "end must be on or after start, by at most 400 days",
            details=[
                ErrorDetail(
                    loc=["query", "end"],
                    message="must be on or after start, by at most 400 days",
                    type="value_error",
                )
            ],
        )
    return TrendQuery(
        org_id=call.principal.org_id,
        dimension=dimension,
        start=f.start,
        end=f.end,
        period=f.period,
        student_id=f.student_id,
        tutor_id=f.tutor_id,
        subject=f.subject,
    )


def _out(row: TrendRow) -> TrendOut:
    return TrendOut(key=row.key, name=row.name, period_start=row.period_start, figures=row.figures)


async def _page(call: Call, dimension: Dimension, query: TrendPageQuery) -> TrendPage:
    q = _query(call, dimension, query)
    rows, total = await trends(call.db, q, page=query)
    if dimension is Dimension.STUDENT:
        call.about(*(r.key for r in rows))
    return TrendPage(
        items=[_out(r) for r in rows],
        total=total,
        limit=query.limit,
        offset=query.offset,
        dimension=dimension,
        period=q.period,
        start=q.start,
        end=q.end,
    )


async def _csv(call: Call, dimension: Dimension, query: RangeFilter) -> Response:
    q = _query(call, dimension, query)
    rows, _ = await trends(call.db, q)
    if dimension is Dimension.STUDENT:
        call.about(*(r.key for r in rows))
    names = list(METRICS[dimension])
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow([dimension.value, "name", "period_start", *names])
    for r in rows:
        writer.writerow(
            [
                r.key,
                r.name,
                r.period_start.isoformat(),
                *("" if r.figures[n] is None else r.figures[n] for n in names),
            ]
        )
    filename = f"{dimension.value}-trends-{q.start.isoformat()}-{q.end.isoformat()}.csv"
    return Response(
        out.getvalue(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


@router.get("/api/v1/analytics/metrics", tags=TAGS)
async def analytics_metrics(call: Call) -> MetricsOut:
    """What each figure of each trend means (coordinators only)."""
    require_coordinator(call.principal, "read analytics")
    return MetricsOut(**{d.value: METRICS[d] for d in Dimension})


@router.get("/api/v1/analytics/students", audit="analytics", tags=TAGS, errors=[422])
async def student_trends(call: Call, query: TrendPageQuery) -> TrendPage:
    """Per student and week or month: attendance, lateness, talk share, questions, checks
    and homework follow-up, over held sessions in a date range (coordinators only)."""
    return await _page(call, Dimension.STUDENT, query)


@router.get("/api/v1/analytics/tutors", tags=TAGS, errors=[422])
async def tutor_trends(call: Call, query: TrendPageQuery) -> TrendPage:
    """Per tutor and week or month: sessions held, late starts, talk share, documents
    drafted and approved, checks and homework set (coordinators only)."""
    return await _page(call, Dimension.TUTOR, query)


@router.get("/api/v1/analytics/subjects", tags=TAGS, errors=[422])
async def subject_trends(call: Call, query: TrendPageQuery) -> TrendPage:
    """Per subject and week or month: sessions held, topics, checks, difficulties and
    homework set (coordinators only)."""
    return await _page(call, Dimension.SUBJECT, query)


@router.get(
    "/api/v1/analytics/students.csv",
    audit="analytics",
    tags=TAGS,
    errors=[422],
    media_type="text/csv",
)
async def student_trends_csv(call: Call, query: RangeFilter) -> Response:
    """Every row of `GET /api/v1/analytics/students` for the same filters, as CSV."""
    return await _csv(call, Dimension.STUDENT, query)


@router.get("/api/v1/analytics/tutors.csv", tags=TAGS, errors=[422], media_type="text/csv")
async def tutor_trends_csv(call: Call, query: RangeFilter) -> Response:
    """Every row of `GET /api/v1/analytics/tutors` for the same filters, as CSV."""
    return await _csv(call, Dimension.TUTOR, query)


@router.get("/api/v1/analytics/subjects.csv", tags=TAGS, errors=[422], media_type="text/csv")
async def subject_trends_csv(call: Call, query: RangeFilter) -> Response:
    """Every row of `GET /api/v1/analytics/subjects` for the same filters, as CSV."""
    return await _csv(call, Dimension.SUBJECT, query)
