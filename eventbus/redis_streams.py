"""The Redis Streams bus: the outbox relayed into a stream, one consumer group per handler.

Keys (``prefix`` is ``LIVECLASS_EVENT_STREAM_PREFIX``):

- ``{prefix}:events``: every event, in outbox order per relay. Fields:
  ``event`` (the ``DomainEvent`` as JSON), ``id``, ``type``, and on a replay
  ``handler``, the one handler meant to take it (the others acknowledge it).
- ``{prefix}:dead``: one entry each time a handler gives up on an event
  (``handler``, ``event_id``, ``type``, ``session_id``, ``event``). An
  append-only record; the database's ``handler_failures`` is what the API lists.

The relay (``OutboxRelay``) takes undispatched outbox rows in ``seq`` order,
``FOR UPDATE SKIP LOCKED`` on PostgreSQL so several relays share the work,
adds them to the stream and marks them dispatched in the same transaction. A
crash between the two leaves a duplicate in the stream, which the handlers'
ledger absorbs.

Each handler has a consumer group named after it, created at the stream's
start so no event added before its first worker is missed (the ledger skips
what it took already). Each worker process is one consumer with a unique
name. A step of a consumer (``StreamConsumer.step``):

1. goes through its own pending entries: deliveries that failed and wait for
   their backoff (``HandlerFailure.next_attempt_at``), run again once due;
2. claims with ``XAUTOCLAIM`` entries idle longer than ``claim_idle`` in any
   consumer's pending list (a worker that died holding them) and runs them;
3. reads new entries (``XREADGROUP ... BLOCK``, a bounded ``COUNT``).

An entry is acknowledged only after the handler's transaction committed (or
the ledger shows it done, or the handler does not subscribe to its type).
The ``max_attempts``-th failure adds the event to ``{prefix}:dead`` and
acknowledges it in one ``MULTI``; ``replay`` clears the failure and adds the
event again, addressed to that handler alone.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import socket
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from pydantic import ValidationError
from redis.asyncio import Redis
from redis.exceptions import ResponseError
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.logging import get_logger
from eventbus.ledger import Handler, Outcome, RetryPolicy, clear_failure, run_handler
from eventbus.models import HandlerFailure, OutboxEvent
from eventbus.outbox import DomainEvent

log = get_logger("liveclass.sessions.streams")

# Longest a plain Redis command may take; a blocking read gets its BLOCK time on top.
COMMAND_TIMEOUT = 10.0
# Most own pending entries one step walks through before reading new ones.
MAX_PENDING_PER_STEP = 1000


def consumer_name() -> str:
    """A name no other live worker has: host, process and a random tail."""
    return f"{socket.gethostname()}-{os.getpid()}-{secrets.token_hex(3)}"


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _fields(raw: Any) -> dict[str, str] | None:
    """An entry's fields as text; None for an entry deleted from the stream."""
    if raw is None:
        return None
    return {_text(k): _text(v) for k, v in dict(raw).items()}


def _message(event: DomainEvent, *, handler: str | None = None) -> dict[Any, Any]:
    fields: dict[Any, Any] = {"event": event.model_dump_json(), "id": event.id, "type": event.type}
    if handler is not None:
        fields["handler"] = handler
    return fields


class StreamKeys:
    def __init__(self, prefix: str) -> None:
        self.events = f"{prefix}:events"
        self.dead = f"{prefix}:dead"


class OutboxRelay:
    """Copies undispatched outbox rows into the events stream, in ``seq`` order."""

    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        redis: Redis,
        *,
        keys: StreamKeys,
        clock: Callable[[], datetime],
        batch: int = 100,
    ) -> None:
        self._sessionmaker = sessionmaker
        self._redis = redis
        self._keys = keys
        self._clock = clock
        self._batch = batch

    async def relay_once(self) -> int:
        """Relay one batch; returns how many events went into the stream."""
        async with self._sessionmaker() as db, db.begin():
            rows = list(
                await db.scalars(
                    select(OutboxEvent)
                    .where(OutboxEvent.dispatched_at.is_(None))
                    .order_by(OutboxEvent.seq)
                    .limit(self._batch)
                    .with_for_update(skip_locked=True)
                )
            )
            if not rows:
                return 0
            pipe = self._redis.pipeline(transaction=False)
            for row in rows:
                pipe.xadd(self._keys.events, _message(DomainEvent.from_row(row)))
            async with asyncio.timeout(COMMAND_TIMEOUT):
                await pipe.execute()
            # Marked only after Redis has them; a crash right here means duplicates, not loss.
            await db.execute(
                update(OutboxEvent)
                .where(OutboxEvent.seq.in_([r.seq for r in rows]))
                .values(dispatched_at=self._clock())
            )
        return len(rows)

    async def relay_all(self) -> int:
        """Relay until the outbox has nothing undispatched (or other relays hold the rest)."""
        total = 0
        while n := await self.relay_once():
            total += n
        return total


