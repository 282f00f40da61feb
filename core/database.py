"""The async engine, the session maker and the declarative base.

One ``async_sessionmaker(expire_on_commit=False)`` per process; sessions are
passed into the code that uses them rather than created inside it.
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import DateTime, Enum, MetaData, Text, event, text
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import DeclarativeBase
from sqlalchemy.types import TypeDecorator

from core.sealing import open_text, process_keys, seal_text, use_keys
from core.settings import CoreSettings

# Stable constraint names make migrations reproducible on PostgreSQL and SQLite.
NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator[datetime]):
    """A timestamp that is always timezone-aware UTC in Python.

    SQLite keeps no zone, so values are normalised to UTC on the way in and
    tagged UTC on the way out; naive datetimes are refused rather than guessed.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column; attach a time zone")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


class Base(DeclarativeBase):
    """Declarative base of every table; later packages add their own models to it."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {datetime: UTCDateTime()}


# How long a SQLite write waits for another writer before "database is locked".
SQLITE_BUSY_TIMEOUT_MS = 30_000


def enum_column(enum: type[StrEnum], name: str, *, check: bool = True) -> Enum:
    """A string enum stored as VARCHAR(32) with a CHECK of its values.

    VARCHAR + CHECK rather than a native type: identical on SQLite and
    PostgreSQL, and adding a value later is a plain migration. ``check=False``
    for a column added to a table that others reference: SQLite cannot add a
    CHECK without copying the table, so the value is checked in Python only.
    """
    return Enum(
        enum,
        name=name,
        native_enum=False,
        create_constraint=check,
        length=32,
        values_callable=lambda e: [m.value for m in e],
    )


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    """SQLite set up for one process with many tasks: the embedded default.

    WAL lets readers go on while one connection writes (a join's lookups while a
    session is documented), and a write waits its turn for up to the busy timeout
    instead of failing. NORMAL sync is WAL's durable-across-crashes setting: a
    power cut may lose the last commits, never corrupt the file. The rest of the
    one-writer discipline is the code's: no transaction holds SQLite's write lock
    across slow work (``eventbus.ledger`` writes a handler's ledger row last).
    """
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def create_engine(settings: CoreSettings) -> AsyncEngine:
    """Build the engine for the configured database (no connection is made yet)."""
    url = settings.resolved_database_url
    kwargs: dict[str, Any] = {}
    if url.startswith("sqlite"):
        settings.data_dir.mkdir(parents=True, exist_ok=True)
    else:
        kwargs.update(pool_pre_ping=True, pool_size=10, max_overflow=10)
    engine = create_async_engine(url, **kwargs)
    use_keys(settings.key_ring)  # for SealedText columns, in this process
    if engine.dialect.name == "sqlite":
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
    return engine


def create_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)


async def ping(engine: AsyncEngine) -> None:
    """Check that the database answers: ``SELECT 1`` on a connection of its own (readiness).

    Raises whatever the driver raises when the database cannot be reached or
    refuses the query; the caller bounds the wait.
    """
    async with engine.connect() as conn:
        await conn.execute(text("SELECT 1"))


class SealedText(TypeDecorator[str]):
    """Text sealed with AES-GCM at rest when ``LIVECLASS_ENCRYPTION_KEYS`` is set
    (``core.sealing``), plain otherwise; reads open either. Never filtered on in SQL:
    the database holds only ciphertext."""

    impl = Text
    cache_ok = True

    def process_bind_param(self, value: str | None, dialect: Dialect) -> str | None:
        ring = process_keys()
        return seal_text(value, ring) if value is not None and ring.on else value

    def process_result_value(self, value: str | None, dialect: Dialect) -> str | None:
        return open_text(value, process_keys()) if value is not None else None
