"""Session exceptions for coordinators: list them, acknowledge them, resolve them."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from api.permissions import not_visible, require_coordinator
from api.routing import Call, Router
from api.schemas import Input, Page, PageQuery
from sessions.models import SessionException, SessionExceptionKind, SessionExceptionStatus
from sessions.session_exceptions import exceptions_page, move_exception

router = Router()
TAGS = ["exceptions"]


class SessionExceptionOut(BaseModel):
    id: str
    session_id: str
    kind: SessionExceptionKind
    status: SessionExceptionStatus
    details: dict[str, Any] = Field(
        description="`tutor_no_show`: `tutor_id`, `reason`, `substitutes` (best first, as when "
        "raised: `tutor_id`, `name`, `taught_before`, `sessions_with_students`, "
        "`sessions_that_week`, `reasons`; `GET /api/v1/sessions/{id}/substitutes` lists them "
        "as they are now); `student_absent`: `student_id`; "
        "`no_recording`: `waited_minutes`; the at-risk kinds (`attendance_falling`, "
        "`lateness_rising`, `talk_share_falling`, `repeated_difficulty`, "
        "`homework_not_followed_up` with `student_id`; `reviews_overdue`, `late_starts` with "
        "`tutor_id`): `why` (a sentence), `sessions` (the ids it rests on, oldest first) and "
        "`evidence` (`session_id`, `value`: what each showed)."
    )
    raised_at: datetime
    acknowledged_at: datetime | None
    acknowledged_by: str | None
    resolved_at: datetime | None
    resolved_by: str | None
    note: str | None

    @classmethod
    def of(cls, x: SessionException) -> SessionExceptionOut:
        return cls(
            id=x.id,
            session_id=x.session_id,
            kind=x.kind,
            status=x.status,
            details=x.details,
            raised_at=x.raised_at,
            acknowledged_at=x.acknowledged_at,
            acknowledged_by=x.acknowledged_by,
            resolved_at=x.resolved_at,
            resolved_by=x.resolved_by,
            note=x.note,
        )


class SessionExceptionPage(Page[SessionExceptionOut]):
    pass


class SessionExceptionQuery(PageQuery):
    status: SessionExceptionStatus | None = None
    kind: SessionExceptionKind | None = None
    session_id: str | None = None


class Note(Input):
    note: str | None = Field(default=None, max_length=1000, description="What was done, or why.")


@router.get("/api/v1/exceptions", audit="exception", tags=TAGS)
async def list_exceptions(call: Call, query: SessionExceptionQuery) -> SessionExceptionPage:
    """The organisation's session exceptions, newest first (coordinators only)."""
    p = call.principal
    require_coordinator(p, "read session exceptions")
    rows, total = await exceptions_page(
        call.db,
        org_id=p.org_id,
        page=query,
        status=query.status,
        kind=query.kind,
        session_id=query.session_id,
    )
    call.about(*(r.details.get("student_id") for r in rows))
    return SessionExceptionPage(
        items=[SessionExceptionOut.of(r) for r in rows],
        total=total,
        limit=query.limit,
        offset=query.offset,
    )


async def _move(
    call: Call, exception_id: str, action: str, note: str | None
) -> SessionExceptionOut:
    p = call.principal
    require_coordinator(p, f"{action} session exceptions")
    row = await move_exception(
        call.db,
        org_id=p.org_id,
        exception_id=exception_id,
        action=action,
        by=p.id,
        now=call.now,
        note=note,
    )
    if row is None:
        raise not_visible(p, "exception", exception_id)
    call.about(row.details.get("student_id"))
    return SessionExceptionOut.of(row)


@router.post(
    "/api/v1/exceptions/{exception_id}/acknowledge", audit="exception", tags=TAGS, errors=[409]
)
async def acknowledge_exception(call: Call, exception_id: str, body: Note) -> SessionExceptionOut:
    """Say someone is on it; only an `open` exception (else 409 naming its status)."""
    return await _move(call, exception_id, "acknowledge", body.note)


@router.post(
    "/api/v1/exceptions/{exception_id}/resolve", audit="exception", tags=TAGS, errors=[409]
)
async def resolve_exception(call: Call, exception_id: str, body: Note) -> SessionExceptionOut:
    """Close an `open` or `acknowledged` exception (a `resolved` one gets 409)."""
    return await _move(call, exception_id, "resolve", body.note)
