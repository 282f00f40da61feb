"""Utilisation per tutor for coordinators: available time against booked time over a range."""

from __future__ import annotations

from datetime import datetime, timedelta

from pydantic import AwareDatetime, BaseModel, Field

from api.permissions import require_coordinator
from api.routing import Call, Router
from api.schemas import Page, PageQuery
from core.errors import ErrorDetail, ValidationFailed
from scheduling.utilisation_report import tutors_utilisation

router = Router()
TAGS = ["tutors"]
MAX_RANGE = timedelta(days=62)


class UtilisationQuery(PageQuery):
    starts_after: AwareDatetime = Field(description="Start of the range (inclusive).")
    starts_before: AwareDatetime = Field(
        description="End of the range (exclusive); at most 62 days later."
    )


class TutorUtilisationOut(BaseModel):
    tutor_id: str
    name: str
    time_zone: str
    configured: bool = Field(
        description="False when the tutor has no weekly rules or extra hours: no "
        "availability to measure against, so `available_minutes` is 0 and `share` null."
    )
    available_minutes: int = Field(description="Available time in the range (after time off).")
    booked_minutes: int = Field(description="Time of sessions not cancelled, within the range.")
    sessions: int = Field(description="Sessions not cancelled that overlap the range.")
    share: float | None = Field(
        description="booked / available; above 1.0 when booked beyond the availability."
    )


class UtilisationPage(Page[TutorUtilisationOut]):
    starts_after: datetime
    starts_before: datetime


@router.get("/api/v1/utilisation/tutors", tags=TAGS, errors=[422])
async def tutor_utilisation(call: Call, query: UtilisationQuery) -> UtilisationPage:
    """Per tutor of the organisation, by name: available and booked minutes over a range
    of at most 62 days, and the share booked (coordinators only)."""
    p = call.principal
    require_coordinator(p, "read tutors' utilisation")
    start, end = query.starts_after, query.starts_before
    if not timedelta(0) < end - start <= MAX_RANGE:
        raise ValidationFailed(
            "starts_before must be after starts_after, by at most 62 days",
            details=[
                ErrorDetail(
                    loc=["query", "starts_before"],
                    message="must be after starts_after, by at most 62 days",
                    type="value_error",
                )
            ],
        )
    rows, total = await tutors_utilisation(
        call.db, org_id=p.org_id, start=start, end=end, page=query
    )
    items = [
        TutorUtilisationOut(
            tutor_id=row.tutor.id,
            name=row.tutor.user.display_name,
            time_zone=row.tutor.time_zone,
            configured=row.configured,
            available_minutes=row.used.available_minutes,
            booked_minutes=row.used.booked_minutes,
            sessions=row.used.sessions,
            share=row.used.share,
        )
        for row in rows
    ]
    return UtilisationPage(
        items=items,
        total=total,
        limit=query.limit,
        offset=query.offset,
        starts_after=start,
        starts_before=end,
    )
