"""Migrations upgrade from empty and downgrade to empty, and match the models."""

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine

import api.models  # noqa: F401
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
