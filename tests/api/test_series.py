"""Recurring bookings through the API: expansion, all-or-nothing conflicts, and changes."""

from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import httpx

from tests.conftest import World

LONDON = ZoneInfo("Europe/London")


def _series(world: World, **change: Any) -> dict[str, Any]:
    return {
        "tutor_id": world.ids["t1"],
        "student_ids": [world.ids["s1"]],
        "subject": "maths",
        "start_date": "2030-03-25",
        "start_time": "16:00",
        "duration_minutes": 60,
        "time_zone": "Europe/London",
        "rrule": "FREQ=WEEKLY;BYDAY=MO;COUNT=4",
        **change,
    }


def _local(iso: str) -> str:
    return datetime.fromisoformat(iso).astimezone(LONDON).strftime("%Y-%m-%d %H:%M")


async def _session_count(client: httpx.AsyncClient, world: World) -> int:
    r = await client.get("/api/v1/sessions", headers=world.as_("coord"))
    return int(r.json()["total"])


async def test_series_books_every_occurrence_at_the_same_local_time(
    client: httpx.AsyncClient, world: World
) -> None:
    """A weekly 16:00 London series is 16:00 local on both sides of the DST change."""
    h = world.as_("coord")
    r = await client.post("/api/v1/series", json=_series(world), headers=h)
    assert r.status_code == 201, r.text
    series = r.json()
    occ = series["occurrences"]
    assert [_local(o["scheduled_start"]) for o in occ] == [
        "2030-03-25 16:00",
        "2030-04-01 16:00",
        "2030-04-08 16:00",
        "2030-04-15 16:00",
    ]
    assert occ[0]["scheduled_start"] == "2030-03-25T16:00:00Z"
    assert occ[1]["scheduled_start"] == "2030-04-01T15:00:00Z"
    assert {o["series_id"] for o in occ} == {series["id"]}
    # Real sessions: the student sees them in their own list.
    mine = await client.get(
        "/api/v1/sessions", params={"starts_after": "2030-03-01T00:00:00Z"}, headers=world.as_("s1")
    )
    assert [s["id"] for s in mine.json()["items"]] == [o["id"] for o in occ]
    again = await client.get(f"/api/v1/series/{series['id']}", headers=world.as_("t1"))
    assert again.status_code == 200 and again.json() == series
    hidden = await client.get(f"/api/v1/series/{series['id']}", headers=world.as_("t2"))
    assert hidden.status_code == 404


async def test_series_with_one_conflicting_occurrence_is_refused_whole(
    client: httpx.AsyncClient, world: World
) -> None:
    """One clash with an existing session refuses the series; the 409 names that occurrence."""
    h = world.as_("coord")
    before = await _session_count(client, world)
    # ses1 (t1) and ses2 (s2) are on Mon 2030-01-07 10:00-11:00 UTC: the first Monday
    # clashes twice, the later two are free.
    body = _series(
        world,
        student_ids=[world.ids["s2"]],
        start_date="2030-01-07",
        start_time="10:30",
        time_zone="UTC",
        rrule="FREQ=WEEKLY;COUNT=3",
    )
    r = await client.post("/api/v1/series", json=body, headers=h)
    assert r.status_code == 409, r.text
    err = r.json()["error"]
    assert err["code"] == "booking_conflict"
    assert [(d["type"], d["loc"]) for d in err["details"]] == [
        ("tutor_double_booked", ["occurrences", "2030-01-07T10:30:00Z", "tutor_id"]),
        ("student_double_booked", ["occurrences", "2030-01-07T10:30:00Z", "student_ids"]),
    ]
    assert "occurrence Mon 2030-01-07 10:30 UTC" in err["details"][0]["message"]
    assert world.ids["ses1"] in err["details"][0]["message"]
    assert world.ids["ses2"] in err["details"][1]["message"]
    assert await _session_count(client, world) == before


async def test_a_rule_that_never_ends_is_refused_with_how_to_fix_it(
    client: httpx.AsyncClient, world: World
) -> None:
    """No COUNT and no UNTIL: 422 invalid_recurrence, saying to add one; nothing booked."""
    before = await _session_count(client, world)
    r = await client.post(
        "/api/v1/series",
        json=_series(world, rrule="FREQ=WEEKLY;BYDAY=MO"),
        headers=world.as_("coord"),
    )
    assert r.status_code == 422
    err = r.json()["error"]
    assert err["code"] == "invalid_recurrence" and err["details"][0]["loc"] == ["body", "rrule"]
    assert "add COUNT" in err["message"]
    assert await _session_count(client, world) == before


