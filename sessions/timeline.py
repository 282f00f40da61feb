"""A session's timeline: every event it emitted, in the order the outbox committed them.

The same events handlers receive (``sessions.events.record`` adds them), read
back a page at a time for the session's staff.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from core.pagination import PageWindow, fetch_page
from eventbus.models import OutboxEvent

__all__ = ["timeline_of"]


async def timeline_of(
    db: AsyncSession, session_id: str, *, page: PageWindow
) -> tuple[list[OutboxEvent], int]:
    """One page of the session's events in commit order (``seq``), and their total."""
    return await fetch_page(
        db,
        select(OutboxEvent),
        where=[OutboxEvent.session_id == session_id],
        order_by=[OutboxEvent.seq],
        page=page,
    )
