"""The /rtc WebSocket on a real server on 127.0.0.1: joins, refusals, presence, media."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import signal
import socket
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import delete, select, update
from starlette.applications import Starlette
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from api.app import create_app
from core.clock import FixedClock
from scheduling.models import LiveSession, Role, SessionStudent, Student
from scheduling.people import create_person
from sessions.chat import chat_of
from sessions.models import Presence, PresenceType
from sfu import ice
from sfu.bot import BotPeer
from signaling.bot import run_bot
from signaling.protocol import TrackRef
from signaling.tokens import JoinGrant, issue_join_token
from tests.conftest import NOW, SECRET, World, loopback_settings, seed_world
from tests.serving import port_of, serving

LIVECLASS = shutil.which("liveclass", path=str(Path(sys.executable).parent)) or "liveclass"
WAIT = float(os.environ.get("LIVECLASS_TEST_WAIT_FACTOR", "1"))


@dataclass
class Live:
    url: str
    app: Starlette
    world: World

    def token(
        self, who: str, session: str = "ses1", *, participant_id: str | None = None, **kw: Any
    ) -> str:
        grant = JoinGrant(
            session_id=kw.get("session_id", self.world.ids.get(session, session)),
            participant_id=participant_id or self.world.users[who].id,
            role=kw.get("role", "student"),
            name=f"Person {who}",
            expires_at=kw.get("expires_at", NOW + timedelta(hours=3)),
        )
        return issue_join_token(grant, secret=kw.get("secret", SECRET), now=NOW)


@asynccontextmanager
async def live_app(tmp_path: Path, **settings: Any) -> AsyncIterator[Live]:
    """The app on a free loopback port (SQLite), ICE confined to 127.0.0.1, with
    ``settings`` over the test defaults."""
    config = await loopback_settings(
        f"sqlite+aiosqlite:///{tmp_path / 'rtc.db'}", tmp_path / "var", **settings
    )
    app = create_app(config, clock=FixedClock(NOW))
    world = await seed_world(app, NOW)
    async with serving(app) as server:
        yield Live(url=f"ws://127.0.0.1:{port_of(server)}/rtc", app=app, world=world)


@pytest.fixture
async def live(tmp_path: Path) -> AsyncIterator[Live]:
    """Quick to give up: a join waits 1 s, a dropped seat is let go after 1 s
    (tests/signaling/test_reconnect.py has the longer window). s2 is booked into
    ses1 too, so that a third participant may join it."""
    async with live_app(
        tmp_path, join_timeout_seconds=1.0, max_participants=3, reconnect_grace_seconds=1.0
    ) as served:
        await book_into_ses1(served, "s2")
        yield served


async def book_into_ses1(live: Live, *students: str) -> None:
    """Add students to ses1 as a coordinator would (a join checks the booking)."""
    async with live.app.state.services.sessionmaker() as db, db.begin():
        for who in students:
            db.add(
                SessionStudent(session_id=live.world.ids["ses1"], student_id=live.world.ids[who])
            )


async def _send(ws: ClientConnection, **message: Any) -> None:
    await ws.send(json.dumps(message))


async def _next(ws: ClientConnection, type_: str, timeout: float = 5) -> dict[str, Any]:
    """The next message of ``type_``, skipping others."""
    async with asyncio.timeout(timeout):
        while True:
            msg = json.loads(await ws.recv())
            if msg["type"] == type_:
                return msg  # type: ignore[no-any-return]


async def _refused(url: str, first: str | bytes | None) -> tuple[dict[str, Any], int]:
    """Send one first frame (or nothing) and return the error and the close code."""
    async with connect(url) as ws:
        if first is not None:
            await ws.send(first)
        error = json.loads(await ws.recv())
        with pytest.raises(ConnectionClosed) as closed:
            await ws.recv()
    assert closed.value.rcvd is not None
    return error, closed.value.rcvd.code


async def test_bad_first_messages_are_refused_with_reasons(live: Live) -> None:
    """Non-JSON and a wrong first message get an error, then close 4400."""
    for first, code in (("hello", "invalid_json"), (json.dumps({"type": "ping"}), "not_joined")):
        error, close = await _refused(live.url, first)
        assert (error["type"], error["code"], close) == ("error", code, 4400)


@pytest.mark.parametrize("size", [65_537, 20_000_000], ids=["just-over", "20MB"])
async def test_a_frame_over_the_limit_is_refused_before_it_is_read(live: Live, size: int) -> None:
    """Past LIVECLASS_MAX_MESSAGE_BYTES (64 KiB here) the web server closes the socket with
    1009 from the frame's header: a 20 MB frame is refused as quickly as a 64 KiB one,
    logged in or not."""
    async with connect(live.url, max_size=None) as ws:
        with contextlib.suppress(ConnectionClosed):
            await ws.send("x" * size)
        with pytest.raises(ConnectionClosed) as closed:
            await asyncio.wait_for(ws.recv(), 10 * WAIT)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1009


@pytest.mark.parametrize(
    ("token_kw", "join_session", "code", "close"),
    [
        (None, "ses1", "join_token_missing", 4401),
        ({"expires_at": NOW - timedelta(seconds=1)}, "ses1", "join_token_expired", 4401),
        ({"secret": "f" * 40}, "ses1", "join_token_invalid", 4401),
        ({}, "ses2", "join_token_wrong_session", 4401),
        ({"session_id": "ses_nothere"}, "ses_nothere", "session_not_found", 4404),
    ],
    ids=["missing", "expired", "forged", "other-session", "no-such-session"],
)
async def test_bad_tokens_are_refused(
    live: Live, token_kw: dict[str, Any] | None, join_session: str, code: str, close: int
) -> None:
    """Missing, expired, forged and other-session tokens, and unknown sessions, are refused."""
    token = "" if token_kw is None else live.token("s1", **token_kw)
    session_id = live.world.ids.get(join_session, join_session)
    error, closed = await _refused(
        live.url, json.dumps({"type": "join", "session_id": session_id, "token": token})
    )
    assert (error["code"], closed) == (code, close)


async def test_a_valid_token_of_someone_taken_off_the_session_is_refused(live: Live) -> None:
    """Tokens outlive bookings: once t2 stands in for t1 and s1 is taken off ses1, their
    still-valid tokens are refused with a reason, and the new tutor's is accepted."""
    ses1 = live.world.ids["ses1"]
    async with live.app.state.services.sessionmaker() as db, db.begin():
        await db.execute(
            update(LiveSession).where(LiveSession.id == ses1).values(tutor_id=live.world.ids["t2"])
        )
        await db.execute(
            delete(SessionStudent).where(
                SessionStudent.session_id == ses1,
                SessionStudent.student_id == live.world.ids["s1"],
            )
        )
    for who, role in (("t1", "tutor"), ("s1", "student")):
        error, closed = await _refused(
            live.url,
            json.dumps({"type": "join", "session_id": ses1, "token": live.token(who, role=role)}),
        )
        assert (error["code"], closed) == ("not_a_participant", 4401), who
        assert f"no longer this session's {role}" in error["message"]
    ws, joined = await _join(live, "t2", role="tutor")
    assert joined["participant_id"] == live.world.users["t2"].id
    await ws.close()


