"""The embedded SQLite database under load: a session documented while others join.

Joins used to wait for their presence write, and a handler held SQLite's write lock
through Whisper, so joins took seconds and logs filled with "database is locked".
These tests hold the database busy (another process's write lock, a transcription
in progress) while two bots join, and check what a user would notice: media
flows, nothing is logged as failed, and every record lands once the database frees.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sqlite3
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from starlette.applications import Starlette

from ai_docs import Transcript
from api.app import create_app
from bench.speech import say
from core.clock import FixedClock
from eventbus.models import OutboxEvent
from sessions.documentation import record_recording
from sessions.models import Presence
from sfu.recording import RecordedTrack
from signaling.bot import BotReport, run_bot
from signaling.tokens import JoinGrant, issue_join_token
from tests.conftest import NOW, SECRET, World, loopback_settings, seed_world
from tests.serving import serving_rtc

WAIT = float(os.environ.get("LIVECLASS_TEST_WAIT_FACTOR", "1"))


@dataclass
class Busy:
    app: Starlette
    world: World
    url: str
    db_path: Path

    def token(self, who: str, role: str) -> str:
        grant = JoinGrant(
            session_id=self.world.ids["ses1"],
            participant_id=self.world.users[who].id,
            role=role,
            name=f"Person {who}",
            expires_at=NOW + timedelta(hours=3),
        )
        return issue_join_token(grant, secret=SECRET, now=NOW)

    async def two_bots(self) -> list[BotReport]:
        """The tutor's and the student's bots, together for a few seconds."""
        return list(
            await asyncio.gather(
                run_bot(self.url, self.token("t1", "tutor"), seconds=6 * WAIT),
                run_bot(self.url, self.token("s1", "student"), seconds=6 * WAIT),
            )
        )

    async def presence(self) -> list[tuple[str, str]]:
        await self.app.state.signaling.flush_presence()
        async with self.app.state.services.sessionmaker() as db:
            rows = await db.execute(
                select(Presence.participant_id, Presence.type)
                .where(Presence.session_id == self.world.ids["ses1"])
                .order_by(Presence.id)
            )
            return [(pid, str(type_)) for pid, type_ in rows]


@pytest.fixture
async def busy(tmp_path: Path) -> AsyncIterator[Busy]:
    """The app on the embedded database (a file), handlers running, served on loopback."""
    db_path = tmp_path / "liveclass.db"
    settings = await loopback_settings(
        f"sqlite+aiosqlite:///{db_path}", tmp_path / "var", event_poll_seconds=0.1
    )
    app = create_app(settings, clock=FixedClock(NOW), run_workers=True)
    world = await seed_world(app, NOW)
    async with serving_rtc(app) as rtc:
        yield Busy(app, world, rtc, db_path)


@contextmanager
def write_lock(path: Path) -> Iterator[None]:
    """Hold SQLite's write lock from another connection, as a long writer would."""
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute("BEGIN IMMEDIATE")
        yield
    finally:
        conn.execute("ROLLBACK")
        conn.close()


def _problems(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        f"{r.name}: {r.getMessage()}"
        for r in caplog.records
        if r.name.startswith("liveclass") and r.levelno >= logging.WARNING
    ]


async def test_joins_go_on_while_another_writer_holds_the_database(
    busy: Busy, caplog: pytest.LogCaptureFixture
) -> None:
    """Two bots join and exchange media while the write lock is held; the records follow."""
    caplog.set_level(logging.WARNING, logger="liveclass")
    with write_lock(busy.db_path):
        reports = await busy.two_bots()
        assert await _presence_count(busy) == 0  # nothing could be written meanwhile
    assert all(r.ok for r in reports), [r.as_dict() for r in reports]
    tutor, student = busy.world.users["t1"].id, busy.world.users["s1"].id
    records = await busy.presence()
    assert sorted(records) == sorted(
        [(p, t) for p in (tutor, student) for t in ("participant.joined", "participant.left")]
    )
    assert _problems(caplog) == []


async def _presence_count(busy: Busy) -> int:
    async with busy.app.state.services.sessionmaker() as db:
        return len((await db.scalars(select(Presence.id))).all())


async def test_joins_go_on_while_a_session_is_documented(
    busy: Busy, caplog: pytest.LogCaptureFixture, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A transcription in progress (its handler's transaction open) holds up no join, and
    nothing logs an error, before or after it finishes."""
    caplog.set_level(logging.WARNING, logger="liveclass")
    services = busy.app.state.services
    transcriber = services.transcriber
    real = transcriber.atranscribe
    entered, release = asyncio.Event(), asyncio.Event()

    async def held(*args: Any, **kwargs: Any) -> Transcript:
        entered.set()
        await release.wait()
        return await real(*args, **kwargs)

    monkeypatch.setattr(transcriber, "atranscribe", held)
    speech = tmp_path / "tutor.wav"
    say("Today we practise adding fractions with the same bottom number.", speech, voice="en-us+m3")
    track = RecordedTrack(
        participant_id=busy.world.users["t1"].id,
        role="tutor",
        path=speech,
        offset=0.0,
        started_at=NOW,
        duration=4.0,
        size=speech.stat().st_size,
        sha256="0" * 64,
    )
    session = busy.world.ids["ses2"]
    async with services.sessionmaker() as db, db.begin():
        await record_recording(db, session, [track], now=NOW)
    async with asyncio.timeout(30 * WAIT):
        await entered.wait()

    reports = await busy.two_bots()
    assert not release.is_set()
    assert all(r.ok for r in reports), [r.as_dict() for r in reports]
    firsts = [p["first_video_s"] for r in reports for p in r.participants.values()]
    print(f"first video while a transcription is in progress: {firsts} s after joining")
    assert len(await busy.presence()) == 4

    release.set()
    async with asyncio.timeout(60 * WAIT):
        while not await _has_event(busy, session, "transcript.ready"):
            await asyncio.sleep(0.1)
    assert _problems(caplog) == []


async def _has_event(busy: Busy, session: str, type_: str) -> bool:
    async with busy.app.state.services.sessionmaker() as db:
        found = await db.scalar(
            select(OutboxEvent.id).where(
                OutboxEvent.session_id == session, OutboxEvent.type == type_
            )
        )
    return found is not None
