"""Session exceptions: what went wrong with a session, for a coordinator to act on.

Kinds, and what raises them:

- ``tutor_no_show``: the tutor is not in the room ``tutor_no_show_after`` past
  the start of an open or live session (``detect_due``, run by the lifecycle
  sweep), or the session became a no-show. Its details list substitutes
  (``scheduling.substitutes``), and confirming one
  (``sessions.substitute_confirmation.substitute_tutor``) resolves it. A substitute who
  does not come either raises their own (its subject is the tutor), counted
  from the substitution when that was after the start.
- ``student_absent``: on ``session.ended``, one per student who never joined.
- ``no_recording``: a session ended ``recording_wait`` ago and no
  ``recording.ready`` event came for it (``detect_due``).

An exception is raised at most once per (session, kind, subject), and raising
one writes ``exception.raised`` to the outbox in the same transaction, with
payload ``{"exception_id", "kind"}`` plus ``"tutor_id"`` or ``"student_id"``
(the guardian notice for an absence keys on ``student_id``). A coordinator
moves it on::

    open ──acknowledge──▶ acknowledged ──resolve──▶ resolved
      └──────────────────resolve────────────────────┘
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, and_, exists, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from core.ids import new_id
from core.pagination import PageWindow, fetch_page
from eventbus.models import OutboxEvent
from eventbus.outbox import DomainEvent
from scheduling.models import LiveSession, SessionStatus, Tutor
from scheduling.substitutes import substitutes_for
from sessions.attendance import attendance_of
from sessions.errors import InvalidTransition
from sessions.events import record
from sessions.models import (
    Presence,
    PresenceType,
    SessionException,
    SessionExceptionKind,
    SessionExceptionStatus,
)

K = SessionExceptionKind
X = SessionExceptionStatus
BATCH = 200


async def raise_exception(
    db: AsyncSession,
    live: LiveSession,
    kind: SessionExceptionKind,
    *,
    subject: str,
    details: dict[str, Any],
    now: datetime,
) -> SessionException | None:
    """Open an exception and write its ``exception.raised``; None if it was raised before.

    ``details`` goes into the event payload too, next to ``exception_id`` and
    ``kind``. The caller commits.
    """
    existing = await db.scalar(
        select(SessionException.id).where(
            SessionException.session_id == live.id,
            SessionException.kind == kind,
            SessionException.subject == subject,
        )
    )
    if existing is not None:
        return None
    row = SessionException(
        id=new_id("exc"),
        org_id=live.org_id,
        session_id=live.id,
        kind=kind,
        subject=subject,
        status=X.OPEN,
        details=details,
        raised_at=now,
    )
    db.add(row)
    payload: dict[str, Any] = {"exception_id": row.id, "kind": kind.value}
    payload.update({k: v for k, v in details.items() if k in ("tutor_id", "student_id")})
    record(db, "exception.raised", session_id=live.id, at=now, payload=payload)
    return row


async def raise_tutor_no_show(
    db: AsyncSession, live: LiveSession, *, now: datetime, reason: str
) -> SessionException | None:
    """Raise ``tutor_no_show`` for ``live``, with the tutors who could stand in."""
    substitutes = [s.to_json() for s in await substitutes_for(db, live)]
    return await raise_exception(
        db,
        live,
        K.TUTOR_NO_SHOW,
        subject=live.tutor_id,
        details={"tutor_id": live.tutor_id, "reason": reason, "substitutes": substitutes},
        now=now,
    )


async def raise_absences(
    db: AsyncSession, live: LiveSession, *, ended_at: datetime, now: datetime
) -> list[SessionException]:
    """Raise ``student_absent`` for each student of ``live`` who never joined before it ended."""
    raised = []
    for person in await attendance_of(db, live, end=ended_at):
        if person.student_id is None or not person.absent:
            continue
        row = await raise_exception(
            db,
            live,
            K.STUDENT_ABSENT,
            subject=person.student_id,
            details={"student_id": person.student_id},
            now=now,
        )
        if row is not None:
            raised.append(row)
    return raised


async def detect_due(
    db: AsyncSession,
    now: datetime,
    *,
    tutor_no_show_after: timedelta,
    recording_wait: timedelta,
) -> list[SessionException]:
    """Raise every time-driven exception due at ``now``; the caller commits.

    Like the lifecycle sweep, this reads only stored state, so a restart
    catches up and two sweepers at once raise each exception once (the unique
    key refuses the second; its transaction is retried on the next sweep).
    """
    raised: list[SessionException] = []
    tutor_joined = exists().where(
        Presence.session_id == LiveSession.id,
        Presence.type == PresenceType.JOINED,
        Presence.participant_id == Tutor.user_id,
    )
    # One no-show per tutor: a substitute who does not come either is raised too,
    # counted from when they were given the session if that was after its start.
    already = exists().where(
        SessionException.session_id == LiveSession.id,
        SessionException.kind == K.TUTOR_NO_SHOW,
        SessionException.subject == LiveSession.tutor_id,
    )
    just_substituted = exists().where(
        OutboxEvent.session_id == LiveSession.id,
        OutboxEvent.type == "session.tutor_substituted",
        OutboxEvent.occurred_at > now - tutor_no_show_after,
    )
    absent_tutors = await db.scalars(
        select(LiveSession)
        .join(Tutor, Tutor.id == LiveSession.tutor_id)
        .where(
            LiveSession.status.in_([SessionStatus.OPEN, SessionStatus.LIVE]),
            LiveSession.scheduled_start <= now - tutor_no_show_after,
            ~tutor_joined,
            ~already,
            ~just_substituted,
        )
        .order_by(LiveSession.scheduled_start)
        .limit(BATCH)
    )
    for live in list(absent_tutors):
        row = await raise_tutor_no_show(db, live, now=now, reason="tutor not in the room")
        if row is not None:
            raised.append(row)

    ended = aliased(OutboxEvent)
    ready = exists().where(
        OutboxEvent.session_id == ended.session_id, OutboxEvent.type == "recording.ready"
    )
    flagged = exists().where(
        and_(
            SessionException.session_id == ended.session_id,
            SessionException.kind == K.NO_RECORDING,
        )
    )
    unrecorded = await db.scalars(
        select(LiveSession)
        .join(ended, ended.session_id == LiveSession.id)
        .where(
            ended.type == "session.ended",
            ended.occurred_at <= now - recording_wait,
            ~ready,
            ~flagged,
        )
        .order_by(ended.seq)
        .limit(BATCH)
    )
    for live in list(unrecorded.unique()):
        row = await raise_exception(
            db,
            live,
            K.NO_RECORDING,
            subject=live.id,
            details={"waited_minutes": int(recording_wait.total_seconds() // 60)},
            now=now,
        )
        if row is not None:
            raised.append(row)
    return raised


# action -> (statuses it may start from, status it leads to)
MOVES: dict[str, tuple[frozenset[SessionExceptionStatus], SessionExceptionStatus]] = {
    "acknowledge": (frozenset({X.OPEN}), X.ACKNOWLEDGED),
    "resolve": (frozenset({X.OPEN, X.ACKNOWLEDGED}), X.RESOLVED),
}


def move(current: SessionExceptionStatus, action: str) -> SessionExceptionStatus:
    """The status ``action`` leads to from ``current``.

    Raises:
        InvalidTransition: naming the status the exception is in.
    """
    sources, target = MOVES[action]
    if current not in sources:
        raise InvalidTransition(f"cannot {action} an exception that is {current.value}")
    return target


async def apply_move(
    db: AsyncSession,
    exc: SessionException,
    action: str,
    *,
    by: str,
    now: datetime,
    note: str | None,
) -> SessionException:
    """Acknowledge or resolve ``exc``, with its ``exception.<past>`` event; the caller commits.

    Raises:
        InvalidTransition: the move is not allowed from its status.
    """
    exc.status = move(exc.status, action)
    if exc.status is X.ACKNOWLEDGED:
        exc.acknowledged_at, exc.acknowledged_by = now, by
    else:
        exc.resolved_at, exc.resolved_by = now, by
    if note is not None:
        exc.note = note
    record(
        db,
        f"exception.{exc.status.value}",
        session_id=exc.session_id,
        at=now,
        payload={"exception_id": exc.id, "kind": exc.kind.value, "by": by},
    )
    return exc


async def exceptions_page(
    db: AsyncSession,
    *,
    org_id: str,
    page: PageWindow,
    status: SessionExceptionStatus | None = None,
    kind: SessionExceptionKind | None = None,
    session_id: str | None = None,
) -> tuple[list[SessionException], int]:
    """One page of the organisation's exceptions, newest first, and how many match."""
    where: list[ColumnElement[bool]] = [SessionException.org_id == org_id]
    if status is not None:
        where.append(SessionException.status == status)
    if kind is not None:
        where.append(SessionException.kind == kind)
    if session_id is not None:
        where.append(SessionException.session_id == session_id)
    return await fetch_page(
        db,
        select(SessionException),
        where=where,
        order_by=[SessionException.raised_at.desc(), SessionException.id.desc()],
        page=page,
    )


