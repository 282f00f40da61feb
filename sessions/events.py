"""The events a session emits, and the one way to add one to the outbox.

What an event carries and how the bus delivers it is ``eventbus``'s; which
types exist is this package's, so a typo in a type fails here instead of
reaching no handler.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from eventbus.models import OutboxEvent
from eventbus.outbox import append

# Every type this package emits; handlers subscribe by these names.
EVENT_TYPES = frozenset(
    {
        "session.scheduled",
        "session.opened",
        "session.started",
        "session.ended",
        "session.documented",
        "session.cancelled",
        "session.rescheduled",
        "session.no_show",
        "session.tutor_substituted",
        "participant.joined",
        "participant.left",
        "progress_report.approved",
        "exception.acknowledged",
        "exception.raised",
        "exception.resolved",
        "recording.ready",
        "recording.skipped",
        "recording.started",
        "summary.approved",
        "summary.drafted",
        "transcript.ready",
    }
)


def record(
    db: AsyncSession,
    type_: str,
    *,
    session_id: str,
    at: datetime,
    payload: dict[str, Any] | None = None,
) -> OutboxEvent:
    """Add an event to the outbox in ``db``'s transaction; it commits with the change.

    Raises:
        ValueError: ``type_`` is not one this package knows (a typo would
            otherwise reach no handler, silently).
    """
    if type_ not in EVENT_TYPES:
        raise ValueError(f"unknown event type {type_!r}; known: {', '.join(sorted(EVENT_TYPES))}")
    return append(db, type_, session_id=session_id, at=at, payload=payload)
