"""Guardians and their guardianships: which children, what they consent to, what they hear about."""

from __future__ import annotations

from datetime import datetime

from pydantic import Field

from api.consents import enforce_recording_consent
from api.people import PersonCreate, PersonOut, PersonUpdate, optional_hash
from api.permissions import (
    load_visible,
    not_visible,
    require_coordinator,
    visible_guardians,
    visible_students,
)
from api.routing import Call, Router
from api.schemas import Input, Page, PageQuery, Patch
from core.logging import get_logger
from scheduling import guardianships
from scheduling.directory import find_guardians
from scheduling.models import Guardian, Guardianship, Student
from scheduling.people import UNCHANGED, change_guardian, remove_guardian
from scheduling.people import create_guardian as add_guardian

router = Router()
TAGS = ["guardians"]
log = get_logger("liveclass.guardians")


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
    join_without_login: bool = Field(
        default=False,
        description="The child's session reminders may carry a link straight into the "
        "lesson, without logging in. Off (the default), a minor's link opens the lesson page "
        "behind a login; it needs every guardian on file. A student of 18 gets the direct "
        "link whatever this says.",
    )

    def terms(self) -> guardianships.GuardianshipTerms:
        return guardianships.GuardianshipTerms(
            relationship=self.relationship,
            recording_consent=self.recording_consent,
            ai_processing_consent=self.ai_processing_consent,
            notify_email=self.notify_email,
            notify_summaries=self.notify_summaries,
            notify_absences=self.notify_absences,
            notify_reminders=self.notify_reminders,
            join_without_login=self.join_without_login,
        )


class GuardianshipChange(Patch):
    """Some of a guardianship's consents and notification wishes; those left out stay."""

    NOT_NULL = guardianships.TERMS

    recording_consent: bool | None = Field(
        default=None, description=GuardianshipTerms.model_fields["recording_consent"].description
    )
    ai_processing_consent: bool | None = Field(
        default=None,
        description=GuardianshipTerms.model_fields["ai_processing_consent"].description,
    )
    notify_email: bool | None = Field(
        default=None, description="Send notices by email at all (off: none of the below)."
    )
    notify_summaries: bool | None = Field(
        default=None, description="Email the approved summary after each session."
    )
    notify_absences: bool | None = Field(
        default=None, description="Email when the child missed a session."
    )
    notify_reminders: bool | None = Field(
        default=None, description="Email a reminder 24 h and 1 h before each session."
    )
    join_without_login: bool | None = Field(
        default=None, description=GuardianshipTerms.model_fields["join_without_login"].description
    )


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
            join_without_login=g.join_without_login,
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


@router.get("/api/v1/guardians", audit="guardian", tags=TAGS)
async def list_guardians(call: Call, query: GuardianQuery) -> GuardianPage:
    """List the guardians you can see, filtered by student."""
    rows, total = await find_guardians(
        call.db, visible=visible_guardians(call.principal), student_id=query.student_id, page=query
    )
    return GuardianPage(
        items=[GuardianOut.of(g) for g in rows], total=total, limit=query.limit, offset=query.offset
    )


@router.post("/api/v1/guardians", audit="guardian", tags=TAGS, status_code=201, errors=[409])
async def create_guardian(call: Call, body: GuardianCreate) -> GuardianOut:
    """Add a guardian, optionally linked to their children (coordinators only)."""
    p = call.principal
    require_coordinator(p, "add guardians")
    guardian = await add_guardian(
        call.db,
        org_id=p.org_id,
        email=body.email,
        display_name=body.display_name,
        password_hash=await optional_hash(body.password),
        phone=body.phone,
        time_zone=body.time_zone,
        now=call.now,
        children={s.student_id: s.terms() for s in body.students},
    )
    return GuardianOut.of(guardian)


@router.get("/api/v1/guardians/{guardian_id}", audit="guardian", tags=TAGS)
async def get_guardian(call: Call, guardian_id: str) -> GuardianOut:
    """Read one guardian, with their children's consents and preferences."""
    p = call.principal
    return GuardianOut.of(
        await load_visible(call.db, p, Guardian, visible_guardians(p), guardian_id, "guardian")
    )


