"""Cancelling and moving booked sessions under the notice policy, with their events.

Every path that cancels or moves a session (``POST /sessions/{id}/cancel``,
``PATCH /sessions/{id}``, a series occurrence, alone or with the ones after
it) comes through here, so each change records who asked for it, how much
notice it gave (``scheduling.notice``) and emits the event that
``ChangeNotices`` turns into emails: ``session.cancelled`` (a lifecycle
transition, refused from ``live`` and later states) or ``session.rescheduled``.
An edit that changes the tutor emits ``session.tutor_substituted``, as a
confirmed substitution does.
The caller commits; the session row and its event go together.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from core.errors import NotFound
from eventbus.models import OutboxEvent
from scheduling.models import ChangeParty, LiveSession
from scheduling.notice import Notice, notice_for
from sessions.events import record
from sessions.lifecycle import Action
from sessions.service import apply


@dataclass(frozen=True)
class Slot:
    """Where a session was before a move: its times and tutor."""

    start: datetime
    end: datetime
    tutor_id: str

    @classmethod
    def of(cls, live: LiveSession) -> Slot:
        return cls(live.scheduled_start, live.scheduled_end, live.tutor_id)


async def cancel(
    db: AsyncSession,
    session_id: str,
    *,
    now: datetime,
    requested_by: ChangeParty,
    late_after: timedelta,
    by: str | None = None,
    reason: str | None = None,
) -> tuple[LiveSession, Notice]:
    """Cancel a session that has not gone live, and say whether that was late.

    Raises:
        NotFound: no such session.
        InvalidTransition: it is live or over already (the message says which).
    """
    live = await db.get(LiveSession, session_id)
    if live is None:
        raise NotFound(f"no session {session_id}")
    notice = notice_for(live.scheduled_start, now=now, required=late_after)
    await apply(
        db,
        session_id,
        Action.CANCEL,
        now=now,
        by=by,
        reason=reason,
        details={
            "requested_by": requested_by.value,
            "scheduled_start": live.scheduled_start.isoformat(),
            "tutor_id": live.tutor_id,
            "student_ids": live.student_ids,
            "notice_hours": notice.hours,
            "late": notice.late,
        },
    )
    live.cancelled_at, live.cancelled_by = now, requested_by
    live.late_cancellation = notice.late
    await db.flush()
    return live, notice


def rescheduled(
    db: AsyncSession,
    live: LiveSession,
    before: Slot,
    *,
    now: datetime,
    requested_by: ChangeParty,
    late_after: timedelta,
    by: str | None = None,
    reason: str | None = None,
) -> OutboxEvent | None:
    """Emit ``session.rescheduled`` for a session whose times changed from ``before``.

    Call it after the new times are set (and checked for conflicts). Returns
    None, emitting nothing, when the times did not change.
    """
    if (live.scheduled_start, live.scheduled_end) == (before.start, before.end):
        return None
    notice = notice_for(before.start, now=now, required=late_after)
    payload: dict[str, object] = {
        "requested_by": requested_by.value,
        "from_start": before.start.isoformat(),
        "from_end": before.end.isoformat(),
        "to_start": live.scheduled_start.isoformat(),
        "to_end": live.scheduled_end.isoformat(),
        "tutor_id": live.tutor_id,
        "student_ids": live.student_ids,
        "notice_hours": notice.hours,
        "late": notice.late,
    }
    if by is not None:
        payload["by"] = by
    if reason is not None:
        payload["reason"] = reason
    return record(db, "session.rescheduled", session_id=live.id, at=now, payload=payload)


def retutored(
    db: AsyncSession, live: LiveSession, before: Slot, *, now: datetime, by: str | None
) -> OutboxEvent | None:
    """Emit ``session.tutor_substituted`` when an edit gave the session another tutor,
    as a confirmed substitution does, so the same people are told. None if it did not."""
    if live.tutor_id == before.tutor_id:
        return None
    return record(
        db,
        "session.tutor_substituted",
        session_id=live.id,
        at=now,
        payload={
            "from_tutor_id": before.tutor_id,
            "to_tutor_id": live.tutor_id,
            "by": by,
            "student_ids": list(live.student_ids),
            "note": None,
        },
    )
