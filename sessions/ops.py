"""What a coordinator's ops view needs: the organisation's sessions in progress, and new events.

Reads only; ``api.routes.ops`` turns them into a Server-Sent Events stream.
The feed follows the outbox by ``seq``, so it sees every event whichever
process or bus wrote it, once it has committed.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.logging import get_logger
from eventbus.models import OutboxEvent
from scheduling.models import LiveSession, SessionStatus
from sessions.models import Presence, PresenceType

log = get_logger("liveclass.sessions.ops")

IN_PROGRESS = (SessionStatus.OPEN, SessionStatus.LIVE)
SNAPSHOT_LIMIT = 500
RECORDING, NOT_RECORDING = "recording", "not recording"
_RECORDING_EVENTS = ("recording.started", "recording.skipped", "recording.ready")


async def recording_status(
    db: AsyncSession, session_id: str, present: list[dict[str, Any]]
) -> dict[str, Any]:
    """Whether the room records now, from its recorder's events since the last part closed
    (``recording.ready``): ``recording`` while someone recorded is in the room.

    ``recorded``: who is recorded in this part; ``not_recorded``: who is not, with
    why (``no_consent``). Derived from the outbox, so any node's room reads the same.
    """
    recorded: list[str] = []
    skipped: dict[str, str] = {}
    rows = await db.execute(
        select(OutboxEvent.type, OutboxEvent.payload)
        .where(OutboxEvent.session_id == session_id, OutboxEvent.type.in_(_RECORDING_EVENTS))
        .order_by(OutboxEvent.seq)
    )
    for type_, payload in rows.all():
        if type_ == "recording.ready":
            recorded, skipped = [], {}
        elif type_ == "recording.started" and payload["participant_id"] not in recorded:
            recorded.append(payload["participant_id"])
        elif type_ == "recording.skipped":
            skipped[payload["participant_id"]] = payload.get("reason", "no_consent")
    here = {p["participant_id"] for p in present}
    return {
        "recording": RECORDING if here & set(recorded) else NOT_RECORDING,
        "recorded": recorded,
        "not_recorded": [{"participant_id": p, "reason": r} for p, r in skipped.items()],
    }


def event_json(e: OutboxEvent) -> dict[str, Any]:
    return {
        "id": e.id,
        "seq": e.seq,
        "type": e.type,
        "schema_version": e.schema_version,
        "session_id": e.session_id,
        "occurred_at": e.occurred_at.isoformat(),
        "payload": e.payload,
    }


async def present_now(db: AsyncSession, session_id: str) -> list[dict[str, Any]]:
    """Who is in the room: everyone whose latest presence record is a join."""
    latest: dict[str, Presence] = {}
    rows = await db.scalars(
        select(Presence).where(Presence.session_id == session_id).order_by(Presence.at, Presence.id)
    )
    for r in rows:
        latest[r.participant_id] = r
    return [
        {"participant_id": r.participant_id, "role": r.role, "since": r.at.isoformat()}
        for r in latest.values()
        if r.type is PresenceType.JOINED
    ]


async def snapshot(db: AsyncSession, org_id: str, now: datetime) -> dict[str, Any]:
    """The org's open and live sessions now, and the outbox ``seq`` the snapshot reflects."""
    cursor = await db.scalar(select(func.max(OutboxEvent.seq))) or 0
    sessions = await db.scalars(
        select(LiveSession)
        .where(LiveSession.org_id == org_id, LiveSession.status.in_(IN_PROGRESS))
        .order_by(LiveSession.scheduled_start, LiveSession.id)
        .limit(SNAPSHOT_LIMIT)
    )
    out = []
    for live in sessions:
        present = await present_now(db, live.id)
        started = await db.scalar(
            select(func.min(OutboxEvent.occurred_at)).where(
                OutboxEvent.session_id == live.id, OutboxEvent.type == "session.started"
            )
        )
        out.append(
            {
                "id": live.id,
                "status": live.status.value,
                "subject": live.subject,
                "tutor_id": live.tutor_id,
                "student_ids": live.student_ids,
                "scheduled_start": live.scheduled_start.isoformat(),
                "scheduled_end": live.scheduled_end.isoformat(),
                "started_at": started.isoformat() if started else None,
                "duration_seconds": int((now - started).total_seconds()) if started else 0,
                "present": present,
                **await recording_status(db, live.id, present),
            }
        )
    return {"at": now.isoformat(), "seq": cursor, "sessions": out}


@dataclass
class Follower:
    """Reads an organisation's new outbox events, each once, in ``seq`` order.

    ``seq`` is taken at insert, not at commit, so a slow transaction can commit
    a lower ``seq`` after a higher one was read. Each read looks back
    ``lookback`` numbers behind the cursor and skips ids already given, so such
    a straggler is still delivered (late) rather than lost.
    """

    org_id: str
    cursor: int
    lookback: int = 200
    batch: int = 200

    def __post_init__(self) -> None:
        self._given: dict[str, int] = {}
        self._start = self.cursor  # the snapshot already reflects these

    async def next_events(self, db: AsyncSession) -> list[OutboxEvent]:
        low = max(self._start, self.cursor - self.lookback)
        rows = await db.scalars(
            select(OutboxEvent)
            .join(LiveSession, LiveSession.id == OutboxEvent.session_id)
            .where(LiveSession.org_id == self.org_id, OutboxEvent.seq > low)
            .order_by(OutboxEvent.seq)
            # The look-back holds at most ``lookback`` events already given: read past them.
            .limit(self.lookback + self.batch)
        )
        fresh = []
        for e in rows:
            if e.id in self._given:
                continue
            self._given[e.id] = e.seq
            fresh.append(e)
        if fresh:
            self.cursor = max(self.cursor, *(e.seq for e in fresh))
        floor = self.cursor - self.lookback
        self._given = {i: s for i, s in self._given.items() if s > floor}
        return fresh

    async def poll(
        self, sessionmaker: async_sessionmaker[AsyncSession], *, timeout: float
    ) -> list[OutboxEvent]:
        """``next_events`` in a session of its own, given at most ``timeout`` seconds.

        A feed outlives any one transaction, so each read opens its own. A read that
        fails or runs out of time gives no events this time (logged, the cursor
        unmoved): the feed stays open and the next poll tries again.
        """
        try:
            async with asyncio.timeout(timeout):
                async with sessionmaker() as db:
                    return await self.next_events(db)
        except (TimeoutError, SQLAlchemyError) as exc:
            log.warning("ops feed read failed; trying again", error=type(exc).__name__)
            return []
