"""Every read is scoped to what the caller may see; writes are for coordinators."""

import logging

import httpx
import pytest

from tests.conftest import World


async def test_guardian_cannot_read_another_familys_student(
    client: httpx.AsyncClient, world: World, caplog: pytest.LogCaptureFixture
) -> None:
    """Another family's child is a 404, and the attempt is logged by id without personal data."""
    caplog.set_level(logging.WARNING, logger="liveclass.access")
    r = await client.get(f"/api/v1/students/{world.ids['s2']}", headers=world.as_("g1"))
    assert r.status_code == 404
    assert r.json()["error"]["code"] == "not_found"
    records = [rec for rec in caplog.records if rec.name == "liveclass.access"]
    assert len(records) == 1
    fields = records[0].fields  # type: ignore[attr-defined]
    assert fields["principal"] == world.users["g1"].id
    assert fields["resource_id"] == world.ids["s2"]
    logged = records[0].getMessage() + repr(fields)
    for private in ("@", "Person", "schoola"):
        assert private not in logged


async def test_guardian_sees_own_child_and_their_sessions(
    client: httpx.AsyncClient, world: World
) -> None:
    """A guardian reads their child, the child's sessions and tutor, and nothing else."""
    h = world.as_("g1")
    assert (await client.get(f"/api/v1/students/{world.ids['s1']}", headers=h)).status_code == 200
    students = (await client.get("/api/v1/students", headers=h)).json()
    assert [s["id"] for s in students["items"]] == [world.ids["s1"]]
    sessions = (await client.get("/api/v1/sessions", headers=h)).json()
    assert [s["id"] for s in sessions["items"]] == [world.ids["ses1"]]
    tutors = (await client.get("/api/v1/tutors", headers=h)).json()
    assert [t["id"] for t in tutors["items"]] == [world.ids["t1"]]
    assert (await client.get(f"/api/v1/sessions/{world.ids['ses2']}", headers=h)).status_code == 404
    guardians = (await client.get("/api/v1/guardians", headers=h)).json()
    assert [g["id"] for g in guardians["items"]] == [world.ids["g1"]]


async def test_tutor_cannot_read_another_tutors_session(
    client: httpx.AsyncClient, world: World
) -> None:
    """A tutor's session list and reads cover only their own sessions and students."""
    h = world.as_("t1")
    assert (await client.get(f"/api/v1/sessions/{world.ids['ses2']}", headers=h)).status_code == 404
    assert (await client.get(f"/api/v1/sessions/{world.ids['ses1']}", headers=h)).status_code == 200
    listed = (await client.get("/api/v1/sessions", headers=h)).json()
    assert [s["id"] for s in listed["items"]] == [world.ids["ses1"]]
    students = (await client.get("/api/v1/students", headers=h)).json()
    assert [s["id"] for s in students["items"]] == [world.ids["s1"]]
    assert (await client.get(f"/api/v1/tutors/{world.ids['t2']}", headers=h)).status_code == 404
    assert (await client.get("/api/v1/guardians", headers=h)).json()["items"] == []


async def test_student_sees_only_own_sessions(client: httpx.AsyncClient, world: World) -> None:
    """A student sees their own sessions and record, not a classmate's."""
    h = world.as_("s1")
    listed = (await client.get("/api/v1/sessions", headers=h)).json()
    assert [s["id"] for s in listed["items"]] == [world.ids["ses1"]]
    assert (await client.get(f"/api/v1/sessions/{world.ids['ses2']}", headers=h)).status_code == 404
    assert (await client.get(f"/api/v1/students/{world.ids['s2']}", headers=h)).status_code == 404


async def test_coordinator_sees_only_their_organisation(
    client: httpx.AsyncClient, world: World
) -> None:
    """A coordinator sees all of their organisation and none of another's."""
    mine = (await client.get("/api/v1/sessions", headers=world.as_("coord"))).json()
    assert {s["id"] for s in mine["items"]} == {world.ids["ses1"], world.ids["ses2"]}
    r = await client.get(f"/api/v1/sessions/{world.ids['sesB']}", headers=world.as_("coord"))
    assert r.status_code == 404
    r = await client.get(f"/api/v1/students/{world.ids['s1']}", headers=world.as_("coordB"))
    assert r.status_code == 404
    r = await client.patch(
        f"/api/v1/tutors/{world.ids['t1']}", json={"display_name": "x"}, headers=world.as_("coordB")
    )
    assert r.status_code == 404


@pytest.mark.parametrize("who", ["t1", "s1", "g1"])
async def test_only_coordinators_write(client: httpx.AsyncClient, world: World, who: str) -> None:
    """Tutors, students and guardians get 403 on writes, and nothing changes."""
    h = world.as_(who)
    body = {"email": "new@schoola.example.org", "display_name": "New"}
    assert (await client.post("/api/v1/students", json=body, headers=h)).status_code == 403
    session = (
        await client.get(f"/api/v1/sessions/{world.ids['ses1']}", headers=world.as_("coord"))
    ).json()
    r = await client.patch(
        f"/api/v1/sessions/{world.ids['ses1']}", json={"subject": "art"}, headers=h
    )
    assert r.status_code == 403
    assert r.json()["error"]["code"] == "permission_denied"
    after = (
        await client.get(f"/api/v1/sessions/{world.ids['ses1']}", headers=world.as_("coord"))
    ).json()
    assert after == session
    listed = (await client.get("/api/v1/students", headers=world.as_("coord"))).json()
    assert listed["total"] == 2
