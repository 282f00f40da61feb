"""Dead letters: events a handler gave up on, and replaying them once the cause is fixed.

Replay goes through the app's event bus (``app.state.bus``), whichever
backend it is: it clears the failure and delivers the event again to that one
handler (the embedded bus on its next pass, Redis as a new stream entry).
"""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from api.permissions import require_coordinator
from api.routing import Call, Router
from api.schemas import Page, PageQuery
from eventbus.bus import EventBus
from sessions.dead_letters import DeadLetter, dead_letters_page, redeliver

router = Router()
TAGS = ["events"]


class DeadLetterOut(BaseModel):
    """An event one handler failed on `attempts` times and stopped trying."""

    handler: str = Field(description="The handler that gave up; replay names it.")
    event_id: str
    event_type: str = Field(description="e.g. `session.ended`.")
    session_id: str
    attempts: int
    last_error: str = Field(description="The exception of the last attempt.")
    failed_at: datetime = Field(description="When the last attempt failed.")

    @classmethod
    def of(cls, letter: DeadLetter) -> DeadLetterOut:
        f, e = letter.failure, letter.event
        return cls(
            handler=f.handler,
            event_id=f.event_id,
            event_type=e.type,
            session_id=e.session_id,
            attempts=f.attempts,
            last_error=f.last_error,
            failed_at=f.next_attempt_at,  # a dead row's next_attempt_at is when it gave up
        )


class DeadLetterPage(Page[DeadLetterOut]):
    pass


class DeadLetterQuery(PageQuery):
    handler: str | None = Field(default=None, description="Only this handler's dead letters.")


@router.get("/api/v1/dead-letters", tags=TAGS)
async def list_dead_letters(call: Call, query: DeadLetterQuery) -> DeadLetterPage:
    """Events of the organisation's sessions that a handler gave up on, newest first.

    Coordinators only. Fix the cause (the `last_error` says what failed), then
    replay each one.
    """
    p = call.principal
    require_coordinator(p, "read dead letters")
    rows, total = await dead_letters_page(
        call.db, org_id=p.org_id, page=query, handler=query.handler
    )
    return DeadLetterPage(
        items=[DeadLetterOut.of(letter) for letter in rows],
        total=total,
        limit=query.limit,
        offset=query.offset,
    )


@router.post("/api/v1/dead-letters/{handler}/{event_id}/replay", tags=TAGS, status_code=202)
async def replay_dead_letter(call: Call, handler: str, event_id: str) -> DeadLetterOut:
    """Deliver a dead (or waiting) event again to that one handler, from a fresh attempt count.

    Coordinators only. Answers with the failure that was cleared; the handler
    runs it within a moment on whichever bus is running. If it fails again it
    goes through its retries and may come back here.
    """
    p = call.principal
    require_coordinator(p, "replay dead letters")
    bus: EventBus = call.request.app.state.bus
    letter = await redeliver(call.db, bus=bus, org_id=p.org_id, handler=handler, event_id=event_id)
    return DeadLetterOut.of(letter)
