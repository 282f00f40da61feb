"""Coordinators store students' requests, rank tutors for one, and match and book them all."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import httpx
import pytest

import scheduling.proposals
from core.clock import FixedClock
from scheduling.match_batch import BatchResult, match_batch
from tests.api.test_matching import _configure
from tests.conftest import World

URL = "/api/v1/requests"
# Tuesday 2030-01-08; London is on UTC in January. The clock says Monday 09:00,
# and ses1 (t1, s1) and ses2 (t2, s2) are booked Monday 10:00-11:00.
TUESDAY_NINE = {"start": "2030-01-08T09:00:00Z", "end": "2030-01-08T10:00:00Z"}
TUESDAY_MORNING = {"start": "2030-01-08T09:00:00Z", "end": "2030-01-08T12:00:00Z"}


def _body(world: World, student: str = "s1", **change: Any) -> dict[str, Any]:
    return {
        "student_id": world.ids[student],
        "subject": "maths",
        "level": "gcse",
        "windows": [TUESDAY_MORNING],
        "duration_minutes": 60,
    } | change


async def _store(
    client: httpx.AsyncClient, world: World, student: str = "s1", **change: Any
) -> dict[str, Any]:
    r = await client.post(URL, json=_body(world, student, **change), headers=world.as_("coord"))
    assert r.status_code == 201, r.text
    body: dict[str, Any] = r.json()
    return body


async def _get(client: httpx.AsyncClient, world: World, request_id: str) -> dict[str, Any]:
    r = await client.get(f"{URL}/{request_id}", headers=world.as_("coord"))
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


async def _session_count(client: httpx.AsyncClient, world: World) -> int:
    r = await client.get("/api/v1/sessions", headers=world.as_("coord"))
    return int(r.json()["total"])


async def test_store_read_filter_and_page(client: httpx.AsyncClient, world: World) -> None:
    """Stored requests are open, read back as stored, filtered and paged, oldest first."""
    h = world.as_("coord")
    first = await _store(client, world, note="prefers afternoons")
    assert first["id"].startswith("req_")
    assert (first["status"], first["session_id"], first["note"]) == (
        "open",
        None,
        "prefers afternoons",
    )
    assert first["windows"] == [{"start": "2030-01-08T09:00:00Z", "end": "2030-01-08T12:00:00Z"}]
    assert first["created_at"] == first["updated_at"] == "2030-01-07T09:00:00Z"
    second = await _store(client, world, "s2")
    paris = [{"start": "2030-01-08T10:00:00+01:00", "end": "2030-01-08T13:00:00+01:00"}]
    physics = await _store(client, world, subject="Physics", level="A-level", windows=paris)
    assert physics["windows"] == first["windows"]  # stored in UTC
    assert await _get(client, world, first["id"]) == first

    async def ids(**params: Any) -> list[str]:
        r = await client.get(URL, params=params, headers=h)
        assert r.status_code == 200, r.text
        return [item["id"] for item in r.json()["items"]]

    everyone = sorted([first["id"], second["id"], physics["id"]])
    assert await ids() == everyone  # same creation time: ties go by id
    assert await ids(student_id=world.ids["s1"]) == sorted([first["id"], physics["id"]])
    assert await ids(subject="physics") == [physics["id"]]
    assert await ids(level="GCSE") == sorted([first["id"], second["id"]])
    r = await client.get(URL, params={"limit": 1, "offset": 1}, headers=h)
    page = r.json()
    assert (page["total"], [i["id"] for i in page["items"]]) == (3, everyone[1:2])

    r = await client.post(f"{URL}/{physics['id']}/withdraw", headers=h)
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "withdrawn"
    assert await ids(status="withdrawn") == [physics["id"]]
    assert await ids(status="open") == sorted([first["id"], second["id"]])
    r = await client.get(URL, params={"status": "lost"}, headers=h)
    assert r.status_code == 422


async def test_a_request_needs_a_student_of_the_organisation_and_windows_ahead(
    client: httpx.AsyncClient, world: World
) -> None:
    """Unknown or foreign students, windows over 31 days apart and past windows are 422s."""
    h = world.as_("coord")
    for body in (
        _body(world) | {"student_id": "stu_nobody"},
        _body(world, "sB"),
    ):
        r = await client.post(URL, json=body, headers=h)
        assert r.status_code == 422, r.text
        error = r.json()["error"]
        assert error["code"] == "invalid_reference"
        assert "organisation" in error["message"]
        assert [d["loc"] for d in error["details"]] == [["body", "student_id"]]
    spread = [TUESDAY_MORNING, {"start": "2030-02-20T09:00:00Z", "end": "2030-02-20T12:00:00Z"}]
    r = await client.post(URL, json=_body(world, windows=spread), headers=h)
    assert r.status_code == 422 and "31 days" in r.text
    past = [{"start": "2030-01-06T09:00:00Z", "end": "2030-01-06T12:00:00Z"}]
    r = await client.post(URL, json=_body(world, windows=past), headers=h)
    assert r.status_code == 422 and "passed" in r.json()["error"]["message"]
    r = await client.get(URL, headers=h)
    assert r.json()["total"] == 0


async def test_the_same_idempotency_key_stores_one_request(
    client: httpx.AsyncClient, world: World
) -> None:
    """A retried create with the same Idempotency-Key gets the first answer; one request."""
    h = {**world.as_("coord"), "Idempotency-Key": "request-7"}
    first = await client.post(URL, json=_body(world), headers=h)
    assert first.status_code == 201, first.text
    retry = await client.post(URL, json=_body(world), headers=h)
    assert retry.status_code == 201
    assert retry.json() == first.json()
    assert retry.headers["idempotent-replayed"] == "true"
    r = await client.get(URL, headers=world.as_("coord"))
    assert [i["id"] for i in r.json()["items"]] == [first.json()["id"]]


async def test_only_an_open_request_can_be_withdrawn(
    client: httpx.AsyncClient, world: World
) -> None:
    """Withdrawing twice is a 409 invalid_state that says the request is withdrawn."""
    request = await _store(client, world)
    url = f"{URL}/{request['id']}"
    h = world.as_("coord")
    r = await client.post(f"{url}/withdraw", headers=h)
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "withdrawn"
    r = await client.post(f"{url}/withdraw", headers=h)
    assert r.status_code == 409
    error = r.json()["error"]
    assert error["code"] == "invalid_state"
    assert "withdrawn" in error["message"]
    r = await client.get(f"{url}/candidates", headers=h)
    assert r.status_code == 409 and r.json()["error"]["code"] == "invalid_state"


@pytest.mark.parametrize("who", ["t1", "s1", "g1"])
async def test_only_coordinators_use_requests(
    client: httpx.AsyncClient, world: World, who: str
) -> None:
    """Tutors, students and guardians get 403 on every request endpoint."""
    request = await _store(client, world)
    h = world.as_(who)
    for method, path in (
        ("POST", URL),
        ("GET", URL),
        ("GET", f"{URL}/{request['id']}"),
        ("POST", f"{URL}/{request['id']}/withdraw"),
        ("GET", f"{URL}/{request['id']}/candidates"),
        ("POST", f"{URL}/match"),
    ):
        body = _body(world) if path == URL else None
        r = await client.request(method, path, json=body, headers=h)
        assert r.status_code == 403, (method, path, r.text)
    assert (await _get(client, world, request["id"]))["status"] == "open"


async def test_another_organisation_cannot_see_our_requests(
    client: httpx.AsyncClient, world: World
) -> None:
    """Organisation B's coordinator lists none of ours and gets 404 for one; no token is 401."""
    request = await _store(client, world)
    h = world.as_("coordB")
    assert (await client.get(URL, headers=h)).json()["total"] == 0
    for r in (
        await client.get(f"{URL}/{request['id']}", headers=h),
        await client.post(f"{URL}/{request['id']}/withdraw", headers=h),
        await client.get(f"{URL}/{request['id']}/candidates", headers=h),
    ):
        assert r.status_code == 404, r.text
    assert (await client.get(URL)).status_code == 401


