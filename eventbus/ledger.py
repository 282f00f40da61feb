"""Running one handler on one event: the ledger, the failures and the backoff.

Both bus backends (``eventbus.bus`` in process, ``eventbus.redis_streams`` on Redis)
call ``run_handler`` for each (handler, event) they deliver, so they agree on
what "handled once", "try again later" and "dead" mean:

- a handler's writes and its ``HandledEvent`` ledger row commit in one
  transaction; an event already in the ledger is skipped (``DONE``);
- a failure is recorded in ``HandlerFailure`` with the next attempt after an
  exponential backoff (``FAILED``); before that time the event is not tried
  (``WAITING``);
- the ``max_attempts``-th failure gives up (``GAVE_UP``): the row is marked
  dead and its ``next_attempt_at`` holds the time it gave up; later deliveries
  of the same event see ``DEAD`` until ``clear_failure`` (a replay) removes it.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.logging import get_logger
from eventbus.models import HandledEvent, HandlerFailure
from eventbus.outbox import DomainEvent

log = get_logger("liveclass.sessions.handling")
MAX_ERROR_CHARS = 2000


class Handler(Protocol):
    """Something that acts on events; ``name`` keys its ledger, so keep it stable."""

    @property
    def name(self) -> str: ...
    @property
    def types(self) -> frozenset[str]: ...
    async def handle(self, db: AsyncSession, event: DomainEvent) -> None: ...


@dataclass(frozen=True)
class RetryPolicy:
    """How often a failing handler is tried, and how long to wait between tries."""

    max_attempts: int = 5
    first_delay: timedelta = timedelta(seconds=5)
    max_delay: timedelta = timedelta(minutes=10)

    def delay(self, attempts: int) -> timedelta:
        """The wait after the ``attempts``-th failure: doubling from ``first_delay``."""
        delay: timedelta = self.first_delay * 2 ** (attempts - 1)
        return min(delay, self.max_delay)


class Outcome(enum.StrEnum):
    """What one delivery of an event to a handler came to."""

    HANDLED = "handled"  # it ran and committed, now
    DONE = "done"  # the ledger already had it (a duplicate, or another consumer won)
    WAITING = "waiting"  # failed before; its next attempt is not due yet
    FAILED = "failed"  # it failed now; will be tried again after the backoff
    GAVE_UP = "gave_up"  # it failed for the last time now: dead
    DEAD = "dead"  # dead from before; only a replay brings it back

    @property
    def settled(self) -> bool:
        """Nothing more will happen to this delivery without a replay."""
        return self in (Outcome.HANDLED, Outcome.DONE, Outcome.GAVE_UP, Outcome.DEAD)


async def run_handler(
    sessionmaker: async_sessionmaker[AsyncSession],
    handler: Handler,
    event: DomainEvent,
    *,
    now: datetime,
    retry: RetryPolicy,
) -> Outcome:
    """Deliver ``event`` to ``handler`` once, with the ledger and failure bookkeeping.

    Never raises for the handler's own errors: they become ``FAILED`` or
    ``GAVE_UP``. Errors of the bookkeeping itself (the database is gone)
    propagate, so the caller leaves the delivery to be retried.
    """
    async with sessionmaker() as db:
        if await db.get(HandledEvent, (handler.name, event.id)) is not None:
            return Outcome.DONE
        failure = await db.get(HandlerFailure, (handler.name, event.id))
        if failure is not None and failure.dead:
            return Outcome.DEAD
        if failure is not None and failure.next_attempt_at > now:
            return Outcome.WAITING
    try:
        async with sessionmaker() as db, db.begin():
            ledger = HandledEvent(handler=handler.name, event_id=event.id, handled_at=now)
            if db.get_bind().dialect.name == "sqlite":
                # SQLite's write lock covers the whole database until commit: written first,
                # the ledger row would hold it through the handler's slow part (Whisper, the
                # model), and every join's presence write and every email would wait on it.
                await handler.handle(db, event)
                db.add(ledger)
            else:
                # PostgreSQL locks the row alone: written first, it makes a second consumer
                # of the same event wait and then give way before doing the work twice.
                db.add(ledger)
                await handler.handle(db, event)
    except Exception as exc:
        # Two consumers may race on one event (a claim of a slow one's message, a
        # duplicate in the stream): the loser's ledger insert fails, which is no failure.
        async with sessionmaker() as db:
            if await db.get(HandledEvent, (handler.name, event.id)) is not None:
                return Outcome.DONE
        return await _record_failure(sessionmaker, handler, event, exc, now=now, retry=retry)
    return Outcome.HANDLED


async def _record_failure(
    sessionmaker: async_sessionmaker[AsyncSession],
    handler: Handler,
    event: DomainEvent,
    exc: Exception,
    *,
    now: datetime,
    retry: RetryPolicy,
) -> Outcome:
    error = f"{type(exc).__name__}: {exc}"[:MAX_ERROR_CHARS]
    async with sessionmaker() as db, db.begin():
        failure = await db.get(HandlerFailure, (handler.name, event.id), with_for_update=True)
        if failure is None:
            failure = HandlerFailure(
                handler=handler.name, event_id=event.id, attempts=0, dead=False
            )
            db.add(failure)
        failure.attempts += 1
        failure.last_error = error
        failure.dead = failure.attempts >= retry.max_attempts
        # A dead row has no next attempt: the column then says when it gave up.
        failure.next_attempt_at = now if failure.dead else now + retry.delay(failure.attempts)
    log.warning(
        "handler failed",
        handler=handler.name,
        event=event.id,
        type=event.type,
        attempt=failure.attempts,
        dead=failure.dead,
        error=error,
    )
    return Outcome.GAVE_UP if failure.dead else Outcome.FAILED


async def clear_failure(db: AsyncSession, *, handler: str, event_id: str) -> HandlerFailure | None:
    """Forget a handler's failure on an event (dead or waiting); the caller commits.

    Returns the row removed, or None when there was none. The next delivery of
    the event to that handler runs it at once, from a fresh attempt count.
    """
    failure = await db.get(HandlerFailure, (handler, event_id), with_for_update=True)
    if failure is None:
        return None
    await db.delete(failure)
    return failure
