"""The signaling edge under a client that misbehaves: limits a real socket can feel.

Each test talks to the served app over loopback WebSockets, as a browser would:
only a token for a real participant gets in, leaving always completes (five
sockets closing at once included), and one client's flood of messages, mute
toggles, ICE candidates or half-open sockets costs the others nothing.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, update
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from scheduling.models import Role, SessionStudent, Student, User
from scheduling.people import create_person
from sessions.models import Presence, PresenceType
from tests.signaling.test_server import NOW, WAIT, Live, live_app

EXTRA = ("s3", "s4", "s5")


@pytest.fixture
async def room(tmp_path: Path) -> AsyncIterator[Live]:
    """ses1 with six participants allowed: t1, s1, and s2..s5 booked into it too."""
    async with live_app(
        tmp_path, join_timeout_seconds=5.0, max_participants=6, reconnect_grace_seconds=0.5
    ) as live:
        async with live.app.state.services.sessionmaker() as db, db.begin():
            students = [live.world.ids["s2"]]
            for who in EXTRA:
                student_id = await create_person(
                    db,
                    Role.STUDENT,
                    org_id=live.world.ids["orgA"],
                    email=f"{who}@schoola.example.org",
                    display_name=f"Person {who}",
                    password_hash=None,
                    now=NOW,
                    level="gcse",
                )
                live.world.ids[who] = student_id
                student = await db.get_one(Student, student_id)
                live.world.users[who] = await db.get_one(User, student.user_id)
                students.append(student_id)
            for student_id in students:
                db.add(SessionStudent(session_id=live.world.ids["ses1"], student_id=student_id))
        yield live


async def _send(ws: ClientConnection, **message: Any) -> None:
    await ws.send(json.dumps(message))


async def _next(ws: ClientConnection, type_: str, timeout: float = 5) -> dict[str, Any]:
    async with asyncio.timeout(timeout * WAIT):
        while True:
            msg = json.loads(await ws.recv())
            if msg["type"] == type_:
                return msg  # type: ignore[no-any-return]


async def _join(live: Live, who: str, **kw: Any) -> ClientConnection:
    ws = await connect(live.url)
    role = "tutor" if who.startswith("t") else "student"
    await _send(
        ws,
        type="join",
        session_id=live.world.ids["ses1"],
        token=live.token(who, role=role, **kw),
    )
    await _next(ws, "joined")
    return ws


async def _refusal(live: Live, token: str) -> tuple[str, int]:
    async with connect(live.url) as ws:
        await _send(ws, type="join", session_id=live.world.ids["ses1"], token=token)
        error = json.loads(await ws.recv())
        with pytest.raises(ConnectionClosed) as closed:
            await ws.recv()
    assert closed.value.rcvd is not None
    return error["code"], closed.value.rcvd.code


@pytest.mark.parametrize("role", ["tutor", "student", "guardian", "coordinator"])
async def test_a_signed_token_for_a_user_who_does_not_exist_admits_nobody(
    room: Live, role: str
) -> None:
    """The token is genuine (our secret signed it) but names no user: refused, whatever the
    role, as is a real user who was deactivated or who holds another role."""
    token = room.token("s1", role=role, participant_id="usr_nobody")
    assert await _refusal(room, token) == ("not_a_participant", 4401)
    assert await _refusal(room, room.token("coord", role="student")) == ("not_a_participant", 4401)
    assert await _refusal(room, room.token("s1", role="tutor")) == ("not_a_participant", 4401)
    async with room.app.state.services.sessionmaker() as db, db.begin():
        await db.execute(
            update(User).where(User.id == room.world.users["s1"].id).values(is_active=False)
        )
    assert await _refusal(room, room.token("s1")) == ("not_a_participant", 4401)


async def _left_records(live: Live) -> list[str]:
    async with live.app.state.services.sessionmaker() as db:
        rows = await db.scalars(
            select(Presence.participant_id).where(
                Presence.session_id == live.world.ids["ses1"], Presence.type == PresenceType.LEFT
            )
        )
        return sorted(rows)


@pytest.mark.parametrize("how", ["close", "leave", "vanish"])
async def test_five_sockets_closing_at_once_all_leave_and_the_sixth_is_told(
    room: Live, how: str
) -> None:
    """Five participants' sockets close in the same instant (with a close frame, after a
    leave, or vanishing with none): each one's left record is written and the participant
    who stays is told of all five."""
    stayer = await _join(room, "t1")
    leavers = {who: await _join(room, who) for who in ("s1", "s2", *EXTRA)}
    ids = sorted(room.world.users[who].id for who in leavers)
    if how == "vanish":
        for ws in leavers.values():
            ws.transport.abort()
    else:
        if how == "leave":
            await asyncio.gather(*(_send(ws, type="leave") for ws in leavers.values()))
        await asyncio.gather(*(ws.close() for ws in leavers.values()))
    told: set[str] = set()
    async with asyncio.timeout(15 * WAIT):
        while len(told) < len(ids):
            told.add((await _next(stayer, "participant.left", timeout=15))["participant_id"])
    assert sorted(told) == ids
    async with asyncio.timeout(15 * WAIT):
        while await _left_records(room) != ids:
            await asyncio.sleep(0.1)
    await stayer.close()


async def test_a_flood_of_messages_is_cut_to_the_rate_and_told_once(room: Live) -> None:
    """1000 pings as fast as a socket takes them: the burst (100) and what the rate (20/s)
    refills are answered, the rest dropped after one too_many_messages; then, slowed
    down, the client is answered again."""
    ws = await _join(room, "s1")
    for _ in range(1000):
        await _send(ws, type="ping")
    await _send(ws, type="leave")
    pongs, errors = 0, []
    async with asyncio.timeout(20 * WAIT):
        try:
            while True:
                msg = json.loads(await ws.recv())
                if msg["type"] == "pong":
                    pongs += 1
                elif msg["type"] == "error":
                    errors.append(msg["code"])
        except ConnectionClosed as closed:
            assert closed.rcvd is not None and closed.rcvd.code == 1000  # the leave was honoured
    assert 100 <= pongs < 400, pongs
    assert errors == ["too_many_messages"]
    again = await _join(room, "s1")
    await _send(again, type="ping")
    await _next(again, "pong")
    await again.close()


async def test_mute_toggles_reach_the_others_bounded_and_ending_in_the_true_state(
    room: Live,
) -> None:
    """100 mute toggles: the others get a few mute messages, not 100, and the last one
    they get says what the participant's microphone really is."""
    other = await _join(room, "t1")
    toggler = await _join(room, "s1")
    await _next(other, "participant.joined")
    for i in range(99):
        await _send(toggler, type="mute", kind="audio", muted=i % 2 == 0)
    # 99 toggles from unmuted end muted.
    states: list[bool] = []
    try:
        while True:
            states.append((await _next(other, "mute", timeout=3))["muted"])
    except TimeoutError:
        pass
    assert 1 <= len(states) <= 10, states
    assert states[-1] is True
    await toggler.close()
    await other.close()


