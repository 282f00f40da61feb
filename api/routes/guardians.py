"""Guardians and their guardianships: which children, what they consent to, what they hear about."""

from __future__ import annotations

from datetime import datetime

from pydantic import Field
from sqlalchemy import select

from api.people import (
    PersonCreate,
    PersonOut,
    PersonUpdate,
    optional_hash,
    reject_nulls,
    update_user,
)
from api.permissions import (
    load_visible,
    not_visible,
    require_coordinator,
    visible_guardians,
    visible_students,
)
from api.routing import Call, Router
from api.schemas import Input, Page, PageQuery
from core.ids import new_id
from core.pagination import fetch_page
from scheduling.bookings import check_student_ids
from scheduling.models import Guardian, Guardianship, Student, User
from scheduling.people import create_guardian as add_guardian

router = Router()
TAGS = ["guardians"]


class GuardianshipTerms(Input):
    """Consents and notification wishes for one child; all consents default to no."""

    relationship: str | None = Field(default=None, max_length=64, examples=["mother"])
    recording_consent: bool = Field(
        default=False,
        description="The child's audio may be recorded (their own track, one file per "
        "session). A child is recorded only when every guardian on file gave this; a child "
        "with no guardian on file is never recorded. Tutors are always recorded.",
    )
    ai_processing_consent: bool = Field(
        default=False,
        description="The child's recorded audio may be transcribed by speech recognition "
        "(Whisper, on the Liveclass server), and the session's transcript sent to the "
        "configured AI model to draft its summary; and this guardian may be emailed that "
        "summary. Each needs every guardian of the child (the model: of every child in the "
        "session). Without it the child's audio is never turned into text, the summary is "
        "drafted on the server without a model, and this guardian gets no summary email. "
        "A child with no guardian on file gets no AI processing.",
    )
    notify_email: bool = Field(default=True, description="Send notices by email.")
    notify_summaries: bool = True
    notify_absences: bool = True
    notify_reminders: bool = True


class GuardianshipIn(GuardianshipTerms):
    student_id: str


class GuardianshipOut(GuardianshipTerms):
    student_id: str
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, g: Guardianship) -> GuardianshipOut:
        return cls(
            student_id=g.student_id,
            relationship=g.relationship_label,
            recording_consent=g.recording_consent,
            ai_processing_consent=g.ai_processing_consent,
            notify_email=g.notify_email,
            notify_summaries=g.notify_summaries,
            notify_absences=g.notify_absences,
            notify_reminders=g.notify_reminders,
            created_at=g.created_at,
            updated_at=g.updated_at,
        )


class GuardianCreate(PersonCreate):
    phone: str | None = Field(default=None, max_length=32)
    students: list[GuardianshipIn] = Field(default_factory=list, max_length=20)


class GuardianUpdate(PersonUpdate):
    phone: str | None = Field(default=None, max_length=32)


class GuardianOut(PersonOut):
    phone: str | None
    students: list[GuardianshipOut]

    @classmethod
    def of(cls, g: Guardian) -> GuardianOut:
        return cls(
            id=g.id,
            user_id=g.user_id,
            email=g.user.email,
            display_name=g.user.display_name,
            time_zone=g.time_zone,
            created_at=g.created_at,
            phone=g.phone,
            students=[GuardianshipOut.of(s) for s in g.guardianships],
        )


class GuardianPage(Page[GuardianOut]):
    pass


class GuardianQuery(PageQuery):
    student_id: str | None = Field(default=None, description="Only guardians of this student.")


def _apply_terms(row: Guardianship, terms: GuardianshipTerms, now: datetime) -> None:
    row.relationship_label = terms.relationship
    row.recording_consent = terms.recording_consent
    row.ai_processing_consent = terms.ai_processing_consent
    row.notify_email = terms.notify_email
    row.notify_summaries = terms.notify_summaries
    row.notify_absences = terms.notify_absences
    row.notify_reminders = terms.notify_reminders
    row.updated_at = now


def _new_guardianship(
    guardian: Guardian, student_id: str, terms: GuardianshipTerms, now: datetime
) -> None:
    row = Guardianship(
        id=new_id("gsp"), guardian_id=guardian.id, student_id=student_id, created_at=now
    )
    _apply_terms(row, terms, now)
    guardian.guardianships.append(row)


