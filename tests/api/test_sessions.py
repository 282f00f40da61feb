"""Sessions as bookings, and join tokens for their participants only."""

from datetime import timedelta

import httpx
import pytest
from starlette.applications import Starlette

from api.auth import issue_access_token
from core.clock import FixedClock
from scheduling.models import LiveSession, SessionStatus
from sessions.chat import record_chat
from signaling.errors import JoinTokenError
from signaling.tokens import verify_join_token
from tests.conftest import NOW, World


def _iso(delta_hours: float) -> str:
    return (NOW + timedelta(hours=delta_hours)).isoformat()


async def test_book_and_filter_sessions(client: httpx.AsyncClient, world: World) -> None:
    """A coordinator books a group session; filters by student, status and time find it."""
    h = world.as_("coord")
    body = {
        "tutor_id": world.ids["t1"],
        "student_ids": [world.ids["s1"], world.ids["s2"]],
        "subject": "maths",
        "scheduled_start": _iso(24),
        "scheduled_end": _iso(25),
    }
    r = await client.post("/api/v1/sessions", json=body, headers=h)
    assert r.status_code == 201, r.text
    s = r.json()
    assert s["status"] == "scheduled" and s["room"].startswith("room_")
    assert sorted(s["student_ids"]) == sorted(body["student_ids"])
    assert s["scheduled_start"] == (NOW + timedelta(hours=24)).strftime("%Y-%m-%dT%H:%M:%SZ")
    by_student = (
        await client.get(f"/api/v1/sessions?student_id={world.ids['s2']}", headers=h)
    ).json()
    assert {x["id"] for x in by_student["items"]} == {world.ids["ses2"], s["id"]}
    later = (
        await client.get("/api/v1/sessions", params={"starts_after": _iso(12)}, headers=h)
    ).json()
    assert [x["id"] for x in later["items"]] == [s["id"]]
    scheduled = (
        await client.get("/api/v1/sessions?status=scheduled&tutor_id=" + world.ids["t1"], headers=h)
    ).json()
    assert scheduled["total"] == 2


@pytest.mark.parametrize(
    ("change", "code", "loc"),
    [
        (
            {"scheduled_end": _iso(0.5), "scheduled_start": _iso(1)},
            "validation_failed",
            ["body", "scheduled_end"],
        ),
        ({"tutor_id": "tut_nobody"}, "invalid_reference", ["body", "tutor_id"]),
        ({"student_ids": []}, "validation_failed", ["body", "student_ids"]),
        (
            {"scheduled_start": "2030-01-07T10:00:00"},
            "validation_failed",
            ["body", "scheduled_start"],
        ),
    ],
    ids=["end-before-start", "unknown-tutor", "no-students", "naive-time"],
)
async def test_bad_bookings_are_refused_and_write_nothing(
    client: httpx.AsyncClient, world: World, change: dict[str, object], code: str, loc: list[str]
) -> None:
    """Each bad booking names its field, and no session is added."""
    h = world.as_("coord")
    body = {
        "tutor_id": world.ids["t1"],
        "student_ids": [world.ids["s1"]],
        "subject": "maths",
        "scheduled_start": _iso(24),
        "scheduled_end": _iso(25),
        **change,
    }
    r = await client.post("/api/v1/sessions", json=body, headers=h)
    assert r.status_code == 422
    assert r.json()["error"]["code"] == code
    assert r.json()["error"]["details"][0]["loc"] == loc
    assert (await client.get("/api/v1/sessions", headers=h)).json()["total"] == 2


async def test_student_from_another_organisation_cannot_be_booked(
    client: httpx.AsyncClient, world: World
) -> None:
    """Booking names only the organisation's own students."""
    body = {
        "tutor_id": world.ids["t1"],
        "student_ids": [world.ids["sB"]],
        "subject": "maths",
        "scheduled_start": _iso(24),
        "scheduled_end": _iso(25),
    }
    r = await client.post("/api/v1/sessions", json=body, headers=world.as_("coord"))
    assert r.status_code == 422
    assert r.json()["error"]["code"] == "invalid_reference"