async def test_join_timeout_closes_a_silent_connection(live: Live) -> None:
    """A connection that never sends join is closed with 4408."""
    error, close = await _refused(live.url, None)
    assert (error["code"], close) == ("join_timeout", 4408)


async def _join(live: Live, who: str, **kw: Any) -> tuple[ClientConnection, dict[str, Any]]:
    ws = await connect(live.url)
    await _send(ws, type="join", session_id=live.world.ids["ses1"], token=live.token(who, **kw))
    joined = await _next(ws, "joined")
    return ws, joined


async def test_errors_after_join_leave_the_connection_working(live: Live) -> None:
    """Bad messages and a bad answer get errors; the connection still negotiates and answers."""
    ws, joined = await _join(live, "s1")
    assert joined["participant_id"] == live.world.users["s1"].id and joined["ice_servers"] == []
    offer = await _next(ws, "offer")  # the SFU offers first: our two publish slots
    assert [(t["kind"], t["publish"]) for t in offer["tracks"]] == [
        ("audio", True),
        ("video", True),
    ]
    for message, code in (
        ({"type": "dance"}, "unknown_type"),
        ({"type": "offer", "sdp": "v=0"}, "offer_not_accepted"),
        ({"type": "join", "session_id": "x", "token": "y"}, "already_joined"),
        ({"type": "ice", "candidate": "candidate:garbage"}, "invalid_candidate"),
        ({"type": "answer", "sdp": "not sdp at all"}, "negotiation_failed"),
        ({"type": "answer", "sdp": "v=0"}, "unexpected_answer"),  # nothing pending after that
    ):
        await _send(ws, **message)
        assert (await _next(ws, "error"))["code"] == code, message
    await _send(ws, type="ping")
    await _next(ws, "pong")
    offer = await _next(ws, "offer")  # after a bad answer the SFU offers again
    bot = BotPeer(ice_servers=[])
    await _send(
        ws,
        type="answer",
        sdp=await bot.answer_offer(offer["sdp"], [TrackRef(**t) for t in offer["tracks"]]),
    )
    peer = live.app.state.signaling.rooms[live.world.ids["ses1"]].room.peers[
        live.world.users["s1"].id
    ]
    async with asyncio.timeout(10):
        await peer.connected.wait()
    await bot.aclose()
    await ws.close()


