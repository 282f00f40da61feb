"""End to end on loopback: two bots speak through the SFU, the session ends by itself, and
the tutor finds a draft with its transcript; once approved, the guardian's email holds
the summary.

Everything between the bots leaving and the draft appearing runs from events, with no
API call: the room closes (recording.ready), the lifecycle sweep ends the empty session
(session.ended), the embedded bus transcribes (Whisper) and drafts (offline), and after
approval the mail dispatcher sends through a real SMTP server (aiosmtpd).
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from datetime import timedelta
from email.message import EmailMessage

import httpx
import pytest
from pydantic import SecretStr
from sqlalchemy import update
from starlette.applications import Starlette

from ai_docs import word_error_rate
from api.app import create_app
from api.settings import Settings
from bench.speech import Line, SpeechTrack, make_dialogue, to_ogg_opus
from core.clock import FixedClock
from scheduling.models import Base, Guardianship
from sfu.media_file import load_media_file
from signaling.bot import BotReport, run_bot
from tests.conftest import World, seed_world
from tests.notifications.test_notifications import MailServer
from tests.notifications.test_notifications import mail as mail  # noqa: F401  (the fixture)
from tests.serving import serving_rtc

WAIT = float(os.environ.get("LIVECLASS_TEST_WAIT_FACTOR", "1"))
LINES = [
    Line("tutor", "Good afternoon. Today we are going to practise adding fractions.", 0.5),
    Line("student", "Good afternoon. I found last week's exercises quite hard.", 0.8),
    Line("tutor", "That is fine. First we make the bottom numbers the same.", 0.8),
    Line("student", "Thank you. That makes much more sense to me.", 0.8),
]


@pytest.fixture(scope="module")
def voices(tmp_path_factory: pytest.TempPathFactory) -> list[SpeechTrack]:
    """Tutor and student tracks of equal length, each silent while the other speaks."""
    return make_dialogue(
        LINES, tmp_path_factory.mktemp("voices"), speakers={"tutor": "Tutor", "student": "Student"}
    )


@pytest.fixture
async def live_app(
    settings: Settings, clock: FixedClock, mail: MailServer
) -> AsyncIterator[Starlette]:
    """The whole server as ``liveclass serve`` runs it: handlers, mail and sweep in process."""
    settings = settings.model_copy(
        update={
            "ice_addresses": ["127.0.0.1"],
            "smtp_url": SecretStr(mail.url),
            "lifecycle_sweep_seconds": 0.2,
            "event_poll_seconds": 0.1,
            "empty_room_end_minutes": 1,
        }
    )
    app = create_app(settings, clock=clock, run_timers=True, run_workers=True)
    yield app
    services = app.state.services
    async with services.engine.begin() as conn:
        for table in reversed(Base.metadata.sorted_tables):
            await conn.execute(table.delete())
    await services.aclose()


async def _eventually(
    client: httpx.AsyncClient, url: str, world: World, who: str, seconds: float
) -> httpx.Response:
    async with asyncio.timeout(seconds * WAIT):
        while True:
            r = await client.get(url, headers=world.as_(who))
            if r.status_code == 200:
                return r
            await asyncio.sleep(0.2)


async def two_bots_speak(
    client: httpx.AsyncClient, url: str, world: World, session_id: str, voices: list[SpeechTrack]
) -> list[BotReport]:
    """The tutor's and the student's bots join with tokens got from the API, say their
    lines and leave; each hears all of the other's media."""
    tutor_media, student_media = (load_media_file(to_ogg_opus(v.path)) for v in voices)
    # Each bot stays until its whole speech has been heard, however long joining took.
    stay = max(v.duration for v in voices) + 0.5
    tokens = {}
    for who in ("t1", "s1"):
        r = await client.post(f"/api/v1/sessions/{session_id}/join-token", headers=world.as_(who))
        assert r.status_code == 201, r.text
        tokens[who] = r.json()["token"]
    reports = await asyncio.gather(
        run_bot(url, tokens["t1"], seconds=60 * WAIT, media_seconds=stay, media=tutor_media),
        run_bot(url, tokens["s1"], seconds=60 * WAIT, media_seconds=stay, media=student_media),
    )
    assert all(report.ok for report in reports), reports
    return list(reports)