async def test_candidates_rank_tutors_for_a_stored_request(
    client: httpx.AsyncClient, world: World
) -> None:
    """s1's own tutor t1 first, then t2, each with the slot offered and reasons."""
    await _configure(client, world)
    request = await _store(client, world)
    r = await client.get(f"{URL}/{request['id']}/candidates", headers=world.as_("coord"))
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["request_id"], body["student_id"]) == (request["id"], world.ids["s1"])
    assert [c["tutor_id"] for c in body["candidates"]] == [world.ids["t1"], world.ids["t2"]]
    best = body["candidates"][0]
    assert (best["start"], best["end"]) == ("2030-01-08T09:00:00Z", "2030-01-08T10:00:00Z")
    assert best["display_name"] == "Person t1"
    assert any("continuity" in reason for reason in best["reasons"])
    assert body["excluded"] == []


async def test_book_a_candidate_marks_the_request_booked(
    client: httpx.AsyncClient, world: World
) -> None:
    """Booking t2 at its offered slot makes a real session and the request booked, once."""
    await _configure(client, world)
    request = await _store(client, world)
    url = f"{URL}/{request['id']}"
    h = world.as_("coord")
    candidates = (await client.get(f"{url}/candidates", headers=h)).json()["candidates"]
    t2 = next(c for c in candidates if c["tutor_id"] == world.ids["t2"])
    r = await client.post(
        f"{url}/book", json={"tutor_id": t2["tutor_id"], "start": t2["start"]}, headers=h
    )
    assert r.status_code == 200, r.text
    booked = r.json()
    assert booked["status"] == "booked" and booked["session_id"]
    session = (await client.get(f"/api/v1/sessions/{booked['session_id']}", headers=h)).json()
    assert (session["tutor_id"], session["student_ids"], session["subject"]) == (
        world.ids["t2"],
        [world.ids["s1"]],
        "maths",
    )
    assert (session["scheduled_start"], session["scheduled_end"]) == (t2["start"], t2["end"])
    again = await client.post(
        f"{url}/book", json={"tutor_id": t2["tutor_id"], "start": t2["start"]}, headers=h
    )
    assert again.status_code == 409 and again.json()["error"]["code"] == "invalid_state"
    assert "booked" in again.json()["error"]["message"]


