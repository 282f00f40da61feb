"""The embedded event bus: handlers run from the outbox, in this process, exactly once in effect.

``dispatch_once`` reads undelivered events in commit order and gives each to
every handler subscribed to its type. A handler's writes and its ledger row
(``HandledEvent``) commit in one transaction, so a crash at any point either
leaves both (the retry skips) or neither (the retry does the work again).
Nothing lives only in memory: after a restart the next pass resumes from the
outbox. A handler that fails is retried with exponential backoff; after
``max_attempts`` its event lands in the dead letters (``HandlerFailure.dead``)
until someone replays it. An event is marked dispatched when every
subscribed handler has either taken it or given up on it.

The Redis Streams backend (one consumer group per handler) is the other
implementation of the same contract; it is not built yet.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.logging import get_logger
from sessions.events import DomainEvent
from sessions.models import HandledEvent, HandlerFailure, OutboxEvent

log = get_logger("liveclass.sessions.bus")


class Handler(Protocol):
    """Something that acts on events; ``name`` keys its ledger, so keep it stable."""

    @property
    def name(self) -> str: ...
    @property
    def types(self) -> frozenset[str]: ...
    async def handle(self, db: AsyncSession, event: DomainEvent) -> None: ...


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = 5
    first_delay: timedelta = timedelta(seconds=5)
    max_delay: timedelta = timedelta(minutes=10)

    def delay(self, attempts: int) -> timedelta:
        delay: timedelta = self.first_delay * 2 ** (attempts - 1)
        return min(delay, self.max_delay)


class EmbeddedBus:
    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        handlers: Sequence[Handler],
        *,
        clock: Callable[[], datetime],
        retry: RetryPolicy | None = None,
        batch: int = 100,
    ) -> None:
        names = [h.name for h in handlers]
        if len(set(names)) != len(names):
            raise ValueError(f"handler names must be unique, got {names}")
        self._sessionmaker = sessionmaker
        self._handlers = list(handlers)
        self._clock = clock
        self._retry = retry or RetryPolicy()
        self._batch = batch

    async def dispatch_once(self) -> int:
        """One pass over undelivered events; returns how many handler runs succeeded."""
        async with self._sessionmaker() as db:
            rows = list(
                await db.scalars(
                    select(OutboxEvent)
                    .where(OutboxEvent.dispatched_at.is_(None))
                    .order_by(OutboxEvent.seq)
                    .limit(self._batch)
                )
            )
            events = [DomainEvent.from_row(r) for r in rows]
        handled = 0
        for event in events:
            settled = True
            for handler in self._handlers:
                if event.type not in handler.types:
                    continue
                outcome = await self._run(handler, event)
                handled += outcome == "handled"
                settled = settled and outcome in ("handled", "done", "dead")
            if settled:
                async with self._sessionmaker() as db, db.begin():
                    await db.execute(
                        update(OutboxEvent)
                        .where(OutboxEvent.id == event.id)
                        .values(dispatched_at=self._clock())
                    )
        return handled

    async def _run(self, handler: Handler, event: DomainEvent) -> str:
        now = self._clock()
        async with self._sessionmaker() as db:
            if await db.get(HandledEvent, (handler.name, event.id)) is not None:
                return "done"
            failure = await db.get(HandlerFailure, (handler.name, event.id))
            if failure is not None and (failure.dead or failure.next_attempt_at > now):
                return "dead" if failure.dead else "waiting"
        try:
            async with self._sessionmaker() as db, db.begin():
                db.add(HandledEvent(handler=handler.name, event_id=event.id, handled_at=now))
                await handler.handle(db, event)
        except Exception as exc:
            await self._failed(handler, event, exc, now)
            return "failed"
        return "handled"

    async def _failed(
        self, handler: Handler, event: DomainEvent, exc: Exception, now: datetime
    ) -> None:
        error = f"{type(exc).__name__}: {exc}"[:2000]
        async with self._sessionmaker() as db, db.begin():
            failure = await db.get(HandlerFailure, (handler.name, event.id))
            if failure is None:
                failure = HandlerFailure(
                    handler=handler.name, event_id=event.id, attempts=0, dead=False
                )
                db.add(failure)
            failure.attempts += 1
            failure.last_error = error
            failure.next_attempt_at = now + self._retry.delay(failure.attempts)
            failure.dead = failure.attempts >= self._retry.max_attempts
        log.warning(
            "handler failed",
            handler=handler.name,
            event=event.id,
            type=event.type,
            attempt=failure.attempts,
            dead=failure.dead,
            error=error,
        )

    async def run_forever(self, *, interval: float) -> None:
        """Dispatch until cancelled; a pass that fails as a whole is logged and retried."""
        while True:
            try:
                await self.dispatch_once()
            except Exception:
                log.exception("event dispatch failed; trying again next interval")
            await asyncio.sleep(interval)


async def replay(
    db: AsyncSession, *, handler: str, event_id: str, now: datetime
) -> HandlerFailure | None:
    """Give a dead (or waiting) event another try now, from a fresh attempt count.

    Returns the failure row that was cleared, or None if there was none. The
    event is marked undispatched so the next pass picks it up.
    """
    failure = await db.get(HandlerFailure, (handler, event_id))
    if failure is None:
        return None
    await db.delete(failure)
    await db.execute(
        update(OutboxEvent).where(OutboxEvent.id == event_id).values(dispatched_at=None)
    )
    return failure
