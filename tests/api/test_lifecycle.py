"""Lifecycle over the API and from joins: transitions with their events, in one transaction."""

from __future__ import annotations

from datetime import timedelta

import httpx
import pytest
from sqlalchemy import func, select
from starlette.applications import Starlette

from eventbus.models import OutboxEvent
from scheduling.models import LiveSession, SessionStatus
from sessions.models import PresenceType
from sessions.service import record_presence
from tests.conftest import NOW, World


async def _join(app: Starlette, world: World, who: str, role: str, minutes: int = 0) -> None:
    async with app.state.services.sessionmaker() as db, db.begin():
        await record_presence(
            db,
            session_id=world.ids["ses1"],
            participant_id=world.users[who].id,
            role=role,
            type_=PresenceType.JOINED,
            at=NOW + timedelta(minutes=minutes),
        )


async def _events(client: httpx.AsyncClient, world: World, who: str = "coord") -> list[dict]:  # type: ignore[type-arg]
    r = await client.get(f"/api/v1/sessions/{world.ids['ses1']}/events", headers=world.as_(who))
    assert r.status_code == 200, r.text
    return r.json()["items"]  # type: ignore[no-any-return]


async def test_first_join_opens_and_starts_the_session(
    client: httpx.AsyncClient, app: Starlette, world: World
) -> None:
    """The first participant in makes the session live; later joins only add their event."""
    await _join(app, world, "t1", "tutor")
    await _join(app, world, "s1", "student", minutes=1)
    events = await _events(client, world)
    assert [e["type"] for e in events] == [
        "participant.joined",
        "session.opened",
        "session.started",
        "participant.joined",
    ]
    assert events[2]["payload"] == {"from": "open", "to": "live", "by": world.users["t1"].id}
    assert all(e["schema_version"] == 1 and e["id"].startswith("evt_") for e in events)
    assert len({e["id"] for e in events}) == 4
    r = await client.get(f"/api/v1/sessions/{world.ids['ses1']}", headers=world.as_("coord"))
    assert r.json()["status"] == "live"


async def test_tutor_ends_a_live_session_once(
    client: httpx.AsyncClient, app: Starlette, world: World
) -> None:
    await _join(app, world, "t1", "tutor")
    url = f"/api/v1/sessions/{world.ids['ses1']}/end"
    r = await client.post(url, json={"reason": "done early"}, headers=world.as_("t1"))
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "ended"
    again = await client.post(url, json={}, headers=world.as_("t1"))
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "invalid_transition"
    assert "cannot end a session that is ended" in again.json()["error"]["message"]
    ended = [e for e in await _events(client, world, "t1") if e["type"] == "session.ended"]
    assert len(ended) == 1 and ended[0]["payload"]["reason"] == "done early"


async def test_a_refused_transition_writes_nothing(
    client: httpx.AsyncClient, app: Starlette, world: World
) -> None:
    """Ending a session that never went live: 409 naming its state, no event, no change."""
    url = f"/api/v1/sessions/{world.ids['ses1']}/end"
    r = await client.post(url, json={}, headers=world.as_("coord"))
    assert r.status_code == 409
    assert "cannot end a session that is scheduled" in r.json()["error"]["message"]
    async with app.state.services.sessionmaker() as db:
        assert await db.scalar(select(func.count()).select_from(OutboxEvent)) == 0
        live = await db.get(LiveSession, world.ids["ses1"])
        assert live is not None and live.status is SessionStatus.SCHEDULED


async def test_coordinator_cancels_and_a_cancelled_session_cannot_be_joined(
    client: httpx.AsyncClient, world: World
) -> None:
    ses = world.ids["ses1"]
    r = await client.post(
        f"/api/v1/sessions/{ses}/cancel", json={"reason": "tutor ill"}, headers=world.as_("coord")
    )
    assert r.status_code == 200 and r.json()["status"] == "cancelled"
    [event] = await _events(client, world)
    assert event["type"] == "session.cancelled"
    assert event["payload"] == {
        "from": "scheduled",
        "to": "cancelled",
        "by": world.users["coord"].id,
        "reason": "tutor ill",
        "requested_by": "organisation",
        "scheduled_start": "2030-01-07T10:00:00+00:00",
        "tutor_id": world.ids["t1"],
        "student_ids": [world.ids["s1"]],
        "notice_hours": 1.0,
        "late": True,
    }
    token = await client.post(f"/api/v1/sessions/{ses}/join-token", headers=world.as_("s1"))
    assert token.status_code == 409


@pytest.mark.parametrize(
    ("who", "path", "status"),
    [
        ("t1", "cancel", 403),  # cancelling is for coordinators
        ("s1", "end", 403),
        ("s1", "events", 403),
        ("g1", "events", 403),
        ("t2", "events", 404),  # another tutor's session is not even visible
    ],
)
async def test_who_may_do_what(
    client: httpx.AsyncClient, world: World, who: str, path: str, status: int
) -> None:
    url = f"/api/v1/sessions/{world.ids['ses1']}/{path}"
    if path == "events":
        r = await client.get(url, headers=world.as_(who))
    else:
        r = await client.post(url, json={}, headers=world.as_(who))
    assert r.status_code == status, r.text
