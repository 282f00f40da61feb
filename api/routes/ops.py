"""The coordinators' ops feed: a live view of the organisation's sessions, as Server-Sent Events.

On connect one ``snapshot`` event lists the open and live sessions (who is in
the room, how long it has run, recording status); then every event of the
organisation's sessions arrives as it is committed (``participant.joined``,
``session.ended``, ``exception.raised``, ...), each as an SSE event named by
its type with the event as JSON data and its outbox ``seq`` as the SSE id.
A comment line goes out when nothing has for a while. The stream ends when the
client goes; every database read in it is bounded by a timeout.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from typing import Any

from starlette.responses import Response, StreamingResponse

from api.permissions import require_coordinator
from api.routing import Call, Router
from api.services import Services
from core.logging import get_logger
from sessions.ops import Follower, event_json, snapshot

router = Router()
TAGS = ["ops"]
log = get_logger("liveclass.api.ops")


def sse(event: str, data: dict[str, Any], *, id_: int | None = None) -> bytes:
    lines = [f"event: {event}"]
    if id_ is not None:
        lines.append(f"id: {id_}")
    lines.append("data: " + json.dumps(data, separators=(",", ":")))
    return ("\n".join(lines) + "\n\n").encode()


async def _follow(
    services: Services, follower: Follower, first: bytes, principal: str
) -> AsyncIterator[bytes]:
    settings = services.settings
    poll = settings.ops_feed_poll_seconds
    heartbeat = settings.ops_feed_heartbeat_seconds
    read_timeout = max(5.0, 5 * poll)
    yield first
    quiet_since = time.monotonic()
    log.info("ops feed opened", principal=principal)
    try:
        while True:
            events = await follower.poll(services.sessionmaker, timeout=read_timeout)
            for e in events:
                yield sse(e.type, event_json(e), id_=e.seq)
            if events:
                quiet_since = time.monotonic()
            elif time.monotonic() - quiet_since >= heartbeat:
                yield b": heartbeat\n\n"
                quiet_since = time.monotonic()
            await asyncio.sleep(poll)
    finally:
        log.info("ops feed closed", principal=principal)


@router.get("/api/v1/ops/feed", tags=TAGS, media_type="text/event-stream")
async def ops_feed(call: Call) -> Response:
    """Live feed of the organisation's sessions, as Server-Sent Events (coordinators only).

    First a `snapshot` event: `{"at", "seq", "sessions": [{"id", "status",
    "tutor_id", "student_ids", "started_at", "duration_seconds", "present":
    [{"participant_id", "role", "since"}], "recording", "recorded", "not_recorded"}]}`
    for the open and live sessions: `recording` is `recording` while someone whose audio
    is recorded is in the room, else `not recording`; `recorded` lists who is recorded
    since the room opened (or last closed), `not_recorded` who is not and why
    (`[{"participant_id", "reason": "no_consent"}]`). `recording.started`,
    `recording.skipped` and `recording.ready` events follow it live.
    Then one event per domain event of the organisation's sessions as it commits,
    named by its type (`participant.joined`, `session.ended`,
    `exception.raised`, ...), its data the event as JSON, its SSE `id` the
    outbox sequence number. Comment lines (`: heartbeat`) keep an idle stream
    open. Send the usual `Authorization` header.
    """
    p = call.principal
    require_coordinator(p, "follow the ops feed")
    snap = await snapshot(call.db, p.org_id, call.now)
    follower = Follower(org_id=p.org_id, cursor=snap["seq"])
    return StreamingResponse(
        _follow(call.services, follower, sse("snapshot", snap, id_=snap["seq"]), p.id),
        media_type="text/event-stream",
        headers={"cache-control": "no-store", "x-accel-buffering": "no"},
    )
