"""Presence records (and chat lines), and the writer that keeps them off the join path.

A join used to wait for its presence record to be written before the server read
the client's answer, so a busy database delayed everyone's media (joins measured
at 3.5-6.3 s instead of 0.3-0.7 s). Now signaling hands each record to one writer
task that writes them in order, retrying a failed write a few times; a join or a
leave only queues its record. The queue is bounded: if the database stays away
so long that it fills, further records are logged and dropped instead of waited
for, and signaling goes on.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime

from core.logging import get_logger

log = get_logger("liveclass.signaling")


@dataclass(frozen=True)
class PresenceRecord:
    """A participant joined or left a session's room (the lifecycle turns these into events).

    ``at`` is when the room changed. A participant who joins again from another
    connection gives a left with reason ``replaced`` and then a joined, though
    the others in the room see neither.
    """

    type: str  # "participant.joined" or "participant.left"
    session_id: str
    participant_id: str
    role: str
    at: datetime
    reason: str | None = None  # on left: "left", "disconnected", "timeout" or "replaced"


@dataclass(frozen=True)
class ChatRecord:
    """A chat message sent in a session's room, to keep with the session's record.

    It goes through the same writer as the presence records, in order with them.
    ``id`` is the message's own (what the room sent everyone), so a write that is
    retried after it did commit can be told apart.
    """

    id: str
    session_id: str
    participant_id: str
    name: str
    role: str
    text: str
    at: datetime
    type: str = "chat"
    reason: str | None = None


RoomRecord = PresenceRecord | ChatRecord
PresenceSink = Callable[[RoomRecord], Awaitable[None]]


def _fields(record: RoomRecord) -> dict[str, str | None]:
    return {
        "session": record.session_id,
        "participant": record.participant_id,
        "type": record.type,
        "reason": record.reason,
    }


class PresenceWriter:
    """Writes presence records through ``sink`` in the order they were submitted.

    Args:
        sink: writes one record (its own transaction).
        timeout: seconds one write may take before it counts as failed.
        attempts: tries per record before it is logged as lost.
        retry_delay: seconds before the first retry; doubled after each.
        max_pending: records that may wait; past it, new ones are logged and dropped.
    """

    def __init__(
        self,
        sink: PresenceSink,
        *,
        timeout: float,
        attempts: int = 3,
        retry_delay: float = 0.5,
        max_pending: int = 1000,
    ) -> None:
        self._sink = sink
        self._timeout = timeout
        self._attempts = attempts
        self._retry_delay = retry_delay
        self._queue: asyncio.Queue[RoomRecord] = asyncio.Queue(maxsize=max_pending)
        self._task: asyncio.Task[None] | None = None
        self._closed = False

    def submit(self, record: RoomRecord) -> None:
        """Queue ``record`` for writing; never waits."""
        if self._closed:
            log.error("presence record after shutdown, not written", **_fields(record))
            return
        try:
            self._queue.put_nowait(record)
        except asyncio.QueueFull:
            log.error("presence queue full, record not written", **_fields(record))
            return
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run())

    async def flush(self) -> None:
        """Wait until every record submitted so far has been written (or given up on)."""
        await self._queue.join()

    async def _run(self) -> None:
        while True:
            record = await self._queue.get()
            try:
                await self._write(record)
            finally:
                self._queue.task_done()

    async def _write(self, record: RoomRecord) -> None:
        delay = self._retry_delay
        for attempt in range(1, self._attempts + 1):
            try:
                async with asyncio.timeout(self._timeout):
                    await self._sink(record)
                return
            except Exception:
                if attempt == self._attempts:
                    # Signaling went on without the record; the log keeps what it said.
                    log.exception(
                        "presence record not written", attempts=attempt, **_fields(record)
                    )
                    return
                log.warning(
                    "presence write failed; trying again", attempt=attempt, **_fields(record)
                )
                await asyncio.sleep(delay)
                delay *= 2

    async def aclose(self, *, timeout: float) -> None:
        """Write what is queued (for up to ``timeout`` seconds), then stop."""
        self._closed = True
        if self._task is None:
            return
        try:
            async with asyncio.timeout(timeout):
                await self._queue.join()
        except TimeoutError:
            log.error("presence records left unwritten at shutdown", pending=self._queue.qsize())
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        self._task = None
