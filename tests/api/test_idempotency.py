"""Idempotency keys on booking requests: a retry returns the first answer and books nothing."""

import asyncio
from datetime import timedelta
from typing import Any

import httpx
from sqlalchemy import func, select
from starlette.applications import Starlette

from api.auth import issue_access_token
from api.models import IdempotencyKey
from core.clock import FixedClock
from scheduling.models import LiveSession
from tests.conftest import NOW, World


def _booking(world: World, hours: int = 24) -> dict[str, Any]:
    return {
        "tutor_id": world.ids["t1"],
        "student_ids": [world.ids["s1"]],
        "subject": "maths",
        "scheduled_start": (NOW + timedelta(hours=hours)).isoformat(),
        "scheduled_end": (NOW + timedelta(hours=hours + 1)).isoformat(),
    }


async def _count(client: httpx.AsyncClient, world: World) -> int:
    r = await client.get("/api/v1/sessions", headers=world.as_("coord"))
    return int(r.json()["total"])


async def test_same_key_twice_books_once_and_answers_the_same(
    client: httpx.AsyncClient, world: World
) -> None:
    """A retried booking with the same key returns the stored 201 and adds no session."""
    h = {**world.as_("coord"), "Idempotency-Key": "book-42"}
    before = await _count(client, world)
    first = await client.post("/api/v1/sessions", json=_booking(world), headers=h)
    assert first.status_code == 201, first.text
    # The same request again, keys in another order: still the same request.
    body = dict(reversed(list(_booking(world).items())))
    retry = await client.post("/api/v1/sessions", json=body, headers=h)
    assert retry.status_code == 201
    assert retry.json() == first.json()
    assert retry.headers["idempotent-replayed"] == "true"
    assert await _count(client, world) == before + 1
    # Without the key, the same booking is a new request, refused as a double booking.
    again = await client.post("/api/v1/sessions", json=_booking(world), headers=world.as_("coord"))
    assert again.status_code == 409


async def test_same_key_with_another_body_is_refused(
    client: httpx.AsyncClient, world: World
) -> None:
    """Reusing a key for a different booking is a 422 idempotency_key_reused; nothing booked."""
    h = {**world.as_("coord"), "Idempotency-Key": "book-43"}
    assert (await client.post("/api/v1/sessions", json=_booking(world), headers=h)).is_success
    before = await _count(client, world)
    r = await client.post("/api/v1/sessions", json=_booking(world, hours=48), headers=h)
    assert r.status_code == 422
    assert r.json()["error"]["code"] == "idempotency_key_reused"
    assert await _count(client, world) == before


async def test_keys_expire_after_a_day(
    app: Starlette, client: httpx.AsyncClient, world: World, clock: FixedClock
) -> None:
    """After 24 h the same key books afresh instead of replaying the old answer."""
    h = {**world.as_("coord"), "Idempotency-Key": "weekly"}
    first = await client.post("/api/v1/sessions", json=_booking(world), headers=h)
    assert first.status_code == 201
    clock.advance(timedelta(hours=24))
    token, _ = issue_access_token(
        world.users["coord"], secret=app.state.services.secret, now=clock.now(), ttl_seconds=900
    )
    later = {"Authorization": f"Bearer {token}", "Idempotency-Key": "weekly"}
    r = await client.post("/api/v1/sessions", json=_booking(world, hours=72), headers=later)
    assert r.status_code == 201, r.text
    assert r.json()["id"] != first.json()["id"]


async def test_keys_belong_to_their_caller(client: httpx.AsyncClient, world: World) -> None:
    """Another coordinator's identical key is theirs alone: it never replays your answer."""
    body = {**_booking(world), "tutor_id": world.ids["tB"], "student_ids": [world.ids["sB"]]}
    mine = await client.post(
        "/api/v1/sessions",
        json=_booking(world),
        headers={**world.as_("coord"), "Idempotency-Key": "k"},
    )
    theirs = await client.post(
        "/api/v1/sessions", json=body, headers={**world.as_("coordB"), "Idempotency-Key": "k"}
    )
    assert mine.status_code == theirs.status_code == 201
    assert theirs.json()["id"] != mine.json()["id"]


async def test_a_refused_booking_keeps_no_key(client: httpx.AsyncClient, world: World) -> None:
    """A booking refused for a conflict stores nothing, so a corrected retry may reuse the key."""
    h = {**world.as_("coord"), "Idempotency-Key": "fix-and-retry"}
    clash = {**_booking(world, hours=1), "student_ids": [world.ids["s2"]]}
    assert (await client.post("/api/v1/sessions", json=clash, headers=h)).status_code == 409
    r = await client.post("/api/v1/sessions", json=_booking(world), headers=h)
    assert r.status_code == 201, r.text


async def test_series_retry_books_the_series_once(client: httpx.AsyncClient, world: World) -> None:
    """POST /api/v1/series honours the key too: one series, the same answer."""
    h = {**world.as_("coord"), "Idempotency-Key": "series-1"}
    body = {
        "tutor_id": world.ids["t1"],
        "student_ids": [world.ids["s1"]],
        "subject": "maths",
        "start_date": "2030-02-04",
        "start_time": "16:00",
        "duration_minutes": 60,
        "rrule": "FREQ=WEEKLY;COUNT=3",
    }
    first = await client.post("/api/v1/series", json=body, headers=h)
    retry = await client.post("/api/v1/series", json=body, headers=h)
    assert first.status_code == retry.status_code == 201
    assert retry.json() == first.json()
    assert await _count(client, world) == 2 + 3  # organisation A's two sessions and the series'


async def test_concurrent_duplicates_book_once(
    app: Starlette, client: httpx.AsyncClient, world: World
) -> None:
    """Two identical requests at once: one booking; the other replays it or says in progress."""
    h = {**world.as_("coord"), "Idempotency-Key": "double-click"}
    results = await asyncio.gather(
        *(client.post("/api/v1/sessions", json=_booking(world), headers=h) for _ in range(2))
    )
    statuses = sorted(r.status_code for r in results)
    assert statuses in ([201, 201], [201, 409]), [r.text for r in results]
    ok = [r.json() for r in results if r.status_code == 201]
    assert all(o == ok[0] for o in ok)
    for r in results:
        if r.status_code == 409:
            assert r.json()["error"]["code"] == "request_in_progress"
    async with app.state.services.sessionmaker() as db:
        start = NOW + timedelta(hours=24)
        booked = await db.scalar(
            select(func.count())
            .select_from(LiveSession)
            .where(LiveSession.scheduled_start == start)
        )
        keys = await db.scalar(select(func.count()).select_from(IdempotencyKey))
    assert booked == 1 and keys == 1
