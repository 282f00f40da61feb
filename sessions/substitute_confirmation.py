"""Confirming a substitute: another tutor takes a session, and everyone concerned hears of it.

``scheduling.substitutes`` ranks who could stand in; a coordinator picks one
and ``substitute_tutor`` makes it so, in the caller's transaction: the
session row is locked, the new tutor is checked again with the booking
checker (``scheduling.bookings.check_conflicts``, so one who became busy or
is not qualified is refused with every conflict), ``live_sessions.tutor_id``
changes, ``session.tutor_substituted`` goes to the outbox (payload
``from_tutor_id``, ``to_tutor_id``, ``by``, ``student_ids``, ``note``) and any
open or acknowledged ``tutor_no_show`` exception of the session is resolved.
``SubstitutionNotices`` (``notifications``) turns the event into
emails to the guardians and to both tutors.

Only a session that has not ended can change hands: ``scheduled``, ``open``
or ``live``.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from core.errors import ErrorDetail, ValidationFailed
from scheduling.bookings import check_conflicts, check_participants
from scheduling.models import LiveSession, SessionStatus
from scheduling.substitutes import Substitute, substitutes_for
from sessions.errors import InvalidTransition
from sessions.events import record
from sessions.models import SessionException, SessionExceptionKind, SessionExceptionStatus
from sessions.session_exceptions import apply_move

OPEN_TO_SUBSTITUTION = frozenset({SessionStatus.SCHEDULED, SessionStatus.OPEN, SessionStatus.LIVE})


def check_substitutable(live: LiveSession) -> None:
    """Refuse a session that can no longer change tutor.

    Raises:
        InvalidTransition: naming the state it is in.
    """
    if live.status not in OPEN_TO_SUBSTITUTION:
        raise InvalidTransition(
            f"cannot substitute the tutor of a session that is {live.status.value}; "
            "only a scheduled, open or live session can change tutor"
        )


async def substitute_candidates(db: AsyncSession, live: LiveSession) -> list[Substitute]:
    """Who could take ``live`` instead of its tutor, best first (``scheduling.substitutes``).

    Raises:
        InvalidTransition: the session can no longer change tutor, naming its state.
    """
    check_substitutable(live)
    return await substitutes_for(db, live)


async def substitute_tutor(
    db: AsyncSession,
    session_id: str,
    tutor_id: str,
    *,
    org_id: str,
    by: str,
    now: datetime,
    note: str | None = None,
) -> LiveSession:
    """Give session ``session_id`` to ``tutor_id``; the caller commits.

    Args:
        org_id: the coordinator's organisation; the tutor must belong to it.
        by: who confirmed it (a user or API key id), for the event and the exception.
        note: why, kept on the resolved exception and in the event.

    Raises:
        InvalidTransition: the session is ended, documented, cancelled or a no-show.
        ValidationFailed: ``tutor_id`` already teaches it.
        InvalidReference: ``tutor_id`` is not a tutor of the organisation.
        BookingConflict: the tutor is not free or not qualified then, with every conflict.
    """
    live = await db.get(LiveSession, session_id, with_for_update=True, populate_existing=True)
    if live is None:
        raise ValueError(f"no session {session_id}")
    check_substitutable(live)
    if tutor_id == live.tutor_id:
        raise ValidationFailed(
            "this tutor already teaches the session; choose another tutor",
            details=[
                ErrorDetail(
                    loc=["body", "tutor_id"],
                    message="is the session's current tutor",
                    type="value_error",
                )
            ],
        )
    await check_participants(db, org_id=org_id, tutor_id=tutor_id, student_ids=live.student_ids)
    await check_conflicts(
        db,
        tutor_id=tutor_id,
        student_ids=live.student_ids,
        subject=live.subject,
        scheduled_start=live.scheduled_start,
        scheduled_end=live.scheduled_end,
        session_id=live.id,
    )
    replaced = live.tutor_id
    live.tutor_id = tutor_id
    live.updated_at = now
    record(
        db,
        "session.tutor_substituted",
        session_id=live.id,
        at=now,
        payload={
            "from_tutor_id": replaced,
            "to_tutor_id": tutor_id,
            "by": by,
            "student_ids": list(live.student_ids),
            "note": note,
        },
    )
    pending = await db.scalars(
        select(SessionException)
        .where(
            SessionException.session_id == live.id,
            SessionException.kind == SessionExceptionKind.TUTOR_NO_SHOW,
            SessionException.status.in_(
                [SessionExceptionStatus.OPEN, SessionExceptionStatus.ACKNOWLEDGED]
            ),
        )
        .order_by(SessionException.id)
        .with_for_update()
    )
    resolution = f"substituted by tutor {tutor_id}" + (f": {note}" if note else "")
    for exc in list(pending):
        await apply_move(db, exc, "resolve", by=by, now=now, note=resolution)
    await db.flush()
    return live
