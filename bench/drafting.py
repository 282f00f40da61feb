"""From a session's end to its drafted summary: the whole chain, timed.

The worst case that happens in practice: the tutor ends the session by hand and
leaves, so ``session.ended`` and ``recording.ready`` are written at the same
moment and nothing has been transcribed yet. The embedded bus then runs the
real handlers (``api.workers.build_handlers``) against a SQLite database under
``folder``: transcription of both tracks (Whisper, settings' defaults), drafting
(offline), briefings. Timed from the commit of ``session.ended`` to the commit
of ``summary.drafted``. The tracks are Ogg Opus, as the recorder writes them.

``measure_live_documenting`` runs the same chain as a node with live
transcription runs it: the tracks' Opus packets go through a real ``Recorder``
with its live feeds (``sessions.live_transcript``, worker processes) while the
lesson "runs", ``speed`` times faster than real time; the workers catch up if
the speed left them behind (at real time they keep up: they need a fraction of
a core); then the tutor ends it, the room closes (the recorder waits for the
last utterances) and the handlers draft from what was stored. Reported besides
the end-to-drafted time: the CPU the worker processes took while the lesson
ran, per second of lesson (at real time, the share of one core), how far they
were behind when the accelerated lesson ended and how long catching up took.
"""

from __future__ import annotations

import asyncio
import fractions
import hashlib
import os
import sys
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from pydantic import SecretStr
from sqlalchemy import select

import api.models  # noqa: F401  (every table on the metadata)
from ai_docs import word_error_rate
from api.migrate import upgrade
from api.services import Services
from api.settings import Settings
from api.workers import build_handlers
from bench.speech import SpeechTrack, opus_packets, to_ogg_opus
from core.clock import SystemClock
from eventbus.bus import EmbeddedBus
from eventbus.models import HandlerFailure, OutboxEvent
from scheduling.bookings import book_session
from scheduling.models import Guardianship, Role, User
from scheduling.people import create_organization, create_person
from sessions.documentation import record_recording, stored_segments
from sessions.lifecycle import Action
from sessions.live_transcript import LiveTranscription
from sessions.models import PresenceType, SessionDocumentRecord
from sessions.service import apply, record_presence
from sfu.passthrough import EncodedFrame
from sfu.recording import Recorder


@dataclass
class Documented:
    session_s: float  # the session's length (the longest track)
    audio_s: float  # both tracks
    end_to_drafted_s: float  # session.ended committed -> summary.drafted committed
    segments: int
    drafted_by: str
    wer: dict[str, float] = field(default_factory=dict)  # the stored transcript, per role
    live: dict[str, float] | None = None  # measure_live_documenting's own figures


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
        return await _until_drafted(services, bus, session_id, tracks, users, begun, length)
    finally:
        await services.aclose()


async def _until_drafted(
    services: Services,
    bus: EmbeddedBus,
    session_id: str,
    tracks: list[SpeechTrack],
    users: dict[str, str],
    begun: float,
    length: float,
) -> Documented:
    """Run the handlers until ``summary.drafted`` is committed; time it from ``begun``."""
    while True:
        await bus.dispatch_once()
        async with services.sessionmaker() as db:
            failed = await db.scalar(select(HandlerFailure).where(HandlerFailure.attempts >= 2))
            if failed is not None:
                raise RuntimeError(f"handler {failed.handler} failed: {failed.last_error}")
            drafted = await db.scalar(
                select(OutboxEvent.id).where(
                    OutboxEvent.session_id == session_id,
                    OutboxEvent.type == "summary.drafted",
                )
            )
            if drafted is None:
                continue
            elapsed = time.perf_counter() - begun
            document = await db.scalar(
                select(SessionDocumentRecord).where(SessionDocumentRecord.session_id == session_id)
            )
            payload = await db.scalar(select(OutboxEvent.payload).where(OutboxEvent.id == drafted))
            stored = await stored_segments(db, session_id)
            break
    assert document is not None and payload is not None
    said = {
        t.role: " ".join(s.text for s in stored if s.participant_id == users[t.role])
        for t in tracks
    }
    return Documented(
        session_s=round(length, 1),
        audio_s=round(sum(t.duration for t in tracks), 1),
        end_to_drafted_s=round(elapsed, 2),
        segments=int(payload["segments"]),
        drafted_by=document.drafted_by,
        wer={t.role: round(word_error_rate(t.text, said[t.role]), 3) for t in tracks},
    )


