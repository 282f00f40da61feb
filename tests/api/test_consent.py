"""A family's consents end to end: two bots speak through the SFU, and for each mix of
``recording_consent`` and ``ai_processing_consent`` (one guardian, or two who differ)
the test reads what was recorded, what was transcribed and which drafter wrote the
document.

Real signaling, SFU and recorder on loopback (``sessions.consent.may_record``,
wired by the composition root), real Whisper on espeak-ng speech, real SQLite and
PostgreSQL, and a model server that is down: a document the offline drafter wrote
because the model failed (``fallback_reason``) shows that the transcript was sent to
the model, one written without a fallback reason that it never was.
"""

from __future__ import annotations

import asyncio
import os
from dataclasses import dataclass

import httpx
import pytest
from sqlalchemy import select, update
from starlette.applications import Starlette

from api.settings import Settings
from bench.speech import Line, SpeechTrack, make_dialogue
from core.clock import FixedClock
from eventbus.bus import EmbeddedBus
from eventbus.models import OutboxEvent
from scheduling.models import Guardianship
from sessions.documentation import DraftingHandler, TranscriptionHandler
from sessions.lifecycle import Action
from sessions.models import SessionDocumentRecord
from sessions.service import apply
from tests.api.test_session_to_summary import two_bots_speak
from tests.conftest import World
from tests.serving import serving_rtc

WAIT = float(os.environ.get("LIVECLASS_TEST_WAIT_FACTOR", "1"))
LINES = [
    Line("tutor", "Today we practise adding fractions.", 0.8),
    Line("student", "The exercises were quite hard.", 0.5),
]
HEARD = {"tutor": "fractions", "student": "exercises"}  # words Whisper gets right here
BOTH, TUTOR = {"tutor", "student"}, {"tutor"}


@dataclass(frozen=True)
class Case:
    """Each guardian's (recording, AI) consents for s1, and what must follow."""

    consents: dict[str, tuple[bool, bool]]
    recorded: set[str]
    transcribed: set[str]
    model: bool  # the transcript went to the model


CASES = {
    "recording and AI": Case({"g1": (True, True)}, BOTH, BOTH, model=True),
    "recording, no AI": Case({"g1": (True, False)}, BOTH, TUTOR, model=False),
    "AI, no recording": Case({"g1": (False, True)}, TUTOR, TUTOR, model=True),
    "neither": Case({"g1": (False, False)}, TUTOR, TUTOR, model=False),
    # Both allow recording, one of the two withholds AI: recorded, never transcribed.
    "one of two guardians, no AI": Case(
        {"g1": (True, True), "g2": (True, False)}, BOTH, TUTOR, model=False
    ),
}


@pytest.fixture(scope="module")
def voices(tmp_path_factory: pytest.TempPathFactory) -> list[SpeechTrack]:
    """Tutor and student tracks of equal length, each silent while the other speaks."""
    return make_dialogue(
        LINES, tmp_path_factory.mktemp("voices"), speakers={"tutor": "Tutor", "student": "Student"}
    )


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """ICE on loopback, and a model configured but down (nothing listens on port 9)."""
    return settings.model_copy(
        update={
            "ice_addresses": ["127.0.0.1"],
            "openai_base_url": "http://127.0.0.1:9/v1",
            "llm_model": "absent",
            "llm_max_retries": 0,
            "llm_timeout_seconds": 2.0,
        }
    )


async def _give(app: Starlette, world: World, consents: dict[str, tuple[bool, bool]]) -> None:
    """s1's guardians and their consents; g2 (s2's guardian) becomes s1's second one."""
    async with app.state.services.sessionmaker() as db, db.begin():
        if "g2" in consents:
            first = await db.get(Guardianship, "gsp_g1")
            assert first is not None
            db.add(
                Guardianship(
                    id="gsp_g2_s1",
                    guardian_id=world.ids["g2"],
                    student_id=world.ids["s1"],
                    created_at=first.created_at,
                    updated_at=first.updated_at,
                )
            )
        await db.flush()
        for guardian, (recording, ai) in consents.items():
            await db.execute(
                update(Guardianship)
                .where(
                    Guardianship.guardian_id == world.ids[guardian],
                    Guardianship.student_id == world.ids["s1"],
                )
                .values(recording_consent=recording, ai_processing_consent=ai)
            )


async def _recording(app: Starlette, session_id: str) -> OutboxEvent:
    """The ``recording.ready`` the room wrote when it closed."""
    async with asyncio.timeout(20 * WAIT):
        while True:
            async with app.state.services.sessionmaker() as db:
                event = await db.scalar(
                    select(OutboxEvent).where(
                        OutboxEvent.session_id == session_id, OutboxEvent.type == "recording.ready"
                    )
                )
            if event is not None:
                return event
            await asyncio.sleep(0.1)


