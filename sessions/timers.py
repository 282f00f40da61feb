"""Time-driven lifecycle moves, derived from what is stored: nothing to forget on restart.

A sleeping coroutine per session would be lost with the process. Instead,
``run_due`` looks at the sessions table and the presence records and makes
every move that is due *now*: open the room shortly before the start, mark a
session nobody joined as a no-show, end a live session after its scheduled end
plus a grace period, or once everyone has left for a while. After a restart
the first sweep catches up on whatever came due meanwhile. ``sweep_forever``
then raises the time-driven exceptions (``sessions.session_exceptions.detect_due``:
a tutor not in the room, a recording that never came) in a transaction of
their own, so a failure there never holds back the lifecycle moves, and runs
each further step it was given (the due reminders) in another.

Several processes may sweep at once: each move locks its row and re-checks
the state, so the loser of a race sees the new state and skips.

What else runs on the same beat (the reminders of ``notifications``) is given
to ``sweep_forever`` as ``steps`` by the composition root: this package knows
nothing of email.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from sqlalchemy import exists, func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.logging import get_logger
from eventbus.models import OutboxEvent
from scheduling.models import LiveSession, SessionStatus
from sessions.errors import InvalidTransition
from sessions.lifecycle import Action
from sessions.models import Presence, PresenceType
from sessions.review import approve_due
from sessions.service import apply
from sessions.session_exceptions import detect_due

log = get_logger("liveclass.sessions.timers")
S = SessionStatus
BATCH = 200


@dataclass(frozen=True)
class TimerPolicy:
    open_before: timedelta = timedelta(minutes=10)
    no_show_after: timedelta = timedelta(minutes=15)
    end_grace: timedelta = timedelta(minutes=15)
    empty_room_end: timedelta = timedelta(minutes=5)
    tutor_no_show_after: timedelta = timedelta(minutes=10)
    recording_wait: timedelta = timedelta(minutes=10)
    # Drafted summaries are approved this long after drafting; None: only by the tutor.
    auto_approve_after: timedelta | None = None


class SweepStep(Protocol):
    """More work on the sweep's beat, in a transaction of its own; ``name`` is for the log."""

    @property
    def name(self) -> str: ...

    async def __call__(self, db: AsyncSession, now: datetime) -> object: ...


async def _move_each(
    db: AsyncSession, ids: list[str], action: Action, now: datetime, reason: str
) -> list[OutboxEvent]:
    events = []
    for session_id in ids:
        try:  # apply checks before it changes anything, so a refusal leaves nothing behind
            events.append(await apply(db, session_id, action, now=now, reason=reason))
        except InvalidTransition:
            continue  # another sweep (or a person) moved it first
    return events


async def _presence_balance(db: AsyncSession, session_id: str) -> tuple[int, datetime | None]:
    """(joins minus leaves, time of the last record) for a session's room."""
    rows = (
        await db.execute(
            select(Presence.type, func.count(), func.max(Presence.at))
            .where(Presence.session_id == session_id)
            .group_by(Presence.type)
        )
    ).all()
    joined = sum(n for t, n, _ in rows if t is PresenceType.JOINED)
    left = sum(n for t, n, _ in rows if t is PresenceType.LEFT)
    last = max((at for _, _, at in rows), default=None)
    return joined - left, last


async def run_due(db: AsyncSession, now: datetime, policy: TimerPolicy) -> list[OutboxEvent]:
    """Make every lifecycle move that is due at ``now``; the caller commits.

    Returns the events written, in the order the moves were made.
    """
    events: list[OutboxEvent] = []
    someone_joined = exists().where(Presence.session_id == LiveSession.id)

    no_show = list(
        await db.scalars(
            select(LiveSession.id)
            .where(
                LiveSession.status.in_([S.SCHEDULED, S.OPEN]),
                LiveSession.scheduled_start <= now - policy.no_show_after,
                ~someone_joined,
            )
            .limit(BATCH)
        )
    )
    events += await _move_each(db, no_show, Action.NO_SHOW, now, "nobody joined")

    to_open = list(
        await db.scalars(
            select(LiveSession.id)
            .where(
                LiveSession.status == S.SCHEDULED,
                LiveSession.scheduled_start <= now + policy.open_before,
            )
            .limit(BATCH)
        )
    )
    events += await _move_each(db, to_open, Action.OPEN, now, "opening time")

    overdue = list(
        await db.scalars(
            select(LiveSession.id)
            .where(
                LiveSession.status == S.LIVE,
                LiveSession.scheduled_end <= now - policy.end_grace,
            )
            .limit(BATCH)
        )
    )
    events += await _move_each(db, overdue, Action.END, now, "scheduled end passed")

    live = list(
        await db.scalars(select(LiveSession.id).where(LiveSession.status == S.LIVE).limit(BATCH))
    )
    empty = []
    for session_id in live:
        present, last = await _presence_balance(db, session_id)
        if present <= 0 and last is not None and last <= now - policy.empty_room_end:
            empty.append(session_id)
    events += await _move_each(db, empty, Action.END, now, "everyone left")
    return events


async def sweep_forever(
    sessionmaker: async_sessionmaker[AsyncSession],
    clock: Callable[[], datetime],
    policy: TimerPolicy,
    *,
    interval: float,
    stop: asyncio.Event | None = None,
    steps: Sequence[SweepStep] = (),
) -> None:
    """Run ``run_due``, ``detect_due``, ``approve_due`` and then each of ``steps`` every
    ``interval`` seconds, until cancelled or until ``stop`` is set.

    Each of them is a step in a transaction of its own, and ``stop`` is looked
    at between steps and waited on instead of sleeping: a sweep asked to stop
    commits the step it is in and returns, at once when it is idle. Cancelling
    it instead would cancel a database round trip, which can leave a
    PostgreSQL connection inside its transaction holding row locks, or an
    aiosqlite connection closing on a thread that has already stopped (the
    process then never exits). Leaving the rest of a sweep undone loses
    nothing: the next sweep, here or in another process, finds the same moves
    due in the stored state.

    A failed step is logged and tried again next interval.
    """

    def stopping() -> bool:
        return stop is not None and stop.is_set()

    while not stopping():
        try:
            async with sessionmaker() as db, db.begin():
                events = await run_due(db, clock(), policy)
            for event in events:
                log.info(event.type, session=event.session_id, reason=event.payload.get("reason"))
        except Exception:
            log.exception("lifecycle sweep failed; trying again next interval")
        if stopping():
            return
        try:
            async with sessionmaker() as db, db.begin():
                raised = await detect_due(
                    db,
                    clock(),
                    tutor_no_show_after=policy.tutor_no_show_after,
                    recording_wait=policy.recording_wait,
                )
            for exc in raised:
                log.info("exception raised", session=exc.session_id, kind=exc.kind.value)
        except Exception:
            log.exception("exception sweep failed; trying again next interval")
        if policy.auto_approve_after is not None and not stopping():
            try:
                async with sessionmaker() as db, db.begin():
                    approved = await approve_due(db, clock(), after=policy.auto_approve_after)
                for event in approved:
                    log.info("summary approved automatically", session=event.session_id)
            except Exception:
                log.exception("auto-approval sweep failed; trying again next interval")
        for step in steps:
            if stopping():
                return
            try:
                async with sessionmaker() as db, db.begin():
                    await step(db, clock())
            except Exception:
                log.exception(f"{step.name} sweep failed; trying again next interval")
        if stop is None:
            await asyncio.sleep(interval)
        else:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), interval)
