"""Students: people who learn, with their level and time zone."""

from __future__ import annotations

from pydantic import Field

from api.people import PersonCreate, PersonOut, PersonUpdate, optional_hash
from api.permissions import load_visible, require_coordinator, visible_students
from api.routing import Call, Router
from api.schemas import Label, Page, PageQuery
from scheduling.directory import find_students
from scheduling.models import Student
from scheduling.people import UNCHANGED, change_student, remove_student
from scheduling.people import create_student as add_student

router = Router()
TAGS = ["students"]


class StudentCreate(PersonCreate):
    level: Label | None = Field(default=None, examples=["year-9"])


class StudentUpdate(PersonUpdate):
    NOT_NULL = (*PersonUpdate.NOT_NULL, "notify_reminders")

    notify_reminders: bool | None = Field(
        default=None, description="Email them a reminder 24 h and 1 h before each session."
    )
    level: Label | None = None


class StudentOut(PersonOut):
    notify_reminders: bool = Field(
        description="Session reminders on (they can change it: `PATCH /api/v1/me/preferences`)."
    )
    level: str | None

    @classmethod
    def of(cls, s: Student) -> StudentOut:
        return cls(
            id=s.id,
            user_id=s.user_id,
            email=s.user.email,
            display_name=s.user.display_name,
            time_zone=s.time_zone,
            created_at=s.created_at,
            notify_reminders=s.notify_reminders,
            level=s.level,
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
    return StudentPage(
        items=[StudentOut.of(s) for s in rows], total=total, limit=query.limit, offset=query.offset
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
        now=call.now,
    )
    call.about(student.id)
    return StudentOut.of(student)


@router.get("/api/v1/students/{student_id}", audit="student", tags=TAGS)
async def get_student(call: Call, student_id: str) -> StudentOut:
    """Read one student."""
    p = call.principal
    return StudentOut.of(
        await load_visible(call.db, p, Student, visible_students(p), student_id, "student")
    )


@router.patch("/api/v1/students/{student_id}", audit="student", tags=TAGS, errors=[409])
async def update_student(call: Call, student_id: str, body: StudentUpdate) -> StudentOut:
    """Change a student's details; fields left out keep their value (coordinators only)."""
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
        now=call.now,
    )
    return StudentOut.of(student)


@router.delete("/api/v1/students/{student_id}", audit="student", tags=TAGS, errors=[409])
async def delete_student(call: Call, student_id: str) -> None:
    """Remove a student who has no sessions (coordinators only)."""
    p = call.principal
    student = await load_visible(call.db, p, Student, visible_students(p), student_id, "student")
    require_coordinator(p, "remove students")
    await remove_student(call.db, student)