async def test_move_and_cancel_one_occurrence(client: httpx.AsyncClient, world: World) -> None:
    """`this` moves or cancels one occurrence alone; it keeps its original start."""
    h = world.as_("coord")
    series = (await client.post("/api/v1/series", json=_series(world), headers=h)).json()
    occ = series["occurrences"]
    url = f"/api/v1/series/{series['id']}/occurrences"
    moved = await client.patch(
        f"{url}/{occ[1]['id']}",
        json={"scope": "this", "scheduled_start": "2030-04-02T09:00:00Z"},
        headers=h,
    )
    assert moved.status_code == 200, moved.text
    cancelled = await client.patch(
        f"{url}/{occ[2]['id']}", json={"scope": "this", "cancel": True}, headers=h
    )
    assert cancelled.status_code == 200, cancelled.text
    after = {o["id"]: o for o in cancelled.json()["occurrences"]}
    assert after[occ[1]["id"]]["scheduled_start"] == "2030-04-02T09:00:00Z"
    assert after[occ[1]["id"]]["scheduled_end"] == "2030-04-02T10:00:00Z"
    assert after[occ[1]["id"]]["occurrence_start"] == occ[1]["occurrence_start"]
    assert after[occ[2]["id"]]["status"] == "cancelled"
    for o in (occ[0], occ[3]):
        assert after[o["id"]] == o
    # A move onto another of the tutor's sessions is refused and changes nothing.
    clash = await client.patch(
        f"{url}/{occ[3]['id']}",
        json={"scope": "this", "scheduled_start": "2030-04-02T09:30:00Z"},
        headers=h,
    )
    assert clash.status_code == 409
    assert clash.json()["error"]["details"][0]["type"] == "tutor_double_booked"
    still = (await client.get(f"/api/v1/series/{series['id']}", headers=h)).json()
    assert {o["id"]: o for o in still["occurrences"]} == after


async def test_change_and_cancel_this_and_following(
    client: httpx.AsyncClient, world: World
) -> None:
    """`this_and_following` moves it and every later occurrence; earlier ones stay."""
    h = world.as_("coord")
    series = (await client.post("/api/v1/series", json=_series(world), headers=h)).json()
    occ = series["occurrences"]
    url = f"/api/v1/series/{series['id']}/occurrences"
    r = await client.patch(
        f"{url}/{occ[1]['id']}",
        json={
            "scope": "this_and_following",
            "scheduled_start": "2030-04-02T16:30:00Z",  # Tuesday 17:30 London
            "duration_minutes": 30,
        },
        headers=h,
    )
    assert r.status_code == 200, r.text
    after = r.json()["occurrences"]
    assert after[0] == occ[0]
    assert [(_local(o["scheduled_start"]), _local(o["scheduled_end"])) for o in after[1:]] == [
        ("2030-04-02 17:30", "2030-04-02 18:00"),
        ("2030-04-09 17:30", "2030-04-09 18:00"),
        ("2030-04-16 17:30", "2030-04-16 18:00"),
    ]
    assert [o["occurrence_start"] for o in after] == [o["occurrence_start"] for o in occ]
    r = await client.patch(
        f"{url}/{occ[2]['id']}", json={"scope": "this_and_following", "cancel": True}, headers=h
    )
    assert [o["status"] for o in r.json()["occurrences"]] == [
        "scheduled",
        "scheduled",
        "cancelled",
        "cancelled",
    ]
    tutor = await client.patch(
        f"{url}/{occ[1]['id']}", json={"scope": "this", "cancel": True}, headers=world.as_("t1")
    )
    assert tutor.status_code == 403


async def test_created_at_is_the_clock(client: httpx.AsyncClient, world: World) -> None:
    """The series records when it was booked."""
    r = await client.post("/api/v1/series", json=_series(world), headers=world.as_("coord"))
    assert datetime.fromisoformat(r.json()["created_at"]) == datetime(2030, 1, 7, 9, tzinfo=UTC)


async def test_this_and_following_can_shift_onto_the_next_occurrences_slot(
    client: httpx.AsyncClient, world: World
) -> None:
    """Pushing the rest of a weekly series back a week is no clash with itself."""
    h = world.as_("coord")
    series = (await client.post("/api/v1/series", json=_series(world), headers=h)).json()
    occ = series["occurrences"]
    r = await client.patch(
        f"/api/v1/series/{series['id']}/occurrences/{occ[1]['id']}",
        json={"scope": "this_and_following", "scheduled_start": occ[2]["scheduled_start"]},
        headers=h,
    )
    assert r.status_code == 200, r.text
    assert [_local(o["scheduled_start"]) for o in r.json()["occurrences"]] == [
        "2030-03-25 16:00",
        "2030-04-08 16:00",
        "2030-04-15 16:00",
        "2030-04-22 16:00",
    ]
