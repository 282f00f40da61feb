"""The retention sweep deletes each kind when its time is up, rows and files, and says so."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
from sqlalchemy import func, select, update
from starlette.applications import Starlette

from api.retention import Retention
from notifications.models import Delivery
from scheduling.audit import AuditEntry
from sessions.models import (
    ChatLine,
    DocumentStatus,
    Presence,
    SessionDocumentRecord,
    TranscriptSegment,
)
from sessions.retention import RetentionPolicy, SessionAge, due
from tests.api.test_privacy import _lessons
from tests.conftest import NOW, World

END = NOW + timedelta(hours=2)  # the seeded sessions' scheduled end
POLICY = RetentionPolicy()


def test_recordings_wait_for_the_approval_or_three_times_as_long() -> None:
    approved = SessionAge(ended_at=END, approved_at=END + timedelta(days=2))
    assert due(POLICY, approved, END + timedelta(days=31)) == set()
    assert due(POLICY, approved, END + timedelta(days=32)) == {"recordings"}
    never = SessionAge(ended_at=END, approved_at=None)
    assert due(POLICY, never, END + timedelta(days=89)) == set()
    assert due(POLICY, never, END + timedelta(days=90)) == {"recordings"}
    assert due(POLICY, never, END + timedelta(days=365)) == {"recordings", "transcripts"}
    assert due(POLICY, never, END + timedelta(days=730)) == {
        "recordings",
        "transcripts",
        "documents",
    }
    assert due(RetentionPolicy(0, 0, 0, 0), never, END + timedelta(days=10_000)) == set()


async def _count(app: Starlette, model: type, *where: object) -> int:
    async with app.state.services.sessionmaker() as db:
        query = select(func.count()).select_from(model).where(*where)  # type: ignore[arg-type]
        return int(await db.scalar(query) or 0)


async def _sweep(app: Starlette, now: datetime) -> int:
    step = Retention.from_settings(app.state.services.settings)
    async with app.state.services.sessionmaker() as db, db.begin():
        return await step(db, now)


async def test_each_kind_goes_when_its_time_is_up(
    app: Starlette, client: httpx.AsyncClient, world: World
) -> None:
    held = await _lessons(app, world)
    files = held["files"]
    ses1 = world.ids["ses1"]
    async with app.state.services.sessionmaker() as db, db.begin():
        await db.execute(
            update(SessionDocumentRecord)
            .where(SessionDocumentRecord.session_id == ses1)
            .values(status=DocumentStatus.APPROVED, approved_at=END)
        )
    # A month on: nothing yet.
    assert await _sweep(app, END + timedelta(days=29)) == 0
    assert files["s1_alone"].exists()
    # 30 days after ses1's approval: its recordings go; ses2 (never approved) keeps its own.
    await _sweep(app, END + timedelta(days=31))
    assert not files["s1_alone"].exists() and not files["t1_alone"].exists()
    assert files["s1_group"].exists()
    assert await _count(app, TranscriptSegment, TranscriptSegment.session_id == ses1) == 2
    # The email (sent at NOW) is past 90 days at day 91: its row and .eml go.
    await _sweep(app, END + timedelta(days=91))
    assert not files["s1_group"].exists()  # ses2: three times 30 days after its end
    assert await _count(app, Delivery) == 0 and not files["email"].exists()
    # A year on: transcripts, chat and presence go; documents stay.
    await _sweep(app, END + timedelta(days=366))
    assert await _count(app, TranscriptSegment) == 0
    assert await _count(app, ChatLine) == 0
    assert await _count(app, Presence) == 0
    assert await _count(app, SessionDocumentRecord) == 2
    await _sweep(app, END + timedelta(days=731))
    assert await _count(app, SessionDocumentRecord) == 0
    # Every deletion is in the audit log, by the system, naming the students.
    async with app.state.services.sessionmaker() as db:
        entries = list(await db.scalars(select(AuditEntry).where(AuditEntry.action == "expire")))
    kinds = {(e.resource, e.resource_id) for e in entries}
    assert {("recording", ses1), ("transcript", ses1), ("document", ses1)} <= kinds
    assert ("notification", None) in kinds
    assert {e.actor_kind for e in entries} == {"system"}
    assert world.ids["s1"] in {e.student_id for e in entries}


async def test_audit_entries_outlive_their_retention_by_nothing(
    app: Starlette, client: httpx.AsyncClient, world: World
) -> None:
    """Entries older than LIVECLASS_RETENTION_AUDIT_DAYS (1095) go; younger ones stay."""
    await client.get(f"/api/v1/students/{world.ids['s1']}", headers=world.as_("coord"))
    assert await _count(app, AuditEntry) == 1
    await _sweep(app, NOW + timedelta(days=1094))
    assert await _count(app, AuditEntry) == 1
    await _sweep(app, datetime(2040, 1, 1, tzinfo=UTC))
    assert await _count(app, AuditEntry) == 0
