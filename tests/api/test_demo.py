"""The demo seed can run again without double-booking its tutor and student."""

from datetime import timedelta

from starlette.applications import Starlette

from api.demo import seed_demo
from core.clock import FixedClock
from scheduling.models import LiveSession


async def test_demo_twice_books_back_to_back(app: Starlette, clock: FixedClock) -> None:
    """A second run within the hour books the next session when the first ends."""
    services = app.state.services
    kw = {"secret": services.secret, "public_url": "http://x", "join_grace": timedelta(0)}
    first = await seed_demo(services.sessionmaker, clock, **kw)  # type: ignore[arg-type]
    second = await seed_demo(services.sessionmaker, clock, **kw)  # type: ignore[arg-type]
    async with services.sessionmaker() as db:
        a = await db.get(LiveSession, first.session_id)
        b = await db.get(LiveSession, second.session_id)
    assert a is not None and b is not None
    assert b.scheduled_start == a.scheduled_end
