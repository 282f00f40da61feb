"""Live captions through a served app: aiortc bots speaking espeak-ng speech, real workers.

The tutor and a student both speak. The student's guardian consented to recording
but not to AI processing, so only the tutor's speech may become text: captions
name the tutor, and the student's words never appear anywhere. When the room
closes, the tutor's file is marked as heard live, and the transcript is made
from what was stored during the lesson, without Whisper running again.
"""

from __future__ import annotations

import asyncio
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select, update
from starlette.applications import Starlette

from ai_docs import word_error_rate
from api.app import create_app
from api.settings import Settings
from bench.speech import VOICES, say, to_ogg_opus
from core.clock import FixedClock
from eventbus.bus import EmbeddedBus
from eventbus.models import OutboxEvent
from scheduling.models import Base, Guardianship
from sessions.documentation import TranscriptionHandler, stored_segments
from sessions.models import LiveSegmentRecord
from sfu.media_file import load_media_file
from signaling.bot import run_bot
from tests.conftest import World, seed_world
from tests.serving import WAIT, serving_rtc

TUTOR_SAYS = "Today we are going to practise adding fractions with the same bottom number."
STUDENT_SAYS = "My favourite colour is purple and I have a dog called Biscuit."


def _spoken(text: str, voice: str, folder: Path) -> Path:
    """``text`` then two seconds of quiet, as Ogg Opus (looped by the bot)."""
    wav = folder / "said.wav"
    say(text, wav, voice=voice)
    padded = folder / "padded.wav"
    subprocess.run(["sox", str(wav), str(padded), "pad", "0.3", "2.0"], check=True)
    return to_ogg_opus(padded, folder / "said.opus.ogg")


@pytest.fixture(scope="module")
def speech(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return {
        "tutor": _spoken(TUTOR_SAYS, VOICES["tutor"], tmp_path_factory.mktemp("tutor")),
        "student": _spoken(STUDENT_SAYS, VOICES["student"], tmp_path_factory.mktemp("student")),
    }


@pytest.fixture
async def captioned(
    settings: Settings, clock: FixedClock, request: pytest.FixtureRequest
) -> AsyncIterator[Starlette]:
    """The test app, ICE on loopback, with live transcription on (unless the test's
    parameter says ``False``)."""
    live = getattr(request, "param", True)
    settings = settings.model_copy(
        update={"ice_addresses": ["127.0.0.1"], "live_transcription": live}
    )
    app = create_app(settings, clock=clock)
    yield app
    services = app.state.services
    async with services.engine.begin() as conn:
        for table in reversed(Base.metadata.sorted_tables):
            await conn.execute(table.delete())
    await services.aclose()


async def _token(client: httpx.AsyncClient, world: World, who: str) -> str:
    r = await client.post(
        f"/api/v1/sessions/{world.ids['ses1']}/join-token", headers=world.as_(who)
    )
    assert r.status_code == 201, r.text
    return str(r.json()["token"])


async def _recording_ready(app: Starlette, session_id: str) -> OutboxEvent:
    async with asyncio.timeout(60 * WAIT):
        while True:
            async with app.state.services.sessionmaker() as db:
                event = await db.scalar(
                    select(OutboxEvent).where(
                        OutboxEvent.session_id == session_id,
                        OutboxEvent.type == "recording.ready",
                    )
                )
            if event is not None:
                return event
            await asyncio.sleep(0.2)


async def test_captions_name_the_tutor_and_only_consented_speech_becomes_text(
    captioned: Starlette, clock: FixedClock, speech: dict[str, Path]
) -> None:
    app = captioned
    world = await seed_world(app, clock.now())
    async with app.state.services.sessionmaker() as db, db.begin():
        await db.execute(
            update(Guardianship).values(recording_consent=True, ai_processing_consent=False)
        )
    tutor_id, student_id = world.users["t1"].id, world.users["s1"].id
    transport = httpx.ASGITransport(app=app)
    async with (
        httpx.AsyncClient(transport=transport, base_url="http://testserver") as client,
        serving_rtc(app) as url,
    ):
        tutor, student = await _token(client, world, "t1"), await _token(client, world, "s1")
        # Each line is about 5 s and loops: the stay hears it three times or so.
        tutor_report, student_report = await asyncio.gather(
            run_bot(
                url,
                tutor,
                seconds=120 * WAIT,
                media=load_media_file(speech["tutor"]),
                media_seconds=18.0,
            ),
            run_bot(
                url,
                student,
                seconds=120 * WAIT,
                media=load_media_file(speech["student"]),
                media_seconds=18.0,
                captions=True,
            ),
        )
        ready = await _recording_ready(app, world.ids["ses1"])
    assert student_report.captions, "no caption came while the tutor spoke"
    assert {c["participant_id"] for c in student_report.captions} == {tutor_id}
    assert {(c["name"], c["role"]) for c in student_report.captions} == {("Person t1", "tutor")}
    first = student_report.captions[0]["text"]
    assert word_error_rate(TUTOR_SAYS, first) < 0.3, first
    assert tutor_report.captions == [], "the tutor did not turn captions on"

    tracks = {t["role"]: t for t in ready.payload["tracks"]}
    assert set(tracks) == {"tutor", "student"}, "both were recorded"
    assert tracks["tutor"]["live"] and tracks["student"]["live"] is None
    async with app.state.services.sessionmaker() as db:
        rows = list(await db.scalars(select(LiveSegmentRecord)))
    assert rows and {r.participant_id for r in rows} == {tutor_id}

    # The transcript comes from the stored live segments: no Whisper, no student.
    bus = EmbeddedBus(
        app.state.services.sessionmaker,
        [
            TranscriptionHandler(
                app.state.services.transcriber, clock=app.state.services.clock.now, consent_age=13
            )
        ],
        clock=clock.now,
    )
    while await bus.dispatch_once():
        pass
    async with app.state.services.sessionmaker() as db:
        segments = await stored_segments(db, world.ids["ses1"])
    assert {s.participant_id for s in segments} == {tutor_id}
    assert [s.text for s in segments] == [r.text for r in sorted(rows, key=lambda r: r.seq)]
    assert student_id not in {s.participant_id for s in segments}
    heard = " ".join(s.text.lower() for s in segments)
    assert "biscuit" not in heard and "purple" not in heard


@pytest.mark.parametrize("captioned", [False], indirect=True, ids=["live transcription off"])
async def test_captions_cannot_be_turned_on_where_speech_is_not_transcribed_live(
    captioned: Starlette, clock: FixedClock
) -> None:
    """With live transcription off, asking for captions says so, and the call goes on."""
    app = captioned
    world = await seed_world(app, clock.now())
    transport = httpx.ASGITransport(app=app)
    async with (
        httpx.AsyncClient(transport=transport, base_url="http://testserver") as client,
        serving_rtc(app) as url,
    ):
        token = await _token(client, world, "t1")
        # Alone in the room: a short stay (media_seconds would wait for others).
        report = await run_bot(url, token, seconds=4 * WAIT, captions=True)
    assert [e["code"] for e in report.errors] == ["captions_unavailable"]
