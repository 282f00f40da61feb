"""Migrations upgrade from empty and downgrade to empty, and match the models."""

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine

import api.models  # noqa: F401
import eventbus.models  # noqa: F401
import notifications.models  # noqa: F401
import scheduling.audit  # noqa: F401
import scheduling.match_requests  # noqa: F401
import scheduling.models  # noqa: F401
import sessions.models  # noqa: F401
from api.migrate import current_revision, downgrade, head_revision, upgrade
from core.database import Base


def _tables(conn: Connection) -> set[str]:
    return set(inspect(conn).get_table_names())


async def test_upgrade_from_empty_and_downgrade_to_empty(empty_database: str) -> None:
    """head creates every model table; base removes them all again."""
    engine = create_async_engine(empty_database)
    try:
        await upgrade(engine)
        assert await current_revision(engine) == head_revision()
        async with engine.connect() as conn:
            tables = await conn.run_sync(_tables)
        assert set(Base.metadata.tables) <= tables
        await downgrade(engine, "base")
        assert await current_revision(engine) is None
        async with engine.connect() as conn:
            assert await conn.run_sync(_tables) <= {"alembic_version"}
        await upgrade(engine)
        assert await current_revision(engine) == head_revision()
    finally:
        await engine.dispose()


async def test_models_match_migrations(empty_database: str) -> None:
    """The migrated schema has no difference from the models (nobody forgot a migration)."""
    engine = create_async_engine(empty_database)
    try:
        await upgrade(engine)

        def diff(conn: Connection) -> list[object]:
            ctx = MigrationContext.configure(conn, opts={"compare_type": True})
            return list(compare_metadata(ctx, Base.metadata))

        async with engine.connect() as conn:
            assert await conn.run_sync(diff) == []
    finally:
        await engine.dispose()


async def test_0002_adds_and_removes_only_presence_records(empty_database: str) -> None:
    """0002 adds presence_records on top of 0001; stepping back to 0001 removes only that."""
    engine = create_async_engine(empty_database)
    try:
        await upgrade(engine, "0001")
        async with engine.connect() as conn:
            before = await conn.run_sync(_tables)
        assert "live_sessions" in before and "presence_records" not in before
        await upgrade(engine, "0002")
        async with engine.connect() as conn:
            assert await conn.run_sync(_tables) == before | {"presence_records"}
        await downgrade(engine, "0001")
        assert await current_revision(engine) == "0001"
        async with engine.connect() as conn:
            assert await conn.run_sync(_tables) == before
    finally:
        await engine.dispose()


AVAILABILITY_TABLES = {
    "tutor_qualifications",
    "availability_rules",
    "availability_exceptions",
    "tutor_limits",
}


async def test_0003_adds_and_removes_only_availability(empty_database: str) -> None:
    """0003 adds the availability tables on top of 0002; stepping back to 0002 removes only them."""
    engine = create_async_engine(empty_database)
    try:
        await upgrade(engine, "0002")
        async with engine.connect() as conn:
            before = await conn.run_sync(_tables)
        assert "tutors" in before and not AVAILABILITY_TABLES & before
        await upgrade(engine, "0003")
        async with engine.connect() as conn:
            assert await conn.run_sync(_tables) == before | AVAILABILITY_TABLES
        await downgrade(engine, "0002")
        assert await current_revision(engine) == "0002"
        async with engine.connect() as conn:
            assert await conn.run_sync(_tables) == before
    finally:
        await engine.dispose()


async def test_0005_adds_and_removes_only_notification_deliveries(empty_database: str) -> None:
    """0005 adds the delivery log on top of 0004; stepping back to 0004 removes only that."""
    engine = create_async_engine(empty_database)
    try:
        await upgrade(engine, "0004")
        async with engine.connect() as conn:
            before = await conn.run_sync(_tables)
        assert "outbox_events" in before and "notification_deliveries" not in before
        await upgrade(engine, "0005")
        async with engine.connect() as conn:
            assert await conn.run_sync(_tables) == before | {"notification_deliveries"}
        await downgrade(engine, "0004")
        assert await current_revision(engine) == "0004"
        async with engine.connect() as conn:
            assert await conn.run_sync(_tables) == before
    finally:
        await engine.dispose()


HANDLER_TABLES = {"attendance", "session_exceptions"}


def _columns(conn: Connection, table: str) -> set[str]:
    return {c["name"] for c in inspect(conn).get_columns(table)}


