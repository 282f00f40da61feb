"""The schedule after session.ended: the session completed, each student's next session linked."""

from __future__ import annotations

from datetime import timedelta

import httpx
from starlette.applications import Starlette

from scheduling.bookings import book_session
from scheduling.models import LiveSession, SessionStatus
from sessions.lifecycle import Action
from sessions.service import apply, record_presence
from tests.conftest import NOW, World
from tests.sessions.test_attendance import START, J, book_pair, dispatch, end, presence


async def _book(app: Starlette, world: World, tutor: str, students: list[str], hours: int) -> str:
    async with app.state.services.sessionmaker() as db, db.begin():
        live = await book_session(
            db,
            org_id=world.ids["orgA"],
            tutor_id=world.ids[tutor],
            student_ids=[world.ids[s] for s in students],
            subject="maths",
            scheduled_start=NOW + timedelta(hours=hours),
            scheduled_end=NOW + timedelta(hours=hours + 1),
            now=NOW,
        )
        return live.id


async def test_each_student_is_linked_to_their_next_session_with_this_tutor(
    client: httpx.AsyncClient, app: Starlette, world: World
) -> None:
    """s1's next with t1 is the world's ses1; s2's skips t2's ses2 and a cancelled one."""
    ses = await book_pair(app, world)
    cancelled = await _book(app, world, "t1", ["s2"], 3)
    s2_next = await _book(app, world, "t1", ["s2"], 5)
    await _book(app, world, "t1", ["s1"], 7)  # also later, but ses1 comes first
    async with app.state.services.sessionmaker() as db, db.begin():
        row = await db.get(LiveSession, cancelled)
        assert row is not None
        row.status = SessionStatus.CANCELLED
    await presence(app, world, ses, "t1", J, 0)
    await end(app, ses, 55)
    await dispatch(app)

    r = await client.get(f"/api/v1/sessions/{ses}/attendance", headers=world.as_("coord"))
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["ended_at"] == (START + timedelta(minutes=55)).isoformat().replace("+00:00", "Z")
    nexts = {p["student_id"]: p["next_session_id"] for p in body["participants"] if p["student_id"]}
    assert nexts == {world.ids["s1"]: world.ids["ses1"], world.ids["s2"]: s2_next}


async def test_a_student_with_nothing_booked_has_no_next_session(
    client: httpx.AsyncClient, app: Starlette, world: World
) -> None:
    ses = await _book(app, world, "t2", ["s1"], -3)  # t2 teaches s1 nowhere else
    async with app.state.services.sessionmaker() as db, db.begin():
        await record_presence(
            db,
            session_id=ses,
            participant_id=world.users["t2"].id,
            role="tutor",
            type_=J,
            at=NOW - timedelta(hours=3),
        )
    async with app.state.services.sessionmaker() as db, db.begin():
        await apply(db, ses, Action.END, now=NOW - timedelta(hours=2))
    await dispatch(app)
    r = await client.get(f"/api/v1/sessions/{ses}/attendance", headers=world.as_("coord"))
    [student] = [p for p in r.json()["participants"] if p["student_id"]]
    assert student["next_session_id"] is None and r.json()["final"] is True