async def test_booking_a_taken_or_outside_slot_leaves_the_request_open(
    client: httpx.AsyncClient, world: World
) -> None:
    """t1 is busy Monday 10:00 (ses1): 409 naming that session; a start outside the windows
    is a 422; the request stays open and no session is added."""
    monday = [{"start": "2030-01-07T10:00:00Z", "end": "2030-01-07T12:00:00Z"}]
    request = await _store(client, world, windows=monday)
    url = f"{URL}/{request['id']}/book"
    h = world.as_("coord")
    before = await _session_count(client, world)
    r = await client.post(
        url, json={"tutor_id": world.ids["t1"], "start": "2030-01-07T10:00:00Z"}, headers=h
    )
    assert r.status_code == 409, r.text
    error = r.json()["error"]
    assert error["code"] == "booking_conflict"
    assert any(world.ids["ses1"] in d["message"] for d in error["details"])
    r = await client.post(
        url, json={"tutor_id": world.ids["t1"], "start": "2030-01-07T11:30:00Z"}, headers=h
    )
    assert r.status_code == 422, r.text
    assert r.json()["error"]["details"][0]["type"] == "outside_windows"
    assert (await _get(client, world, request["id"]))["status"] == "open"
    assert await _session_count(client, world) == before


async def test_match_proposes_then_books_the_open_requests(
    client: httpx.AsyncClient, world: World
) -> None:
    """Without `book` nothing changes; with it, each proposal is booked and its request
    marked booked; a request no tutor can take stays open, and is all that is left."""
    await _configure(client, world)
    h = world.as_("coord")
    r1 = await _store(client, world, windows=[TUESDAY_NINE])
    r2 = await _store(client, world, "s2", windows=[TUESDAY_NINE])
    latin = await _store(client, world, subject="latin")
    before = await _session_count(client, world)

    r = await client.post(f"{URL}/match", headers=h)
    assert r.status_code == 200, r.text
    proposed = r.json()
    assert (proposed["placed"], proposed["total"]) == (2, 3)
    placed = {a["request_id"]: (a["tutor_id"], a["start"]) for a in proposed["assignments"]}
    assert placed == {
        r1["id"]: (world.ids["t1"], "2030-01-08T09:00:00Z"),
        r2["id"]: (world.ids["t2"], "2030-01-08T09:00:00Z"),
    }
    [left] = proposed["unplaced"]
    assert (left["request_id"], left["code"]) == (latin["id"], "no_qualified_tutor")
    assert proposed["booked"] == proposed["not_booked"] == []
    assert await _session_count(client, world) == before
    assert (await _get(client, world, r1["id"]))["status"] == "open"

    r = await client.post(f"{URL}/match", json={"book": True}, headers=h)
    assert r.status_code == 200, r.text
    result = r.json()
    assert result["not_booked"] == []
    booked = {b["request_id"]: b for b in result["booked"]}
    assert set(booked) == {r1["id"], r2["id"]}
    assert await _session_count(client, world) == before + 2
    for request, tutor, student in ((r1, "t1", "s1"), (r2, "t2", "s2")):
        stored = await _get(client, world, request["id"])
        assert stored["status"] == "booked"
        assert stored["session_id"] == booked[request["id"]]["session_id"]
        session = (await client.get(f"/api/v1/sessions/{stored['session_id']}", headers=h)).json()
        assert (session["tutor_id"], session["student_ids"], session["scheduled_start"]) == (
            world.ids[tutor],
            [world.ids[student]],
            "2030-01-08T09:00:00Z",
        )
    assert (await _get(client, world, latin["id"]))["status"] == "open"

    r = await client.post(f"{URL}/match", json={"book": True}, headers=h)
    again = r.json()
    assert (again["total"], again["placed"], again["booked"]) == (1, 0, [])


