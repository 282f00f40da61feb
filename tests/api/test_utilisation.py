"""Coordinators read each tutor's utilisation: available against booked time over a range."""

from __future__ import annotations

from datetime import timedelta

import httpx
from starlette.applications import Starlette

from scheduling.bookings import book_session
from scheduling.models import LiveSession, SessionStatus
from tests.api.test_availability import _configure_t1
from tests.conftest import NOW, World

URL = "/api/v1/utilisation/tutors"
WEEK = {"starts_after": "2030-01-07T00:00:00Z", "starts_before": "2030-01-12T00:00:00Z"}


async def test_available_and_booked_minutes_per_tutor(
    app: Starlette, client: httpx.AsyncClient, world: World
) -> None:
    """t1: four working days of 8 h (Wednesday off) against one hour booked; a cancelled
    session does not count; t2, with no availability set, has booked time and no share."""
    await _configure_t1(client, world)
    async with app.state.services.sessionmaker() as db, db.begin():
        live = await book_session(
            db,
            org_id=world.ids["orgA"],
            tutor_id=world.ids["t1"],
            student_ids=[world.ids["s1"]],
            subject="maths",
            scheduled_start=NOW + timedelta(days=1, hours=2),
            scheduled_end=NOW + timedelta(days=1, hours=3),
            now=NOW,
        )
        row = await db.get(LiveSession, live.id)
        assert row is not None
        row.status = SessionStatus.CANCELLED
    r = await client.get(URL, params=WEEK, headers=world.as_("coord"))
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["total"] == 2  # organisation A's tutors only
    by_id = {t["tutor_id"]: t for t in body["items"]}
    t1, t2 = by_id[world.ids["t1"]], by_id[world.ids["t2"]]
    assert t1["configured"] is True
    assert (t1["available_minutes"], t1["booked_minutes"], t1["sessions"]) == (4 * 8 * 60, 60, 1)
    assert t1["share"] == round(60 / (4 * 8 * 60), 3)
    assert t2["configured"] is False and t2["available_minutes"] == 0
    assert (t2["booked_minutes"], t2["share"]) == (60, None)


async def test_a_range_clips_sessions_and_pages_by_name(
    client: httpx.AsyncClient, world: World
) -> None:
    """Only the part of a session inside the range counts; one tutor a page, by name."""
    half = {"starts_after": (NOW + timedelta(hours=1, minutes=30)).isoformat(),
            "starts_before": (NOW + timedelta(hours=3)).isoformat(), "limit": 1}  # fmt: skip
    r = await client.get(URL, params=half, headers=world.as_("coord"))
    assert r.status_code == 200, r.text
    [first] = r.json()["items"]
    assert first["name"] == "Person t1" and first["booked_minutes"] == 30
    r = await client.get(URL, params={**half, "offset": 1}, headers=world.as_("coord"))
    assert [t["name"] for t in r.json()["items"]] == ["Person t2"]


async def test_only_coordinators_and_bounded_ranges(
    client: httpx.AsyncClient, world: World
) -> None:
    r = await client.get(URL, params=WEEK, headers=world.as_("t1"))
    assert r.status_code == 403
    too_long = {"starts_after": "2030-01-01T00:00:00Z", "starts_before": "2030-04-01T00:00:00Z"}
    r = await client.get(URL, params=too_long, headers=world.as_("coord"))
    assert r.status_code == 422 and "62 days" in r.json()["error"]["message"]
    r = await client.get(URL, params={"starts_after": "2030-01-01"}, headers=world.as_("coord"))
    assert r.status_code == 422