async def move_exception(
    db: AsyncSession,
    *,
    org_id: str,
    exception_id: str,
    action: str,
    by: str,
    now: datetime,
    note: str | None,
) -> SessionException | None:
    """Acknowledge or resolve one of the organisation's exceptions (``apply_move``), its
    row locked; None when the organisation has no such exception. The caller commits.

    Raises:
        InvalidTransition: the move is not allowed from its status.
    """
    row = await db.scalar(
        select(SessionException)
        .where(SessionException.id == exception_id, SessionException.org_id == org_id)
        .with_for_update()
    )
    if row is None:
        return None
    return await apply_move(db, row, action, by=by, now=now, note=note)


@dataclass(frozen=True)
class ExceptionsHandler:
    """Raises the exceptions that session events reveal.

    ``session.ended``: ``student_absent`` per student who never joined.
    ``session.no_show``: ``tutor_no_show`` (nobody came, so neither did the tutor).
    """

    clock: Callable[[], datetime]
    name: str = "exceptions"
    types: frozenset[str] = frozenset({"session.ended", "session.no_show"})

    async def handle(self, db: AsyncSession, event: DomainEvent) -> None:
        live = await db.get(LiveSession, event.session_id)
        if live is None:
            return
        now = self.clock()
        if event.type == "session.ended":
            await raise_absences(db, live, ended_at=event.occurred_at, now=now)
        else:
            await raise_tutor_no_show(db, live, now=now, reason="session became a no-show")