class StreamConsumer:
    """One handler's consumer in its group: retries, claims and reads (see the module doc)."""

    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        redis: Redis,
        handler: Handler,
        *,
        keys: StreamKeys,
        consumer: str,
        clock: Callable[[], datetime],
        retry: RetryPolicy,
        block: float,
        claim_idle: float,
        count: int = 50,
    ) -> None:
        self._sessionmaker = sessionmaker
        self._redis = redis
        self._handler = handler
        self._keys = keys
        self._consumer = consumer
        self._clock = clock
        self._retry = retry
        self._block_ms = max(1, int(block * 1000))
        self._claim_idle_ms = max(1, int(claim_idle * 1000))
        self._count = count
        self._group_ready = False
        self._claim_cursor = "0-0"

    @property
    def group(self) -> str:
        return self._handler.name

    async def step(self) -> int:
        """One round: due retries, stale claims, then new entries; returns handler runs done."""
        await self._ensure_group()
        try:
            handled = await self._retry_pending()
            handled += await self._claim_stale()
            handled += await self._read_new()
        except ResponseError as exc:
            if "NOGROUP" in str(exc):  # the stream was deleted under us; recreate next step
                self._group_ready = False
            raise
        return handled

    async def _ensure_group(self) -> None:
        if self._group_ready:
            return
        try:
            async with asyncio.timeout(COMMAND_TIMEOUT):
                await self._redis.xgroup_create(
                    self._keys.events, self.group, id="0", mkstream=True
                )
        except ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise
        self._group_ready = True

    async def _read(self, start: str, *, block: bool) -> list[tuple[str, dict[str, str] | None]]:
        wait = self._block_ms / 1000 if block else 0
        async with asyncio.timeout(COMMAND_TIMEOUT + wait):
            reply: Any = await self._redis.xreadgroup(
                self.group,
                self._consumer,
                {self._keys.events: start},
                count=self._count,
                block=self._block_ms if block else None,
            )
        if not reply:
            return []
        [[_, entries]] = reply
        return [(_text(entry_id), _fields(raw)) for entry_id, raw in entries]

    async def _retry_pending(self) -> int:
        handled, after, walked = 0, "0", 0
        while walked < MAX_PENDING_PER_STEP:
            entries = await self._read(after, block=False)
            if not entries:
                break
            for entry_id, fields in entries:
                handled += await self._deliver(entry_id, fields)
            after = entries[-1][0]
            walked += len(entries)
        return handled

    async def _claim_stale(self) -> int:
        async with asyncio.timeout(COMMAND_TIMEOUT):
            reply: Any = await self._redis.xautoclaim(
                self._keys.events,
                self.group,
                self._consumer,
                min_idle_time=self._claim_idle_ms,
                start_id=self._claim_cursor,
                count=self._count,
            )
        cursor, entries = reply[0], reply[1]
        self._claim_cursor = _text(cursor)
        handled = 0
        for entry_id, raw in entries:
            log.info("claimed a stale event", handler=self.group, entry=_text(entry_id))
            handled += await self._deliver(_text(entry_id), _fields(raw))
        return handled

    async def _read_new(self) -> int:
        handled = 0
        for entry_id, fields in await self._read(">", block=True):
            handled += await self._deliver(entry_id, fields)
        return handled

    async def _ack(self, entry_id: str) -> None:
        async with asyncio.timeout(COMMAND_TIMEOUT):
            await self._redis.xack(self._keys.events, self.group, entry_id)

    async def _deliver(self, entry_id: str, fields: dict[str, str] | None) -> int:
        """Run the handler on one entry, then acknowledge or leave it; 1 if it ran and committed."""
        if fields is None:  # trimmed or deleted from the stream: nothing left to run
            await self._ack(entry_id)
            return 0
        try:
            event = DomainEvent.model_validate_json(fields["event"])
        except (KeyError, ValidationError):
            log.error("unreadable event in the stream", handler=self.group, entry=entry_id)
            await self._dead_letter(entry_id, fields)
            return 0
        target = fields.get("handler")
        wanted = target == self.group if target else event.type in self._handler.types
        if not wanted:
            await self._ack(entry_id)
            return 0
        outcome = await run_handler(
            self._sessionmaker, self._handler, event, now=self._clock(), retry=self._retry
        )
        if outcome is Outcome.GAVE_UP:
            await self._dead_letter(entry_id, _dead_fields(self.group, event))
        elif outcome.settled:
            await self._ack(entry_id)
        return int(outcome is Outcome.HANDLED)

    async def _dead_letter(self, entry_id: str, fields: dict[str, str]) -> None:
        pipe = self._redis.pipeline(transaction=True)
        entry: dict[Any, Any] = {**fields, "handler": self.group}
        pipe.xadd(self._keys.dead, entry)
        pipe.xack(self._keys.events, self.group, entry_id)
        async with asyncio.timeout(COMMAND_TIMEOUT):
            await pipe.execute()


def _dead_fields(handler: str, event: DomainEvent) -> dict[str, str]:
    return {
        "handler": handler,
        "event_id": event.id,
        "type": event.type,
        "session_id": event.session_id,
        "event": event.model_dump_json(),
    }


