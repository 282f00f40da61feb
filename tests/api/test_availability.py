"""Coordinators set tutors' qualifications, availability and limits; bookings obey them."""

from datetime import timedelta

import httpx
import pytest

from tests.conftest import NOW, World

WEEKDAYS = ["monday", "tuesday", "wednesday", "thursday", "friday"]


def _iso(delta_hours: float) -> str:
    return (NOW + timedelta(hours=delta_hours)).isoformat()


def _url(world: World, what: str, tutor: str = "t1") -> str:
    return f"/api/v1/tutors/{world.ids[tutor]}/{what}"


async def _configure_t1(client: httpx.AsyncClient, world: World) -> None:
    """t1 in London: weekdays 09:00-17:00, off on 2030-01-09, maths at gcse, 2 a day, 30 min gap."""
    h = world.as_("coord")
    r = await client.patch(
        f"/api/v1/tutors/{world.ids['t1']}", json={"time_zone": "Europe/London"}, headers=h
    )
    assert r.status_code == 200, r.text
    body = {
        "rules": [{"weekday": d, "start": "09:00", "end": "17:00"} for d in WEEKDAYS],
        "exceptions": [{"kind": "time_off", "date": "2030-01-09", "note": "dentist"}],
    }
    r = await client.put(_url(world, "availability"), json=body, headers=h)
    assert r.status_code == 200, r.text
    r = await client.put(
        _url(world, "qualifications"),
        json={"items": [{"subject": "maths", "level": "gcse"}]},
        headers=h,
    )
    assert r.status_code == 200, r.text
    r = await client.put(
        _url(world, "limits"),
        json={"max_sessions_per_day": 2, "max_sessions_per_week": 10, "buffer_minutes": 30},
        headers=h,
    )
    assert r.status_code == 200, r.text


async def test_set_and_read_a_tutors_schedule(client: httpx.AsyncClient, world: World) -> None:
    """What a coordinator puts, the coordinator and the tutor read back."""
    await _configure_t1(client, world)
    for who in ("coord", "t1"):
        h = world.as_(who)
        avail = (await client.get(_url(world, "availability"), headers=h)).json()
        assert avail["time_zone"] == "Europe/London"
        assert avail["rules"][0] == {"weekday": "monday", "start": "09:00", "end": "17:00"}
        assert len(avail["rules"]) == 5
        [x] = avail["exceptions"]
        assert (x["kind"], x["date"], x["note"], x["start"]) == (
            "time_off",
            "2030-01-09",
            "dentist",
            None,
        )
        quals = (await client.get(_url(world, "qualifications"), headers=h)).json()
        assert quals["items"] == [{"subject": "maths", "level": "gcse"}]
        limits = (await client.get(_url(world, "limits"), headers=h)).json()
        assert (limits["max_sessions_per_day"], limits["buffer_minutes"]) == (2, 30)


async def test_windows_keep_local_hours_across_dst(client: httpx.AsyncClient, world: World) -> None:
    """The expanded windows are 09:00-17:00 London time before and after the spring change."""
    await _configure_t1(client, world)
    r = await client.get(
        _url(world, "availability/windows"),
        params={"starts_after": "2030-03-29T00:00:00Z", "starts_before": "2030-04-02T00:00:00Z"},
        headers=world.as_("t1"),
    )
    assert r.status_code == 200, r.text
    items = r.json()["items"]
    assert [(w["start"], w["end"]) for w in items] == [
        ("2030-03-29T09:00:00Z", "2030-03-29T17:00:00Z"),
        ("2030-04-01T08:00:00Z", "2030-04-01T16:00:00Z"),
    ]
    unset = await client.get(
        _url(world, "availability/windows", "t2"),
        params={"starts_after": _iso(0), "starts_before": _iso(24)},
        headers=world.as_("coord"),
    )
    assert unset.json()["configured"] is False
    assert len(unset.json()["items"]) == 1


@pytest.mark.parametrize(
    ("who", "method", "status"),
    [
        ("t1", "PUT", 403),
        ("s1", "GET", 403),
        ("g1", "GET", 403),
        ("t2", "GET", 404),
        ("coordB", "GET", 404),
        ("coordB", "PUT", 404),
    ],
)
@pytest.mark.parametrize("what", ["availability", "qualifications", "limits"])
async def test_only_coordinators_write_and_only_staff_read(
    client: httpx.AsyncClient, world: World, who: str, method: str, status: int, what: str
) -> None:
    """The tutor reads but cannot write; students, guardians and others are refused."""
    body = {"availability": {"rules": []}, "qualifications": {"items": []}, "limits": {}}[what]
    r = await client.request(
        method,
        _url(world, what),
        json=body if method == "PUT" else None,
        headers=world.as_(who),
    )
    assert r.status_code == status, r.text