async def test_reschedule_and_delete(
    client: httpx.AsyncClient, app: Starlette, world: World
) -> None:
    """A scheduled session can be moved, re-staffed or deleted; a started one cannot."""
    h = world.as_("coord")
    url = f"/api/v1/sessions/{world.ids['ses1']}"
    both = [world.ids["s1"], world.ids["s2"]]
    r = await client.patch(url, json={"scheduled_end": _iso(3), "student_ids": both}, headers=h)
    assert r.status_code == 409  # s2 is in ses2 from 1 h to 2 h
    assert r.json()["error"]["code"] == "booking_conflict"
    # Said as a coordinator knows it: the student by name, the lesson by its subject.
    [detail] = r.json()["error"]["details"]
    name = world.users["s2"].display_name
    assert detail["message"].startswith(f"{name} is already in maths (session "), detail
    r = await client.patch(
        url,
        json={"scheduled_start": _iso(2), "scheduled_end": _iso(3), "student_ids": both},
        headers=h,
    )
    assert r.status_code == 200, r.text
    assert r.json()["scheduled_end"].startswith("2030-01-07T12:00")
    assert len(r.json()["student_ids"]) == 2
    r = await client.patch(url, json={"scheduled_start": _iso(4)}, headers=h)
    assert r.status_code == 422
    async with app.state.services.sessionmaker() as db, db.begin():
        live = await db.get(LiveSession, world.ids["ses2"])
        assert live is not None
        live.status = SessionStatus.LIVE
    r = await client.patch(
        f"/api/v1/sessions/{world.ids['ses2']}", json={"subject": "art"}, headers=h
    )
    assert r.status_code == 409 and "live" in r.json()["error"]["message"]
    assert (
        await client.delete(f"/api/v1/sessions/{world.ids['ses2']}", headers=h)
    ).status_code == 409
    moved = await client.delete(url, headers=h)  # it has a history now: cancel it instead
    assert moved.status_code == 409 and "cancel it instead" in moved.json()["error"]["message"]
    body = {
        "tutor_id": world.ids["t1"],
        "student_ids": [world.ids["s1"]],
        "subject": "maths",
        "scheduled_start": _iso(30),
        "scheduled_end": _iso(31),
    }
    mistake = (await client.post("/api/v1/sessions", json=body, headers=h)).json()["id"]
    assert (await client.delete(f"/api/v1/sessions/{mistake}", headers=h)).status_code == 204
    assert (await client.get(f"/api/v1/sessions/{mistake}", headers=h)).status_code == 404


@pytest.mark.parametrize("who", ["t1", "s1"])
async def test_participants_get_a_join_token_for_their_session(
    client: httpx.AsyncClient, app: Starlette, world: World, who: str
) -> None:
    """The tutor and students get a token scoped to the session, their identity and role."""
    r = await client.post(
        f"/api/v1/sessions/{world.ids['ses1']}/join-token", headers=world.as_(who)
    )
    assert r.status_code == 201, r.text
    body = r.json()
    services = app.state.services
    grant = verify_join_token(
        body["token"], secret=services.secret, session_id=world.ids["ses1"], now=NOW
    )
    assert grant.participant_id == world.users[who].id
    assert grant.role == ("tutor" if who == "t1" else "student")
    assert grant.name == f"Person {who}"
    grace = services.settings.join_token_grace_seconds
    assert grant.expires_at == NOW + timedelta(hours=2, seconds=grace)
    with pytest.raises(JoinTokenError) as wrong:
        verify_join_token(
            body["token"], secret=services.secret, session_id=world.ids["ses2"], now=NOW
        )
    assert wrong.value.code == "join_token_wrong_session"


@pytest.mark.parametrize(
    ("who", "status"), [("coord", 403), ("g1", 403), ("s2", 404), ("t2", 404), ("coordB", 404)]
)
async def test_join_token_only_for_participants(
    client: httpx.AsyncClient, world: World, who: str, status: int
) -> None:
    """Nobody else gets one: not the coordinator, a guardian, or another tutor or student."""
    r = await client.post(
        f"/api/v1/sessions/{world.ids['ses1']}/join-token", headers=world.as_(who)
    )
    assert r.status_code == status
    assert "token" not in r.json()


