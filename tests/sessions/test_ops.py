"""The ops feed's follower: each event of the organisation once, none from before the snapshot."""

from __future__ import annotations

from sqlalchemy import func, select
from starlette.applications import Starlette

from eventbus.models import OutboxEvent
from sessions.events import record
from sessions.ops import Follower
from tests.conftest import NOW, World


async def _record(app: Starlette, world: World, session: str, n: int) -> list[str]:
    async with app.state.services.sessionmaker() as db, db.begin():
        rows = [
            record(db, "session.opened", session_id=world.ids[session], at=NOW) for _ in range(n)
        ]
    return [r.id for r in rows]


async def test_follower_gives_each_new_event_once_past_a_full_look_back(
    app: Starlette, world: World
) -> None:
    await _record(app, world, "ses1", 2)  # before the snapshot
    sm = app.state.services.sessionmaker
    async with sm() as db:
        cursor = await db.scalar(select(func.max(OutboxEvent.seq)))
    follower = Follower(org_id=world.ids["orgA"], cursor=cursor, lookback=2, batch=2)
    first = await _record(app, world, "ses1", 3)
    await _record(app, world, "sesB", 2)  # another organisation's
    second = await _record(app, world, "ses2", 3)
    seen: list[str] = []
    for _ in range(6):
        async with sm() as db:
            seen += [e.id for e in await follower.next_events(db)]
    assert seen == first + second