async def test_presence_joined_left_and_mute(live: Live) -> None:
    """Others see a participant arrive, mute and leave (and why they left)."""
    tutor, _ = await _join(live, "t1", role="tutor")
    student, joined = await _join(live, "s1")
    assert [p["participant_id"] for p in joined["participants"]] == [live.world.users["t1"].id]
    arrived = await _next(tutor, "participant.joined")
    assert arrived["participant"] == {
        "participant_id": live.world.users["s1"].id,
        "role": "student",
        "name": "Person s1",
        "audio_muted": False,
        "video_muted": False,
    }
    await _send(student, type="mute", kind="audio", muted=True)
    muted = await _next(tutor, "mute")
    assert (muted["participant_id"], muted["kind"], muted["muted"]) == (
        live.world.users["s1"].id,
        "audio",
        True,
    )
    await _send(student, type="leave")
    left = await _next(tutor, "participant.left")
    assert (left["participant_id"], left["reason"]) == (live.world.users["s1"].id, "left")
    again, _ = await _join(live, "s1")
    await _next(tutor, "participant.joined")
    await again.close()  # no leave message: a dropped connection
    dropped = await _next(tutor, "participant.left")
    assert dropped["reason"] == "disconnected"
    await tutor.close()


async def test_a_killed_client_leaves_the_room(live: Live, tmp_path: Path) -> None:
    """A client process killed by SIGKILL (no close frame) leaves: others are told, the
    presence record says so, and the room empties when the last one goes."""
    session = live.world.ids["ses1"]
    tutor, _ = await _join(live, "t1", role="tutor")
    env = {k: v for k, v in os.environ.items() if not k.startswith("LIVECLASS_")}
    env.update(LIVECLASS_ICE_ADDRESSES="127.0.0.1", LIVECLASS_DATA_DIR=str(tmp_path / "bot"))
    bot = await asyncio.create_subprocess_exec(
        LIVECLASS, "bot", "--url", live.url, "--token", live.token("s1"),
        "--seconds", "120", "--publish", "synthetic",
        env=env, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
    )  # fmt: skip
    try:
        arrived = await _next(tutor, "participant.joined", timeout=60 * WAIT)
        assert arrived["participant"]["participant_id"] == live.world.users["s1"].id
        await _next(tutor, "track.published", timeout=60 * WAIT)
    finally:
        bot.kill()
        await bot.wait()
    assert bot.returncode == -signal.SIGKILL
    left = await _next(tutor, "participant.left", timeout=30 * WAIT)
    assert (left["participant_id"], left["reason"]) == (live.world.users["s1"].id, "disconnected")
    state = live.app.state.signaling.rooms[session]
    assert list(state.connections) == [live.world.users["t1"].id]
    assert list(state.room.peers) == [live.world.users["t1"].id]
    await live.app.state.signaling.flush_presence()
    async with live.app.state.services.sessionmaker() as db:
        records = (
            await db.execute(
                select(Presence.participant_id, Presence.type, Presence.reason)
                .where(Presence.session_id == session)
                .order_by(Presence.at, Presence.id)
            )
        ).all()
    student = live.world.users["s1"].id
    assert (student, PresenceType.LEFT, "disconnected") in records
    await tutor.close()
    async with asyncio.timeout(10 * WAIT):
        while session in live.app.state.signaling.rooms:
            await asyncio.sleep(0.05)


