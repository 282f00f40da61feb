"""Domain events: what they carry, and how they are added to the outbox.

Every event has an id (handlers de-duplicate on it), a type such as
``session.ended``, the time it happened, the session it concerns and a schema
version, so a consumer can tell an old payload from a new one.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field
from sqlalchemy.ext.asyncio import AsyncSession

from core.ids import new_id
from sessions.models import OutboxEvent

SCHEMA_VERSION = 1

# Every type this package emits; handlers subscribe by these names.
EVENT_TYPES = frozenset(
    {
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
        "exception.acknowledged",
        "exception.raised",
        "exception.resolved",
        "recording.ready",
        "summary.approved",
        "summary.drafted",
        "transcript.ready",
    }
)


class DomainEvent(BaseModel):
    id: str = Field(description="Unique; handlers de-duplicate on it.")
    type: str = Field(description="e.g. session.ended")
    schema_version: int
    session_id: str
    occurred_at: datetime
    payload: dict[str, Any]

    @classmethod
    def from_row(cls, row: OutboxEvent) -> DomainEvent:
        return cls(
            id=row.id,
            type=row.type,
            schema_version=row.schema_version,
            session_id=row.session_id,
            occurred_at=row.occurred_at,
            payload=row.payload,
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
    row = OutboxEvent(
        id=new_id("evt"),
        type=type_,
        schema_version=SCHEMA_VERSION,
        session_id=session_id,
        occurred_at=at,
        payload=payload or {},
    )
    db.add(row)
    return row
