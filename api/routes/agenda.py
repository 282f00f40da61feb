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

from api.permissions import load_visible, visible_sessions, visible_students, visible_tutors
from api.routing import Call, Router
from api.schemas import Page, PageQuery, TimeZoneName
from core.errors import ErrorDetail, ValidationFailed
from scheduling.agenda import Agenda, student_agenda, tutor_agenda
from scheduling.models import SessionStatus, Student, Tutor

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


def _render(agenda: Agenda, query: AgendaQuery, zone_name: str) -> AgendaPage:
    """The page, with each session's times also in ``zone_name``."""
    zone = ZoneInfo(zone_name)
    return AgendaPage(
        items=[
            AgendaEntryOut(
                session_id=s.id,
                subject=s.subject,
                status=s.status,
                tutor_id=s.tutor_id,
                tutor_name=agenda.tutor_names.get(s.tutor_id, ""),
                students=[
                    AgendaStudentOut(student_id=sid, name=agenda.student_names.get(sid))
                    for sid in s.student_ids
                ],
                scheduled_start=s.scheduled_start,
                scheduled_end=s.scheduled_end,
                local_start=s.scheduled_start.astimezone(zone).isoformat(),
                local_end=s.scheduled_end.astimezone(zone).isoformat(),
                time_zone=zone_name,
            )
            for s in agenda.sessions
        ],
        total=agenda.total,
        limit=query.limit,
        offset=query.offset,
        start=query.start,
        end=query.end,
        time_zone=zone_name,
    )


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
    agenda = await tutor_agenda(
        call.db,
        tutor.id,
        visible=visible_sessions(p),
        nameable=visible_students(p),
        start=query.start,
        end=query.end,
        status=query.status,
        page=query,
    )
    return _render(agenda, query, query.time_zone or tutor.time_zone)


@router.get("/api/v1/students/{student_id}/calendar", audit="schedule", tags=TAGS, errors=[422])
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
    agenda = await student_agenda(
        call.db,
        student.id,
        visible=visible_sessions(p),
        nameable=visible_students(p),
        start=query.start,
        end=query.end,
        status=query.status,
        page=query,
    )
    return _render(agenda, query, query.time_zone or student.time_zone)