class RedisStreamsBus:
    """The scale-out backend of ``eventbus.bus.EventBus``: a relay and per-handler consumers.

    ``run`` starts the relay loop and, when ``consume`` is set, one consumer
    loop per handler, as tasks this bus owns; ``aclose`` cancels them, waits
    for them and closes the Redis client, which the bus owns.
    """

    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        redis: Redis,
        handlers: Sequence[Handler],
        *,
        clock: Callable[[], datetime],
        retry: RetryPolicy | None = None,
        prefix: str = "liveclass",
        poll_seconds: float = 1.0,
        claim_idle: float = 30.0,
        consume: bool = True,
        relay: bool = True,
        consumer: str | None = None,
        count: int = 50,
    ) -> None:
        names = [h.name for h in handlers]
        if len(set(names)) != len(names):
            raise ValueError(f"handler names must be unique, got {names}")
        self._sessionmaker = sessionmaker
        self._redis = redis
        self._clock = clock
        self._retry = retry or RetryPolicy()
        self._poll = poll_seconds
        self._consume = consume
        self._relay_on = relay
        self.keys = StreamKeys(prefix)
        self.consumer = consumer or consumer_name()
        self.relay = OutboxRelay(sessionmaker, redis, keys=self.keys, clock=clock)
        self.consumers = [
            StreamConsumer(
                sessionmaker,
                redis,
                handler,
                keys=self.keys,
                consumer=self.consumer,
                clock=clock,
                retry=self._retry,
                block=poll_seconds,
                claim_idle=claim_idle,
                count=count,
            )
            for handler in handlers
        ]
        self._tasks: list[asyncio.Task[None]] = []
        self._stopping = asyncio.Event()

    async def dispatch_once(self) -> int:
        """Relay what is waiting, then one step of each consumer; for tests and tools."""
        if self._relay_on:
            await self.relay.relay_all()
        handled = 0
        if self._consume:
            for consumer in self.consumers:
                handled += await consumer.step()
        return handled

    async def run(self) -> None:
        """Relay and consume until cancelled (or until ``aclose``)."""
        if self._relay_on:
            self._tasks.append(
                asyncio.create_task(self._loop("relay", self.relay.relay_all, self._poll))
            )
        if self._consume:
            for consumer in self.consumers:
                # A step blocks in XREADGROUP for up to poll_seconds, so it needs no pause.
                self._tasks.append(
                    asyncio.create_task(self._loop(consumer.group, consumer.step, 0))
                )
        try:
            await asyncio.gather(*self._tasks)
        finally:
            await self._cancel_tasks()

    async def _loop(self, name: str, step: Callable[[], Any], pause: float) -> None:
        """Step until ``aclose`` asks to stop; it asks between steps, never inside one."""
        while not self._stopping.is_set():
            try:
                await step()
            except Exception:
                log.exception("event bus step failed; trying again", part=name)
                pause_now = max(pause, self._poll)
            else:
                pause_now = pause
            if pause_now > 0:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stopping.wait(), pause_now)

    async def replay(self, handler: str, event_id: str) -> bool:
        """Clear the failure, then add the event again addressed to ``handler`` alone.

        The failure is cleared (and committed) first, so the consumer that
        reads the new entry runs it instead of seeing it dead. If Redis refuses
        the entry, the failure is put back as it was, so the replay can be
        asked for again.
        """
        async with self._sessionmaker() as db, db.begin():
            failure = await clear_failure(db, handler=handler, event_id=event_id)
            if failure is None:
                return False
            row = await db.scalar(select(OutboxEvent).where(OutboxEvent.id == event_id))
            assert row is not None  # the failure's foreign key points at it
            event = DomainEvent.from_row(row)
        try:
            async with asyncio.timeout(COMMAND_TIMEOUT):
                await self._redis.xadd(self.keys.events, _message(event, handler=handler))
        except BaseException:
            async with self._sessionmaker() as db, db.begin():
                db.add(
                    HandlerFailure(
                        handler=failure.handler,
                        event_id=failure.event_id,
                        attempts=failure.attempts,
                        last_error=failure.last_error,
                        next_attempt_at=failure.next_attempt_at,
                        dead=failure.dead,
                    )
                )
            raise
        log.info("event replayed", handler=handler, event=event_id)
        return True

    async def _cancel_tasks(self) -> None:
        tasks, self._tasks = self._tasks, []
        for task in tasks:
            task.cancel()
        # Our own cancellation still propagates: gather re-raises it.
        results = await asyncio.gather(*tasks, return_exceptions=True)
        for result in results:
            if isinstance(result, Exception):
                log.error("event bus task failed while stopping", error=repr(result))

    async def aclose(self) -> None:
        """Stop the loops, then release Redis.

        The loops are asked to stop between steps first, and cancelled only if
        they have not within a step's longest wait: cancelling one in the middle
        of a database round trip can leave its connection inside a transaction,
        holding row locks that stall the next user of those rows.
        """
        self._stopping.set()
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=self._poll + COMMAND_TIMEOUT)
        await self._cancel_tasks()
        await self._redis.aclose()
