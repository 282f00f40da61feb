"""Session exceptions: raised once by the sweep and the handlers, then worked by coordinators."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

import httpx
from sqlalchemy import select
from starlette.applications import Starlette

from api.app import create_app
from api.settings import Settings
from core.clock import FixedClock
from core.ids import new_id
from eventbus.models import OutboxEvent
from scheduling.bookings import book_session
from scheduling.models import LiveSession, Role, SessionStatus, TutorQualification
from scheduling.people import create_person
from sessions.events import record
from sessions.lifecycle import Action
from sessions.models import SessionException
from sessions.service import apply, record_presence
from sessions.session_exceptions import detect_due, raise_absences
from sessions.timers import TimerPolicy, run_due
from tests.conftest import NOW, World
from tests.sessions.test_attendance import START, J, book_pair, dispatch, end, presence

SES1_START = NOW + timedelta(hours=1)  # the world's ses1 (t1, s1) and ses2 (t2, s2)
NO_SHOW_AFTER = timedelta(minutes=10)
WAIT = timedelta(minutes=10)


async def _detect(app: Starlette, at: datetime) -> list[tuple[str, str, str]]:
    async with app.state.services.sessionmaker() as db, db.begin():
        raised = await detect_due(db, at, tutor_no_show_after=NO_SHOW_AFTER, recording_wait=WAIT)
        return [(x.session_id, x.kind.value, x.subject) for x in raised]


async def _exceptions(app: Starlette) -> list[SessionException]:
    async with app.state.services.sessionmaker() as db:
        return list(await db.scalars(select(SessionException).order_by(SessionException.raised_at)))


async def _raised_events(app: Starlette) -> list[dict]:  # type: ignore[type-arg]
    async with app.state.services.sessionmaker() as db:
        rows = await db.scalars(
            select(OutboxEvent)
            .where(OutboxEvent.type == "exception.raised")
            .order_by(OutboxEvent.seq)
        )
        return [r.payload for r in rows]


async def _tutor(app: Starlette, key: str, world: World, *, subject: str | None) -> str:
    async with app.state.services.sessionmaker() as db, db.begin():
        tutor_id = await create_person(
            db,
            Role.TUTOR,
            org_id=world.ids["orgA"],
            email=f"{key}@schoola.example.org",
            display_name=f"Person {key}",
            password_hash=None,
            now=NOW,
        )
        if subject is not None:
            db.add(
                TutorQualification(
                    id=new_id("qual"),
                    tutor_id=tutor_id,
                    subject=subject,
                    level="gcse",
                    created_at=NOW,
                )
            )
    return tutor_id


async def test_sweep_raises_tutor_no_show_with_free_qualified_substitutes(
    app: Starlette, world: World
) -> None:
    """t1 is not in the room 10 minutes in: raised once, listing who could stand in, best first."""
    free = await _tutor(app, "t3", world, subject="maths")
    unqualified = await _tutor(app, "t4", world, subject="physics")
    familiar = await _tutor(app, "t5", world, subject="maths")
    async with app.state.services.sessionmaker() as db, db.begin():
        past = await book_session(  # t5 taught s1 last week: ranked first
            db,
            org_id=world.ids["orgA"],
            tutor_id=familiar,
            student_ids=[world.ids["s1"]],
            subject="maths",
            scheduled_start=SES1_START - timedelta(days=7),
            scheduled_end=SES1_START - timedelta(days=7, minutes=-60),
            now=NOW,
        )
        past.status = SessionStatus.ENDED
    async with app.state.services.sessionmaker() as db, db.begin():
        await record_presence(  # the student came; the session is live without its tutor
            db,
            session_id=world.ids["ses1"],
            participant_id=world.users["s1"].id,
            role="student",
            type_=J,
            at=SES1_START,
        )

    assert await _detect(app, SES1_START + timedelta(minutes=9)) == []
    raised = await _detect(app, SES1_START + timedelta(minutes=10))
    assert raised == [(world.ids["ses1"], "tutor_no_show", world.ids["t1"])]
    assert await _detect(app, SES1_START + timedelta(minutes=11)) == []  # never twice

    [exc] = await _exceptions(app)
    subs = [s["tutor_id"] for s in exc.details["substitutes"]]
    assert subs == [familiar, free]  # t2 teaches ses2 then; t4 teaches physics only
    assert world.ids["t2"] not in subs and unqualified not in subs
    assert exc.details["substitutes"][0]["taught_before"] is True
    assert await _raised_events(app) == [
        {"exception_id": exc.id, "kind": "tutor_no_show", "tutor_id": world.ids["t1"]}
    ]


async def test_a_session_that_becomes_a_no_show_raises_tutor_no_show(
    app: Starlette, world: World
) -> None:
    async with app.state.services.sessionmaker() as db, db.begin():
        await run_due(db, SES1_START + timedelta(minutes=15), TimerPolicy())
    await dispatch(app)
    kinds = {(x.session_id, x.kind.value) for x in await _exceptions(app)}
    assert (world.ids["ses1"], "tutor_no_show") in kinds
    assert (world.ids["ses2"], "tutor_no_show") in kinds


async def test_an_absent_student_raises_one_exception_and_one_event(
    app: Starlette, world: World
) -> None:
    ses = await book_pair(app, world)
    await presence(app, world, ses, "t1", J, 0)
    await presence(app, world, ses, "s1", J, 1)
    await end(app, ses, 50)
    await dispatch(app)
    await dispatch(app)  # a second pass has nothing left to do
    async with app.state.services.sessionmaker() as db, db.begin():
        live = await db.get(LiveSession, ses)
        assert live is not None  # the handler run again by hand: still nothing new
        assert await raise_absences(db, live, ended_at=START + timedelta(minutes=50), now=NOW) == []
    [exc] = await _exceptions(app)
    assert exc.kind.value == "student_absent" and exc.subject == world.ids["s2"]
    assert exc.details == {"student_id": world.ids["s2"]}
    assert await _raised_events(app) == [
        {"exception_id": exc.id, "kind": "student_absent", "student_id": world.ids["s2"]}
    ]


async def test_no_recording_after_the_wait_unless_one_arrived(app: Starlette, world: World) -> None:
    """Raised 10 minutes after the end, not before; never for a session whose recording came."""
    ses = await book_pair(app, world)
    await presence(app, world, ses, "t1", J, 0)
    await end(app, ses, 30)
    recorded = world.ids["ses1"]
    async with app.state.services.sessionmaker() as db, db.begin():
        await record_presence(
            db,
            session_id=recorded,
            participant_id=world.users["t1"].id,
            role="tutor",
            type_=J,
            at=START,
        )
    async with app.state.services.sessionmaker() as db, db.begin():
        await apply(db, recorded, Action.END, now=START + timedelta(minutes=30))
        record(db, "recording.ready", session_id=recorded, at=START + timedelta(minutes=31))

    ended = START + timedelta(minutes=30)
    assert [k for _, k, _ in await _detect(app, ended + timedelta(minutes=9))] == []
    assert await _detect(app, ended + timedelta(minutes=10)) == [(ses, "no_recording", ses)]
    assert await _detect(app, ended + timedelta(hours=2)) == []


async def _exception_id(app: Starlette, world: World) -> str:
    ses = await book_pair(app, world)
    await presence(app, world, ses, "t1", J, 0)
    await presence(app, world, ses, "s1", J, 0)
    await end(app, ses, 50)
    await dispatch(app)
    [exc] = await _exceptions(app)
    return exc.id


async def test_coordinator_acknowledges_then_resolves_and_wrong_moves_are_refused(
    client: httpx.AsyncClient, app: Starlette, world: World
) -> None:
    exc = await _exception_id(app, world)
    url = f"/api/v1/exceptions/{exc}"
    coord = world.as_("coord")
    r = await client.post(f"{url}/acknowledge", json={"note": "calling home"}, headers=coord)
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "acknowledged" and r.json()["note"] == "calling home"
    assert r.json()["acknowledged_by"] == world.users["coord"].id

    again = await client.post(f"{url}/acknowledge", json={}, headers=coord)
    assert again.status_code == 409
    assert (
        again.json()["error"]["message"] == "cannot acknowledge an exception that is acknowledged"
    )

    r = await client.post(f"{url}/resolve", headers=coord)  # the body is optional
    assert r.status_code == 200 and r.json()["status"] == "resolved"
    assert r.json()["note"] == "calling home"  # kept when no new note is given
    again = await client.post(f"{url}/resolve", json={}, headers=coord)
    assert again.status_code == 409
    assert "cannot resolve an exception that is resolved" in again.json()["error"]["message"]
    again = await client.post(f"{url}/acknowledge", json={}, headers=coord)
    assert "an exception that is resolved" in again.json()["error"]["message"]

    listed = await client.get("/api/v1/exceptions?status=resolved", headers=coord)
    assert [x["id"] for x in listed.json()["items"]] == [exc]
    assert (await client.get("/api/v1/exceptions?status=open", headers=coord)).json()["total"] == 0


async def test_exceptions_are_for_the_organisations_coordinators(
    client: httpx.AsyncClient, app: Starlette, world: World
) -> None:
    exc = await _exception_id(app, world)
    r = await client.get("/api/v1/exceptions?kind=student_absent", headers=world.as_("coord"))
    assert r.status_code == 200 and r.json()["total"] == 1
    assert r.json()["items"][0]["details"] == {"student_id": world.ids["s2"]}
    assert (await client.get("/api/v1/exceptions", headers=world.as_("coordB"))).json()[
        "total"
    ] == 0
    assert (await client.get("/api/v1/exceptions", headers=world.as_("t1"))).status_code == 403
    r = await client.post(f"/api/v1/exceptions/{exc}/resolve", json={}, headers=world.as_("coordB"))
    assert r.status_code == 404
    r = await client.post(f"/api/v1/exceptions/{exc}/resolve", json={}, headers=world.as_("t1"))
    assert r.status_code == 403


async def test_serve_raises_tutor_no_show_in_the_background(
    settings: Settings, app: Starlette, world: World
) -> None:
    """The app built with run_timers raises it after LIVECLASS_TUTOR_NO_SHOW_MINUTES on its own."""
    async with app.state.services.sessionmaker() as db, db.begin():
        await record_presence(
            db,
            session_id=world.ids["ses1"],
            participant_id=world.users["s1"].id,
            role="student",
            type_=J,
            at=SES1_START,
        )
    fast = settings.model_copy(update={"lifecycle_sweep_seconds": 0.05, "tutor_no_show_minutes": 3})
    served = create_app(fast, clock=FixedClock(SES1_START + timedelta(minutes=3)), run_timers=True)
    try:
        async with served.router.lifespan_context(served), asyncio.timeout(5):
            while len(await _exceptions(app)) < 3:
                await asyncio.sleep(0.05)
    finally:
        await served.state.services.aclose()
    # ses1 is live without t1; the sweep also opened ses2 and sesB, whose tutors are not in either.
    raised = {(x.session_id, x.kind.value) for x in await _exceptions(app)}
    assert (world.ids["ses1"], "tutor_no_show") in raised