@router.get("/api/v1/guardians", tags=TAGS)
async def list_guardians(call: Call, query: GuardianQuery) -> GuardianPage:
    """List the guardians you can see, filtered by student."""
    where = [visible_guardians(call.principal)]
    if query.student_id:
        where.append(
            Guardian.id.in_(
                select(Guardianship.guardian_id).where(Guardianship.student_id == query.student_id)
            )
        )
    rows, total = await fetch_page(
        call.db,
        select(Guardian).join(User, User.id == Guardian.user_id),
        where=where,
        order_by=[User.display_name, Guardian.id],
        page=query,
    )
    return GuardianPage(
        items=[GuardianOut.of(g) for g in rows], total=total, limit=query.limit, offset=query.offset
    )


@router.post("/api/v1/guardians", tags=TAGS, status_code=201, errors=[409])
async def create_guardian(call: Call, body: GuardianCreate) -> GuardianOut:
    """Add a guardian, optionally linked to their children (coordinators only)."""
    p = call.principal
    require_coordinator(p, "add guardians")
    await check_student_ids(
        call.db,
        org_id=p.org_id,
        student_ids=[s.student_id for s in body.students],
        field="students",
    )
    guardian = await add_guardian(
        call.db,
        org_id=p.org_id,
        email=body.email,
        display_name=body.display_name,
        password_hash=await optional_hash(body.password),
        phone=body.phone,
        time_zone=body.time_zone,
        now=call.now,
    )
    for link in {s.student_id: s for s in body.students}.values():
        _new_guardianship(guardian, link.student_id, link, call.now)
    await call.db.flush()
    return GuardianOut.of(guardian)


@router.get("/api/v1/guardians/{guardian_id}", tags=TAGS)
async def get_guardian(call: Call, guardian_id: str) -> GuardianOut:
    """Read one guardian, with their children's consents and preferences."""
    p = call.principal
    return GuardianOut.of(
        await load_visible(call.db, p, Guardian, visible_guardians(p), guardian_id, "guardian")
    )


@router.patch("/api/v1/guardians/{guardian_id}", tags=TAGS, errors=[409])
async def update_guardian(call: Call, guardian_id: str, body: GuardianUpdate) -> GuardianOut:
    """Change a guardian's details; fields left out keep their value (coordinators only)."""
    p = call.principal
    guardian = await load_visible(
        call.db, p, Guardian, visible_guardians(p), guardian_id, "guardian"
    )
    require_coordinator(p, "change guardians")
    reject_nulls(body, "email", "display_name", "time_zone")
    await update_user(call.db, guardian.user, body, call.now)
    if "phone" in body.model_fields_set:
        guardian.phone = body.phone
    if body.time_zone is not None:
        guardian.time_zone = body.time_zone
    await call.db.flush()
    return GuardianOut.of(guardian)


@router.delete("/api/v1/guardians/{guardian_id}", tags=TAGS)
async def delete_guardian(call: Call, guardian_id: str) -> None:
    """Remove a guardian and their links to children (coordinators only)."""
    p = call.principal
    guardian = await load_visible(
        call.db, p, Guardian, visible_guardians(p), guardian_id, "guardian"
    )
    require_coordinator(p, "remove guardians")
    await call.db.delete(guardian)
    await call.db.delete(guardian.user)


@router.put("/api/v1/guardians/{guardian_id}/students/{student_id}", tags=TAGS)
async def set_guardianship(
    call: Call, guardian_id: str, student_id: str, body: GuardianshipTerms
) -> GuardianOut:
    """Link a guardian to a student, or replace that link's terms (coordinators only).

    The body replaces the link's consents and notification preferences whole.
    """
    p = call.principal
    guardian = await load_visible(
        call.db, p, Guardian, visible_guardians(p), guardian_id, "guardian"
    )
    require_coordinator(p, "change guardianships")
    await load_visible(call.db, p, Student, visible_students(p), student_id, "student")
    existing = next((g for g in guardian.guardianships if g.student_id == student_id), None)
    if existing is None:
        _new_guardianship(guardian, student_id, body, call.now)
    else:
        _apply_terms(existing, body, call.now)
    await call.db.flush()
    return GuardianOut.of(guardian)


@router.delete("/api/v1/guardians/{guardian_id}/students/{student_id}", tags=TAGS)
async def remove_guardianship(call: Call, guardian_id: str, student_id: str) -> None:
    """Unlink a guardian from a student (coordinators only)."""
    p = call.principal
    guardian = await load_visible(
        call.db, p, Guardian, visible_guardians(p), guardian_id, "guardian"
    )
    require_coordinator(p, "change guardianships")
    existing = next((g for g in guardian.guardianships if g.student_id == student_id), None)
    if existing is None:
        raise not_visible(p, "guardianship", f"{guardian_id}/{student_id}")
    guardian.guardianships.remove(existing)