async def _end_and_document(app: Starlette, ses: str, clock: FixedClock) -> None:
    """End the session and run transcription and drafting until nothing is left to do."""
    services = app.state.services
    async with services.sessionmaker() as db, db.begin():
        await apply(db, ses, Action.END, now=clock.now())
    bus = EmbeddedBus(
        services.sessionmaker,
        [
            TranscriptionHandler(services.transcriber, clock=clock.now, consent_age=13),
            DraftingHandler(services.settings, clock=clock.now, consent_age=13),
        ],
        clock=clock.now,
    )
    while await bus.dispatch_once():
        pass


@pytest.mark.parametrize("case", list(CASES.values()), ids=list(CASES))
async def test_what_is_recorded_transcribed_and_drafted_follows_every_guardians_consent(
    app: Starlette,
    world: World,
    client: httpx.AsyncClient,
    clock: FixedClock,
    voices: list[SpeechTrack],
    case: Case,
) -> None:
    """Recorded: the tutor, the student only with every guardian's recording consent;
    transcribed: the tutor, the student only with every guardian's AI consent; the
    model only when every guardian consented to AI."""
    await _give(app, world, case.consents)
    ses = world.ids["ses1"]
    async with serving_rtc(app) as url:
        await two_bots_speak(client, url, world, ses, voices)
        recording = await _recording(app, ses)
        tracks = recording.payload["tracks"]
        assert {t["role"] for t in tracks} == case.recorded
        ids = {"tutor": world.users["t1"].id, "student": world.users["s1"].id}
        assert {t["participant_id"] for t in tracks} == {ids[role] for role in case.recorded}

        # The handlers run while the server (and its Whisper) still does.
        await _end_and_document(app, ses, clock)

    r = await client.get(f"/api/v1/sessions/{ses}/transcript", headers=world.as_("t1"))
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["state"] == "ready"
    segments = body["segments"]
    assert {s["role"] for s in segments} == case.transcribed
    assert {s["participant_id"] for s in segments} == {ids[role] for role in case.transcribed}
    # Recorded but not transcribed: named, and nothing they said is there.
    assert body["untranscribed"] == sorted(ids[r] for r in case.recorded - case.transcribed)
    for role, word in HEARD.items():
        said = " ".join(s["text"] for s in segments if s["role"] == role).lower()
        assert (word in said) is (role in case.transcribed), (role, said)

    async with app.state.services.sessionmaker() as db:
        doc = await db.scalar(
            select(SessionDocumentRecord).where(SessionDocumentRecord.session_id == ses)
        )
    assert doc is not None and doc.drafted_by == "offline"
    if case.model:
        assert doc.fallback_reason is not None
        assert doc.fallback_reason.startswith("model_unreachable")
    else:
        assert doc.fallback_reason is None


async def test_a_guardian_who_withdraws_ai_consent_is_honoured_by_the_next_session(
    app: Starlette,
    world: World,
    client: httpx.AsyncClient,
    clock: FixedClock,
    voices: list[SpeechTrack],
) -> None:
    """The family portal's switch: the guardian turns AI processing off themself (the
    PATCH the portal sends), and the session that follows records the child but never
    turns their audio into text, nor sends the transcript to the model."""
    await _give(app, world, {"g1": (True, True)})
    r = await client.patch(
        f"/api/v1/guardians/{world.ids['g1']}/students/{world.ids['s1']}",
        json={"ai_processing_consent": False},
        headers=world.as_("g1"),
    )
    assert r.status_code == 200, r.text
    [link] = [s for s in r.json()["students"] if s["student_id"] == world.ids["s1"]]
    assert (link["recording_consent"], link["ai_processing_consent"]) == (True, False)
    ses = world.ids["ses1"]
    async with serving_rtc(app) as url:
        await two_bots_speak(client, url, world, ses, voices)
        recording = await _recording(app, ses)
        assert {t["role"] for t in recording.payload["tracks"]} == BOTH
        await _end_and_document(app, ses, clock)
    body = (await client.get(f"/api/v1/sessions/{ses}/transcript", headers=world.as_("t1"))).json()
    assert {s["role"] for s in body["segments"]} == TUTOR
    assert body["untranscribed"] == [world.users["s1"].id]
    async with app.state.services.sessionmaker() as db:
        doc = await db.scalar(
            select(SessionDocumentRecord).where(SessionDocumentRecord.session_id == ses)
        )
    assert doc is not None and doc.fallback_reason is None  # the model never saw it
