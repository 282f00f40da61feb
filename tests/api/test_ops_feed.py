"""The coordinators' ops feed over a real server: a snapshot, then events as they commit."""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest
import uvicorn
from starlette.applications import Starlette

from api.settings import Settings
from sessions.documentation import record_recording_decision
from sessions.events import record
from sessions.models import PresenceType
from sessions.ops import snapshot
from sessions.service import record_presence
from sessions.session_exceptions import detect_due
from tests.conftest import NOW, World
from tests.serving import port_of, serving

WAIT = float(os.environ.get("LIVECLASS_TEST_WAIT_FACTOR", "1"))
SES_START = NOW + timedelta(hours=1)


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """Poll and beat fast, so the test sees events and heartbeats within moments."""
    return settings.model_copy(
        update={"ops_feed_poll_seconds": 0.05, "ops_feed_heartbeat_seconds": 0.3}
    )


@asynccontextmanager
async def serving_feed(app: Starlette) -> AsyncIterator[tuple[str, uvicorn.Server]]:
    """Serve ``app`` on a free loopback port; yield its base URL and the server."""
    async with serving(app, lifespan="off") as server:
        yield f"http://127.0.0.1:{port_of(server)}", server


class Feed:
    """Reads SSE events (and comment lines) from a streaming response."""

    def __init__(self, response: httpx.Response) -> None:
        self._lines = response.aiter_lines()

    async def next(self) -> tuple[str, dict[str, Any]]:
        event, data = "message", ""
        async with asyncio.timeout(5 * WAIT):
            async for line in self._lines:
                if line.startswith("event: "):
                    event = line.removeprefix("event: ")
                elif line.startswith("data: "):
                    data = line.removeprefix("data: ")
                elif line == "" and data:
                    return event, json.loads(data)
        raise AssertionError("the feed ended")

    async def comment(self) -> str:
        async with asyncio.timeout(5 * WAIT):
            async for line in self._lines:
                if line.startswith(":"):
                    return line
        raise AssertionError("the feed ended")

    async def until(self, type_: str) -> dict[str, Any]:
        while True:
            event, data = await self.next()
            if event == type_:
                return data


async def _join(app: Starlette, world: World, session: str, who: str, at: datetime) -> None:
    async with app.state.services.sessionmaker() as db, db.begin():
        await record_presence(
            db,
            session_id=world.ids[session],
            participant_id=world.users[who].id,
            role="tutor" if who.startswith("t") else "student",
            type_=PresenceType.JOINED,
            at=at,
        )


async def test_coordinator_sees_the_snapshot_then_joins_and_exceptions_as_they_commit(
    app: Starlette, world: World
) -> None:
    await _join(app, world, "ses1", "t1", NOW)  # live before the coordinator connects
    async with (
        serving_feed(app) as (url, server),
        httpx.AsyncClient(base_url=url, timeout=5 * WAIT) as http,
    ):
        async with http.stream("GET", "/api/v1/ops/feed", headers=world.as_("coord")) as r:
            assert r.status_code == 200
            assert r.headers["content-type"].startswith("text/event-stream")
            feed = Feed(r)
            event, snapshot = await feed.next()
            assert event == "snapshot"
            [ses1] = snapshot["sessions"]  # org A's only session in progress; none of org B's
            assert ses1["id"] == world.ids["ses1"] and ses1["status"] == "live"
            assert [p["participant_id"] for p in ses1["present"]] == [world.users["t1"].id]
            assert ses1["recording"] == "not recording" and ses1["duration_seconds"] == 0

            await _join(app, world, "sesB", "sB", NOW)  # another organisation's: not shown
            await _join(app, world, "ses1", "s1", NOW + timedelta(minutes=1))
            joined = await feed.until("participant.joined")
            assert joined["session_id"] == world.ids["ses1"]
            assert joined["payload"]["participant_id"] == world.users["s1"].id

            await _join(app, world, "ses2", "s2", SES_START)  # t2 never comes
            async with app.state.services.sessionmaker() as db, db.begin():
                await detect_due(
                    db,
                    SES_START + timedelta(minutes=10),
                    tutor_no_show_after=timedelta(minutes=10),
                    recording_wait=timedelta(minutes=10),
                )
            seen = []
            while True:
                event, data = await feed.next()
                seen.append((event, data["session_id"]))
                if event == "exception.raised":
                    break
            assert data["payload"]["kind"] == "tutor_no_show"
            assert data["payload"]["tutor_id"] == world.ids["t2"]
            assert all(s != world.ids["sesB"] for _, s in seen)
            assert ("session.started", world.ids["ses2"]) in seen

            assert await feed.comment() == ": heartbeat"  # quiet now: it keeps the line open
        # The client has gone: the server drops the stream and has no connection left.
        async with asyncio.timeout(5 * WAIT):
            while server.server_state.connections:
                await asyncio.sleep(0.05)


async def test_only_coordinators_may_follow_the_feed(app: Starlette, world: World) -> None:
    async with serving_feed(app) as (url, _), httpx.AsyncClient(base_url=url) as http:
        r = await http.get("/api/v1/ops/feed", headers=world.as_("t1"))
        assert r.status_code == 403
        assert r.json()["error"]["code"] == "permission_denied"
        assert (await http.get("/api/v1/ops/feed")).status_code == 401


async def test_the_snapshot_says_whether_each_room_records_and_whom_it_does_not(
    app: Starlette, world: World
) -> None:
    """From the recorder's events: recording while someone recorded is in the room, the
    student without consent named; a closed part (recording.ready) starts anew."""
    sid = world.ids["ses1"]
    await _join(app, world, "ses1", "t1", NOW)
    await _join(app, world, "ses1", "s1", NOW)
    tutor, student = world.users["t1"].id, world.users["s1"].id

    async def status() -> dict[str, Any]:
        async with app.state.services.sessionmaker() as db:
            [room] = (await snapshot(db, world.ids["orgA"], NOW))["sessions"]
        return {k: room[k] for k in ("recording", "recorded", "not_recorded")}

    assert await status() == {"recording": "not recording", "recorded": [], "not_recorded": []}
    async with app.state.services.sessionmaker() as db, db.begin():
        await record_recording_decision(db, sid, tutor, "tutor", True, now=NOW)
        await record_recording_decision(db, sid, student, "student", False, now=NOW)
    assert await status() == {
        "recording": "recording",
        "recorded": [tutor],
        "not_recorded": [{"participant_id": student, "reason": "no_consent"}],
    }
    async with app.state.services.sessionmaker() as db, db.begin():
        record(db, "recording.ready", session_id=sid, at=NOW, payload={"tracks": []})
    assert await status() == {"recording": "not recording", "recorded": [], "not_recorded": []}
