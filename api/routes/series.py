"""Recurring bookings: a series of sessions from an RFC 5545 rule, and changes to it."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Annotated

from pydantic import AwareDatetime, BaseModel, Field, StringConstraints

from api.permissions import not_visible, require_coordinator, visible_sessions
from api.routing import Call, Router
from api.schemas import Input, Label, TimeZoneName
from api.session_schemas import ChangeReason, RequestedBy, SessionOut
from core.errors import NotFound
from scheduling.models import ChangeParty, LiveSession, SessionSeries
from scheduling.series import Scope, visible_series
from sessions import changes
from sessions.changes import change_series

router = Router()
TAGS = ["series"]

RRule = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=500),
    Field(
        description="An RFC 5545 RRULE without DTSTART; it must end (COUNT or UNTIL in UTC).",
        examples=["FREQ=WEEKLY;BYDAY=MO,WE;COUNT=20"],
    ),
]
Minutes = Annotated[int, Field(ge=5, le=720, description="Length of each session in minutes.")]


class SeriesCreate(Input):
    tutor_id: str
    student_ids: list[str] = Field(min_length=1, max_length=50)
    subject: Label
    start_date: date = Field(description="The first day the rule starts from, in `time_zone`.")
    start_time: time = Field(description="Local wall-clock start, e.g. 16:00, in `time_zone`.")
    duration_minutes: Minutes
    time_zone: TimeZoneName | None = Field(
        default=None, description="The zone the rule repeats in; the tutor's when left out."
    )
    rrule: RRule


class OccurrenceOut(SessionOut):
    series_id: str
    occurrence_start: datetime = Field(
        description="The start the rule gave this occurrence; it stays when the session moves."
    )

    @classmethod
    def of_occurrence(cls, s: LiveSession) -> OccurrenceOut:
        assert s.series_id is not None and s.occurrence_start is not None
        return cls(
            **SessionOut.of(s).model_dump(),
            series_id=s.series_id,
            occurrence_start=s.occurrence_start,
        )


class SeriesOut(BaseModel):
    id: str
    tutor_id: str
    student_ids: list[str]
    subject: str
    time_zone: str
    start_date: date
    start_time: time
    duration_minutes: int
    rrule: str
    created_at: datetime
    occurrences: list[OccurrenceOut] = Field(
        description="Every occurrence you can see, by original start; moved and cancelled "
        "ones included."
    )

    @classmethod
    def of(cls, s: SessionSeries, occurrences: list[LiveSession]) -> SeriesOut:
        return cls(
            id=s.id,
            tutor_id=s.tutor_id,
            student_ids=s.student_ids,
            subject=s.subject,
            time_zone=s.time_zone,
            start_date=s.start_date,
            start_time=s.start_time,
            duration_minutes=s.duration_minutes,
            rrule=s.rrule,
            created_at=s.created_at,
            occurrences=[OccurrenceOut.of_occurrence(o) for o in occurrences],
        )


class OccurrenceChange(Input):
    scope: Scope = Field(
        description="`this`: this occurrence alone; `this_and_following`: it and every "
        "later occurrence (earlier ones are untouched)."
    )
    cancel: bool = Field(default=False, description="Cancel instead of moving.")
    scheduled_start: AwareDatetime | None = Field(
        default=None,
        description="New start of this occurrence. With `this_and_following`, later ones move "
        "by the same number of days to the same local time.",
    )
    duration_minutes: Minutes | None = None
    requested_by: RequestedBy = ChangeParty.ORGANISATION
    reason: ChangeReason = None


async def _load(call: Call, series_id: str) -> tuple[SessionSeries, list[LiveSession]]:
    p = call.principal
    found = await visible_series(call.db, series_id, org_id=p.org_id, visible=visible_sessions(p))
    if found is None:
        raise not_visible(p, "series", series_id)
    return found


@router.post("/api/v1/series", tags=TAGS, status_code=201, errors=[409], idempotent=True)
async def create_series(call: Call, body: SeriesCreate) -> SeriesOut:
    """Book a recurring series of sessions (coordinators only).

    The rule repeats `start_time` in `time_zone` (the tutor's by default), so a
    16:00 lesson stays 16:00 across daylight-saving changes. It must end within
    366 days and 200 sessions (otherwise 422 `invalid_recurrence`, saying how to
    fix it). Every occurrence is checked like a single booking; if any
    conflicts, nothing is booked and the 409 `booking_conflict` lists each
    conflict with its occurrence (`loc` is `["occurrences", <start>, <field>]`).
    """
    p = call.principal
    require_coordinator(p, "book series")
    series, booked = await changes.book_recurring(
        call.db,
        org_id=p.org_id,
        tutor_id=body.tutor_id,
        student_ids=body.student_ids,
        subject=body.subject,
        start_date=body.start_date,
        start_time=body.start_time,
        duration_minutes=body.duration_minutes,
        rrule=body.rrule,
        time_zone=body.time_zone,
        now=call.now,
    )
    return SeriesOut.of(series, booked)


@router.get("/api/v1/series/{series_id}", tags=TAGS)
async def get_series(call: Call, series_id: str) -> SeriesOut:
    """Read a series with the occurrences you can see."""
    series, occurrences = await _load(call, series_id)
    return SeriesOut.of(series, occurrences)


@router.patch("/api/v1/series/{series_id}/occurrences/{session_id}", tags=TAGS, errors=[409])
async def change_series_occurrence(
    call: Call, series_id: str, session_id: str, body: OccurrenceChange
) -> SeriesOut:
    """Move or cancel one occurrence, or it and every later one (coordinators only).

    Moves are checked for conflicts like new bookings; if any occurrence
    conflicts, nothing changes and the 409 lists each conflict with its
    occurrence. Each cancelled occurrence emits `session.cancelled` and each
    moved one `session.rescheduled`, with the notice policy applied to each
    (see `POST /api/v1/sessions/{id}/cancel`); guardians, students and the
    tutor are emailed about each. Returns the whole series.
    """
    series, occurrences = await _load(call, series_id)
    require_coordinator(call.principal, "change series")
    target = next((o for o in occurrences if o.id == session_id), None)
    if target is None:
        raise NotFound(f"series {series_id} has no occurrence {session_id}")
    changed = await change_series(
        call.db,
        series,
        target,
        occurrences=occurrences,
        scope=body.scope,
        cancel_them=body.cancel,
        scheduled_start=body.scheduled_start,
        duration_minutes=body.duration_minutes,
        requested_by=body.requested_by,
        late_after=timedelta(hours=call.services.settings.late_cancel_hours),
        now=call.now,
        by=call.principal.id,
        reason=body.reason,
    )
    return SeriesOut.of(series, changed)