async def test_0006_adds_and_removes_attendance_and_exceptions(empty_database: str) -> None:
    """0006 adds the handlers' tables and the schedule's two columns; stepping back removes them."""
    engine = create_async_engine(empty_database)
    try:
        await upgrade(engine, "0005")
        async with engine.connect() as conn:
            before = await conn.run_sync(_tables)
            assert "ended_at" not in await conn.run_sync(_columns, "live_sessions")
        await upgrade(engine, "0006")
        async with engine.connect() as conn:
            assert await conn.run_sync(_tables) == before | HANDLER_TABLES
            assert "ended_at" in await conn.run_sync(_columns, "live_sessions")
            assert "next_session_id" in await conn.run_sync(_columns, "session_students")
        await downgrade(engine, "0005")
        assert await current_revision(engine) == "0005"
        async with engine.connect() as conn:
            assert await conn.run_sync(_tables) == before
            assert "ended_at" not in await conn.run_sync(_columns, "live_sessions")
            assert "next_session_id" not in await conn.run_sync(_columns, "session_students")
    finally:
        await engine.dispose()


SERIES_TABLES = {"session_series", "idempotency_keys", "calendar_feeds"}


async def test_0007_adds_and_removes_series_idempotency_and_feeds(empty_database: str) -> None:
    """0007 adds its three tables and the occurrence columns; stepping back removes only them."""
    engine = create_async_engine(empty_database)
    try:
        await upgrade(engine, "0006")
        async with engine.connect() as conn:
            before = await conn.run_sync(_tables)
            columns = await conn.run_sync(_columns, "live_sessions")
        assert not SERIES_TABLES & before and "series_id" not in columns
        await upgrade(engine, "0007")
        async with engine.connect() as conn:
            assert await conn.run_sync(_tables) == before | SERIES_TABLES
            assert await conn.run_sync(_columns, "live_sessions") == columns | {
                "series_id",
                "occurrence_start",
            }
        await downgrade(engine, "0006")
        assert await current_revision(engine) == "0006"
        async with engine.connect() as conn:
            assert await conn.run_sync(_tables) == before
            assert await conn.run_sync(_columns, "live_sessions") == columns
    finally:
        await engine.dispose()


async def test_0012_adds_and_removes_only_match_requests(empty_database: str) -> None:
    """0012 adds match_requests on top of 0011; stepping back to 0011 removes only that."""
    engine = create_async_engine(empty_database)
    try:
        await upgrade(engine, "0011")
        async with engine.connect() as conn:
            before = await conn.run_sync(_tables)
        assert "live_sessions" in before and "match_requests" not in before
        await upgrade(engine, "0012")
        async with engine.connect() as conn:
            assert await conn.run_sync(_tables) == before | {"match_requests"}
        await downgrade(engine, "0011")
        assert await current_revision(engine) == "0011"
        async with engine.connect() as conn:
            assert await conn.run_sync(_tables) == before
    finally:
        await engine.dispose()


async def test_0013_adds_and_removes_only_chat_lines(empty_database: str) -> None:
    """0013 adds chat_lines on top of 0012; stepping back to 0012 removes only that."""
    engine = create_async_engine(empty_database)
    try:
        await upgrade(engine, "0012")
        async with engine.connect() as conn:
            before = await conn.run_sync(_tables)
        assert "chat_lines" not in before
        await upgrade(engine, "0013")
        async with engine.connect() as conn:
            assert await conn.run_sync(_tables) == before | {"chat_lines"}
        await downgrade(engine, "0012")
        async with engine.connect() as conn:
            assert await conn.run_sync(_tables) == before
    finally:
        await engine.dispose()


async def test_0014_adds_and_removes_only_the_stop_link_column(empty_database: str) -> None:
    engine = create_async_engine(empty_database)
    try:
        await upgrade(engine, "0014")
        async with engine.connect() as conn:
            columns = await conn.run_sync(
                lambda c: {col["name"] for col in inspect(c).get_columns("notification_deliveries")}
            )
        assert "unsubscribe_url" in columns
        await downgrade(engine, "0013")
        async with engine.connect() as conn:
            after = await conn.run_sync(
                lambda c: {col["name"] for col in inspect(c).get_columns("notification_deliveries")}
            )
        assert after == columns - {"unsubscribe_url"}
    finally:
        await engine.dispose()
