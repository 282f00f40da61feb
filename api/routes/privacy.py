"""A student's or a guardian's data as a whole: a coordinator exports it, or erases it."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field
from starlette.responses import Response

from api.audit_trail import actor_of
from api.permissions import (
    load_visible,
    require_coordinator,
    visible_guardians,
    visible_students,
)
from api.privacy import (
    erase_guardian_everywhere,
    erase_student_everywhere,
    export_guardian_zip,
    export_student_zip,
)
from api.routing import Call, Router
from api.schemas import Input
from core.errors import ValidationFailed
from scheduling.models import Guardian, Student

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
        keys=call.services.settings.key_ring,
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


async def _guardian(call: Call, guardian_id: str, action: str) -> Guardian:
    p = call.principal
    guardian = await load_visible(
        call.db, p, Guardian, visible_guardians(p), guardian_id, "guardian"
    )
    require_coordinator(p, action)
    return guardian


class GuardianErasedOut(BaseModel):
    guardian_id: str
    rows: dict[str, int] = Field(description="Rows deleted, per table.")
    files: int = Field(description=".eml files deleted from disk.")
    already_sent: list[str] = Field(
        description="Emails to the guardian sent before the erasure: they cannot be recalled."
    )
    kept: list[str] = Field(
        description="What was kept, and why: a consent the guardian withheld stays off for "
        "their children on the other guardians' links until those give it again."
    )


@router.get(
    "/api/v1/guardians/{guardian_id}/export",
    tags=TAGS,
    media_type="application/zip",
    audit="guardian",
    audit_action="export",
)
async def export_guardian(call: Call, guardian_id: str) -> Response:
    """What is held about a guardian, as a zip: their profile, their links to children
    with the consents, the emails to them, and what they read and changed (the audit log)
    (coordinators; API keys need `admin`)."""
    guardian = await _guardian(call, guardian_id, "export a guardian's data")
    body = await export_guardian_zip(
        call.db, actor=actor_of(call.principal), guardian_id=guardian.id, now=call.now
    )
    return Response(
        body,
        media_type="application/zip",
        headers={"Content-Disposition": f'attachment; filename="guardian-{guardian.id}.zip"'},
    )


@router.post(
    "/api/v1/guardians/{guardian_id}/erase", tags=TAGS, audit="guardian", audit_action="erase"
)
async def erase_guardian(call: Call, guardian_id: str, body: EraseIn) -> GuardianErasedOut:
    """Erase a guardian: their login, profile, links to their children and consents,
    calendar feed and the emails to them go. A consent they withheld stays off for
    their children (the other guardians can give it again), so erasing the guardian who
    said no never makes a child recordable. Emails already sent are listed
    (coordinators; API keys need `admin`)."""
    guardian = await _guardian(call, guardian_id, "erase a guardian")
    if not body.confirm:  # read only now: the permission check comes first
        raise ValidationFailed("send confirm: true to erase the guardian")
    erased = await erase_guardian_everywhere(
        call.db,
        actor=actor_of(call.principal),
        guardian_id=guardian.id,
        data_dir=call.services.settings.data_dir,
    )
    return GuardianErasedOut(
        guardian_id=erased.guardian_id,
        rows=erased.rows,
        files=erased.files,
        already_sent=erased.already_sent,
        kept=erased.kept,
    )
