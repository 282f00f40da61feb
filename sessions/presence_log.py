"""Who joined and left a session's room, as the signaling server saw it, in order.

``sessions.service.record_presence`` writes one row per join and leave; this
reads them back a page at a time for the session's staff.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from core.pagination import PageWindow, fetch_page
from sessions.models import Presence

__all__ = ["presence_of"]


async def presence_of(
    db: AsyncSession, session_id: str, *, page: PageWindow
) -> tuple[list[Presence], int]:
    """One page of the session's presence records, oldest first, and their total.

    Records with the same ``at`` keep the order they were written in (by id).
    """
    return await fetch_page(
        db,
        select(Presence),
        where=[Presence.session_id == session_id],
        order_by=[Presence.at, Presence.id],
        page=page,
    )