async def test_joining_twice_replaces_the_old_connection(live: Live) -> None:
    """The same participant joining again takes over; nobody sees them leave or appear twice."""
    tutor, _ = await _join(live, "t1", role="tutor")
    first, _ = await _join(live, "s1")
    await _next(tutor, "participant.joined")
    second, joined = await _join(live, "s1")
    with pytest.raises(ConnectionClosed) as closed:
        await _next(first, "never")
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 4409
    assert [p["participant_id"] for p in joined["participants"]] == [live.world.users["t1"].id]
    await _send(tutor, type="ping")
    async with asyncio.timeout(5):
        while (msg := json.loads(await tutor.recv()))["type"] != "pong":
            assert msg["type"] not in ("participant.left", "participant.joined"), msg
    state = live.app.state.signaling.rooms[live.world.ids["ses1"]]
    assert len(state.connections) == 2
    await second.close()
    await tutor.close()


async def test_room_full(live: Live) -> None:
    """Past the participant cap, a join is refused with room_full and 4429."""
    async with live.app.state.services.sessionmaker() as db, db.begin():
        s3 = await create_person(
            db,
            Role.STUDENT,
            org_id=live.world.ids["orgA"],
            email="s3@schoola.example.org",
            display_name="Person s3",
            password_hash=None,
            now=NOW,
            level="gcse",
        )
        db.add(SessionStudent(session_id=live.world.ids["ses1"], student_id=s3))
        user_id = (await db.get_one(Student, s3)).user_id
    conns = [await _join(live, who) for who in ("s1", "s2")]
    conns.append(await _join(live, "t1", role="tutor"))
    token = live.token("s1", participant_id=user_id)
    error, close = await _refused(
        live.url, json.dumps({"type": "join", "session_id": live.world.ids["ses1"], "token": token})
    )
    assert (error["code"], close) == ("room_full", 4429)
    for ws, _ in conns:
        await ws.close()


async def test_two_bots_exchange_media_while_a_third_client_misbehaves(live: Live) -> None:
    """Bots get each other's audio and video; bad input from another client disturbs nobody."""

    async def misbehave() -> list[str]:
        ws, _ = await _join(live, "s2")
        await _next(ws, "offer")
        junk = ("{", json.dumps({"type": "answer", "sdp": "v=0"}), json.dumps({"type": "x"}))
        for raw in junk:
            await ws.send(raw)
        # The bad answer's error comes from the negotiator, so it may arrive out of order.
        codes = [(await _next(ws, "error"))["code"] for _ in junk]
        with contextlib.suppress(ConnectionClosed):
            await ws.send("x" * 70_000)  # over the limit: the server closes this socket
        with pytest.raises(ConnectionClosed) as closed:
            await _next(ws, "error")
        assert closed.value.rcvd is not None
        codes.append(str(closed.value.rcvd.code))
        return sorted(codes)

    tutor = run_bot(live.url, live.token("t1", role="tutor"), seconds=60 * WAIT, media_seconds=3)
    student = run_bot(live.url, live.token("s1"), seconds=60 * WAIT, media_seconds=3)
    t_report, s_report, codes = await asyncio.gather(tutor, student, misbehave())
    assert codes == sorted(["invalid_json", "negotiation_failed", "1009", "unknown_type"])
    for report, other in ((t_report, "s1"), (s_report, "t1")):
        assert report.ok, report.as_dict()
        got = report.participants[live.world.users[other].id]
        assert got["audio"] > 50 and got["video"] > 15
        assert report.errors == []


