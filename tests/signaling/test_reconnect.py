"""Reconnection into the same seat, on a real server on 127.0.0.1.

A participant whose WebSocket drops keeps the seat for the grace window: the
others see ``participant.reconnecting``, then ``participant.reconnected`` when
a join with the resume token comes back, and never a leave and a join; the
publications stay, so nobody else is offered anything new; presence keeps
one interval. When the window runs out the participant leaves, as of the
drop. Real bots exchange the media (aiortc peers over loopback).
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from websockets.asyncio.client import ClientConnection, connect

from sessions.models import Presence, PresenceType
from signaling.bot import run_bot
from tests.signaling.test_server import Live, _next, _send, live_app

WAIT = float(os.environ.get("LIVECLASS_TEST_WAIT_FACTOR", "1"))
GRACE = 4.0


@pytest.fixture
async def live(tmp_path: Path) -> AsyncIterator[Live]:
    """The app on a free loopback port (SQLite) with a short grace window."""
    async with live_app(tmp_path, max_participants=3, reconnect_grace_seconds=GRACE) as served:
        yield served


async def _join(
    live: Live, who: str, *, resume: str | None = None, **kw: Any
) -> tuple[ClientConnection, dict[str, Any]]:
    ws = await connect(live.url)
    message: dict[str, Any] = {"session_id": live.world.ids["ses1"], "token": live.token(who, **kw)}
    if resume is not None:
        message["resume_token"] = resume
    await _send(ws, type="join", **message)
    return ws, await _next(ws, "joined")


async def _types(ws: ClientConnection, seconds: float) -> list[str]:
    """Every message type that comes within ``seconds``."""
    seen: list[str] = []
    end = time.monotonic() + seconds
    while (left := end - time.monotonic()) > 0:
        try:
            async with asyncio.timeout(left):
                seen.append(json.loads(await ws.recv())["type"])
        except TimeoutError:
            break
    return seen


async def _presence(live: Live) -> list[tuple[str, PresenceType, str | None]]:
    await live.app.state.signaling.flush_presence()
    async with live.app.state.services.sessionmaker() as db:
        rows = await db.execute(
            select(Presence.participant_id, Presence.type, Presence.reason)
            .where(Presence.session_id == live.world.ids["ses1"])
            .order_by(Presence.at, Presence.id)
        )
        return [tuple(r) for r in rows.all()]  # type: ignore[misc]


async def test_a_drop_then_a_resume_is_reconnecting_then_reconnected(live: Live) -> None:
    """The others never see a leave or a join; presence stays one joined."""
    tutor, _ = await _join(live, "t1", role="tutor")
    student, joined = await _join(live, "s1")
    assert joined["resume_token"] and joined["reconnect_grace_seconds"] == GRACE
    assert joined["resumed"] is False
    await _next(tutor, "participant.joined")
    await student.close()  # no leave: the connection dropped
    dropped = await _next(tutor, "participant.reconnecting")
    assert dropped["participant_id"] == live.world.users["s1"].id
    again, rejoined = await _join(live, "s1", resume=joined["resume_token"])
    assert rejoined["resumed"] is True and rejoined["resume_token"] != joined["resume_token"]
    back = await _next(tutor, "participant.reconnected")
    assert back["participant_id"] == live.world.users["s1"].id
    seen = await _types(tutor, GRACE + 1)  # past the window: the seat was not let go
    assert "participant.left" not in seen and "participant.joined" not in seen, seen
    student_id = live.world.users["s1"].id
    assert [r for r in await _presence(live) if r[0] == student_id] == [
        (student_id, PresenceType.JOINED, None)
    ]
    await again.close()
    await tutor.close()


async def test_the_others_see_the_seat_held_when_they_join(live: Live) -> None:
    """Someone joining while a seat is held sees its holder, marked reconnecting."""
    student, joined = await _join(live, "s1")
    await student.close()
    await asyncio.sleep(0.3)
    tutor, tutor_joined = await _join(live, "t1", role="tutor")
    student_id = live.world.users["s1"].id
    assert [p["participant_id"] for p in tutor_joined["participants"]] == [student_id]
    assert tutor_joined["reconnecting"] == [student_id]
    again, rejoined = await _join(live, "s1", resume=joined["resume_token"])
    assert rejoined["resumed"] is True
    await _next(tutor, "participant.reconnected")
    await again.close()
    await tutor.close()


async def test_the_grace_window_ends_in_a_leave_as_of_the_drop(live: Live) -> None:
    """Not back in time: the others see left (disconnected) right after the window, and the
    old resume token then gets a new seat, announced as a join."""
    tutor, _ = await _join(live, "t1", role="tutor")
    student, joined = await _join(live, "s1")
    await _next(tutor, "participant.joined")
    await student.close()
    await _next(tutor, "participant.reconnecting")
    dropped_at = time.monotonic()
    left = await _next(tutor, "participant.left", timeout=GRACE + 5 * WAIT)
    waited = time.monotonic() - dropped_at
    assert left["reason"] == "disconnected"
    assert GRACE - 0.5 <= waited, waited
    late, rejoined = await _join(live, "s1", resume=joined["resume_token"])
    assert rejoined["resumed"] is False
    await _next(tutor, "participant.joined")
    student_id = live.world.users["s1"].id
    assert [r[1:] for r in await _presence(live) if r[0] == student_id] == [
        (PresenceType.JOINED, None),
        (PresenceType.LEFT, "disconnected"),
        (PresenceType.JOINED, None),
    ]
    await late.close()
    await tutor.close()


async def test_a_wrong_resume_token_replaces_instead(live: Live) -> None:
    """A token that is not the seat's (another device, a stale one) is a new connection:
    the seat's records say replaced, though the others see the same person back."""
    tutor, _ = await _join(live, "t1", role="tutor")
    student, _ = await _join(live, "s1")
    await _next(tutor, "participant.joined")
    await student.close()
    await _next(tutor, "participant.reconnecting")
    again, rejoined = await _join(live, "s1", resume="not-the-token")
    assert rejoined["resumed"] is False
    await _next(tutor, "participant.reconnected")
    student_id = live.world.users["s1"].id
    assert [r[1:] for r in await _presence(live) if r[0] == student_id] == [
        (PresenceType.JOINED, None),
        (PresenceType.LEFT, "replaced"),
        (PresenceType.JOINED, None),
    ]
    await again.close()
    await tutor.close()