async def test_ice_candidates_are_bounded_and_none_may_aim_at_the_server(room: Live) -> None:
    """Candidates at the server's own HTTP port, multicast or unspecified addresses are
    refused; past 100 candidates on one connection every further one is refused."""
    ws = await _join(room, "s1")
    port = int(room.url.split(":")[2].split("/")[0])
    for address, code in (
        (f"127.0.0.1 {port}", "candidate_refused"),
        ("224.0.0.1 5000", "candidate_refused"),
        ("0.0.0.0 5000", "candidate_refused"),
    ):
        line = f"candidate:1 1 udp 2122260223 {address} typ host"
        await _send(ws, type="ice", candidate=line, sdp_mid="0", sdp_mline_index=0)
        assert (await _next(ws, "error"))["code"] == code, address
    for i in range(97):
        line = f"candidate:{i} 1 udp 2122260223 127.0.0.1 {20000 + i} typ host"
        await _send(ws, type="ice", candidate=line, sdp_mid="0", sdp_mline_index=0)
    await asyncio.sleep(1)  # within the message rate: 100 messages in the burst
    line = "candidate:9 1 udp 2122260223 127.0.0.1 30000 typ host"
    await _send(ws, type="ice", candidate=line, sdp_mid="0", sdp_mline_index=0)
    assert (await _next(ws, "error"))["code"] == "too_many_candidates"
    await ws.close()


async def test_unjoined_sockets_from_one_address_are_capped(room: Live) -> None:
    """32 sockets from one address that never join: the 33rd is told to try later (1013);
    one that joins makes room."""
    idle = [await connect(room.url) for _ in range(32)]
    extra = await connect(room.url)
    error = json.loads(await extra.recv())
    assert error["code"] == "too_many_connections"
    with pytest.raises(ConnectionClosed) as closed:
        await extra.recv()
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1013
    await _send(idle[0], type="join", session_id=room.world.ids["ses1"], token=room.token("s1"))
    await _next(idle[0], "joined")
    joined = await _join(room, "s2")
    for ws in (*idle, joined):
        await ws.close()
