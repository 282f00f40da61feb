"""A student's data as a whole: a coordinator exports it for the family, or erases it."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field
from starlette.responses import Response

from api.audit_trail import actor_of
from api.permissions import load_visible, require_coordinator, visible_students
from api.privacy import erase_student_everywhere, export_student_zip
from api.routing import Call, Router
from api.schemas import Input
from core.errors import ValidationFailed
from scheduling.models import Student

router = Router()
TAGS = ["privacy"]


class EraseIn(Input):
    confirm: Literal[True] = Field(
        description="Erasure cannot be undone: send true to say you mean it."
    )


class ErasedOut(BaseModel):
    student_id: str
    rows: dict[str, int] = Field(description="Rows deleted or anonymised, per table.")
    files: int = Field(description="Files deleted from disk (recordings, .eml emails).")
    already_sent: list[str] = Field(
        description="Emails about the student sent before the erasure: they cannot be "
        "recalled; tell the family where they went."
    )
    kept: list[str] = Field(description="What was kept, and why.")


async def _student(call: Call, student_id: str, action: str) -> Student:
    p = call.principal
    student = await load_visible(call.db, p, Student, visible_students(p), student_id, "student")
    require_coordinator(p, action)
    return student


@router.get(
    "/api/v1/students/{student_id}/export",
    tags=TAGS,
    media_type="application/zip",
    audit="student",
    audit_action="export",
)
async def export_student(call: Call, student_id: str) -> Response:
    """Everything held about a student, as a zip: one JSON file per kind (profile,
    guardianships and consents, sessions, attendance, their transcript segments and
    chat, documents, briefings, progress reports, analytics, emails, the audit log
    about them) and their recordings (coordinators; API keys need `admin`)."""
    student = await _student(call, student_id, "export a student's data")
    body = await export_student_zip(
        call.db,
        actor=actor_of(call.principal),
        student_id=student.id,
        recordings_dir=call.services.settings.recordings_dir,
        now=call.now,
    )
    return Response(
        body,
        media_type="application/zip",
        headers={"Content-Disposition": f'attachment; filename="student-{student.id}.zip"'},
    )


@router.post(
    "/api/v1/students/{student_id}/erase", tags=TAGS, audit="student", audit_action="erase"
)
async def erase_student(call: Call, student_id: str, body: EraseIn) -> ErasedOut:
    """Erase a student: their profile, login, guardianships and consents, recordings,
    transcript segments, chat, documents about them (in a group session only their
    name is removed from it), briefings, progress reports and emails go, from the
    database and from disk; attendance and analytics keep their figures under an
    anonymous id. Emails already sent are listed: they cannot be recalled
    (coordinators; API keys need `admin`)."""
    student = await _student(call, student_id, "erase a student")
    if not body.confirm:  # read only now: the permission check comes first
        raise ValidationFailed("send confirm: true to erase the student")
    erased = await erase_student_everywhere(
        call.db,
        actor=actor_of(call.principal),
        student_id=student.id,
        data_dir=call.services.settings.data_dir,
        recordings_dir=call.services.settings.recordings_dir,
        now=call.now,
    )
    return ErasedOut(
        student_id=erased.student_id,
        rows=erased.rows,
        files=erased.files,
        already_sent=erased.already_sent,
        kept=erased.kept,
    )
