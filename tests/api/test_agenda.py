"""A tutor's or a student's calendar over a date range, in their own time zone."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.api.test_series import _series
from tests.conftest import World

SPRING = {"start": "2030-03-24T00:00:00Z", "end": "2030-04-09T00:00:00Z"}


def _tutor(world: World, who: str = "t1") -> str:
    return f"/api/v1/tutors/{world.ids[who]}/calendar"


def _student(world: World, who: str = "s1") -> str:
    return f"/api/v1/students/{world.ids[who]}/calendar"


async def _read(
    client: httpx.AsyncClient, world: World, url: str, who: str, **params: Any
) -> dict[str, Any]:
    r = await client.get(url, params=params, headers=world.as_(who))
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


async def _weekly_london_lesson(client: httpx.AsyncClient, world: World) -> None:
    """t1 (in London) teaches s1 every Monday at 16:00 London time from 25 March 2030, four
    times: the clocks go forward on 31 March."""
    h = world.as_("coord")
    r = await client.patch(
        f"/api/v1/tutors/{world.ids['t1']}", json={"time_zone": "Europe/London"}, headers=h
    )
    assert r.status_code == 200, r.text
    r = await client.post("/api/v1/series", json=_series(world), headers=h)
    assert r.status_code == 201, r.text


async def test_a_weekly_lesson_stays_at_1600_local_across_the_clock_change(
    client: httpx.AsyncClient, world: World
) -> None:
    """In the tutor's London calendar the lesson is 16:00 before and after the change,
    while its UTC start moves from 16:00 to 15:00."""
    await _weekly_london_lesson(client, world)
    for who in ("coord", "t1"):
        body = await _read(client, world, _tutor(world), who, **SPRING)
        assert body["total"] == 3 and body["time_zone"] == "Europe/London"
        items = body["items"]
        assert [i["local_start"] for i in items] == [
            "2030-03-25T16:00:00+00:00",
            "2030-04-01T16:00:00+01:00",
            "2030-04-08T16:00:00+01:00",
        ]
        assert [i["local_end"] for i in items][:2] == [
            "2030-03-25T17:00:00+00:00",
            "2030-04-01T17:00:00+01:00",
        ]
        assert [i["scheduled_start"] for i in items][:2] == [
            "2030-03-25T16:00:00Z",
            "2030-04-01T15:00:00Z",
        ]
        first = items[0]
        assert (first["subject"], first["status"], first["time_zone"]) == (
            "maths",
            "scheduled",
            "Europe/London",
        )
        assert (first["tutor_id"], first["tutor_name"]) == (world.ids["t1"], "Person t1")
        assert first["students"] == [{"student_id": world.ids["s1"], "name": "Person s1"}]
    page = await _read(client, world, _tutor(world), "t1", **SPRING, limit=2, offset=2)
    assert (page["total"], [i["local_start"] for i in page["items"]]) == (
        3,
        ["2030-04-08T16:00:00+01:00"],
    )


async def test_a_students_calendar_is_in_their_zone_or_the_one_asked_for(
    client: httpx.AsyncClient, world: World
) -> None:
    """s1 lives on UTC, so the same lessons read 16:00 then 15:00; `time_zone` shows them
    in New York instead; the guardian reads the same calendar."""
    await _weekly_london_lesson(client, world)
    for who in ("s1", "g1", "coord"):
        body = await _read(client, world, _student(world), who, **SPRING)
        assert body["time_zone"] == "UTC"
        assert [i["local_start"] for i in body["items"]] == [
            "2030-03-25T16:00:00+00:00",
            "2030-04-01T15:00:00+00:00",
            "2030-04-08T15:00:00+00:00",
        ]
    body = await _read(client, world, _student(world), "s1", **SPRING, time_zone="America/New_York")
    assert body["time_zone"] == "America/New_York"
    assert [i["local_start"] for i in body["items"]][:2] == [
        "2030-03-25T12:00:00-04:00",
        "2030-04-01T11:00:00-04:00",
    ]
    r = await client.get(
        _student(world), params={**SPRING, "time_zone": "Mars/Olympus"}, headers=world.as_("s1")
    )
    assert r.status_code == 422 and "IANA" in r.text


@pytest.mark.parametrize(
    ("start", "end", "listed"),
    [
        ("10:30", "12:00", True),
        ("09:00", "10:30", True),
        ("10:15", "10:45", True),
        ("11:00", "12:00", False),
        ("08:00", "10:00", False),
    ],
    ids=["starts-before", "ends-after", "inside", "ends-at-start", "starts-at-end"],
)
async def test_sessions_that_overlap_the_range_edges_are_listed(
    client: httpx.AsyncClient, world: World, start: str, end: str, listed: bool
) -> None:
    """ses1 runs 10:00-11:00 on 7 January: listed whenever it overlaps the range, even
    partly; touching an edge is not overlapping."""
    params = {"start": f"2030-01-07T{start}:00Z", "end": f"2030-01-07T{end}:00Z"}
    body = await _read(client, world, _tutor(world), "coord", **params)
    assert [i["session_id"] for i in body["items"]] == ([world.ids["ses1"]] if listed else [])
    assert body["total"] == int(listed)


async def test_status_filters_the_calendar(client: httpx.AsyncClient, world: World) -> None:
    """`status` keeps only sessions in that state."""
    day = {"start": "2030-01-07T00:00:00Z", "end": "2030-01-08T00:00:00Z"}
    scheduled = await _read(client, world, _tutor(world), "t1", **day, status="scheduled")
    assert [i["session_id"] for i in scheduled["items"]] == [world.ids["ses1"]]
    cancelled = await _read(client, world, _tutor(world), "t1", **day, status="cancelled")
    assert cancelled["items"] == []


async def test_who_may_read_whose_calendar(client: httpx.AsyncClient, world: World) -> None:
    """Another tutor's, student's or family's calendar is a 404, as is another
    organisation's; no token is a 401."""
    day = {"start": "2030-01-07T00:00:00Z", "end": "2030-01-08T00:00:00Z"}
    for who, url in (
        ("t1", _tutor(world, "t2")),
        ("s1", _student(world, "s2")),
        ("g1", _student(world, "s2")),
        ("t1", _student(world, "s2")),
        ("coordB", _tutor(world, "t1")),
        ("coordB", _student(world, "s1")),
    ):
        r = await client.get(url, params=day, headers=world.as_(who))
        assert r.status_code == 404, (who, url, r.text)
        assert r.json()["error"]["code"] == "not_found"
    assert (await client.get(_tutor(world), params=day)).status_code == 401
    own = await _read(client, world, _tutor(world, "t2"), "t2", **day)
    assert [i["session_id"] for i in own["items"]] == [world.ids["ses2"]]


