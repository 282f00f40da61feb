"""A tutor's schedule settings: qualifications, weekly availability, exceptions, limits.

Coordinators of the tutor's organisation set them (PUT replaces the whole set);
coordinators and the tutor themself may read them. Bookings are checked
against them (see ``scheduling.conflicts``): until a tutor has weekly rules, or
qualifications, bookings are not limited by them.
"""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta
from enum import StrEnum
from typing import Annotated, Self

from pydantic import AfterValidator, AwareDatetime, BaseModel, Field, model_validator

from api.permissions import (
    load_visible,
    require_coordinator,
    require_tutor_or_coordinator,
    visible_tutors,
)
from api.routing import Call, Router
from api.schemas import Input, Label
from core.errors import ErrorDetail, ValidationFailed
from scheduling.availability import DateException, ExceptionKind, WeeklyRule
from scheduling.models import (
    AvailabilityException,
    AvailabilityRule,
    Tutor,
    TutorLimits,
    TutorQualification,
)
from scheduling.schedules import limits_of, qualifications_of, replace_qualifications, set_limits
from scheduling.tutor_availability import (
    TutorAvailability,
    availability_of,
    availability_windows,
    set_availability,
)

router = Router()
TAGS = ["tutors"]
MAX_WINDOW = timedelta(days=62)
LocalDate = date  # the field below is called `date`


class Weekday(StrEnum):
    MONDAY = "monday"
    TUESDAY = "tuesday"
    WEDNESDAY = "wednesday"
    THURSDAY = "thursday"
    FRIDAY = "friday"
    SATURDAY = "saturday"
    SUNDAY = "sunday"

    @property
    def number(self) -> int:
        return list(Weekday).index(self)


_HHMM = re.compile(r"^(?:[01]\d|2[0-3]):[0-5]\d$|^24:00$")


def _check_hhmm(value: str) -> str:
    if not _HHMM.match(value):
        raise ValueError(f"{value!r} is not a local time; use HH:MM, 00:00 to 24:00")
    return value


LocalTime = Annotated[
    str,
    Field(
        description="Wall-clock time in the tutor's zone, HH:MM; 24:00 is midnight at the end.",
        json_schema_extra={"pattern": _HHMM.pattern},
    ),
    AfterValidator(_check_hhmm),
]


def _minutes(hhmm: str) -> int:
    hours, minutes = hhmm.split(":")
    return int(hours) * 60 + int(minutes)