async def test_a_slot_taken_meanwhile_leaves_its_request_open_with_the_reason(
    client: httpx.AsyncClient, world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another coordinator books t2 and s2 at 09:00 after the proposals were made and before
    they are booked: r1 is booked, r2 comes back under not_booked naming that session,
    and stays open."""
    await _configure(client, world)
    h = world.as_("coord")
    r1 = await _store(client, world, windows=[TUESDAY_NINE])
    r2 = await _store(client, world, "s2", windows=[TUESDAY_NINE])
    loop = asyncio.get_running_loop()
    taken: list[str] = []

    async def book_meanwhile() -> None:
        r = await client.post(
            "/api/v1/sessions",
            json={
                "tutor_id": world.ids["t2"],
                "student_ids": [world.ids["s2"]],
                "subject": "maths",
                "scheduled_start": TUESDAY_NINE["start"],
                "scheduled_end": TUESDAY_NINE["end"],
            },
            headers=h,
        )
        assert r.status_code == 201, r.text
        taken.append(r.json()["id"])

    # The race window is the solver's run on its worker thread; a real concurrent
    # booking request is made to land inside it, every time.
    def solve_then_race(*args: Any, **kwargs: Any) -> BatchResult:
        result = match_batch(*args, **kwargs)
        asyncio.run_coroutine_threadsafe(book_meanwhile(), loop).result(timeout=60)
        return result

    monkeypatch.setattr(scheduling.proposals, "match_batch", solve_then_race)
    before = await _session_count(client, world)
    r = await client.post(f"{URL}/match", json={"book": True}, headers=h)
    assert r.status_code == 200, r.text
    result = r.json()
    assert [b["request_id"] for b in result["booked"]] == [r1["id"]]
    [refused] = result["not_booked"]
    assert (refused["request_id"], refused["tutor_id"], refused["code"]) == (
        r2["id"],
        world.ids["t2"],
        "booking_conflict",
    )
    assert any(taken[0] in reason for reason in refused["reasons"])
    assert await _session_count(client, world) == before + 2  # r1's and the one meanwhile
    assert (await _get(client, world, r1["id"]))["status"] == "booked"
    still = await _get(client, world, r2["id"])
    assert (still["status"], still["session_id"]) == ("open", None)


async def test_match_names_its_batch_within_31_days(
    client: httpx.AsyncClient, world: World
) -> None:
    """Open requests spread over more than 31 days are a 422 that says to name a batch;
    a named batch matches; naming a withdrawn or unknown request is refused."""
    await _configure(client, world)
    h = world.as_("coord")
    january = await _store(client, world)
    late = [{"start": "2030-02-20T09:00:00Z", "end": "2030-02-20T12:00:00Z"}]
    february = await _store(client, world, "s2", windows=late)
    r = await client.post(f"{URL}/match", headers=h)
    assert r.status_code == 422, r.text
    assert "31" in r.json()["error"]["message"] and "request_ids" in r.json()["error"]["message"]
    r = await client.post(f"{URL}/match", json={"request_ids": [january["id"]]}, headers=h)
    assert r.status_code == 200, r.text
    assert (r.json()["total"], r.json()["placed"]) == (1, 1)

    await client.post(f"{URL}/{february['id']}/withdraw", headers=h)
    r = await client.post(f"{URL}/match", json={"request_ids": [february["id"]]}, headers=h)
    assert r.status_code == 409
    assert r.json()["error"]["code"] == "invalid_state"
    assert f"{february['id']} is withdrawn" in r.json()["error"]["message"]
    r = await client.post(f"{URL}/match", json={"request_ids": ["req_nothing"]}, headers=h)
    assert r.status_code == 422
    assert r.json()["error"]["details"][0]["loc"] == ["body", "request_ids", 0]


async def test_a_request_whose_windows_have_passed_is_not_proposed(
    client: httpx.AsyncClient, world: World, clock: FixedClock
) -> None:
    """Once too little of its window is left, a request gets no candidates (409) and is
    listed as expired by match rather than placed in the past."""
    await _configure(client, world)
    h = world.as_("coord")
    soon = [{"start": "2030-01-07T09:00:00Z", "end": "2030-01-07T10:05:00Z"}]
    request = await _store(client, world, "s2", windows=soon)
    clock.advance(timedelta(minutes=10))
    r = await client.get(f"{URL}/{request['id']}/candidates", headers=h)
    assert r.status_code == 409, r.text
    assert r.json()["error"]["code"] == "windows_passed"
    r = await client.post(f"{URL}/match", json={"book": True}, headers=h)
    assert r.status_code == 200, r.text
    assert (r.json()["expired"], r.json()["total"], r.json()["booked"]) == ([request["id"]], 0, [])
    assert (await _get(client, world, request["id"]))["status"] == "open"