@router.patch("/api/v1/guardians/{guardian_id}", audit="guardian", tags=TAGS, errors=[409])
async def update_guardian(call: Call, guardian_id: str, body: GuardianUpdate) -> GuardianOut:
    """Change a guardian's details; fields left out keep their value (coordinators only)."""
    p = call.principal
    guardian = await load_visible(
        call.db, p, Guardian, visible_guardians(p), guardian_id, "guardian"
    )
    require_coordinator(p, "change guardians")
    guardian = await change_guardian(
        call.db,
        guardian,
        email=body.email,
        display_name=body.display_name,
        password_hash=await optional_hash(body.password),
        time_zone=body.time_zone,
        phone=body.phone if "phone" in body.model_fields_set else UNCHANGED,
        now=call.now,
    )
    return GuardianOut.of(guardian)


@router.delete("/api/v1/guardians/{guardian_id}", audit="guardian", tags=TAGS)
async def delete_guardian(call: Call, guardian_id: str) -> None:
    """Remove a guardian and their links to children (coordinators only)."""
    p = call.principal
    guardian = await load_visible(
        call.db, p, Guardian, visible_guardians(p), guardian_id, "guardian"
    )
    require_coordinator(p, "remove guardians")
    await remove_guardian(call.db, guardian)


@router.put("/api/v1/guardians/{guardian_id}/students/{student_id}", audit="consent", tags=TAGS)
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
    guardian = await guardianships.link_student(
        call.db, guardian, student_id=student_id, terms=body.terms(), now=call.now
    )
    await enforce_recording_consent(
        call.db,
        student_id=student_id,
        watchers=call.services.recording_withdrawn,
        rule=call.services.settings.consent_rule(call.now.date()),
    )
    return GuardianOut.of(guardian)


@router.patch("/api/v1/guardians/{guardian_id}/students/{student_id}", audit="consent", tags=TAGS)
async def change_guardianship(
    call: Call, guardian_id: str, student_id: str, body: GuardianshipChange
) -> GuardianOut:
    """Change some of the consents and notification wishes for one child: the guardian
    themself (the family portal) or a coordinator. Fields left out keep their value, and
    the change holds at once: a session that records, transcribes or drafts after it
    reads the new consent, and a lesson in progress stops recording the child within a
    second when recording consent no longer holds (what it recorded is deleted)."""
    p = call.principal
    guardian = await load_visible(
        call.db, p, Guardian, visible_guardians(p), guardian_id, "guardian"
    )
    if p.guardian_id != guardian.id:
        require_coordinator(p, "change another guardian's consents")
    changes = body.model_dump(exclude_unset=True)
    if (
        await guardianships.change_terms(
            call.db, guardian, student_id=student_id, changes=changes, now=call.now
        )
        is None
    ):
        raise not_visible(p, "guardianship", f"{guardian_id}/{student_id}")
    await enforce_recording_consent(
        call.db,
        student_id=student_id,
        watchers=call.services.recording_withdrawn,
        rule=call.services.settings.consent_rule(call.now.date()),
    )
    log.info(
        "guardianship terms changed",
        guardian=guardian.id,
        student=student_id,
        by=p.id,
        changes=changes,
    )
    return GuardianOut.of(guardian)


@router.delete("/api/v1/guardians/{guardian_id}/students/{student_id}", audit="consent", tags=TAGS)
async def remove_guardianship(call: Call, guardian_id: str, student_id: str) -> None:
    """Unlink a guardian from a student (coordinators only)."""
    p = call.principal
    guardian = await load_visible(
        call.db, p, Guardian, visible_guardians(p), guardian_id, "guardian"
    )
    require_coordinator(p, "change guardianships")
    if not await guardianships.unlink_student(call.db, guardian, student_id=student_id):
        raise not_visible(p, "guardianship", f"{guardian_id}/{student_id}")
    await enforce_recording_consent(
        call.db,
        student_id=student_id,
        watchers=call.services.recording_withdrawn,
        rule=call.services.settings.consent_rule(call.now.date()),
    )