@pytest.mark.parametrize(
    "body",
    [
        {"rules": [{"weekday": "monday", "start": "17:00", "end": "09:00"}]},
        {"rules": [{"weekday": "funday", "start": "09:00", "end": "17:00"}]},
        {"rules": [{"weekday": "monday", "start": "9am", "end": "17:00"}]},
        {"exceptions": [{"kind": "time_off"}]},
        {"exceptions": [{"kind": "time_off", "date": "2030-01-09", "starts_at": _iso(1)}]},
    ],
    ids=["backwards", "weekday", "format", "no-date", "both-forms"],
)
async def test_bad_availability_is_refused(
    client: httpx.AsyncClient, world: World, body: dict[str, object]
) -> None:
    """Malformed rules and exceptions get 422 with the field."""
    r = await client.put(_url(world, "availability"), json=body, headers=world.as_("coord"))
    assert r.status_code == 422, r.text
    assert r.json()["error"]["details"][0]["loc"][0] == "body"


async def _count(client: httpx.AsyncClient, world: World) -> int:
    r = await client.get("/api/v1/sessions", headers=world.as_("coord"))
    return int(r.json()["total"])


async def test_refused_booking_lists_every_conflict_and_writes_nothing(
    client: httpx.AsyncClient, world: World
) -> None:
    """One booking that breaks every rule is refused with each conflict explained."""
    await _configure_t1(client, world)
    h = world.as_("coord")
    ok = {
        "tutor_id": world.ids["t1"],
        "student_ids": [world.ids["s1"]],
        "subject": "maths",
        "scheduled_start": _iso(5),  # Monday 14:00-15:00 London
        "scheduled_end": _iso(6),
    }
    assert (await client.post("/api/v1/sessions", json=ok, headers=h)).status_code == 201
    before = await _count(client, world)
    bad = {
        **ok,
        "student_ids": [world.ids["s1"], world.ids["s2"]],
        "subject": "art",
        "scheduled_start": _iso(1.5),  # 10:30-17:30: over ses1, ses2, past 17:00
        "scheduled_end": _iso(8.5),
    }
    r = await client.post("/api/v1/sessions", json=bad, headers=h)
    assert r.status_code == 409, r.text
    err = r.json()["error"]
    assert err["code"] == "booking_conflict"
    types = [d["type"] for d in err["details"]]
    assert types.count("tutor_double_booked") == 2  # ses1 and the 14:00 session
    assert types.count("student_double_booked") == 3  # s1: ses1 and 14:00; s2: ses2
    assert {"outside_availability", "tutor_not_qualified", "daily_limit_reached"} <= set(types)
    by_type = {d["type"]: d for d in err["details"]}
    tutor_clashes = [d["message"] for d in err["details"] if d["type"] == "tutor_double_booked"]
    assert any(world.ids["ses1"] in m for m in tutor_clashes)
    assert by_type["outside_availability"]["loc"] == ["body", "scheduled_start"]
    assert "09:00-17:00" in by_type["outside_availability"]["message"]
    assert "art" in by_type["tutor_not_qualified"]["message"]
    assert await _count(client, world) == before
    buffer = {**ok, "scheduled_start": _iso(6.25), "scheduled_end": _iso(6.75)}
    r = await client.post("/api/v1/sessions", json=buffer, headers=h)
    assert [d["type"] for d in r.json()["error"]["details"]] == [
        "daily_limit_reached",
        "inside_buffer",
    ]
    off = {**ok, "scheduled_start": _iso(49), "scheduled_end": _iso(50)}  # Wednesday, time off
    r = await client.post("/api/v1/sessions", json=off, headers=h)
    assert [d["type"] for d in r.json()["error"]["details"]] == ["outside_availability"]
    assert "not available at all" in r.json()["error"]["details"][0]["message"]
    assert await _count(client, world) == before


async def test_cancelled_sessions_free_the_slot(client: httpx.AsyncClient, world: World) -> None:
    """Booking over a cancelled session is accepted; over a scheduled one, refused."""
    h = world.as_("coord")
    clash = {
        "tutor_id": world.ids["t1"],
        "student_ids": [world.ids["s1"]],
        "subject": "maths",
        "scheduled_start": _iso(1),
        "scheduled_end": _iso(2),
    }
    r = await client.post("/api/v1/sessions", json=clash, headers=h)
    assert r.status_code == 409
    r = await client.post(
        f"/api/v1/sessions/{world.ids['ses1']}/cancel", json={"reason": "ill"}, headers=h
    )
    assert r.status_code == 200, r.text
    r = await client.post("/api/v1/sessions", json=clash, headers=h)
    assert r.status_code == 201, r.text
