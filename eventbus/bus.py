"""The event bus: its contract, the embedded backend, and the factory that picks one.

Two backends deliver the outbox to handlers under one contract (``EventBus``):

- ``EmbeddedBus`` (here): one process reads undelivered events in commit order
  and gives each to every handler subscribed to its type. For one node, with
  nothing but the database.
- ``RedisStreamsBus`` (``eventbus.redis_streams``): a relay copies the outbox into a
  Redis stream; one consumer group per handler spreads the work over any
  number of ``liveclass worker`` processes.

Either way a handler's writes and its ledger row (``HandledEvent``) commit in
one transaction (``eventbus.ledger.run_handler``), so a crash at any point
either leaves both (the retry skips) or neither (the retry does the work
again). A handler that fails is retried with exponential backoff; after
``max_attempts`` its event lands in the dead letters (``HandlerFailure.dead``)
until someone replays it. Nothing lives only in memory: after a restart the
next pass resumes from the outbox.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Protocol

from redis.asyncio import Redis
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.logging import get_logger
from eventbus.ledger import Handler, Outcome, RetryPolicy, clear_failure, run_handler
from eventbus.models import HandlerFailure, OutboxEvent
from eventbus.outbox import DomainEvent
from eventbus.redis_streams import RedisStreamsBus
from eventbus.settings import EventBusSettings

__all__ = ["EmbeddedBus", "EventBus", "Handler", "RetryPolicy", "build_bus", "replay"]

log = get_logger("liveclass.sessions.bus")


class EventBus(Protocol):
    """What the composition root runs and the API's replay calls, whatever the backend."""

    async def run(self) -> None:
        """Deliver events until cancelled; a failed pass is logged and tried again."""
        ...

    async def dispatch_once(self) -> int:
        """One pass of this process's share of the work; returns the handler runs that
        succeeded. For tests and tools; ``run`` is the loop."""
        ...

    async def replay(self, handler: str, event_id: str) -> bool:
        """Clear ``handler``'s failure on ``event_id`` and deliver the event to it again.

        Returns False when that handler had no failure on that event.
        """
        ...

    async def aclose(self) -> None:
        """Stop every task this bus started and release its connections."""
        ...


class EmbeddedBus:
    """The in-process backend: the outbox table is the queue."""

    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        handlers: Sequence[Handler],
        *,
        clock: Callable[[], datetime],
        retry: RetryPolicy | None = None,
        batch: int = 100,
        interval: float = 1.0,
    ) -> None:
        names = [h.name for h in handlers]
        if len(set(names)) != len(names):
            raise ValueError(f"handler names must be unique, got {names}")
        self._sessionmaker = sessionmaker
        self._handlers = list(handlers)
        self._clock = clock
        self._retry = retry or RetryPolicy()
        self._batch = batch
        self._interval = interval
        self._stopping = asyncio.Event()

    async def dispatch_once(self) -> int:
        """One pass over undelivered events; returns how many handler runs succeeded.

        An event is marked dispatched once every subscribed handler has taken
        it or given up on it; one still waiting for a retry keeps it in the pass.
        """
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
                outcome = await run_handler(
                    self._sessionmaker, handler, event, now=self._clock(), retry=self._retry
                )
                handled += outcome is Outcome.HANDLED
                settled = settled and outcome.settled
            if settled:
                async with self._sessionmaker() as db, db.begin():
                    await db.execute(
                        update(OutboxEvent)
                        .where(OutboxEvent.id == event.id)
                        .values(dispatched_at=self._clock())
                    )
        return handled

    async def run(self) -> None:
        await self.run_forever(interval=self._interval)

    async def run_forever(self, *, interval: float) -> None:
        """Dispatch until ``aclose`` (or cancelled); a pass that fails as a whole is logged
        and retried. ``aclose`` lets the pass in progress finish: each handler run commits
        or rolls back whole instead of being cancelled mid-transaction."""
        while not self._stopping.is_set():
            try:
                await self.dispatch_once()
            except Exception:
                log.exception("event dispatch failed; trying again next interval")
            try:
                await asyncio.wait_for(self._stopping.wait(), timeout=interval)
            except TimeoutError:
                pass

    async def replay(self, handler: str, event_id: str) -> bool:
        async with self._sessionmaker() as db, db.begin():
            cleared = await replay(db, handler=handler, event_id=event_id, now=self._clock())
        return cleared is not None

    async def aclose(self) -> None:
        """Ask ``run`` to stop after the pass it is in (for good); it starts no tasks of
        its own and holds no connections between passes, so there is nothing to release."""
        self._stopping.set()


async def replay(
    db: AsyncSession, *, handler: str, event_id: str, now: datetime
) -> HandlerFailure | None:
    """Give a dead (or waiting) event another try by the embedded bus, from a fresh count.

    Returns the failure row that was cleared, or None if there was none. The
    event is marked undispatched so the next pass picks it up; handlers that
    already took it skip it on their ledger.
    """
    failure = await clear_failure(db, handler=handler, event_id=event_id)
    if failure is None:
        return None
    await db.execute(
        update(OutboxEvent).where(OutboxEvent.id == event_id).values(dispatched_at=None)
    )
    return failure


def retry_policy(settings: EventBusSettings) -> RetryPolicy:
    return RetryPolicy(
        max_attempts=settings.event_max_attempts,
        first_delay=timedelta(seconds=settings.event_retry_seconds),
    )


def build_bus(
    settings: EventBusSettings,
    sessionmaker: async_sessionmaker[AsyncSession],
    handlers: Sequence[Handler],
    clock: Callable[[], datetime],
    *,
    consume: bool = True,
) -> EmbeddedBus | RedisStreamsBus:
    """The bus the settings ask for: Redis Streams when ``redis_url`` is set, else embedded.

    Args:
        consume: with Redis, also run a consumer per handler in this process
            (``liveclass worker``); without, only the outbox relay runs
            (``liveclass serve``). The embedded bus always runs its handlers.
    """
    retry = retry_policy(settings)
    if not settings.redis_url:
        return EmbeddedBus(
            sessionmaker, handlers, clock=clock, retry=retry, interval=settings.event_poll_seconds
        )
    redis = Redis.from_url(
        settings.redis_url, socket_connect_timeout=settings.readiness_timeout_seconds
    )
    return RedisStreamsBus(
        sessionmaker,
        redis,
        handlers,
        clock=clock,
        retry=retry,
        prefix=settings.event_stream_prefix,
        poll_seconds=settings.event_poll_seconds,
        claim_idle=settings.event_claim_idle_seconds,
        consume=consume,
    )
