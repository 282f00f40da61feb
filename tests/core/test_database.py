"""The database layer: UTC timestamps round-trip on SQLite and PostgreSQL."""

from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy.exc import StatementError
from starlette.applications import Starlette

from scheduling.models import Organization


async def test_timestamps_come_back_as_utc(app: Starlette) -> None:
    """A time written with any offset reads back as the same instant in UTC."""
    services = app.state.services
    written = datetime(2030, 3, 30, 23, 30, tzinfo=timezone(timedelta(hours=-5)))
    async with services.sessionmaker() as db, db.begin():
        db.add(Organization(id="org_tz", name="tz", created_at=written))
    async with services.sessionmaker() as db:
        org = await db.get(Organization, "org_tz")
    assert org is not None
    assert org.created_at == written
    assert org.created_at.tzinfo is UTC


async def test_naive_timestamps_are_refused(app: Starlette) -> None:
    """A datetime without a zone is an error, not a silent guess."""
    services = app.state.services
    with pytest.raises(StatementError, match="naive datetime"):
        async with services.sessionmaker() as db, db.begin():
            db.add(Organization(id="org_naive", name="n", created_at=datetime(2030, 1, 1)))