def _hhmm(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


class QualificationIn(Input):
    subject: Label = Field(examples=["mathematics"])
    level: Label = Field(examples=["gcse"])


class QualificationsIn(Input):
    items: list[QualificationIn] = Field(max_length=200)


class QualificationOut(BaseModel):
    subject: str
    level: str

    @classmethod
    def of(cls, q: TutorQualification) -> QualificationOut:
        return cls(subject=q.subject, level=q.level)


class QualificationsOut(BaseModel):
    tutor_id: str
    items: list[QualificationOut] = Field(
        description="Empty: the tutor's bookings are not checked for qualification."
    )


class RuleIn(Input):
    weekday: Weekday
    start: LocalTime = Field(examples=["09:00"])
    end: LocalTime = Field(examples=["17:00"])

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        if _minutes(self.end) <= _minutes(self.start):
            raise ValueError("end must be after start (a window ends by 24:00 on its day)")
        return self


class ExceptionIn(Input):
    """Time off or extra hours: on a local `date` (whole day, or `start`-`end` of it),
    or over an exact range `starts_at`-`ends_at`."""

    kind: ExceptionKind
    date: LocalDate | None = Field(default=None, description="A date in the tutor's zone.")
    start: LocalTime | None = None
    end: LocalTime | None = None
    starts_at: AwareDatetime | None = None
    ends_at: AwareDatetime | None = None
    note: str | None = Field(default=None, max_length=200)

    def to_exception(self) -> DateException:
        return DateException(
            self.kind,
            on_date=self.date,
            start_minute=_minutes(self.start) if self.start else None,
            end_minute=_minutes(self.end) if self.end else None,
            starts_at=self.starts_at,
            ends_at=self.ends_at,
        )

    @model_validator(mode="after")
    def _one_form(self) -> Self:
        self.to_exception()  # its ValueError names what is wrong
        return self


class AvailabilityIn(Input):
    rules: list[RuleIn] = Field(default_factory=list, max_length=100)
    exceptions: list[ExceptionIn] = Field(default_factory=list, max_length=500)


class RuleOut(BaseModel):
    weekday: Weekday
    start: str
    end: str

    @classmethod
    def of(cls, r: AvailabilityRule) -> RuleOut:
        return cls(
            weekday=list(Weekday)[r.weekday], start=_hhmm(r.start_minute), end=_hhmm(r.end_minute)
        )


class ExceptionOut(BaseModel):
    id: str
    kind: ExceptionKind
    date: LocalDate | None
    start: str | None
    end: str | None
    starts_at: datetime | None
    ends_at: datetime | None
    note: str | None

    @classmethod
    def of(cls, x: AvailabilityException) -> ExceptionOut:
        return cls(
            id=x.id,
            kind=x.kind,
            date=x.on_date,
            start=_hhmm(x.start_minute) if x.start_minute is not None else None,
            end=_hhmm(x.end_minute) if x.end_minute is not None else None,
            starts_at=x.starts_at,
            ends_at=x.ends_at,
            note=x.note,
        )


class AvailabilityOut(BaseModel):
    tutor_id: str
    time_zone: str = Field(description="The tutor's zone, in which rules and dates are read.")
    rules: list[RuleOut] = Field(
        description="Empty (and no extra hours): the tutor is free except for time off."
    )
    exceptions: list[ExceptionOut]


class WindowsQuery(Input):
    starts_after: AwareDatetime
    starts_before: AwareDatetime


class WindowOut(BaseModel):
    start: datetime
    end: datetime


class WindowsOut(BaseModel):
    tutor_id: str
    time_zone: str
    configured: bool = Field(
        description="False when the tutor has no weekly rules or extra hours: "
        "then they may be booked at any time outside their time off."
    )
    items: list[WindowOut] = Field(description="Available UTC intervals, merged and sorted.")


class LimitsIn(Input):
    max_sessions_per_day: int | None = Field(default=None, ge=1, le=48)
    max_sessions_per_week: int | None = Field(default=None, ge=1, le=300)
    buffer_minutes: int = Field(default=0, ge=0, le=1440)


class LimitsOut(BaseModel):
    tutor_id: str
    max_sessions_per_day: int | None = Field(description="Null: no daily limit.")
    max_sessions_per_week: int | None = Field(description="Null: no weekly limit.")
    buffer_minutes: int = Field(description="Minutes the tutor needs between sessions.")

    @classmethod
    def of(cls, tutor_id: str, row: TutorLimits | None) -> LimitsOut:
        if row is None:
            return cls(
                tutor_id=tutor_id,
                max_sessions_per_day=None,
                max_sessions_per_week=None,
                buffer_minutes=0,
            )
        return cls(
            tutor_id=tutor_id,
            max_sessions_per_day=row.max_sessions_per_day,
            max_sessions_per_week=row.max_sessions_per_week,
            buffer_minutes=row.buffer_minutes,
        )


async def _tutor(call: Call, tutor_id: str, action: str, *, write: bool) -> Tutor:
    p = call.principal
    tutor = await load_visible(call.db, p, Tutor, visible_tutors(p), tutor_id, "tutor")
    if write:
        require_coordinator(p, action)
    else:
        require_tutor_or_coordinator(p, tutor, action)
    return tutor


def _availability_out(tutor: Tutor, availability: TutorAvailability) -> AvailabilityOut:
    return AvailabilityOut(
        tutor_id=tutor.id,
        time_zone=tutor.time_zone,
        rules=[RuleOut.of(r) for r in availability.rules],
        exceptions=[ExceptionOut.of(x) for x in availability.exceptions],
    )


@router.get("/api/v1/tutors/{tutor_id}/qualifications", tags=TAGS)
async def get_qualifications(call: Call, tutor_id: str) -> QualificationsOut:
    """Read the subjects and levels a tutor is qualified to teach (coordinators, the tutor)."""
    tutor = await _tutor(call, tutor_id, "read a tutor's qualifications", write=False)
    rows = await qualifications_of(call.db, tutor.id)
    return QualificationsOut(tutor_id=tutor.id, items=[QualificationOut.of(q) for q in rows])


@router.put("/api/v1/tutors/{tutor_id}/qualifications", tags=TAGS)
async def put_qualifications(
    call: Call, tutor_id: str, body: QualificationsIn
) -> QualificationsOut:
    """Replace a tutor's qualifications (coordinators only).

    Once a tutor has any, a booking needs one matching its subject and every
    student's level (any level for students without one); an empty list turns
    the check off. Existing bookings are not re-checked.
    """
    tutor = await _tutor(call, tutor_id, "change a tutor's qualifications", write=True)
    rows = await replace_qualifications(
        call.db, tutor.id, [(q.subject, q.level) for q in body.items], now=call.now
    )
    return QualificationsOut(tutor_id=tutor.id, items=[QualificationOut.of(q) for q in rows])


@router.get("/api/v1/tutors/{tutor_id}/availability", tags=TAGS)
async def get_availability(call: Call, tutor_id: str) -> AvailabilityOut:
    """Read a tutor's weekly availability and date exceptions (coordinators, the tutor)."""
    tutor = await _tutor(call, tutor_id, "read a tutor's availability", write=False)
    return _availability_out(tutor, await availability_of(call.db, tutor.id))


@router.put("/api/v1/tutors/{tutor_id}/availability", tags=TAGS)
async def put_availability(call: Call, tutor_id: str, body: AvailabilityIn) -> AvailabilityOut:
    """Replace a tutor's weekly availability and date exceptions (coordinators only).

    Rules and dates are in the tutor's own zone (`time_zone`) and keep their
    wall-clock times across daylight-saving changes. Bookings must then fall
    inside a window (rules plus `extra_hours`, less `time_off`). With no rules
    and no extra hours, the tutor is bookable at any time except time off.
    Existing bookings are not re-checked.
    """
    tutor = await _tutor(call, tutor_id, "change a tutor's availability", write=True)
    availability = await set_availability(
        call.db,
        tutor.id,
        rules=[
            WeeklyRule(r.weekday.number, _minutes(r.start), _minutes(r.end)) for r in body.rules
        ],
        exceptions=[(x.to_exception(), x.note) for x in body.exceptions],
        now=call.now,
    )
    return _availability_out(tutor, availability)


@router.get("/api/v1/tutors/{tutor_id}/availability/windows", tags=TAGS, errors=[422])
async def get_availability_windows(call: Call, tutor_id: str, query: WindowsQuery) -> WindowsOut:
    """The UTC intervals a tutor is available in a range of at most 62 days.

    The weekly rules and exceptions expanded in the tutor's zone; booked
    sessions are not taken out.
    """
    tutor = await _tutor(call, tutor_id, "read a tutor's availability", write=False)
    if not timedelta(0) < query.starts_before - query.starts_after <= MAX_WINDOW:
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
    windows = await availability_windows(
        call.db, tutor, start=query.starts_after, end=query.starts_before
    )
    return WindowsOut(
        tutor_id=tutor.id,
        time_zone=tutor.time_zone,
        configured=windows.configured,
        items=[WindowOut(start=w.start, end=w.end) for w in windows.items],
    )


@router.get("/api/v1/tutors/{tutor_id}/limits", tags=TAGS)
async def get_limits(call: Call, tutor_id: str) -> LimitsOut:
    """Read a tutor's session limits and buffer (coordinators, the tutor)."""
    tutor = await _tutor(call, tutor_id, "read a tutor's limits", write=False)
    return LimitsOut.of(tutor.id, await limits_of(call.db, tutor.id))


@router.put("/api/v1/tutors/{tutor_id}/limits", tags=TAGS)
async def put_limits(call: Call, tutor_id: str, body: LimitsIn) -> LimitsOut:
    """Set a tutor's limits: sessions per day and per week (in their zone, weeks from
    Monday) and minutes of buffer between sessions (coordinators only)."""
    tutor = await _tutor(call, tutor_id, "change a tutor's limits", write=True)
    row = await set_limits(
        call.db,
        tutor.id,
        max_sessions_per_day=body.max_sessions_per_day,
        max_sessions_per_week=body.max_sessions_per_week,
        buffer_minutes=body.buffer_minutes,
        now=call.now,
    )
    return LimitsOut.of(tutor.id, row)
