"""Attendance from presence records, stored on session.ended and read over the API."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
from starlette.applications import Starlette

from core.clock import FixedClock
from eventbus.bus import EmbeddedBus
from scheduling.bookings import book_session
from sessions.attendance import Expected, compute
from sessions.lifecycle import Action
from sessions.lifecycle_handlers import lifecycle_handlers
from sessions.models import PresenceType
from sessions.service import apply, record_presence
from tests.conftest import NOW, World

START = NOW - timedelta(hours=1)  # ends as the test clock reads NOW: tokens stay valid


async def book_pair(app: Starlette, world: World) -> str:
    """A session of t1 with s1 and s2, the hour before NOW."""
    async with app.state.services.sessionmaker() as db, db.begin():
        live = await book_session(
            db,
            org_id=world.ids["orgA"],
            tutor_id=world.ids["t1"],
            student_ids=[world.ids["s1"], world.ids["s2"]],
            subject="maths",
            scheduled_start=START,
            scheduled_end=START + timedelta(hours=1),
            now=NOW,
        )
        return live.id


async def presence(
    app: Starlette, world: World, session_id: str, who: str, kind: PresenceType, minute: int
) -> None:
    async with app.state.services.sessionmaker() as db, db.begin():
        await record_presence(
            db,
            session_id=session_id,
            participant_id=world.users[who].id,
            role="tutor" if who.startswith("t") else "student",
            type_=kind,
            at=START + timedelta(minutes=minute),
        )


async def end(app: Starlette, session_id: str, minute: int) -> None:
    async with app.state.services.sessionmaker() as db, db.begin():
        await apply(db, session_id, Action.END, now=START + timedelta(minutes=minute))


async def dispatch(app: Starlette, clock: FixedClock | None = None) -> None:
    clock = clock or FixedClock(NOW)
    bus = EmbeddedBus(
        app.state.services.sessionmaker,
        lifecycle_handlers(clock=clock.now, consent_age=13),
        clock=clock.now,
    )
    await bus.dispatch_once()


J, L = PresenceType.JOINED, PresenceType.LEFT


async def test_attendance_is_stored_when_the_session_ends(
    client: httpx.AsyncClient, app: Starlette, world: World
) -> None:
    """Tutor on time, s1 late with a rejoin, s2 never came: intervals, lateness, minutes, absent."""
    ses = await book_pair(app, world)
    await presence(app, world, ses, "t1", J, -2)
    await presence(app, world, ses, "s1", J, 7)
    await presence(app, world, ses, "s1", L, 20)
    await presence(app, world, ses, "s1", J, 30)  # rejoin: a second interval
    await end(app, ses, 50)  # both still in: their intervals close at the end
    await dispatch(app)

    r = await client.get(f"/api/v1/sessions/{ses}/attendance", headers=world.as_("t1"))
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["final"] is True
    tutor, s1, s2 = body["participants"]

    def at(minute: int) -> str:
        return (START + timedelta(minutes=minute)).isoformat().replace("+00:00", "Z")

    assert tutor["participant_id"] == world.users["t1"].id and tutor["role"] == "tutor"
    assert [(i["joined"], i["left"]) for i in tutor["intervals"]] == [(at(-2), at(50))]
    assert tutor["late_minutes"] == 0 and tutor["minutes_present"] == 52 and not tutor["absent"]

    assert s1["student_id"] == world.ids["s1"]
    assert [(i["joined"], i["left"]) for i in s1["intervals"]] == [
        (at(7), at(20)),
        (at(30), at(50)),
    ]
    assert s1["first_joined_at"] == at(7)
    assert s1["late_minutes"] == 7 and s1["minutes_present"] == 33 and not s1["absent"]

    assert s2["student_id"] == world.ids["s2"]
    assert s2["absent"] is True and s2["intervals"] == [] and s2["minutes_present"] == 0
    assert s2["first_joined_at"] is None and s2["late_minutes"] is None


async def test_before_the_end_attendance_is_worked_out_live(
    client: httpx.AsyncClient, app: Starlette, world: World
) -> None:
    """While the session runs, the endpoint closes open intervals at the current time."""
    ses = await book_pair(app, world)
    await presence(app, world, ses, "s1", J, 15)  # and still in at NOW, START + 60 min
    r = await client.get(f"/api/v1/sessions/{ses}/attendance", headers=world.as_("coord"))
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["final"] is False and body["ended_at"] is None
    minutes = {p["participant_id"]: p["minutes_present"] for p in body["participants"]}
    assert minutes[world.users["s1"].id] == 45
    assert minutes[world.users["t1"].id] == 0


async def test_only_staff_of_the_session_read_attendance(
    client: httpx.AsyncClient, world: World
) -> None:
    url = f"/api/v1/sessions/{world.ids['ses1']}/attendance"
    assert (await client.get(url, headers=world.as_("s1"))).status_code == 403
    assert (await client.get(url, headers=world.as_("g1"))).status_code == 403
    assert (await client.get(url, headers=world.as_("t2"))).status_code == 404
    assert (await client.get(url, headers=world.as_("coordB"))).status_code == 404
    assert (await client.get(url, headers=world.as_("coord"))).status_code == 200


class _Rec:
    """A presence record as compute reads it."""

    def __init__(self, id_: int, who: str, kind: PresenceType, minute: int) -> None:
        self.id, self.participant_id, self.role, self.type = id_, who, "student", kind
        self.at = datetime(2030, 1, 1, 10, 0, tzinfo=UTC) + timedelta(minutes=minute)


def test_duplicate_joins_and_stray_leaves_do_not_invent_time() -> None:
    """A second join while in, or a leave while out, changes nothing; late after the end is cut."""
    start = datetime(2030, 1, 1, 10, 0, tzinfo=UTC)
    records = [
        _Rec(1, "u1", J, 5),
        _Rec(2, "u1", J, 6),
        _Rec(3, "u1", L, 10),
        _Rec(4, "u1", L, 11),
        _Rec(5, "u1", J, 70),  # after the end: ignored
    ]
    [person] = compute(
        records,  # type: ignore[arg-type]
        expected=Expected(None, ()),
        scheduled_start=start,
        end=start + timedelta(minutes=60),
    )
    assert person.seconds_present == 5 * 60 and person.late_minutes == 5
    assert len(person.intervals) == 1