async def test_a_group_session_hides_the_names_of_students_you_cannot_see(
    client: httpx.AsyncClient, world: World
) -> None:
    """In a session with s1 and s2, s1's guardian sees s2's id without a name; the
    coordinator sees both names. t1, who now teaches s2, sees only their own session
    in s2's calendar, not s2's lesson with t2."""
    h = world.as_("coord")
    r = await client.post(
        "/api/v1/sessions",
        json={
            "tutor_id": world.ids["t1"],
            "student_ids": [world.ids["s1"], world.ids["s2"]],
            "subject": "maths",
            "scheduled_start": "2030-01-07T14:00:00Z",
            "scheduled_end": "2030-01-07T15:00:00Z",
        },
        headers=h,
    )
    assert r.status_code == 201, r.text
    group = r.json()["id"]
    day = {"start": "2030-01-07T13:00:00Z", "end": "2030-01-07T16:00:00Z"}
    names = {
        s["student_id"]: s["name"]
        for s in (await _read(client, world, _student(world), "g1", **day))["items"][0]["students"]
    }
    assert names == {world.ids["s1"]: "Person s1", world.ids["s2"]: None}
    names = {
        s["student_id"]: s["name"]
        for s in (await _read(client, world, _student(world), "coord", **day))["items"][0][
            "students"
        ]
    }
    assert names == {world.ids["s1"]: "Person s1", world.ids["s2"]: "Person s2"}
    whole_day = {"start": "2030-01-07T00:00:00Z", "end": "2030-01-08T00:00:00Z"}
    seen = await _read(client, world, _student(world, "s2"), "t1", **whole_day)
    assert [i["session_id"] for i in seen["items"]] == [group]


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"start": "2030-01-08T00:00:00Z", "end": "2030-01-07T00:00:00Z"}, "after start"),
        ({"start": "2030-01-07T00:00:00Z", "end": "2030-01-07T00:00:00Z"}, "after start"),
        ({"start": "2030-01-01T00:00:00Z", "end": "2030-04-04T00:00:00Z"}, "92 days"),
        ({"start": "2030-01-07T00:00:00", "end": "2030-01-08T00:00:00Z"}, "timezone"),
        ({"start": "2030-01-07T00:00:00Z"}, "end"),
    ],
    ids=["reversed", "empty", "too-long", "naive", "no-end"],
)
async def test_a_bad_range_is_422_saying_what_to_fix(
    client: httpx.AsyncClient, world: World, params: dict[str, str], message: str
) -> None:
    """Reversed, empty, over 92 days, without an offset or half given: 422 naming the problem."""
    for url in (_tutor(world), _student(world)):
        r = await client.get(url, params=params, headers=world.as_("coord"))
        assert r.status_code == 422, r.text
        error = r.json()["error"]
        assert message in error["message"] + str(error["details"])
        assert any(d["loc"][0] == "query" for d in error["details"])
