"""GET /api/v1/sessions/{id}/presence: time-ordered, paginated, for coordinators and the tutor."""

from __future__ import annotations

from datetime import timedelta

import httpx
import pytest
from starlette.applications import Starlette

from sessions.models import Presence, PresenceType
from tests.conftest import NOW, World


async def _seed(app: Starlette, world: World) -> None:
    """s1 in and out twice, written out of time order, with one tie in time; t1 once."""
    s1, t1, ses1 = world.users["s1"].id, world.users["t1"].id, world.ids["ses1"]
    rows = [
        (s1, "student", PresenceType.LEFT, 30, "disconnected"),
        (s1, "student", PresenceType.JOINED, 10, None),
        (t1, "tutor", PresenceType.JOINED, 5, None),
        (s1, "student", PresenceType.LEFT, 20, "replaced"),  # a tie: written order decides
        (s1, "student", PresenceType.JOINED, 20, None),
    ]
    async with app.state.services.sessionmaker() as db, db.begin():
        for pid, role, kind, minutes, reason in rows:
            db.add(
                Presence(
                    session_id=ses1,
                    participant_id=pid,
                    role=role,
                    type=kind,
                    at=NOW + timedelta(minutes=minutes),
                    reason=reason,
                )
            )
        db.add(  # another session's record never shows
            Presence(
                session_id=world.ids["ses2"],
                participant_id=world.users["s2"].id,
                role="student",
                type=PresenceType.JOINED,
                at=NOW,
            )
        )


def _url(world: World, session: str = "ses1") -> str:
    return f"/api/v1/sessions/{world.ids[session]}/presence"


@pytest.mark.parametrize("who", ["coord", "t1"])
async def test_records_come_in_time_order_a_page_at_a_time(
    client: httpx.AsyncClient, app: Starlette, world: World, who: str
) -> None:
    """Coordinator and tutor get the session's records by time, ties in written order, paged."""
    await _seed(app, world)
    s1, t1 = world.users["s1"].id, world.users["t1"].id
    r = await client.get(_url(world), headers=world.as_(who))
    assert r.status_code == 200, r.text
    page = r.json()
    assert (page["total"], page["limit"], page["offset"]) == (5, 50, 0)
    assert [(i["participant_id"], i["type"], i["reason"]) for i in page["items"]] == [
        (t1, "participant.joined", None),
        (s1, "participant.joined", None),
        (s1, "participant.left", "replaced"),
        (s1, "participant.joined", None),
        (s1, "participant.left", "disconnected"),
    ]
    assert page["items"][0]["role"] == "tutor"
    assert page["items"][1]["at"] == "2030-01-07T09:10:00Z"
    second = (
        await client.get(_url(world), params={"limit": 2, "offset": 2}, headers=world.as_(who))
    ).json()
    assert second["total"] == 5
    assert [i["id"] for i in second["items"]] == [i["id"] for i in page["items"][2:4]]


@pytest.mark.parametrize("who", ["s1", "g1"])
async def test_students_and_guardians_are_refused(
    client: httpx.AsyncClient, app: Starlette, world: World, who: str
) -> None:
    """The session's own student and their guardian get 403, like any session write."""
    await _seed(app, world)
    assert (
        await client.get(f"/api/v1/sessions/{world.ids['ses1']}", headers=world.as_(who))
    ).status_code == 200
    r = await client.get(_url(world), headers=world.as_(who))
    assert r.status_code == 403
    assert r.json()["error"]["code"] == "permission_denied"


@pytest.mark.parametrize("who", ["t2", "coordB", "s2"])
async def test_sessions_out_of_sight_are_not_found(
    client: httpx.AsyncClient, app: Starlette, world: World, who: str
) -> None:
    """Another tutor's session, or another organisation's, is the usual 404."""
    await _seed(app, world)
    r = await client.get(_url(world), headers=world.as_(who))
    assert r.status_code == 404
    assert r.json()["error"]["code"] == "not_found"


async def test_a_session_without_records_lists_nothing(
    client: httpx.AsyncClient, world: World
) -> None:
    """Nobody joined yet: an empty page, not an error."""
    r = await client.get(_url(world, "ses2"), headers=world.as_("coord"))
    assert r.json() == {"items": [], "total": 0, "limit": 50, "offset": 0}


async def test_a_joined_session_cannot_be_deleted(
    client: httpx.AsyncClient, app: Starlette, world: World
) -> None:
    """Once someone joined, deleting the session is a 409 and its records stay."""
    await _seed(app, world)
    h = world.as_("coord")
    r = await client.delete(f"/api/v1/sessions/{world.ids['ses1']}", headers=h)
    assert r.status_code == 409
    assert r.json()["error"]["code"] == "invalid_state"
    assert (await client.get(_url(world), headers=h)).json()["total"] == 5


async def test_the_endpoint_is_documented(client: httpx.AsyncClient) -> None:
    """OpenAPI lists the paging parameters, the record schema and the 403/404 answers."""
    spec = (await client.get("/openapi.json")).json()
    op = spec["paths"]["/api/v1/sessions/{session_id}/presence"]["get"]
    assert {p["name"] for p in op["parameters"]} == {"session_id", "limit", "offset"}
    assert {"200", "401", "403", "404", "422"} <= set(op["responses"])
    ref = op["responses"]["200"]["content"]["application/json"]["schema"]["$ref"]
    page = spec["components"]["schemas"][ref.rsplit("/", 1)[1]]
    item = spec["components"]["schemas"][
        page["properties"]["items"]["items"]["$ref"].rsplit("/", 1)[1]
    ]
    assert item["properties"]["type"]["$ref"].endswith("/PresenceType")
    assert spec["components"]["schemas"]["PresenceType"]["enum"] == [
        "participant.joined",
        "participant.left",
    ]
