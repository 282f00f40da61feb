"""Dead letters over the API: listed per organisation, replayed by coordinators on either bus."""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from datetime import timedelta

import httpx
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.applications import Starlette

from api.app import create_app
from api.settings import Settings
from core.clock import FixedClock
from eventbus.bus import EmbeddedBus
from eventbus.ledger import RetryPolicy
from eventbus.outbox import DomainEvent
from eventbus.redis_streams import RedisStreamsBus
from sessions.events import record
from tests.conftest import NOW, REDIS_URL, World

ONE_TRY = RetryPolicy(max_attempts=1, first_delay=timedelta(seconds=5))


@dataclass
class Mailer:
    """A handler that fails while ``broken``; remembers the events it took."""

    name: str = "mailer"
    types: frozenset[str] = frozenset({"session.ended"})
    broken: bool = True
    taken: list[str] = field(default_factory=list)

    async def handle(self, db: AsyncSession, event: DomainEvent) -> None:
        if self.broken:
            raise ConnectionError("smtp refused")
        self.taken.append(event.id)


async def _dead_letters(app: Starlette, world: World, mailer: Mailer) -> dict[str, str]:
    """A session.ended of ses1 (organisation A) and of sesB (B), both dead for the mailer."""
    async with app.state.services.sessionmaker() as db, db.begin():
        ids = {
            key: record(db, "session.ended", session_id=world.ids[key], at=NOW).id
            for key in ("ses1", "sesB")
        }
    bus = EmbeddedBus(
        app.state.services.sessionmaker, [mailer], clock=FixedClock(NOW).now, retry=ONE_TRY
    )
    await bus.dispatch_once()
    return ids


async def test_coordinators_see_their_organisations_dead_letters(
    app: Starlette, client: httpx.AsyncClient, world: World
) -> None:
    """Each coordinator lists only their own organisation's dead letters, with the cause."""
    ids = await _dead_letters(app, world, Mailer())
    page = (await client.get("/api/v1/dead-letters", headers=world.as_("coord"))).json()
    assert page["total"] == 1
    [item] = page["items"]
    assert item == {
        "handler": "mailer",
        "event_id": ids["ses1"],
        "event_type": "session.ended",
        "session_id": world.ids["ses1"],
        "attempts": 1,
        "last_error": "ConnectionError: smtp refused",
        "failed_at": item["failed_at"],
    }
    other = (await client.get("/api/v1/dead-letters", headers=world.as_("coordB"))).json()
    assert [i["event_id"] for i in other["items"]] == [ids["sesB"]]
    none = await client.get(
        "/api/v1/dead-letters", params={"handler": "nobody"}, headers=world.as_("coord")
    )
    assert none.json()["total"] == 0
    tutor = await client.get("/api/v1/dead-letters", headers=world.as_("t1"))
    assert tutor.status_code == 403


async def test_replay_after_the_fix_delivers_once_on_the_embedded_bus(
    app: Starlette, client: httpx.AsyncClient, world: World
) -> None:
    """A replayed dead letter is taken once the cause is fixed, and leaves the list."""
    mailer = Mailer()
    ids = await _dead_letters(app, world, mailer)
    url = f"/api/v1/dead-letters/mailer/{ids['ses1']}/replay"
    assert (await client.post(url, headers=world.as_("t1"))).status_code == 403
    assert (await client.post(url, headers=world.as_("coordB"))).status_code == 404
    unknown = await client.post(
        "/api/v1/dead-letters/mailer/evt_nope/replay", headers=world.as_("coord")
    )
    assert unknown.status_code == 404 and unknown.json()["error"]["code"] == "not_found"

    mailer.broken = False
    r = await client.post(url, headers=world.as_("coord"))
    assert r.status_code == 202 and r.json()["event_id"] == ids["ses1"]
    bus = EmbeddedBus(app.state.services.sessionmaker, [mailer], clock=FixedClock(NOW).now)
    await bus.dispatch_once()
    await bus.dispatch_once()
    assert mailer.taken == [ids["ses1"]]
    page = (await client.get("/api/v1/dead-letters", headers=world.as_("coord"))).json()
    assert page["total"] == 0
    assert (await client.post(url, headers=world.as_("coord"))).status_code == 404


async def test_replay_through_the_api_reaches_a_redis_worker(
    app: Starlette, settings: Settings, world: World
) -> None:
    """With Redis configured, the API's replay goes to the stream and a worker takes it once."""
    mailer = Mailer()
    ids = await _dead_letters(app, world, mailer)
    prefix = f"test-api-{secrets.token_hex(6)}"
    redis_app = create_app(
        settings.model_copy(update={"redis_url": REDIS_URL, "event_stream_prefix": prefix}),
        clock=FixedClock(NOW),
    )
    assert isinstance(redis_app.state.bus, RedisStreamsBus)
    worker = RedisStreamsBus(
        app.state.services.sessionmaker,
        Redis.from_url(REDIS_URL),
        [mailer],
        clock=FixedClock(NOW).now,
        prefix=prefix,
        poll_seconds=0.05,
    )
    transport = httpx.ASGITransport(app=redis_app)
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
            mailer.broken = False
            r = await c.post(
                f"/api/v1/dead-letters/mailer/{ids['ses1']}/replay", headers=world.as_("coord")
            )
            assert r.status_code == 202
            await worker.dispatch_once()
            await worker.dispatch_once()
            assert mailer.taken == [ids["ses1"]]
            page = (await c.get("/api/v1/dead-letters", headers=world.as_("coordB"))).json()
            assert [i["event_id"] for i in page["items"]] == [ids["sesB"]]  # untouched
    finally:
        await worker.aclose()
        await redis_app.state.bus.aclose()
        await redis_app.state.services.aclose()
        cleanup = Redis.from_url(REDIS_URL)
        await cleanup.delete(f"{prefix}:events", f"{prefix}:dead")
        await cleanup.aclose()
