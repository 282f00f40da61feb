"""Dead letters of an organisation's sessions: the events a handler gave up on.

The handler ledger (``eventbus.ledger``) knows failures by handler and event,
not by organisation; an event belongs to a session and a session to an
organisation, so scoping a coordinator's dead letters to their own is this
package's (``eventbus`` may not know sessions). Replay itself is the bus's
(``EventBus.replay``), whichever backend runs: it clears the failure in its
own transaction and delivers the event again to that one handler.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import ColumnElement, select
from sqlalchemy.ext.asyncio import AsyncSession

from core.errors import NotFound
from core.pagination import PageWindow, fetch_page
from eventbus.bus import EventBus
from eventbus.models import HandlerFailure, OutboxEvent
from scheduling.models import LiveSession


@dataclass(frozen=True)
class DeadLetter:
    """A handler's failure on an event, with the event it failed on."""

    failure: HandlerFailure
    event: OutboxEvent


async def dead_letters_page(
    db: AsyncSession, *, org_id: str, page: PageWindow, handler: str | None = None
) -> tuple[list[DeadLetter], int]:
    """One page of the dead letters of the organisation's sessions (only ``handler``'s
    when given), the latest to give up first, and how many match."""
    where: list[ColumnElement[bool]] = [
        HandlerFailure.dead.is_(True),
        HandlerFailure.event_id.in_(
            select(OutboxEvent.id)
            .join(LiveSession, LiveSession.id == OutboxEvent.session_id)
            .where(LiveSession.org_id == org_id)
        ),
    ]
    if handler is not None:
        where.append(HandlerFailure.handler == handler)
    rows, total = await fetch_page(
        db,
        select(HandlerFailure),
        where=where,
        order_by=[
            HandlerFailure.next_attempt_at.desc(),
            HandlerFailure.handler,
            HandlerFailure.event_id,
        ],
        page=page,
    )
    events = {
        e.id: e
        for e in await db.scalars(
            select(OutboxEvent).where(OutboxEvent.id.in_([f.event_id for f in rows]))
        )
    }
    return [DeadLetter(f, events[f.event_id]) for f in rows], total


async def redeliver(
    db: AsyncSession, *, bus: EventBus, org_id: str, handler: str, event_id: str
) -> DeadLetter:
    """Give ``handler`` the event again from a fresh attempt count, dead or still waiting.

    Returns the failure as it was before it was cleared. The bus clears it in its
    own transaction (committed before a Redis consumer can read the new entry).

    Raises:
        NotFound: the organisation has no such failure, or a concurrent replay
            cleared it first.
    """
    found = (
        await db.execute(
            select(HandlerFailure, OutboxEvent)
            .join(OutboxEvent, OutboxEvent.id == HandlerFailure.event_id)
            .join(LiveSession, LiveSession.id == OutboxEvent.session_id)
            .where(
                HandlerFailure.handler == handler,
                HandlerFailure.event_id == event_id,
                LiveSession.org_id == org_id,
            )
        )
    ).first()
    missing = f"no failure of handler {handler} on event {event_id} that you can see"
    if found is None:
        raise NotFound(missing)
    letter = DeadLetter(*found)
    if not await bus.replay(handler, event_id):
        raise NotFound(missing)
    return letter
