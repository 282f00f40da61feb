"""Students: people who learn, with their level, time zone, date of birth and, from the
consent age on, the recording and AI consents they give themselves."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Annotated

from pydantic import AfterValidator, BaseModel, Field

from api.auth import Principal
from api.consents import enforce_recording_consent
from api.people import PersonCreate, PersonOut, PersonUpdate, optional_hash
from api.permissions import load_visible, require_coordinator, visible_students
from api.routing import Call, Router
from api.schemas import Label, Page, PageQuery, Patch
from core.errors import Conflict
from scheduling.directory import find_students
from scheduling.models import Role, Student
from scheduling.people import UNCHANGED, change_student, remove_student, set_own_consents
from scheduling.people import create_student as add_student
from sessions.consent import ConsentRule

router = Router()
TAGS = ["students"]


def _born(value: date) -> date:
    today = datetime.now(UTC).date()
    if value > today:
        raise ValueError("a date of birth cannot be in the future")
    if value.year < 1900:
        raise ValueError("a date of birth before 1900 is a typing mistake")
    return value


DateOfBirth = Annotated[
    date,
    AfterValidator(_born),
    Field(
        description="Decides whose consent counts: from `LIVECLASS_CONSENT_AGE` (13 unless "
        "set) the student's own, before it (or when unknown) every guardian's.",
        examples=["2012-05-14"],
    ),
]


class StudentCreate(PersonCreate):
    level: Label | None = Field(default=None, examples=["year-9"])
    date_of_birth: DateOfBirth | None = None


class StudentUpdate(PersonUpdate):
    NOT_NULL = (*PersonUpdate.NOT_NULL, "notify_reminders")

    notify_reminders: bool | None = Field(
        default=None, description="Email them a reminder 24 h and 1 h before each session."
    )
    level: Label | None = None
    date_of_birth: DateOfBirth | None = Field(
        default=None, description="null clears it: unknown, so the guardians decide."
    )


class OwnConsents(BaseModel):
    """The consents a student gives themselves, which count only from the consent age."""

    decides_for_self: bool = Field(
        description="They are of the consent age: these two count, their guardians' do not. "
        "Otherwise (or with no date of birth) every guardian's consent counts instead."
    )
    recording_consent: bool
    ai_processing_consent: bool


class OwnConsentsChange(Patch):
    """Fields left out keep their value."""

    NOT_NULL = ("recording_consent", "ai_processing_consent")

    recording_consent: bool | None = Field(default=None, description="Their audio may be recorded.")
    ai_processing_consent: bool | None = Field(
        default=None,
        description="Their recorded audio may be transcribed and drafted from (by the "
        "configured model only when every student of the session consented).",
    )


class StudentOut(PersonOut):
    notify_reminders: bool = Field(
        description="Session reminders on (they can change it: `PATCH /api/v1/me/preferences`)."
    )
    level: str | None
    date_of_birth: date | None = Field(
        description="Shown to coordinators, the student and their guardians; null to "
        "tutors, and when unknown."
    )
    consents: OwnConsents

    @classmethod
    def of(cls, s: Student, p: Principal, rule: ConsentRule) -> StudentOut:
        return cls(
            id=s.id,
            user_id=s.user_id,
            email=s.user.email,
            display_name=s.user.display_name,
            time_zone=s.time_zone,
            created_at=s.created_at,
            notify_reminders=s.notify_reminders,
            level=s.level,
            date_of_birth=None if p.role is Role.TUTOR else s.date_of_birth,
            consents=OwnConsents(
                decides_for_self=rule.decides_for_self(s.date_of_birth),
                recording_consent=s.recording_consent,
                ai_processing_consent=s.ai_processing_consent,
            ),
        )


class StudentPage(Page[StudentOut]):
    pass


class StudentQuery(PageQuery):
    level: str | None = Field(default=None, description="Only students at this level.")
    guardian_id: str | None = Field(default=None, description="Only this guardian's children.")


@router.get("/api/v1/students", audit="student", tags=TAGS)
async def list_students(call: Call, query: StudentQuery) -> StudentPage:
    """List the students you can see, filtered by level or guardian."""
    rows, total = await find_students(
        call.db,
        visible=visible_students(call.principal),
        level=query.level,
        guardian_id=query.guardian_id,
        page=query,
    )
    call.about(*(s.id for s in rows))
    rule = _rule(call)
    return StudentPage(
        items=[StudentOut.of(s, call.principal, rule) for s in rows],
        total=total,
        limit=query.limit,
        offset=query.offset,
    )


@router.post("/api/v1/students", audit="student", tags=TAGS, status_code=201, errors=[409])
async def create_student(call: Call, body: StudentCreate) -> StudentOut:
    """Add a student (coordinators only)."""
    p = call.principal
    require_coordinator(p, "add students")
    student = await add_student(
        call.db,
        org_id=p.org_id,
        email=body.email,
        display_name=body.display_name,
        password_hash=await optional_hash(body.password),
        level=body.level,
        time_zone=body.time_zone,
        date_of_birth=body.date_of_birth,
        now=call.now,
    )
    call.about(student.id)
    return StudentOut.of(student, p, _rule(call))


@router.get("/api/v1/students/{student_id}", audit="student", tags=TAGS)
async def get_student(call: Call, student_id: str) -> StudentOut:
    """Read one student."""
    p = call.principal
    return StudentOut.of(
        await load_visible(call.db, p, Student, visible_students(p), student_id, "student"),
        p,
        _rule(call),
    )


@router.patch("/api/v1/students/{student_id}", audit="student", tags=TAGS, errors=[409])
async def update_student(call: Call, student_id: str, body: StudentUpdate) -> StudentOut:
    """Change a student's details; fields left out keep their value (coordinators only).

    A new date of birth can move the decision between the student and their guardians:
    a lesson in progress stops recording them at once if consent no longer holds."""
    p = call.principal
    student = await load_visible(call.db, p, Student, visible_students(p), student_id, "student")
    require_coordinator(p, "change students")
    student = await change_student(
        call.db,
        student,
        email=body.email,
        display_name=body.display_name,
        password_hash=await optional_hash(body.password),
        time_zone=body.time_zone,
        notify_reminders=body.notify_reminders,
        level=body.level if "level" in body.model_fields_set else UNCHANGED,
        date_of_birth=(
            body.date_of_birth if "date_of_birth" in body.model_fields_set else UNCHANGED
        ),
        now=call.now,
    )
    rule = _rule(call)
    if "date_of_birth" in body.model_fields_set:
        await enforce_recording_consent(
            call.db,
            student_id=student.id,
            watchers=call.services.recording_withdrawn,
            rule=rule,
        )
    return StudentOut.of(student, p, rule)


@router.patch("/api/v1/students/{student_id}/consents", audit="consent", tags=TAGS, errors=[409])
async def change_own_consents(call: Call, student_id: str, body: OwnConsentsChange) -> StudentOut:
    """Give or withdraw recording and AI consent as a student of the consent age: the
    student themself (their portal) or a coordinator recording what they said. Younger
    students (or with no date of birth on file) get 409: their guardians decide. The
    change holds at once, a lesson in progress included (as a guardian's does)."""
    p = call.principal
    student = await load_visible(call.db, p, Student, visible_students(p), student_id, "student")
    if p.student_id != student.id:
        require_coordinator(p, "change a student's consents")
    rule = _rule(call)
    if not rule.decides_for_self(student.date_of_birth):
        raise Conflict(
            f"{student.user.display_name} is not of the consent age ({rule.age}, "
            "LIVECLASS_CONSENT_AGE) by the date of birth on file: their guardians give or "
            "withhold consent (PATCH /api/v1/guardians/{id}/students/{student_id}).",
            code="guardians_decide",
        )
    student = await set_own_consents(
        call.db,
        student,
        recording_consent=body.recording_consent,
        ai_processing_consent=body.ai_processing_consent,
    )
    await enforce_recording_consent(
        call.db, student_id=student.id, watchers=call.services.recording_withdrawn, rule=rule
    )
    return StudentOut.of(student, p, rule)


@router.delete("/api/v1/students/{student_id}", audit="student", tags=TAGS, errors=[409])
async def delete_student(call: Call, student_id: str) -> None:
    """Remove a student who has no sessions (coordinators only)."""
    p = call.principal
    student = await load_visible(call.db, p, Student, visible_students(p), student_id, "student")
    require_coordinator(p, "remove students")
    await remove_student(call.db, student)


def _rule(call: Call) -> ConsentRule:
    return call.services.settings.consent_rule(call.now.date())