async def test_a_shared_screen_reaches_the_other_participant_and_stops(live: Live) -> None:
    """The tutor shares a screen twice (the second time into the same slot, with no new
    offer for the tutor): the student is told each start and stop, gets the screen's
    frames apart from the camera's, and gets none after the last stop."""
    tutor = run_bot(
        live.url,
        live.token("t1", role="tutor"),
        seconds=14 * WAIT,
        share=[(0.5 * WAIT, 5 * WAIT), (7 * WAIT, 10 * WAIT)],
    )
    student = run_bot(live.url, live.token("s1"), seconds=14 * WAIT)
    t_report, s_report = await asyncio.gather(tutor, student)
    tutor_id = live.world.users["t1"].id
    screens = [t for t in s_report.tracks if t["source"] == "screen"]
    assert [(t["type"], t["participant_id"]) for t in screens] == [
        ("track.published", tutor_id),
        ("track.unpublished", tutor_id),
        ("track.published", tutor_id),
        ("track.unpublished", tutor_id),
    ], s_report.tracks
    got = s_report.participants[tutor_id]
    assert got["screen"] > 15 and got["video"] > 15, got
    # The second share flowed, and the last stop stopped it (what was in flight aside).
    assert screens[2]["at"] < got["last_screen_at"] < screens[3]["at"] + 1.0
    assert t_report.participants[live.world.users["s1"].id]["screen"] == 0
    # The second share reused the slot: no offer to the tutor once the first share ended.
    assert [at for at in t_report.offers if at > screens[1]["at"]] == []
    assert s_report.errors == [] and t_report.errors == []


async def test_everyone_is_told_who_is_speaking(live: Live) -> None:
    """Clients hear that the bot sending its tone is active speaker, then nobody once it leaves.

    The other bot sends silence (a muted microphone) and is never named. A
    client joining while the bot speaks is told at once, after ``joined``.
    """
    speaker = live.world.users["t1"].id
    # The quiet bot stays on after the loud one leaves, to hear that nobody speaks.
    loud = asyncio.create_task(
        run_bot(live.url, live.token("t1", role="tutor"), seconds=60 * WAIT, media_seconds=2)
    )
    quiet = asyncio.create_task(
        run_bot(live.url, live.token("s1"), seconds=60 * WAIT, media_seconds=4, silent=True)
    )
    rooms = live.app.state.signaling.rooms
    async with asyncio.timeout(60 * WAIT):
        while (state := rooms.get(live.world.ids["ses1"])) is None or (
            state.room.active_speaker != speaker
        ):
            await asyncio.sleep(0.05)
    newcomer, _ = await _join(live, "s2")
    assert (await _next(newcomer, "active_speaker"))["participant_id"] == speaker
    assert (await _next(newcomer, "active_speaker", timeout=10))["participant_id"] is None
    loud_report, quiet_report = await asyncio.gather(loud, quiet)
    assert quiet_report.active_speakers == [speaker, None]
    assert loud_report.active_speakers == [speaker]  # the speaker is told too
    assert loud_report.ok and quiet_report.ok
    await newcomer.close()


