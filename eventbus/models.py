"""The outbox and the handler ledger: the bus's tables.

Domain events are written in the same transaction as what caused them.

A state change and its event commit together or not at all, so a crash can
neither lose an event nor announce a change that did not happen. Dispatchers
(the embedded bus, Redis Streams) read undelivered rows in ``seq`` order and
mark them; handlers de-duplicate on ``id``. ``session_id`` names a row of
``live_sessions`` by table name only: the bus imports nothing of the packages
whose events it carries.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from core.database import Base


class OutboxEvent(Base):
    __tablename__ = "outbox_events"
    __table_args__ = (
        Index("ix_outbox_events_session_seq", "session_id", "seq"),
        Index("ix_outbox_events_undispatched", "dispatched_at", "seq"),
    )

    # Commit order within this database; ties in ``occurred_at`` are common.
    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    id: Mapped[str] = mapped_column(String(32), unique=True)
    type: Mapped[str] = mapped_column(String(64))
    schema_version: Mapped[int] = mapped_column(Integer, default=1)
    # No cascade: a session with a history keeps it.
    session_id: Mapped[str] = mapped_column(ForeignKey("live_sessions.id"))
    occurred_at: Mapped[datetime]
    payload: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    dispatched_at: Mapped[datetime | None]


class HandledEvent(Base):
    """The ledger: this handler has taken this event's effect, exactly once.

    Written in the same transaction as the handler's own writes, so an effect
    and its ledger row commit together: a retry after a crash finds the row
    and skips, or finds neither and does the work again from scratch.
    """

    __tablename__ = "handled_events"

    handler: Mapped[str] = mapped_column(String(64), primary_key=True)
    event_id: Mapped[str] = mapped_column(ForeignKey("outbox_events.id"), primary_key=True)
    handled_at: Mapped[datetime]


class HandlerFailure(Base):
    """A handler that failed on an event: when to try again, or that it gave up (dead)."""

    __tablename__ = "handler_failures"

    handler: Mapped[str] = mapped_column(String(64), primary_key=True)
    event_id: Mapped[str] = mapped_column(ForeignKey("outbox_events.id"), primary_key=True)
    attempts: Mapped[int] = mapped_column(Integer)
    last_error: Mapped[str] = mapped_column(String(2000))
    next_attempt_at: Mapped[datetime]
    dead: Mapped[bool] = mapped_column(Boolean, default=False)