async def test_a_room_left_with_only_a_held_seat_closes_after_the_window(live: Live) -> None:
    session = live.world.ids["ses1"]
    student, _ = await _join(live, "s1")
    await student.close()
    await asyncio.sleep(0.5)
    assert session in live.app.state.signaling.rooms  # the seat holds the room open
    async with asyncio.timeout(GRACE + 5 * WAIT):
        while session in live.app.state.signaling.rooms:
            await asyncio.sleep(0.05)


async def test_media_comes_back_through_a_resumed_seat_without_a_new_offer(live: Live) -> None:
    """A bot's connection drops mid-lesson and it comes back with its resume token: the
    other bot keeps receiving its audio and video on the slots it had, with no new offer,
    and the one that came back gets the other's media again."""
    tutor_report = asyncio.create_task(
        run_bot(live.url, live.token("t1", role="tutor"), seconds=25 * WAIT, timeline=True)
    )
    rooms = live.app.state.signaling.rooms
    async with asyncio.timeout(10 * WAIT):
        while live.world.ids["ses1"] not in rooms:
            await asyncio.sleep(0.05)
    student_token = live.token("s1")
    first = await run_bot(live.url, student_token, seconds=4 * WAIT, drop=True)
    assert first.resume_token and first.ok, first.as_dict()
    second = await run_bot(
        live.url, student_token, seconds=4 * WAIT, resume_token=first.resume_token
    )
    assert second.resumed and second.ok, second.as_dict()
    tutor = await tutor_report
    student_id = live.world.users["s1"].id
    seen = [n["type"] for n in tutor.presence if n["participant_id"] == student_id]
    assert seen == [
        "participant.joined",
        "participant.reconnecting",
        "participant.reconnected",
        "participant.left",
    ], tutor.as_dict()
    at = {n["type"]: n["at"] for n in tutor.presence if n["participant_id"] == student_id}
    back_at = at["participant.reconnected"]
    # Offers came when the student's tracks arrived and when it left: none for the drop
    # and the return (the student stayed 4 s after it).
    drop = (at["participant.reconnecting"], at["participant.reconnected"] + 2)
    assert not [t for t in tutor.offers if drop[0] <= t < drop[1]], (tutor.offers, at)
    got = tutor.participants[student_id]
    after = [at for _, at in got["audio_arrivals"] if at > back_at]
    assert len(after) > 50, "no audio from the student after it came back"
    assert any(at > back_at for at, _, _ in got["video_decoded"]), "no video after it came back"


async def test_a_drop_ends_the_screen_share_but_keeps_the_seat(live: Live) -> None:
    """A tutor sharing a screen drops: the student is told the share ended and that the
    tutor is reconnecting (the seat is held with camera and microphone, not the share,
    which the tutor's client starts again on its new connection)."""
    tutor = run_bot(
        live.url,
        live.token("t1", role="tutor"),
        seconds=5 * WAIT,
        share=[(0.5 * WAIT, 60.0)],
        drop=True,
        reconnect=False,
    )
    student = run_bot(live.url, live.token("s1"), seconds=7.5 * WAIT)
    _, s_report = await asyncio.gather(tutor, student)
    tutor_id = live.world.users["t1"].id
    screens = [t["type"] for t in s_report.tracks if t["source"] == "screen"]
    assert screens == ["track.published", "track.unpublished"], s_report.tracks
    assert s_report.participants[tutor_id]["screen"] > 0
    told = [p["type"] for p in s_report.presence if p["participant_id"] == tutor_id]
    assert "participant.reconnecting" in told and "participant.left" not in told, told
