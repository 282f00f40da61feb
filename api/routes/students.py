"""Students: people who learn, with their level and time zone."""

from __future__ import annotations

from pydantic import Field
from sqlalchemy import select

from api.people import (
    PersonCreate,
    PersonOut,
    PersonUpdate,
    optional_hash,
    reject_nulls,
    sessions_count,
    update_user,
)
from api.permissions import load_visible, require_coordinator, visible_students
from api.routing import Call, Router
from api.schemas import Label, Page, PageQuery
from core.errors import Conflict
from core.pagination import fetch_page
from scheduling.models import Guardianship, Student, User
from scheduling.people import create_student as add_student

router = Router()
TAGS = ["students"]


class StudentCreate(PersonCreate):
    level: Label | None = Field(default=None, examples=["year-9"])


class StudentUpdate(PersonUpdate):
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


@router.get("/api/v1/students", tags=TAGS)
async def list_students(call: Call, query: StudentQuery) -> StudentPage:
    """List the students you can see, filtered by level or guardian."""
    where = [visible_students(call.principal)]
    if query.level:
        where.append(Student.level == query.level)
    if query.guardian_id:
        children = select(Guardianship.student_id).where(
            Guardianship.guardian_id == query.guardian_id
        )
        where.append(Student.id.in_(children))
    rows, total = await fetch_page(
        call.db,
        select(Student).join(User, User.id == Student.user_id),
        where=where,
        order_by=[User.display_name, Student.id],
        page=query,
    )
    return StudentPage(
        items=[StudentOut.of(s) for s in rows], total=total, limit=query.limit, offset=query.offset
    )


@router.post("/api/v1/students", tags=TAGS, status_code=201, errors=[409])
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
    return StudentOut.of(student)


@router.get("/api/v1/students/{student_id}", tags=TAGS)
async def get_student(call: Call, student_id: str) -> StudentOut:
    """Read one student."""
    p = call.principal
    return StudentOut.of(
        await load_visible(call.db, p, Student, visible_students(p), student_id, "student")
    )


@router.patch("/api/v1/students/{student_id}", tags=TAGS, errors=[409])
async def update_student(call: Call, student_id: str, body: StudentUpdate) -> StudentOut:
    """Change a student's details; fields left out keep their value (coordinators only)."""
    p = call.principal
    student = await load_visible(call.db, p, Student, visible_students(p), student_id, "student")
    require_coordinator(p, "change students")
    reject_nulls(body, "email", "display_name", "time_zone", "notify_reminders")
    await update_user(call.db, student.user, body, call.now)
    if body.notify_reminders is not None:
        student.notify_reminders = body.notify_reminders
    if "level" in body.model_fields_set:
        student.level = body.level
    if body.time_zone is not None:
        student.time_zone = body.time_zone
    await call.db.flush()
    return StudentOut.of(student)


@router.delete("/api/v1/students/{student_id}", tags=TAGS, errors=[409])
async def delete_student(call: Call, student_id: str) -> None:
    """Remove a student who has no sessions (coordinators only)."""
    p = call.principal
    student = await load_visible(call.db, p, Student, visible_students(p), student_id, "student")
    require_coordinator(p, "remove students")
    if n := await sessions_count(call.db, student_id=student.id):
        raise Conflict(
            f"this student is in {n} session(s); remove them from those first", code="in_use"
        )
    await call.db.delete(student)
    await call.db.delete(student.user)
