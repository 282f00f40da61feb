"""Applying lifecycle actions to stored sessions, with their events, in one transaction."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from core.errors import NotFound
from eventbus.models import OutboxEvent
from scheduling.models import LiveSession, SessionStatus
from sessions.events import record
from sessions.lifecycle import EVENT_TYPES, Action, transition
from sessions.models import Presence, PresenceType


async def session_status(db: AsyncSession, session_id: str) -> SessionStatus | None:
    """Where a session stands in its lifecycle, or None when no session has that id."""
    status: SessionStatus | None = await db.scalar(
        select(LiveSession.status).where(LiveSession.id == session_id)
    )
    return status


async def apply(
    db: AsyncSession,
    session_id: str,
    action: Action,
    *,
    now: datetime,
    by: str | None = None,
    reason: str | None = None,
    details: dict[str, Any] | None = None,
) -> OutboxEvent:
    """Move a session on by ``action`` and add the event it emits; the caller commits.

    ``details`` are added to the event's payload (a cancellation's notice).

    The row is locked (``SELECT ... FOR UPDATE`` where the database has it), so
    two workers racing to end the same session serialise: the second sees
    ``ended`` and is refused.

    Raises:
        NotFound: no such session.
        InvalidTransition: ``action`` is not allowed from the session's state.
    """
    live = await db.get(LiveSession, session_id, with_for_update=True, populate_existing=True)
    if live is None:
        raise NotFound(f"no session {session_id}")
    return _move(db, live, action, now=now, by=by, reason=reason, details=details)


def _move(
    db: AsyncSession,
    live: LiveSession,
    action: Action,
    *,
    now: datetime,
    by: str | None,
    reason: str | None,
    details: dict[str, Any] | None = None,
) -> OutboxEvent:
    before = live.status
    live.status = transition(before, action)
    live.updated_at = now
    payload: dict[str, Any] = {**(details or {}), "from": before.value, "to": live.status.value}
    if by is not None:
        payload["by"] = by
    if reason is not None:
        payload["reason"] = reason
    return record(db, EVENT_TYPES[action], session_id=live.id, at=now, payload=payload)


async def on_participant_joined(
    db: AsyncSession, live: LiveSession, *, participant_id: str, role: str, at: datetime
) -> list[OutboxEvent]:
    """The events of a join: the session opens and goes live on its first participant."""
    events = [
        record(
            db,
            "participant.joined",
            session_id=live.id,
            at=at,
            payload={"participant_id": participant_id, "role": role},
        )
    ]
    if live.status is SessionStatus.SCHEDULED:
        events.append(_move(db, live, Action.OPEN, now=at, by=None, reason="first join"))
    if live.status is SessionStatus.OPEN:
        events.append(_move(db, live, Action.START, now=at, by=participant_id, reason=None))
    return events


async def record_presence(
    db: AsyncSession,
    *,
    session_id: str,
    participant_id: str,
    role: str,
    type_: PresenceType,
    at: datetime,
    reason: str | None = None,
) -> list[OutboxEvent]:
    """Write a join or leave as the room saw it, with its events; the caller commits.

    The presence row, ``participant.joined``/``participant.left`` and, on the
    first join, ``session.opened``/``session.started`` all commit together.

    Raises:
        NotFound: no such session.
    """
    live = await db.get(LiveSession, session_id, with_for_update=True, populate_existing=True)
    if live is None:
        raise NotFound(f"no session {session_id}")
    db.add(
        Presence(
            session_id=session_id,
            participant_id=participant_id,
            role=role,
            type=type_,
            at=at,
            reason=reason,
        )
    )
    if type_ is PresenceType.JOINED:
        return await on_participant_joined(
            db, live, participant_id=participant_id, role=role, at=at
        )
    payload: dict[str, Any] = {"participant_id": participant_id, "role": role}
    if reason is not None:
        payload["reason"] = reason
    return [record(db, "participant.left", session_id=session_id, at=at, payload=payload)]
