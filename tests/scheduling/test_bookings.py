"""book_session checks conflicts in the database and writes nothing when it refuses."""

from datetime import timedelta

import pytest
from sqlalchemy import func, select
from starlette.applications import Starlette

from scheduling.availability import WeeklyRule
from scheduling.bookings import book_session
from scheduling.errors import BookingConflict
from scheduling.models import LiveSession, SessionStudent
from scheduling.schedules import replace_availability
from tests.conftest import NOW, World


async def test_refused_booking_writes_nothing(app: Starlette, world: World) -> None:
    """A double booking raises BookingConflict before anything is added to the session."""
    async with app.state.services.sessionmaker() as db, db.begin():
        before = await db.scalar(select(func.count()).select_from(LiveSession))
        with pytest.raises(BookingConflict) as refused:
            await book_session(
                db,
                org_id=world.ids["orgA"],
                tutor_id=world.ids["t1"],
                student_ids=[world.ids["s2"]],
                subject="maths",
                scheduled_start=NOW + timedelta(hours=1, minutes=30),
                scheduled_end=NOW + timedelta(hours=2, minutes=30),
                now=NOW,
            )
        assert [d.type for d in refused.value.details] == [
            "tutor_double_booked",
            "student_double_booked",
        ]
        assert refused.value.status_code == 409 and refused.value.code == "booking_conflict"
        assert {c.session_id for c in refused.value.conflicts} == {
            world.ids["ses1"],
            world.ids["ses2"],
        }
        assert not db.new
        assert await db.scalar(select(func.count()).select_from(LiveSession)) == before
        assert await db.scalar(select(func.count()).select_from(SessionStudent)) == before


async def test_availability_from_the_database(app: Starlette, world: World) -> None:
    """Rules stored for the tutor are applied; inside them the booking goes through."""
    async with app.state.services.sessionmaker() as db, db.begin():
        await replace_availability(
            db, world.ids["t2"], rules=[WeeklyRule(0, 9 * 60, 12 * 60)], exceptions=[], now=NOW
        )
        kwargs = {
            "org_id": world.ids["orgA"],
            "tutor_id": world.ids["t2"],
            "student_ids": [world.ids["s2"]],
            "subject": "maths",
            "now": NOW,
        }
        with pytest.raises(BookingConflict) as refused:
            await book_session(
                db,
                scheduled_start=NOW + timedelta(hours=2, minutes=30),
                scheduled_end=NOW + timedelta(hours=3, minutes=30),
                **kwargs,  # type: ignore[arg-type]
            )
        assert [c.code.value for c in refused.value.conflicts] == ["outside_availability"]
        live = await book_session(
            db,
            scheduled_start=NOW + timedelta(hours=2),
            scheduled_end=NOW + timedelta(hours=3),
            **kwargs,  # type: ignore[arg-type]
        )
        assert live.id
