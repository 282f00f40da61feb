"""What the app runs in its lifespan: the embedded bus in process, or only the Redis relay."""

from __future__ import annotations

import asyncio
import os
import secrets

from redis.asyncio import Redis
from sqlalchemy import select
from starlette.applications import Starlette

from api.app import create_app
from core.clock import FixedClock
from core.settings import Settings
from sessions.events import record
from sessions.models import OutboxEvent
from tests.conftest import NOW, REDIS_URL, World

WAIT = float(os.environ.get("LIVECLASS_TEST_WAIT_FACTOR", "1"))


async def _dispatched(app: Starlette, event_id: str) -> bool:
    async with app.state.services.sessionmaker() as db:
        row = await db.scalar(select(OutboxEvent).where(OutboxEvent.id == event_id))
    return row is not None and row.dispatched_at is not None


async def test_serve_runs_the_embedded_bus_in_process(
    app: Starlette, settings: Settings, world: World
) -> None:
    """Without Redis, a serving app delivers new events itself."""
    served = create_app(
        settings.model_copy(update={"event_poll_seconds": 0.05}),
        clock=FixedClock(NOW),
        run_workers=True,
    )
    async with served.router.lifespan_context(served):
        async with app.state.services.sessionmaker() as db, db.begin():
            event = record(db, "session.ended", session_id=world.ids["ses1"], at=NOW).id
        async with asyncio.timeout(20 * WAIT):
            while not await _dispatched(app, event):
                await asyncio.sleep(0.05)


async def test_serve_with_redis_only_relays_the_outbox(
    app: Starlette, settings: Settings, world: World
) -> None:
    """With Redis, a serving app copies events into the stream and runs no consumers."""
    prefix = f"test-serve-{secrets.token_hex(6)}"
    served = create_app(
        settings.model_copy(
            update={
                "redis_url": REDIS_URL,
                "event_stream_prefix": prefix,
                "event_poll_seconds": 0.05,
            }
        ),
        clock=FixedClock(NOW),
        run_workers=True,
    )
    redis = Redis.from_url(REDIS_URL, decode_responses=True)
    try:
        async with served.router.lifespan_context(served):
            async with app.state.services.sessionmaker() as db, db.begin():
                event = record(db, "session.ended", session_id=world.ids["ses1"], at=NOW).id
            async with asyncio.timeout(20 * WAIT):
                while not await _dispatched(app, event):
                    await asyncio.sleep(0.05)
        [(_, fields)] = await redis.xrange(f"{prefix}:events")
        assert fields["id"] == event and fields["type"] == "session.ended"
        assert await redis.xinfo_groups(f"{prefix}:events") == []
    finally:
        await redis.delete(f"{prefix}:events", f"{prefix}:dead")
        await redis.aclose()
