"""From a session's end to its drafted summary: the whole chain, timed.

The worst case that happens in practice: the tutor ends the session by hand and
leaves, so ``session.ended`` and ``recording.ready`` are written at the same
moment and nothing has been transcribed yet. The embedded bus then runs the
real handlers (``api.workers.build_handlers``) against a SQLite database under
``folder``: transcription of both tracks (Whisper, settings' defaults), drafting
(offline), briefings. Timed from the commit of ``session.ended`` to the commit
of ``summary.drafted``. The tracks are Ogg Opus, as the recorder writes them.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from pydantic import SecretStr
from sqlalchemy import select

import api.models  # noqa: F401  (every table on the metadata)
from api.migrate import upgrade
from api.services import Services
from api.settings import Settings
from api.workers import build_handlers
from bench.speech import SpeechTrack, to_ogg_opus
from core.clock import SystemClock
from eventbus.bus import EmbeddedBus
from eventbus.models import OutboxEvent
from scheduling.bookings import book_session
from scheduling.models import Guardianship, Role, User
from scheduling.people import create_organization, create_person
from sessions.documentation import record_recording
from sessions.lifecycle import Action
from sessions.models import PresenceType, SessionDocumentRecord
from sessions.service import apply, record_presence


@dataclass
class Documented:
    session_s: float  # the session's length (the longest track)
    audio_s: float  # both tracks
    end_to_drafted_s: float  # session.ended committed -> summary.drafted committed
    segments: int
    drafted_by: str


@dataclass(frozen=True)
class _File:
    """Shaped like ``sfu.RecordedTrack``."""

    participant_id: str
    role: str
    path: Path
    offset: float
    started_at: datetime
    duration: float
    size: int
    sha256: str


async def _seed(services: Services, started: datetime) -> tuple[str, dict[str, str]]:
    """A tutor, a student and their consenting guardian; a session of theirs, live."""
    now = datetime.now(UTC)
    async with services.sessionmaker() as db, db.begin():
        org = await create_organization(db, "Bench school", now=now)
        profiles = {}
        for role in (Role.TUTOR, Role.STUDENT, Role.GUARDIAN):
            profiles[role] = await create_person(
                db,
                role,
                org_id=org.id,
                email=f"{role.value}@bench.example.org",
                display_name=role.value.title(),
                password_hash=None,
                now=now,
                subjects=["maths"],
                levels=["gcse"],
                level="gcse",
            )
        db.add(
            Guardianship(
                id="gsp_bench",
                guardian_id=profiles[Role.GUARDIAN],
                student_id=profiles[Role.STUDENT],
                recording_consent=True,
                ai_processing_consent=True,
                created_at=now,
                updated_at=now,
            )
        )
        live = await book_session(
            db,
            org_id=org.id,
            tutor_id=profiles[Role.TUTOR],
            student_ids=[profiles[Role.STUDENT]],
            subject="maths",
            scheduled_start=started,
            scheduled_end=now + timedelta(minutes=5),
            now=now,
        )
        users = {
            u.role.value: u.id for u in await db.scalars(select(User).where(User.org_id == org.id))
        }
    async with services.sessionmaker() as db, db.begin():
        await record_presence(
            db,
            session_id=live.id,
            participant_id=users["tutor"],
            role="tutor",
            type_=PresenceType.JOINED,
            at=started,
        )
    return live.id, users


async def _document(tracks: list[SpeechTrack], folder: Path) -> Documented:
    settings = Settings(
        _env_file=None,
        data_dir=folder / "var",
        database_url=f"sqlite+aiosqlite:///{folder / 'bench.db'}",
        secret_key=SecretStr("bench-" + "z" * 40),
        redis_url=None,
    )
    services = Services.build(settings, SystemClock())
    try:
        await upgrade(services.engine)
        length = max(t.offset + t.duration for t in tracks)
        started = datetime.now(UTC) - timedelta(seconds=length)
        session_id, users = await _seed(services, started)
        files = []
        for t in tracks:
            ogg = to_ogg_opus(t.path, folder / f"{t.role}.opus.ogg")
            files.append(
                _File(
                    participant_id=users[t.role],
                    role=t.role,
                    path=ogg,
                    offset=t.offset,
                    started_at=started + timedelta(seconds=t.offset),
                    duration=t.duration,
                    size=ogg.stat().st_size,
                    sha256=hashlib.sha256(ogg.read_bytes()).hexdigest(),
                )
            )
        # Untimed: load Whisper and its VAD once, as a running worker has.
        await services.transcriber.aload()
        bus = EmbeddedBus(services.sessionmaker, build_handlers(services), clock=SystemClock().now)
        await bus.dispatch_once()  # the joins, before the clock starts
        async with services.sessionmaker() as db, db.begin():
            await apply(db, session_id, Action.END, now=datetime.now(UTC), reason="bench")
            await record_recording(db, session_id, files, now=datetime.now(UTC))
        begun = time.perf_counter()
        while True:
            await bus.dispatch_once()
            async with services.sessionmaker() as db:
                drafted = await db.scalar(
                    select(OutboxEvent.id).where(
                        OutboxEvent.session_id == session_id,
                        OutboxEvent.type == "summary.drafted",
                    )
                )
                if drafted is not None:
                    elapsed = time.perf_counter() - begun
                    document = await db.scalar(
                        select(SessionDocumentRecord).where(
                            SessionDocumentRecord.session_id == session_id
                        )
                    )
                    segments = await db.scalar(
                        select(OutboxEvent.payload).where(OutboxEvent.id == drafted)
                    )
                    break
        assert document is not None and segments is not None
        return Documented(
            session_s=round(length, 1),
            audio_s=round(sum(t.duration for t in tracks), 1),
            end_to_drafted_s=round(elapsed, 2),
            segments=int(segments["segments"]),
            drafted_by=document.drafted_by,
        )
    finally:
        await services.aclose()


def measure_documenting(tracks: list[SpeechTrack], folder: Path) -> Documented:
    """Run the chain once on ``tracks`` (in a fresh database under ``folder``)."""
    folder.mkdir(parents=True, exist_ok=True)
    for stale in (folder / "bench.db",):
        stale.unlink(missing_ok=True)
    return asyncio.run(_document(tracks, folder))
