"""Calendar views: one tutor's or one student's sessions over a date range, in local time.

Each session that overlaps the range is listed with its UTC times and the
same times in the person's own zone (or the one asked for), so a weekly 16:00
lesson reads 16:00 on both sides of a daylight-saving change. The person must
be one you can see (a hidden one is the same 404 as a missing one), and only
their sessions that you can see are listed: a coordinator sees the whole
organisation, a tutor and a student their own, a guardian their children's.
Names of students you cannot see are left out. The iCalendar feeds are in
``api.routes.calendar``.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from pydantic import AwareDatetime, BaseModel, Field
from sqlalchemy import ColumnElement, select

from api.permissions import load_visible, visible_sessions, visible_students, visible_tutors
from api.routing import Call, Router
from api.schemas import Page, PageQuery, TimeZoneName
from core.errors import ErrorDetail, ValidationFailed
from core.pagination import fetch_page
from scheduling.models import LiveSession, SessionStatus, SessionStudent, Student, Tutor, User

router = Router()
TAGS = ["calendar"]
MAX_RANGE = timedelta(days=92)


class AgendaQuery(PageQuery):
    start: AwareDatetime = Field(
        description="Start of the range, with an offset; sessions ending after it are listed.",
        examples=["2030-03-01T00:00:00Z"],
    )
    end: AwareDatetime = Field(
        description="End of the range; sessions starting before it are listed. "
        "At most 92 days after `start`.",
        examples=["2030-04-01T00:00:00Z"],
    )
    status: SessionStatus | None = Field(default=None, description="Only sessions in this state.")
    time_zone: TimeZoneName | None = Field(
        default=None, description="Show local times in this zone instead of the person's own."
    )


class AgendaStudentOut(BaseModel):
    student_id: str
    name: str | None = Field(description="Null for a student you may not see.")


class AgendaEntryOut(BaseModel):
    session_id: str
    subject: str
    status: SessionStatus
    tutor_id: str
    tutor_name: str
    students: list[AgendaStudentOut]
    scheduled_start: datetime = Field(description="In UTC.")
    scheduled_end: datetime = Field(description="In UTC.")
    local_start: str = Field(
        description="The start in `time_zone`, ISO 8601 with its offset.",
        examples=["2030-04-01T16:00:00+01:00"],
    )
    local_end: str = Field(description="The end in `time_zone`, ISO 8601 with its offset.")
    time_zone: str


class AgendaPage(Page[AgendaEntryOut]):
    start: datetime
    end: datetime
    time_zone: str = Field(description="The zone of `local_start` and `local_end`.")


def _check_range(query: AgendaQuery) -> None:
    if not timedelta(0) < query.end - query.start <= MAX_RANGE:
        raise ValidationFailed(
            "end must be after start, by at most 92 days",
            details=[
                ErrorDetail(
                    loc=["query", "end"],
                    message="must be after start, by at most 92 days",
                    type="value_error",
                )
            ],
        )


async def _agenda(
    call: Call, query: AgendaQuery, person: ColumnElement[bool], own_zone: str
) -> AgendaPage:
    """One page of the sessions matching ``person`` that the caller may see."""
    p = call.principal
    zone_name = query.time_zone or own_zone
    zone = ZoneInfo(zone_name)
    where = [
        visible_sessions(p),
        person,
        LiveSession.scheduled_end > query.start,
        LiveSession.scheduled_start < query.end,
    ]
    if query.status:
        where.append(LiveSession.status == query.status)
    rows, total = await fetch_page(
        call.db,
        select(LiveSession),
        where=where,
        order_by=[LiveSession.scheduled_start, LiveSession.id],
        page=query,
    )
    # Every tutor of a session you can see is one you can see; not every student is.
    tutor_names = await _names(call, Tutor, {s.tutor_id for s in rows})
    student_names = await _names(
        call, Student, {sid for s in rows for sid in s.student_ids}, visible_students(p)
    )
    return AgendaPage(
        items=[
            AgendaEntryOut(
                session_id=s.id,
                subject=s.subject,
                status=s.status,
                tutor_id=s.tutor_id,
                tutor_name=tutor_names.get(s.tutor_id, ""),
                students=[
                    AgendaStudentOut(student_id=sid, name=student_names.get(sid))
                    for sid in s.student_ids
                ],
                scheduled_start=s.scheduled_start,
                scheduled_end=s.scheduled_end,
                local_start=s.scheduled_start.astimezone(zone).isoformat(),
                local_end=s.scheduled_end.astimezone(zone).isoformat(),
                time_zone=zone_name,
            )
            for s in rows
        ],
        total=total,
        limit=query.limit,
        offset=query.offset,
        start=query.start,
        end=query.end,
        time_zone=zone_name,
    )


async def _names(
    call: Call,
    model: type[Tutor] | type[Student],
    ids: set[str],
    *where: ColumnElement[bool],
) -> dict[str, str]:
    """Display names of the ``model`` rows in ``ids`` that also meet ``where``."""
    if not ids:
        return {}
    rows = await call.db.execute(
        select(model.id, User.display_name)
        .join(User, User.id == model.user_id)
        .where(model.id.in_(ids), *where)
    )
    return dict(rows.all())


@router.get("/api/v1/tutors/{tutor_id}/calendar", tags=TAGS, errors=[422])
async def tutor_calendar(call: Call, tutor_id: str, query: AgendaQuery) -> AgendaPage:
    """A tutor's sessions that overlap a range (at most 92 days), in the tutor's own time zone.

    Sessions that start before `start` or end after `end` but overlap the range
    are included; the order is by start. `local_start`/`local_end` are in the
    tutor's zone unless `time_zone` asks for another. Coordinators read any tutor
    of their organisation; a tutor reads their own calendar; students and
    guardians see only their (children's) sessions with that tutor. A tutor you
    cannot see is a 404.
    """
    p = call.principal
    _check_range(query)
    tutor = await load_visible(call.db, p, Tutor, visible_tutors(p), tutor_id, "tutor")
    return await _agenda(call, query, LiveSession.tutor_id == tutor.id, tutor.time_zone)


@router.get("/api/v1/students/{student_id}/calendar", tags=TAGS, errors=[422])
async def student_calendar(call: Call, student_id: str, query: AgendaQuery) -> AgendaPage:
    """A student's sessions that overlap a range (at most 92 days), in the student's own zone.

    Sessions that start before `start` or end after `end` but overlap the range
    are included; the order is by start. `local_start`/`local_end` are in the
    student's zone unless `time_zone` asks for another. Coordinators read any
    student of their organisation, a student their own calendar, a guardian
    their children's; a tutor sees only the sessions they teach the student. A
    student you cannot see is a 404.
    """
    p = call.principal
    _check_range(query)
    student = await load_visible(call.db, p, Student, visible_students(p), student_id, "student")
    attending = select(SessionStudent.session_id).where(SessionStudent.student_id == student.id)
    return await _agenda(call, query, LiveSession.id.in_(attending), student.time_zone)