async def test_no_free_ice_port_is_told_and_the_client_may_rejoin_later(live: Live) -> None:
    """With LIVECLASS_ICE_PORT_RANGE full, the participant gets an error and close 1013."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as taken:
        taken.bind(("127.0.0.1", 0))
        port = taken.getsockname()[1]
        ice.confine(["127.0.0.1"], (port, port))
        ws, _ = await _join(live, "s1")
        error = await _next(ws, "error")
        assert error["code"] == "ice_ports_exhausted"
        assert "LIVECLASS_ICE_PORT_RANGE" in error["message"]
        with pytest.raises(ConnectionClosed) as closed:
            await _next(ws, "never")
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 1013


def _samples(text: str, name: str) -> dict[frozenset[tuple[str, str]], float]:
    """``name``'s samples in a Prometheus text exposition, by their labels."""
    out = {}
    for line in text.splitlines():
        if line.startswith(name + "{"):
            labels, _, value = line[len(name) + 1 :].rpartition("} ")
            pairs = (part.split("=", 1) for part in labels.split(","))
            out[frozenset((k, v.strip('"')) for k, v in pairs)] = float(value)
    return out


def _labels(**labels: str) -> frozenset[tuple[str, str]]:
    return frozenset(labels.items())


async def test_a_live_rooms_media_is_on_metrics(live: Live) -> None:
    """While two bots exchange media, /metrics shows each leg; the series go with the room."""
    metrics_url = live.url.replace("ws://", "http://").replace("/rtc", "/metrics")
    tutor = asyncio.create_task(
        run_bot(live.url, live.token("t1", role="tutor"), seconds=60 * WAIT, media_seconds=4)
    )
    student = asyncio.create_task(
        run_bot(live.url, live.token("s1"), seconds=60 * WAIT, media_seconds=4)
    )
    t1, s1 = live.world.users["t1"].id, live.world.users["s1"].id
    session = live.world.ids["ses1"]
    async with httpx.AsyncClient() as client:
        deadline = asyncio.get_running_loop().time() + 30 * WAIT
        while True:
            text = (await client.get(metrics_url)).text
            sent = _samples(text, "liveclass_media_packets_sent_total")
            if len([v for v in sent.values() if v > 0]) == 4:  # two legs, audio and video each
                break
            assert asyncio.get_running_loop().time() < deadline, text
            await asyncio.sleep(0.2)
        leg = _labels(room=session, participant=s1, publisher=t1, kind="video", source="camera")
        assert sent[leg] > 0
        received = _samples(text, "liveclass_media_packets_received_total")
        assert received[_labels(room=session, participant=t1, kind="video", source="camera")] > 0
        assert leg in _samples(text, "liveclass_media_nacks_received_total")
        assert _samples(text, "liveclass_media_nacks_unrepairable_total")[leg] == 0  # clean link
        # The bot publishes three temporal layers; a clean link is sent all of them.
        layers = _samples(text, "liveclass_media_layer_payload_bytes_received_total")
        for n in range(3):
            labels = _labels(
                room=session, participant=t1, kind="video", source="camera", layer=str(n)
            )
            assert layers[labels] > 0, (n, layers)
        assert _samples(text, "liveclass_media_video_layer")[leg] == 2
        assert _samples(text, "liveclass_media_packets_thinned_total")[leg] == 0
        await asyncio.gather(tutor, student)
        deadline = asyncio.get_running_loop().time() + 10 * WAIT
        while True:  # the room closes once both have left
            text = (await client.get(metrics_url)).text
            if not _samples(text, "liveclass_media_packets_sent_total"):
                break
            assert asyncio.get_running_loop().time() < deadline, "media series outlived the room"
            await asyncio.sleep(0.2)
    assert "liveclass_media_first_packet_seconds_count 2.0" in text


async def test_everyone_is_told_each_connections_quality(live: Live) -> None:
    """Two bots on loopback: each hears, for itself and the other, a rating from the SFU's
    measurements; a clean loopback link rates excellent. The ratings judged are the last
    ones from before the other left: the bot that stays a moment longer is rated alone
    after that, as it should be."""
    tutor, student = await asyncio.gather(
        run_bot(live.url, live.token("t1", role="tutor"), seconds=60 * WAIT, media_seconds=5),
        run_bot(live.url, live.token("s1"), seconds=60 * WAIT, media_seconds=5),
    )
    ids = {live.world.users["t1"].id, live.world.users["s1"].id}
    for report in (tutor, student):
        left = [p["at"] for p in report.presence if p["type"] == "participant.left"]
        together = [q for q in report.quality if q["at"] < min(left, default=float("inf"))]
        assert together, report.as_dict()
        last = together[-1]["ratings"]
        assert set(last) == ids, report.quality
        assert set(last.values()) == {"excellent"}, report.quality


