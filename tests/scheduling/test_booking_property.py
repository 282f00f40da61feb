"""Property: whatever bookings are attempted, the accepted ones never double-book anyone."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine

from api.settings import Settings
from core.database import Base
from core.ids import new_id
from scheduling.bookings import book_session
from scheduling.errors import BookingConflict
from scheduling.models import LiveSession, Role
from scheduling.people import create_organization, create_person

TUTORS, STUDENTS = 3, 4
BASE = datetime(2031, 1, 6, 9, tzinfo=UTC)
SLOT = timedelta(minutes=15)


@dataclass(frozen=True)
class Attempt:
    tutor: int
    students: frozenset[int]
    start: int  # in slots from BASE
    length: int  # in slots


attempts = st.lists(
    st.builds(
        Attempt,
        tutor=st.integers(0, TUTORS - 1),
        students=st.frozensets(st.integers(0, STUDENTS - 1), min_size=1, max_size=2),
        start=st.integers(0, 24),
        length=st.integers(1, 6),
    ),
    min_size=1,
    max_size=12,
)


def _clash(a: Attempt, b: Attempt) -> bool:
    overlap = a.start < b.start + b.length and b.start < a.start + a.length
    return overlap and (a.tutor == b.tutor or bool(a.students & b.students))


@pytest.fixture
def engine(settings: Settings) -> Iterator[tuple[asyncio.Runner, AsyncEngine]]:
    with asyncio.Runner() as runner:
        engine = create_async_engine(settings.database_url)
        try:
            yield runner, engine
        finally:

            async def empty() -> None:
                async with engine.begin() as conn:
                    for table in reversed(Base.metadata.sorted_tables):
                        await conn.execute(delete(table))
                await engine.dispose()

            runner.run(empty())


async def _run(engine: AsyncEngine, tries: list[Attempt]) -> None:
    sessionmaker = async_sessionmaker(engine, expire_on_commit=False)
    now = BASE - timedelta(days=7)
    async with sessionmaker() as db, db.begin():
        org = (await create_organization(db, "Property school", now=now)).id
        people: dict[str, list[str]] = {"t": [], "s": []}
        for kind, role, n in (("t", Role.TUTOR, TUTORS), ("s", Role.STUDENT, STUDENTS)):
            for _ in range(n):
                email = f"{new_id('usr').lower()}@property.example.org"
                people[kind].append(
                    await create_person(
                        db,
                        role,
                        org_id=org,
                        email=email,
                        display_name="P",
                        password_hash=None,
                        now=now,
                    )
                )
    accepted: list[Attempt] = []
    for a in tries:
        try:
            async with sessionmaker() as db, db.begin():
                await book_session(
                    db,
                    org_id=org,
                    tutor_id=people["t"][a.tutor],
                    student_ids=[people["s"][i] for i in sorted(a.students)],
                    subject="maths",
                    scheduled_start=BASE + a.start * SLOT,
                    scheduled_end=BASE + (a.start + a.length) * SLOT,
                    now=now,
                )
        except BookingConflict:
            # Refused only for a real clash with something already accepted.
            assert any(_clash(a, b) for b in accepted), a
        else:
            assert not any(_clash(a, b) for b in accepted), a
            accepted.append(a)
    async with sessionmaker() as db:
        rows = list(await db.scalars(select(LiveSession).where(LiveSession.org_id == org)))
    assert len(rows) == len(accepted)
    for i, x in enumerate(rows):
        for y in rows[i + 1 :]:
            if x.scheduled_start < y.scheduled_end and y.scheduled_start < x.scheduled_end:
                assert x.tutor_id != y.tutor_id
                assert not set(x.student_ids) & set(y.student_ids)


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(tries=attempts)
def test_accepted_bookings_never_double_book_a_tutor_or_student(
    engine: tuple[asyncio.Runner, AsyncEngine], tries: list[Attempt]
) -> None:
    """book_session accepts exactly the attempts that clash with nothing accepted before."""
    runner, db_engine = engine
    runner.run(_run(db_engine, tries))
