"""Calendar feeds read back as iCalendar: the right events, cancellations, rotation, privacy."""

import logging
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from icalendar import Calendar

from api.settings import Settings
from core.clock import FixedClock
from tests.conftest import World


async def _feed_path(client: httpx.AsyncClient, url: str, headers: dict[str, str]) -> str:
    r = await client.post(url, headers=headers)
    assert r.status_code == 201, r.text
    return str(r.json()["url"])


def _events(body: bytes) -> dict[str, dict[str, object]]:
    cal = Calendar.from_ical(body)
    out: dict[str, dict[str, object]] = {}
    for ev in cal.walk("VEVENT"):
        out[str(ev["UID"]).split("@")[0]] = {
            "start": ev.decoded("DTSTART"),
            "end": ev.decoded("DTEND"),
            "summary": str(ev["SUMMARY"]),
            "status": str(ev["STATUS"]),
            "sequence": int(ev["SEQUENCE"]),
        }
    return out


async def test_tutor_feed_lists_their_sessions_and_marks_changes(
    client: httpx.AsyncClient, world: World, settings: Settings, clock: FixedClock
) -> None:
    """The tutor's feed has their sessions in UTC; a cancelled one is CANCELLED, a moved one
    keeps its UID with a higher SEQUENCE."""
    url = await _feed_path(
        client, f"/api/v1/tutors/{world.ids['t1']}/calendar-feed", world.as_("t1")
    )
    assert url.startswith(settings.public_url + "/api/v1/calendar/") and url.endswith(".ics")
    path = url.removeprefix(settings.public_url)
    h = world.as_("coord")
    series = await client.post(
        "/api/v1/series",
        json={
            "tutor_id": world.ids["t1"],
            "student_ids": [world.ids["s2"]],
            "subject": "physics",
            "start_date": "2030-01-14",
            "start_time": "16:00",
            "duration_minutes": 60,
            "rrule": "FREQ=WEEKLY;COUNT=2",
        },
        headers=h,
    )
    first, second = (o["id"] for o in series.json()["occurrences"])
    clock.advance(timedelta(minutes=5))
    cancel = {"scope": "this", "cancel": True}
    await client.patch(
        f"/api/v1/series/{series.json()['id']}/occurrences/{second}", json=cancel, headers=h
    )
    moved = await client.patch(
        f"/api/v1/sessions/{world.ids['ses1']}",
        json={"scheduled_start": "2030-01-07T12:00:00Z", "scheduled_end": "2030-01-07T13:00:00Z"},
        headers=h,
    )
    assert moved.status_code == 200, moved.text

    r = await client.get(path)  # no credentials: the token is the credential
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/calendar")
    events = _events(r.content)
    assert set(events) == {world.ids["ses1"], first, second}
    ses1 = events[world.ids["ses1"]]
    assert ses1["start"] == datetime(2030, 1, 7, 12, tzinfo=UTC)
    assert ses1["end"] == datetime(2030, 1, 7, 13, tzinfo=UTC)
    assert ses1["summary"] == "maths with Person s1" and ses1["status"] == "CONFIRMED"
    assert ses1["sequence"] > 0
    assert events[first] == {
        "start": datetime(2030, 1, 14, 16, tzinfo=UTC),
        "end": datetime(2030, 1, 14, 17, tzinfo=UTC),
        "summary": "physics with Person s2",
        "status": "CONFIRMED",
        "sequence": 0,
    }
    assert events[second]["status"] == "CANCELLED" and events[second]["sequence"] > 0


async def test_rotating_the_feed_retires_the_old_address(
    client: httpx.AsyncClient, world: World, settings: Settings
) -> None:
    """A new feed URL works and the old one answers 404, as does a made-up one."""
    feed = f"/api/v1/tutors/{world.ids['t1']}/calendar-feed"
    old = (await _feed_path(client, feed, world.as_("coord"))).removeprefix(settings.public_url)
    assert (await client.get(old)).status_code == 200
    new = (await _feed_path(client, feed, world.as_("t1"))).removeprefix(settings.public_url)
    assert new != old
    assert (await client.get(new)).status_code == 200
    gone = await client.get(old)
    assert gone.status_code == 404 and gone.json()["error"]["code"] == "not_found"
    assert (await client.get("/api/v1/calendar/made-up.ics")).status_code == 404


async def test_guardian_feed_shows_only_their_childrens_sessions(
    client: httpx.AsyncClient, world: World, settings: Settings
) -> None:
    """g1's feed holds s1's session with the tutor's name, and nothing of s2's."""
    url = await _feed_path(
        client, f"/api/v1/guardians/{world.ids['g1']}/calendar-feed", world.as_("g1")
    )
    events = _events((await client.get(url.removeprefix(settings.public_url))).content)
    assert set(events) == {world.ids["ses1"]}
    assert events[world.ids["ses1"]]["summary"] == "maths with Person t1"


async def test_only_coordinators_and_the_person_may_create_a_feed(
    client: httpx.AsyncClient, world: World
) -> None:
    """Another guardian or tutor cannot get someone else's feed address."""
    r = await client.post(
        f"/api/v1/guardians/{world.ids['g1']}/calendar-feed", headers=world.as_("g2")
    )
    assert r.status_code == 404
    r = await client.post(
        f"/api/v1/tutors/{world.ids['t1']}/calendar-feed", headers=world.as_("s1")
    )
    assert r.status_code == 403
    r = await client.post(
        f"/api/v1/tutors/{world.ids['t1']}/calendar-feed", headers=world.as_("t2")
    )
    assert r.status_code == 404


async def test_the_access_log_never_holds_a_feed_token(
    client: httpx.AsyncClient, world: World, settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    """The feed address is a credential, so the access log records it masked."""
    url = await _feed_path(
        client, f"/api/v1/tutors/{world.ids['t1']}/calendar-feed", world.as_("t1")
    )
    token = url.rsplit("/", 1)[1].removesuffix(".ics")
    caplog.set_level(logging.INFO, logger="liveclass.access")
    assert (await client.get(url.removeprefix(settings.public_url))).status_code == 200
    logged = [rec.getMessage() + repr(getattr(rec, "fields", {})) for rec in caplog.records]
    assert any("/api/v1/calendar/***.ics" in line for line in logged)
    assert not any(token in line for line in logged)


async def test_each_feed_read_is_audited_as_the_feed_without_its_token(
    client: httpx.AsyncClient, world: World, settings: Settings
) -> None:
    """A calendar app reading g1's feed is in the audit log: a read of s1's schedule by
    g1's feed (its id, never the token), from the reader's address; nothing about s2."""
    url = await _feed_path(
        client, f"/api/v1/guardians/{world.ids['g1']}/calendar-feed", world.as_("g1")
    )
    token = url.rsplit("/", 1)[1].removesuffix(".ics")
    assert (await client.get(url.removeprefix(settings.public_url))).status_code == 200
    r = await client.get(
        "/api/v1/audit", params={"actor_id": world.ids["g1"]}, headers=world.as_("coord")
    )
    entries = [e for e in r.json()["items"] if e["actor_kind"] == "calendar_feed"]
    assert [(e["actor_id"], e["action"], e["student_id"]) for e in entries] == [
        (world.ids["g1"], "read", world.ids["s1"])
    ]
    assert entries[0]["resource_id"] and entries[0]["resource_id"] != token
    csv = await client.get("/api/v1/audit.csv", headers=world.as_("coord"))
    assert token not in csv.text
