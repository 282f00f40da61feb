"""A session's chat: what was typed in its room, kept with its record for the review.

Signaling hands each message to the composition root's writer as it is sent
(``signaling.presence``: the same ordered, retried writer as joins and leaves);
``record_chat`` stores it. ``chat_of`` is what the tutor's review and
coordinators read.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from sessions.models import ChatLine

__all__ = ["chat_of", "record_chat"]


async def record_chat(
    db: AsyncSession,
    *,
    line_id: str,
    session_id: str,
    participant_id: str,
    name: str,
    role: str,
    text: str,
    at: datetime,
) -> None:
    """Store one message; the caller commits. A message stored before (a retried write
    whose first try did commit) is not stored twice."""
    if await db.get(ChatLine, line_id) is not None:
        return
    db.add(
        ChatLine(
            id=line_id,
            session_id=session_id,
            participant_id=participant_id,
            name=name,
            role=role,
            text=text,
            at=at,
        )
    )


async def chat_of(db: AsyncSession, session_id: str, *, limit: int = 1000) -> list[ChatLine]:
    """The session's chat, oldest first."""
    rows = await db.scalars(
        select(ChatLine)
        .where(ChatLine.session_id == session_id)
        .order_by(ChatLine.at, ChatLine.id)
        .limit(limit)
    )
    return list(rows)
