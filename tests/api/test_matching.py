"""Coordinators rank tutors for a request and get proposals for a batch, without booking."""

from typing import Any

import httpx
import pytest

from tests.conftest import World

RANK = "/api/v1/matching/rank"
BATCH = "/api/v1/matching/batch"
# Tuesday 2030-01-08; London is on UTC in January. ses1 (t1, s1) and ses2 (t2, s2)
# are booked on Monday the 7th, so each student already has a tutor.
TUESDAY_MORNING = {"start": "2030-01-08T09:00:00Z", "end": "2030-01-08T12:00:00Z"}


async def _configure(client: httpx.AsyncClient, world: World) -> None:
    """t1 and t2 in London, weekdays 09:00-17:00, both qualified for maths at gcse."""
    h = world.as_("coord")
    for t in ("t1", "t2"):
        url = f"/api/v1/tutors/{world.ids[t]}"
        r = await client.patch(url, json={"time_zone": "Europe/London"}, headers=h)
        assert r.status_code == 200, r.text
        rules = [
            {"weekday": d, "start": "09:00", "end": "17:00"}
            for d in ("monday", "tuesday", "wednesday", "thursday", "friday")
        ]
        r = await client.put(f"{url}/availability", json={"rules": rules}, headers=h)
        assert r.status_code == 200, r.text
        quals = {"items": [{"subject": "maths", "level": "gcse"}]}
        r = await client.put(f"{url}/qualifications", json=quals, headers=h)
        assert r.status_code == 200, r.text


def _rank_body(world: World, student: str = "s1", **extra: Any) -> dict[str, Any]:
    body = {
        "student_id": world.ids[student],
        "subject": "maths",
        "level": "gcse",
        "windows": [TUESDAY_MORNING],
        "duration_minutes": 60,
    }
    return body | extra


async def _session_count(client: httpx.AsyncClient, world: World) -> int:
    r = await client.get("/api/v1/sessions", headers=world.as_("coord"))
    assert r.status_code == 200, r.text
    total: int = r.json()["total"]
    return total


async def test_rank_puts_the_students_own_tutor_first(
    client: httpx.AsyncClient, world: World
) -> None:
    """s1's tutor t1 comes first, t2 second, each with a slot and reasons; org B is not seen."""
    await _configure(client, world)
    for student, first, second in (("s1", "t1", "t2"), ("s2", "t2", "t1")):
        r = await client.post(RANK, json=_rank_body(world, student), headers=world.as_("coord"))
        assert r.status_code == 200, r.text
        body = r.json()
        ids = [c["tutor_id"] for c in body["candidates"]]
        assert ids == [world.ids[first], world.ids[second]]
        best = body["candidates"][0]
        assert (best["start"], best["end"]) == ("2030-01-08T09:00:00Z", "2030-01-08T10:00:00Z")
        assert best["sessions_with_student"] == 1
        assert best["display_name"] == f"Person {first}"
        assert any("continuity" in reason for reason in best["reasons"])
        assert body["excluded"] == []


async def test_rank_lists_a_busy_tutor_as_excluded(client: httpx.AsyncClient, world: World) -> None:
    """Once t2 is booked over the whole window, t2 is excluded and the reason names the session."""
    await _configure(client, world)
    h = world.as_("coord")
    r = await client.post(
        "/api/v1/sessions",
        json={
            "tutor_id": world.ids["t2"],
            "student_ids": [world.ids["s2"]],
            "subject": "maths",
            "scheduled_start": "2030-01-08T09:00:00Z",
            "scheduled_end": "2030-01-08T12:00:00Z",
        },
        headers=h,
    )
    assert r.status_code == 201, r.text
    busy = r.json()["id"]
    r = await client.post(RANK, json=_rank_body(world), headers=h)
    body = r.json()
    assert [c["tutor_id"] for c in body["candidates"]] == [world.ids["t1"]]
    [excluded] = body["excluded"]
    assert (excluded["tutor_id"], excluded["code"]) == (world.ids["t2"], "not_free")
    assert any(busy in reason for reason in excluded["reasons"])