async def test_two_bots_speak_and_the_guardian_gets_the_approved_summary(
    live_app: Starlette, clock: FixedClock, mail: MailServer, voices: list[SpeechTrack]
) -> None:
    """Join, speak, leave; nobody calls anything until the tutor reads the draft."""
    app = live_app
    world = await seed_world(app, clock.now())
    async with app.state.services.sessionmaker() as db, db.begin():
        await db.execute(
            update(Guardianship)
            .where(Guardianship.guardian_id == world.ids["g1"])
            .values(recording_consent=True, ai_processing_consent=True)
        )
    ses = world.ids["ses1"]
    transport = httpx.ASGITransport(app=app)
    async with (
        httpx.AsyncClient(transport=transport, base_url="http://testserver") as client,
        serving_rtc(app) as url,
    ):
        await two_bots_speak(client, url, world, ses, voices)
        # Time passes: the empty room's session is ended by the sweep.
        clock.advance(timedelta(minutes=2))

        r = await _eventually(client, f"/api/v1/sessions/{ses}/document", world, "t1", 120)
        draft = r.json()
        assert draft["status"] == "draft" and draft["label"] == "automatic draft (offline)"
        r = await client.get(f"/api/v1/sessions/{ses}/transcript", headers=world.as_("t1"))
        segments = r.json()["segments"]
        names = {
            world.users["t1"].display_name: voices[0],
            world.users["s1"].display_name: voices[1],
        }
        assert {s["speaker"] for s in segments} == set(names)
        for name, voice in names.items():
            said = " ".join(s["text"] for s in segments if s["speaker"] == name)
            assert word_error_rate(voice.text, said) <= 0.15, (name, said)
        r = await client.get(f"/api/v1/sessions/{ses}", headers=world.as_("t1"))
        assert r.json()["status"] == "documented"

        r = await client.post(f"/api/v1/sessions/{ses}/document/approve", headers=world.as_("t1"))
        assert r.status_code == 200, r.text
        summary = draft["document"]["parent_summary"]["text"]

        # The seeded sessions start within the hour, so the sweep has sent their
        # 1 h reminders too (tests/notifications/test_reminders.py): each person one.
        def summaries() -> list[EmailMessage]:
            return [m for m in mail.inbox.parsed() if not m["Subject"].startswith("Reminder:")]

        async with asyncio.timeout(30 * WAIT):
            while not summaries():
                await asyncio.sleep(0.1)
        await asyncio.sleep(1.0)  # room for a duplicate, which must not come

        # The session's structured data followed the chain: the approval is in the
        # coordinator's analytics, with the student's talk share and attendance.
        day = clock.now().date().isoformat()
        params = {"start": day, "end": day, "student_id": world.ids["s1"]}
        async with asyncio.timeout(30 * WAIT):
            while True:
                r = await client.get(
                    "/api/v1/analytics/tutors",
                    params={"start": day, "end": day, "tutor_id": world.ids["t1"]},
                    headers=world.as_("coord"),
                )
                assert r.status_code == 200, r.text
                if r.json()["items"] and r.json()["items"][0]["figures"]["approved"] == 1:
                    break
                await asyncio.sleep(0.2)
        r = await client.get(
            "/api/v1/analytics/students", params=params, headers=world.as_("coord")
        )
        [row] = r.json()["items"]
        figures = row["figures"]
        assert figures["sessions"] == figures["attended"] == 1
        assert 0.2 < figures["mean_talk_share"] < 0.8  # both spoke about as long
    [message] = summaries()
    reminded = [m["To"] for m in mail.inbox.parsed() if m["Subject"].startswith("Reminder:")]
    assert world.users["t1"].email in reminded and len(reminded) == len(set(reminded))
    assert message["To"] == world.users["g1"].email
    body = message.get_body(preferencelist=("plain",))
    assert body is not None
    assert " ".join(summary.split()) in " ".join(body.get_content().split())
