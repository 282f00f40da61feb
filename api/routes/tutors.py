"""Tutors: people who teach, with the subjects and levels they teach and their time zone."""

from __future__ import annotations

from pydantic import Field

from api.people import PersonCreate, PersonOut, PersonUpdate, optional_hash
from api.permissions import load_visible, require_coordinator, visible_tutors
from api.routing import Call, Router
from api.schemas import Label, Page, PageQuery
from scheduling.directory import find_tutors
from scheduling.models import Tutor
from scheduling.people import change_tutor, remove_tutor
from scheduling.people import create_tutor as add_tutor

router = Router()
TAGS = ["tutors"]


class TutorCreate(PersonCreate):
    subjects: list[Label] = Field(default_factory=list, max_length=50, examples=[["mathematics"]])
    levels: list[Label] = Field(default_factory=list, max_length=50, examples=[["gcse"]])


class TutorUpdate(PersonUpdate):
    NOT_NULL = (*PersonUpdate.NOT_NULL, "notify_reminders", "subjects", "levels")

    notify_reminders: bool | None = Field(
        default=None, description="Email them a reminder 24 h and 1 h before each session."
    )
    subjects: list[Label] | None = Field(default=None, max_length=50)
    levels: list[Label] | None = Field(default=None, max_length=50)


class TutorOut(PersonOut):
    notify_reminders: bool = Field(
        description="Session reminders on (they can change it: `PATCH /api/v1/me/preferences`)."
    )
    subjects: list[str]
    levels: list[str]

    @classmethod
    def of(cls, t: Tutor) -> TutorOut:
        return cls(
            id=t.id,
            user_id=t.user_id,
            email=t.user.email,
            display_name=t.user.display_name,
            time_zone=t.time_zone,
            created_at=t.created_at,
            notify_reminders=t.notify_reminders,
            subjects=t.subjects,
            levels=t.levels,
        )


class TutorPage(Page[TutorOut]):
    pass


class TutorQuery(PageQuery):
    subject: str | None = Field(default=None, description="Only tutors who teach this subject.")
    level: str | None = Field(default=None, description="Only tutors who teach this level.")


@router.get("/api/v1/tutors", tags=TAGS)
async def list_tutors(call: Call, query: TutorQuery) -> TutorPage:
    """List the tutors you can see, filtered by subject or level."""
    rows, total = await find_tutors(
        call.db,
        visible=visible_tutors(call.principal),
        subject=query.subject,
        level=query.level,
        page=query,
    )
    return TutorPage(
        items=[TutorOut.of(t) for t in rows], total=total, limit=query.limit, offset=query.offset
    )


@router.post("/api/v1/tutors", tags=TAGS, status_code=201, errors=[409])
async def create_tutor(call: Call, body: TutorCreate) -> TutorOut:
    """Add a tutor (coordinators only)."""
    p = call.principal
    require_coordinator(p, "add tutors")
    tutor = await add_tutor(
        call.db,
        org_id=p.org_id,
        email=body.email,
        display_name=body.display_name,
        password_hash=await optional_hash(body.password),
        subjects=body.subjects,
        levels=body.levels,
        time_zone=body.time_zone,
        now=call.now,
    )
    return TutorOut.of(tutor)


@router.get("/api/v1/tutors/{tutor_id}", tags=TAGS)
async def get_tutor(call: Call, tutor_id: str) -> TutorOut:
    """Read one tutor."""
    p = call.principal
    return TutorOut.of(await load_visible(call.db, p, Tutor, visible_tutors(p), tutor_id, "tutor"))


@router.patch("/api/v1/tutors/{tutor_id}", tags=TAGS, errors=[409])
async def update_tutor(call: Call, tutor_id: str, body: TutorUpdate) -> TutorOut:
    """Change a tutor's details; fields left out keep their value (coordinators only)."""
    p = call.principal
    tutor = await load_visible(call.db, p, Tutor, visible_tutors(p), tutor_id, "tutor")
    require_coordinator(p, "change tutors")
    tutor = await change_tutor(
        call.db,
        tutor,
        email=body.email,
        display_name=body.display_name,
        password_hash=await optional_hash(body.password),
        time_zone=body.time_zone,
        notify_reminders=body.notify_reminders,
        subjects=body.subjects,
        levels=body.levels,
        now=call.now,
    )
    return TutorOut.of(tutor)


@router.delete("/api/v1/tutors/{tutor_id}", tags=TAGS, errors=[409])
async def delete_tutor(call: Call, tutor_id: str) -> None:
    """Remove a tutor who has no sessions (coordinators only)."""
    p = call.principal
    tutor = await load_visible(call.db, p, Tutor, visible_tutors(p), tutor_id, "tutor")
    require_coordinator(p, "remove tutors")
    await remove_tutor(call.db, tutor)