async def test_chat_reaches_everyone_is_kept_for_newcomers_and_recorded(live: Live) -> None:
    """A chat message goes to everyone (the sender too, as the room saw it), a newcomer's
    joined carries what was said before, the session's record keeps it for the review,
    and a flood is refused with a reason while the connection stays."""
    tutor, _ = await _join(live, "t1", role="tutor")
    await _send(tutor, type="chat", text="  Open the worksheet on page 12, please.  ")
    echo = await _next(tutor, "chat")
    assert echo["text"] == "Open the worksheet on page 12, please."
    assert (echo["name"], echo["role"]) == ("Person t1", "tutor")
    student, joined = await _join(live, "s1")
    assert [c["text"] for c in joined["chat"]] == [echo["text"]]
    await _send(student, type="chat", text="<b>ok</b>")
    heard = await _next(tutor, "chat")
    assert heard["text"] == "<b>ok</b>" and heard["participant_id"] == live.world.users["s1"].id
    await _send(student, type="chat", text="   ")
    assert (await _next(student, "error"))["code"] == "invalid_message"
    await _send(student, type="chat", text="x" * 501)
    assert (await _next(student, "error"))["code"] == "invalid_message"
    for n in range(6):  # one already sent: the sixth in a row is too fast
        await _send(student, type="chat", text=f"spam {n}")
    assert (await _next(student, "error"))["code"] == "chat_too_fast"

    services = live.app.state.services
    async with asyncio.timeout(10 * WAIT):
        while True:
            async with services.sessionmaker() as db:
                lines = await chat_of(db, live.world.ids["ses1"])
            if len(lines) >= 6:
                break
            await asyncio.sleep(0.1)
    assert [line.text for line in lines[:2]] == [echo["text"], "<b>ok</b>"]
    assert lines[0].id == echo["id"] and lines[0].role == "tutor"
    await tutor.close()
    await student.close()


async def test_the_tutor_ends_the_lesson_and_everyone_is_let_go(live: Live) -> None:
    """From the lesson page (its join token): a student may not; the tutor may. The
    session ends, and every connection closes with 4410 (clients do not rejoin): each
    leaves with reason ended, never reconnecting."""
    tutor, _ = await _join(live, "t1", role="tutor")
    student, _ = await _join(live, "s1")
    ses = live.world.ids["ses1"]
    services = live.app.state.services
    async with asyncio.timeout(10 * WAIT):  # the first join makes the session live
        while True:
            async with services.sessionmaker() as db:
                status = (await db.get(LiveSession, ses)).status  # type: ignore[union-attr]
            if status.value == "live":
                break
            await asyncio.sleep(0.1)
    base = live.url.replace("ws://", "http://").removesuffix("/rtc")
    path = f"/api/v1/sessions/{ses}/lesson/end"
    async with httpx.AsyncClient(base_url=base) as http:
        refused = await http.post(path, headers={"x-join-token": live.token("s1")})
        assert refused.status_code == 403, refused.text
        done = await http.post(path, headers={"x-join-token": live.token("t1", role="tutor")})
        assert done.status_code == 200, done.text
        assert done.json()["status"] == "ended"
    for ws in (student, tutor):
        with pytest.raises(ConnectionClosed) as closed:
            async with asyncio.timeout(5 * WAIT):
                while True:
                    await ws.recv()
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 4410
    async with asyncio.timeout(10 * WAIT):
        while True:
            async with services.sessionmaker() as db:
                left = list(
                    await db.scalars(
                        select(Presence).where(
                            Presence.session_id == ses, Presence.type == PresenceType.LEFT
                        )
                    )
                )
            if len(left) >= 2:
                break
            await asyncio.sleep(0.1)
    assert {p.reason for p in left} == {"ended"}
