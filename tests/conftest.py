"""Fixtures that start real services on loopback.

Every database test runs against SQLite and against PostgreSQL
(``LIVECLASS_TEST_DATABASES`` narrows that, e.g. inside a network namespace).
Each backend's database is migrated once per run and emptied after each test.
A PostgreSQL server that cannot be reached fails the run; it is never skipped.
"""

from __future__ import annotations

import asyncio
import os
import secrets
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
import httpx
import pytest
from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import create_async_engine
from starlette.applications import Starlette

import api.models  # noqa: F401  (tables on the metadata)
from api.app import create_app
from api.auth import issue_access_token
from api.migrate import upgrade
from api.settings import Settings
from core.clock import FixedClock
from core.database import Base
from scheduling.bookings import book_session
from scheduling.models import Guardianship, Role, User
from scheduling.people import create_organization, create_person

BACKENDS = [
    b for b in os.environ.get("LIVECLASS_TEST_DATABASES", "sqlite,postgresql").split(",") if b
]
PG_ADMIN_URL = os.environ.get(
    "LIVECLASS_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"
)
REDIS_URL = os.environ.get("LIVECLASS_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
SECRET = "test-secret-" + "x" * 40
NOW = datetime(2030, 1, 7, 9, 0, tzinfo=UTC)


async def _pg_admin(sql: str) -> None:
    try:
        conn = await asyncpg.connect(PG_ADMIN_URL, timeout=10)
    except (OSError, asyncpg.PostgresError) as exc:
        pytest.fail(
            f"PostgreSQL at {PG_ADMIN_URL} is not reachable ({exc}). "
            "Run 'make test', which starts it, "
            "or set LIVECLASS_TEST_DATABASES=sqlite to test SQLite alone.",
            pytrace=False,
        )
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


@contextmanager
def fresh_database(backend: str, folder: Path) -> Iterator[str]:
    """An empty database of the given backend, removed afterwards."""
    if backend == "sqlite":
        yield f"sqlite+aiosqlite:///{folder / f'test-{secrets.token_hex(4)}.db'}"
        return
    name = f"liveclass_test_{secrets.token_hex(4)}"
    asyncio.run(_pg_admin(f'CREATE DATABASE "{name}"'))
    try:
        yield (
            PG_ADMIN_URL.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://")
            + "/"
            + name
        )
    finally:
        asyncio.run(_pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


async def _migrate(url: str) -> None:
    engine = create_async_engine(url)
    try:
        await upgrade(engine)
    finally:
        await engine.dispose()


async def loopback_settings(database_url: str, data_dir: Path, **values: object) -> Settings:
    """Settings of an app served on loopback, its database migrated first: no .env, the
    test secret, ICE confined to 127.0.0.1, no Redis; ``values`` override."""
    await _migrate(database_url)
    defaults: dict[str, object] = {
        "database_url": database_url,
        "data_dir": data_dir,
        "secret_key": SECRET,
        "ice_addresses": ["127.0.0.1"],
        "redis_url": None,
    }
    return Settings(_env_file=None, **(defaults | values))  # type: ignore[call-arg, arg-type]


@pytest.fixture(scope="session", params=BACKENDS)
def migrated_database(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    with fresh_database(request.param, tmp_path_factory.mktemp(request.param)) as url:
        asyncio.run(_migrate(url))
        yield url


@pytest.fixture(params=BACKENDS)
def empty_database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    with fresh_database(request.param, tmp_path) as url:
        yield url


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(NOW)


@pytest.fixture
def settings(migrated_database: str, tmp_path: Path) -> Settings:
    return Settings(
        _env_file=None,  # type: ignore[call-arg]
        database_url=migrated_database,
        data_dir=tmp_path / "var",
        secret_key=SECRET,  # type: ignore[arg-type]
        redis_url=None,
        # Worker processes only where a test turns it on (tests/signaling/test_captions.py).
        live_transcription=False,
    )


@pytest.fixture
async def app(settings: Settings, clock: FixedClock) -> AsyncIterator[Starlette]:
    app = create_app(settings, clock=clock)
    yield app
    services = app.state.services
    async with services.engine.begin() as conn:
        for table in reversed(Base.metadata.sorted_tables):
            await conn.execute(delete(table))
    await services.aclose()


@pytest.fixture
async def client(app: Starlette) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
        yield c


@dataclass
class World:
    """Two organisations' worth of people, and tokens to act as each of them."""

    ids: dict[str, str] = field(default_factory=dict)
    users: dict[str, User] = field(default_factory=dict)
    tokens: dict[str, str] = field(default_factory=dict)

    def as_(self, who: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[who]}"}


@pytest.fixture
async def world(app: Starlette, clock: FixedClock) -> World:
    return await seed_world(app, clock.now())


async def seed_world(app: Starlette, now: datetime) -> World:
    """Organisation A: coordinator, tutors t1 and t2, students s1 and s2 with guardians
    g1 and g2 (one family each), sessions ses1 (t1 with s1) and ses2 (t2 with s2).
    Organisation B: its own coordinator, tutor and student."""
    services = app.state.services
    w = World()
    people = [
        ("coord", Role.COORDINATOR, "A"),
        ("t1", Role.TUTOR, "A"),
        ("t2", Role.TUTOR, "A"),
        ("s1", Role.STUDENT, "A"),
        ("s2", Role.STUDENT, "A"),
        ("g1", Role.GUARDIAN, "A"),
        ("g2", Role.GUARDIAN, "A"),
        ("coordB", Role.COORDINATOR, "B"),
        ("tB", Role.TUTOR, "B"),
        ("sB", Role.STUDENT, "B"),
    ]
    async with services.sessionmaker() as db, db.begin():
        orgs = {
            "A": (await create_organization(db, "Org A", now=now)).id,
            "B": (await create_organization(db, "Org B", now=now)).id,
        }
        w.ids["orgA"], w.ids["orgB"] = orgs["A"], orgs["B"]
        for key, role, org in people:
            w.ids[key] = await create_person(
                db,
                role,
                org_id=orgs[org],
                email=f"{key.lower()}@school{org.lower()}.example.org",
                display_name=f"Person {key}",
                password_hash=None,
                now=now,
                subjects=["maths"],
                levels=["gcse"],
                level="gcse",
            )
        for guardian, student in (("g1", "s1"), ("g2", "s2")):
            db.add(
                Guardianship(
                    id=f"gsp_{guardian}",
                    guardian_id=w.ids[guardian],
                    student_id=w.ids[student],
                    created_at=now,
                    updated_at=now,
                )
            )
        for key, tutor, student in (
            ("ses1", "t1", "s1"),
            ("ses2", "t2", "s2"),
            ("sesB", "tB", "sB"),
        ):
            org = "B" if tutor == "tB" else "A"
            live = await book_session(
                db,
                org_id=orgs[org],
                tutor_id=w.ids[tutor],
                student_ids=[w.ids[student]],
                subject="maths",
                scheduled_start=now + timedelta(hours=1),
                scheduled_end=now + timedelta(hours=2),
                now=now,
            )
            w.ids[key] = live.id
        for key, _, org in people:
            user = await db.scalar(
                select(User).where(User.email == f"{key.lower()}@school{org.lower()}.example.org")
            )
            assert user is not None
            w.users[key] = user
            w.tokens[key], _ = issue_access_token(
                user, secret=services.secret, now=now, ttl_seconds=900
            )
    return w
