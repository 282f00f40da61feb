"""A session's lifecycle over the API: its event timeline, and ending or cancelling it."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from pydantic import BaseModel, Field

from api.permissions import (
    load_visible,
    require_coordinator,
    require_session_staff,
    visible_sessions,
)
from api.routing import Call, Router
from api.schemas import Input, Page, PageQuery
from api.session_schemas import ChangeReason, RequestedBy, SessionOut
from eventbus.models import OutboxEvent
from scheduling.models import ChangeParty, LiveSession
from sessions.changes import cancel
from sessions.lifecycle import Action
from sessions.service import apply
from sessions.timeline import timeline_of

router = Router()
TAGS = ["sessions"]


class EventOut(BaseModel):
    """One domain event of the session, as handlers receive it."""

    id: str = Field(description="Unique; handlers de-duplicate on it.")
    type: str = Field(description="e.g. `session.started`, `participant.joined`.")
    schema_version: int
    session_id: str
    occurred_at: datetime
    payload: dict[str, Any]

    @classmethod
    def of(cls, e: OutboxEvent) -> EventOut:
        return cls(
            id=e.id,
            type=e.type,
            schema_version=e.schema_version,
            session_id=e.session_id,
            occurred_at=e.occurred_at,
            payload=e.payload,
        )


class EventPage(Page[EventOut]):
    pass


class Reason(Input):
    reason: str | None = Field(default=None, max_length=500, description="Shown in the timeline.")


class Cancellation(Input):
    requested_by: RequestedBy = ChangeParty.ORGANISATION
    reason: ChangeReason = None


@router.get("/api/v1/sessions/{session_id}/events", audit="attendance", tags=TAGS)
async def list_events(call: Call, session_id: str, query: PageQuery) -> EventPage:
    """The session's timeline: every domain event, in the order it was committed.

    Transitions (`session.opened`, `session.started`, `session.ended`, ...) carry
    `from` and `to` states in their payload; `participant.joined`/`left` name
    the participant and role. Coordinators and the session's tutor may read it.
    """
    p = call.principal
    live = await load_visible(call.db, p, LiveSession, visible_sessions(p), session_id, "session")
    require_session_staff(p, live, "read a session's timeline")
    rows, total = await timeline_of(call.db, live.id, page=query)
    return EventPage(
        items=[EventOut.of(r) for r in rows], total=total, limit=query.limit, offset=query.offset
    )


@router.post("/api/v1/sessions/{session_id}/end", tags=TAGS, errors=[409])
async def end_session(call: Call, session_id: str, body: Reason) -> SessionOut:
    """End a live session now (its tutor or a coordinator); emits `session.ended`.

    Only a `live` session can end; any other state gets 409 `invalid_transition`
    naming the state it is in.
    """
    p = call.principal
    live = await load_visible(call.db, p, LiveSession, visible_sessions(p), session_id, "session")
    require_session_staff(p, live, "end a session")
    await apply(call.db, live.id, Action.END, now=call.now, by=p.id, reason=body.reason)
    return SessionOut.of(live)


@router.post("/api/v1/sessions/{session_id}/cancel", tags=TAGS, errors=[409])
async def cancel_session(call: Call, session_id: str, body: Cancellation) -> SessionOut:
    """Cancel a session that has not gone live (coordinators only); emits `session.cancelled`.

    The notice policy applies: with less than `LIVECLASS_LATE_CANCEL_HOURS`
    before the start, the session gets `late_cancellation: true` and the
    event `late: true`, with `notice_hours` and `requested_by` either way.
    Its guardians, students and tutor are emailed; its reminders are withdrawn.
    A live or finished session gets 409 `invalid_transition`.
    """
    p = call.principal
    live = await load_visible(call.db, p, LiveSession, visible_sessions(p), session_id, "session")
    require_coordinator(p, "cancel sessions")
    live, _ = await cancel(
        call.db,
        live.id,
        now=call.now,
        requested_by=body.requested_by,
        late_after=timedelta(hours=call.services.settings.late_cancel_hours),
        by=p.id,
        reason=body.reason,
    )
    return SessionOut.of(live)
