"""Time-driven lifecycle moves, swept from stored state on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

from sqlalchemy import select
from starlette.applications import Starlette

from api.app import create_app
from api.settings import Settings
from core.clock import FixedClock
from eventbus.models import OutboxEvent
from scheduling.models import LiveSession, SessionStatus
from sessions.models import PresenceType
from sessions.service import record_presence
from sessions.timers import TimerPolicy, run_due
from tests.conftest import NOW, World

START = NOW + timedelta(hours=1)  # ses1 and ses2 run 1 h to 2 h after NOW
END = NOW + timedelta(hours=2)
POLICY = TimerPolicy(
    open_before=timedelta(minutes=10),
    no_show_after=timedelta(minutes=15),
    end_grace=timedelta(minutes=15),
    empty_room_end=timedelta(minutes=5),
)


async def _sweep(app: Starlette, at: datetime) -> list[tuple[str, str, str | None]]:
    async with app.state.services.sessionmaker() as db, db.begin():
        events = await run_due(db, at, POLICY)
        return [(e.session_id, e.type, e.payload.get("reason")) for e in events]


async def _status(app: Starlette, session_id: str) -> SessionStatus:
    async with app.state.services.sessionmaker() as db:
        live = await db.get(LiveSession, session_id)
        assert live is not None
        return live.status


async def _presence(
    app: Starlette, world: World, who: str, kind: PresenceType, at: datetime
) -> None:
    async with app.state.services.sessionmaker() as db, db.begin():
        await record_presence(
            db,
            session_id=world.ids["ses1"],
            participant_id=world.users[who].id,
            role="student",
            type_=kind,
            at=at,
        )


async def test_rooms_open_ten_minutes_before_the_start(app: Starlette, world: World) -> None:
    assert await _sweep(app, START - timedelta(minutes=11)) == []
    opened = await _sweep(app, START - timedelta(minutes=10))
    assert sorted(opened) == sorted(
        (world.ids[s], "session.opened", "opening time") for s in ("ses1", "ses2", "sesB")
    )
    assert await _sweep(app, START - timedelta(minutes=9)) == []  # never twice


async def test_a_session_nobody_joined_becomes_a_no_show(app: Starlette, world: World) -> None:
    await _presence(app, world, "s1", PresenceType.JOINED, START)
    await _sweep(app, START - timedelta(minutes=10))
    assert await _sweep(app, START + timedelta(minutes=14)) == []
    moved = await _sweep(app, START + timedelta(minutes=15))
    assert (world.ids["ses2"], "session.no_show", "nobody joined") in moved
    assert all(session != world.ids["ses1"] for session, _, _ in moved)  # s1 came
    assert await _status(app, world.ids["ses2"]) is SessionStatus.NO_SHOW
    assert await _status(app, world.ids["ses1"]) is SessionStatus.LIVE


async def test_a_live_session_ends_after_its_end_plus_grace(app: Starlette, world: World) -> None:
    await _presence(app, world, "s1", PresenceType.JOINED, START)
    ses1 = world.ids["ses1"]
    assert (ses1, "session.ended", "scheduled end passed") not in await _sweep(
        app, END + timedelta(minutes=14)
    )
    assert (ses1, "session.ended", "scheduled end passed") in await _sweep(
        app, END + timedelta(minutes=15)
    )
    assert await _status(app, ses1) is SessionStatus.ENDED


async def test_an_empty_room_ends_the_session_after_a_while(app: Starlette, world: World) -> None:
    ses1 = world.ids["ses1"]
    await _presence(app, world, "s1", PresenceType.JOINED, START)
    await _presence(app, world, "t1", PresenceType.JOINED, START)
    await _presence(app, world, "s1", PresenceType.LEFT, START + timedelta(minutes=20))
    # t1 is still in: nothing ends
    assert all(s != ses1 for s, _, _ in await _sweep(app, START + timedelta(minutes=40)))
    await _presence(app, world, "t1", PresenceType.LEFT, START + timedelta(minutes=41))
    assert all(s != ses1 for s, _, _ in await _sweep(app, START + timedelta(minutes=45)))
    assert (ses1, "session.ended", "everyone left") in await _sweep(
        app, START + timedelta(minutes=46)
    )
    async with app.state.services.sessionmaker() as db:
        types = list(
            await db.scalars(
                select(OutboxEvent.type)
                .where(OutboxEvent.session_id == ses1)
                .order_by(OutboxEvent.seq)
            )
        )
    assert types == [
        "participant.joined",
        "session.opened",
        "session.started",
        "participant.joined",
        "participant.left",
        "participant.left",
        "session.ended",
    ]


async def test_serve_sweeps_in_the_background(settings: Settings, world: World) -> None:
    """The app built with run_timers (as `liveclass serve` builds it) opens rooms on its own."""
    clock = FixedClock(START - timedelta(minutes=5))
    fast = settings.model_copy(update={"lifecycle_sweep_seconds": 0.05})
    app = create_app(fast, clock=clock, run_timers=True)
    try:
        async with app.router.lifespan_context(app):
            for _ in range(100):
                if await _status(app, world.ids["ses1"]) is SessionStatus.OPEN:
                    break
                await asyncio.sleep(0.05)
            assert await _status(app, world.ids["ses1"]) is SessionStatus.OPEN
    finally:
        await app.state.services.aclose()
