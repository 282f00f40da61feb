"""Domain events as the bus carries them, and how one is added to the outbox.

Every event has an id (handlers de-duplicate on it), a type such as
``session.ended``, the time it happened, the session it concerns and a schema
version, so a consumer can tell an old payload from a new one. Which types
exist is the emitting package's business (``sessions.events``); the bus only
moves them.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field
from sqlalchemy.ext.asyncio import AsyncSession

from core.ids import new_id
from eventbus.models import OutboxEvent

SCHEMA_VERSION = 1


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


def append(
    db: AsyncSession,
    type_: str,
    *,
    session_id: str,
    at: datetime,
    payload: dict[str, Any] | None = None,
) -> OutboxEvent:
    """Add an event to the outbox in ``db``'s transaction; it commits with the change."""
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