async def test_no_join_token_after_the_session(
    client: httpx.AsyncClient, app: Starlette, clock: FixedClock, world: World
) -> None:
    """Past the end plus grace, or once ended or cancelled, a session cannot be joined."""
    services = app.state.services
    clock.advance(timedelta(hours=2, seconds=services.settings.join_token_grace_seconds))
    fresh, _ = issue_access_token(
        world.users["s1"], secret=services.secret, now=clock.now(), ttl_seconds=900
    )
    r = await client.post(
        f"/api/v1/sessions/{world.ids['ses1']}/join-token",
        headers={"Authorization": f"Bearer {fresh}"},
    )
    assert r.status_code == 409
    assert r.json()["error"]["code"] == "session_closed"
    clock.set(NOW + timedelta(hours=2, seconds=services.settings.join_token_grace_seconds - 60))
    r = await client.post(
        f"/api/v1/sessions/{world.ids['ses1']}/join-token",
        headers={"Authorization": f"Bearer {fresh}"},
    )
    assert r.status_code == 201
    clock.set(NOW)
    h = world.as_("t1")
    async with app.state.services.sessionmaker() as db, db.begin():
        live = await db.get(LiveSession, world.ids["ses1"])
        assert live is not None
        live.status = SessionStatus.CANCELLED
    r = await client.post(f"/api/v1/sessions/{world.ids['ses1']}/join-token", headers=h)
    assert r.status_code == 409
    assert r.json()["error"]["code"] == "session_closed"


async def test_the_lesson_page_reads_its_header_with_its_join_token(
    client: httpx.AsyncClient, world: World
) -> None:
    """The lesson page has a join token and no login: with it, the subject, the people's
    names and the times; without one, or with another session's, 401."""
    ses = world.ids["ses1"]
    r = await client.post(f"/api/v1/sessions/{ses}/join-token", headers=world.as_("s1"))
    token = r.json()["token"]
    r = await client.get(f"/api/v1/sessions/{ses}/lesson", headers={"x-join-token": token})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["role"] == "student"
    assert body["tutor_name"] == world.users["t1"].display_name
    assert body["student_names"] == [world.users["s1"].display_name]
    assert body["scheduled_start"] < body["scheduled_end"]
    assert (await client.get(f"/api/v1/sessions/{ses}/lesson")).status_code == 401
    other = world.ids["ses2"]
    r = await client.get(f"/api/v1/sessions/{other}/lesson", headers={"x-join-token": token})
    assert r.status_code == 401


async def test_a_sessions_chat_is_read_by_its_tutor_and_coordinators_only(
    client: httpx.AsyncClient, app: Starlette, world: World
) -> None:
    ses = world.ids["ses1"]
    async with app.state.services.sessionmaker() as db, db.begin():
        for n, (who, role) in enumerate([("t1", "tutor"), ("s1", "student")]):
            await record_chat(
                db,
                line_id=f"cht_{n}",
                session_id=ses,
                participant_id=world.users[who].id,
                name=world.users[who].display_name,
                role=role,
                text=f"line {n}",
                at=NOW + timedelta(seconds=n),
            )
    r = await client.get(f"/api/v1/sessions/{ses}/chat", headers=world.as_("t1"))
    assert r.status_code == 200, r.text
    assert [(x["role"], x["text"]) for x in r.json()["lines"]] == [
        ("tutor", "line 0"),
        ("student", "line 1"),
    ]
    assert (await client.get(f"/api/v1/sessions/{ses}/chat", headers=world.as_("coord"))).json()[
        "lines"
    ]
    for who in ("s1", "g1", "t2"):
        r = await client.get(f"/api/v1/sessions/{ses}/chat", headers=world.as_(who))
        assert r.status_code in (403, 404), (who, r.text)