def _cpu_seconds(pid: int) -> float:
    """User and system CPU a process has used, from /proc (Linux)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def _document_live(tracks: list[SpeechTrack], folder: Path, speed: float) -> Documented:
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
        session_id, users = await _seed(services, datetime.now(UTC))
        live = LiveTranscription(
            services.live_transcriber,
            services.sessionmaker,
            SystemClock(),
            consent_age=services.settings.consent_age,
        )
        # Untimed, as on a running node: the workers up, Whisper loaded for files missed.
        if not await services.live_transcriber.start():
            raise SystemExit(f"live transcription cannot start: {live.transcriber.unavailable}")
        await services.transcriber.aload()
        bus = EmbeddedBus(services.sessionmaker, build_handlers(services), clock=SystemClock().now)
        await bus.dispatch_once()  # the joins
        lesson = [0.0]  # the session clock, in seconds: the recorder's
        recorder = Recorder(
            folder / "recordings",
            may_record=lambda _: True,
            clock=lambda: lesson[0],
            live=live.source(session_id),
        )
        base = fractions.Fraction(1, 48_000)
        frames = sorted(
            (t.offset + at / 48_000, t.role, at, data)
            for t in tracks
            for at, data in opus_packets(t.path)
        )
        taps = {t.role: recorder.tap(users[t.role], t.role) for t in tracks}
        pids = services.live_transcriber.pids
        cpu0 = {pid: _cpu_seconds(pid) for pid in pids}
        wall0, feeder0 = time.perf_counter(), time.process_time()
        next_report = 0.0
        for when, role, at, data in frames:
            lesson[0] = when
            tap = taps[role]
            if tap is not None:
                tap(EncodedFrame(data, at, base, True))
            ahead = wall0 + when / speed - time.perf_counter()
            if ahead > 0.005:
                await asyncio.sleep(ahead)
            if when >= next_report:
                print(
                    f"  live: {when / 60:.0f} of {length / 60:.0f} min, workers "
                    f"{services.live_transcriber.behind:.1f} s behind",
                    flush=True,
                    file=sys.stderr,
                )
                next_report += 300
        fed_s = time.perf_counter() - wall0
        behind = services.live_transcriber.behind
        # Played faster than real time, the workers may trail the lesson; at real time they
        # keep up (they use a fraction of a core per second of lesson, reported below).
        # Let them catch up first, as they would have, so the end is timed as it happens.
        caught_up = time.perf_counter()
        while services.live_transcriber.behind > 1.0 and time.perf_counter() - caught_up < 600:
            await asyncio.sleep(0.1)
        caught_up_s = time.perf_counter() - caught_up
        worker_cpu = sum(_cpu_seconds(pid) - cpu0[pid] for pid in pids)
        feeder_cpu = time.process_time() - feeder0
        async with services.sessionmaker() as db, db.begin():
            await apply(db, session_id, Action.END, now=datetime.now(UTC), reason="bench")
        begun = time.perf_counter()
        # The tutor ended it: the room closes, the recorder waits for the last utterances.
        files = await recorder.aclose()
        async with services.sessionmaker() as db, db.begin():
            await record_recording(db, session_id, files, now=datetime.now(UTC))
        documented = await _until_drafted(services, bus, session_id, tracks, users, begun, length)
        documented.live = {
            "speed": speed,
            "fed_s": round(fed_s, 1),
            "files_heard_live": sum(1 for f in files if f.live),
            "behind_at_end_s": round(behind, 2),
            "caught_up_s": round(caught_up_s, 1),
            "worker_cpu_s": round(worker_cpu, 1),
            # CPU seconds per second of lesson: at real time, the share of one core.
            "worker_cores": round(worker_cpu / length, 3),
            "feeder_cpu_s": round(feeder_cpu, 1),
        }
        return documented
    finally:
        await services.aclose()


def measure_live_documenting(
    tracks: list[SpeechTrack], folder: Path, *, speed: float = 5.0
) -> Documented:
    """Run the lesson through the recorder's live feeds, then the chain (fresh database)."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "bench.db").unlink(missing_ok=True)
    return asyncio.run(_document_live(tracks, folder, speed))


def measure_documenting(tracks: list[SpeechTrack], folder: Path) -> Documented:
    """Run the chain once on ``tracks`` (in a fresh database under ``folder``)."""
    folder.mkdir(parents=True, exist_ok=True)
    for stale in (folder / "bench.db",):
        stale.unlink(missing_ok=True)
    return asyncio.run(_document(tracks, folder))