async def test_batch_proposes_without_booking(client: httpx.AsyncClient, world: World) -> None:
    """Two requests for the same hour go one to each student's own tutor; nothing is booked."""
    await _configure(client, world)
    before = await _session_count(client, world)
    window = {"start": "2030-01-08T09:00:00Z", "end": "2030-01-08T10:00:00Z"}
    requests = [
        _rank_body(world, student, windows=[window], id=f"req-{student}")
        for student in ("s1", "s2")
    ] + [_rank_body(world, "s1", subject="latin", id="req-latin")]
    r = await client.post(BATCH, json={"requests": requests}, headers=world.as_("coord"))
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["placed"], body["total"], body["method"]) == (2, 3, "cp-sat")
    placed = {a["request_id"]: (a["tutor_id"], a["start"]) for a in body["assignments"]}
    assert placed == {
        "req-s1": (world.ids["t1"], "2030-01-08T09:00:00Z"),
        "req-s2": (world.ids["t2"], "2030-01-08T09:00:00Z"),
    }
    [left] = body["unplaced"]
    assert (left["request_id"], left["code"]) == ("req-latin", "no_qualified_tutor")
    assert "latin" in left["reason"]
    assert await _session_count(client, world) == before


@pytest.mark.parametrize("who", ["t1", "s1", "g1"])
@pytest.mark.parametrize("path", [RANK, BATCH])
async def test_only_coordinators_match(
    client: httpx.AsyncClient, world: World, who: str, path: str
) -> None:
    """Tutors, students and guardians are refused with 403."""
    body: dict[str, Any] = _rank_body(world)
    if path == BATCH:
        body = {"requests": [body | {"id": "r1"}]}
    r = await client.post(path, json=body, headers=world.as_(who))
    assert r.status_code == 403, r.text
    assert r.json()["error"]["code"] == "permission_denied"


async def test_anonymous_and_other_organisations_are_refused(
    client: httpx.AsyncClient, world: World
) -> None:
    """No token is 401; another organisation's coordinator cannot name our student."""
    r = await client.post(RANK, json=_rank_body(world))
    assert r.status_code == 401
    r = await client.post(RANK, json=_rank_body(world), headers=world.as_("coordB"))
    assert r.status_code == 422, r.text
    [detail] = r.json()["error"]["details"]
    assert detail["loc"] == ["body", "student_id"]
    assert detail["type"] == "invalid_reference"
    batch = {"requests": [_rank_body(world, id="r1")]}
    r = await client.post(BATCH, json=batch, headers=world.as_("coordB"))
    assert r.status_code == 422, r.text
    assert r.json()["error"]["details"][0]["loc"] == ["body", "requests", 0, "student_id"]


@pytest.mark.parametrize(
    ("change", "loc"),
    [
        ({"duration_minutes": 5}, ["body", "duration_minutes"]),
        ({"windows": []}, ["body", "windows"]),
        (
            {"windows": [{"start": "2030-01-08T12:00:00Z", "end": "2030-01-08T09:00:00Z"}]},
            ["body", "windows", 0],
        ),
        ({"windows": [{"start": "2030-01-08T12:00:00", "end": "2030-01-08T13:00:00Z"}]}, None),
        ({"subject": ""}, ["body", "subject"]),
        ({"colour": "blue"}, ["body", "colour"]),
    ],
    ids=["short", "no-windows", "backwards", "naive", "blank-subject", "unknown-field"],
)
async def test_bad_input_is_422_with_the_field(
    client: httpx.AsyncClient, world: World, change: dict[str, Any], loc: list[Any] | None
) -> None:
    """Each malformed body names the field to fix."""
    r = await client.post(RANK, json=_rank_body(world, **change), headers=world.as_("coord"))
    assert r.status_code == 422, r.text
    details = r.json()["error"]["details"]
    if loc is not None:
        assert loc in [d["loc"] for d in details]
    else:
        assert any(d["loc"][:2] == ["body", "windows"] for d in details)


async def test_batch_refuses_duplicate_ids(client: httpx.AsyncClient, world: World) -> None:
    """Two requests with one id would make the answer ambiguous: 422."""
    batch = {"requests": [_rank_body(world, id="same"), _rank_body(world, "s2", id="same")]}
    r = await client.post(BATCH, json=batch, headers=world.as_("coord"))
    assert r.status_code == 422, r.text
    assert "unique" in r.text
