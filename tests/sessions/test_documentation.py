"""From recording to documented session: transcription, drafting, briefing, review, approval.

Real Whisper on espeak-ng speech with known text, real SQLite and PostgreSQL, the
offline drafter (and a model server that is down, for the fallback), and a real
SMTP server (aiosmtpd) on loopback for the guardian's email.
"""

from __future__ import annotations

import hashlib
import wave
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select, update
from starlette.applications import Starlette

from ai_docs import word_error_rate
from api.settings import Settings
from bench.speech import Line, SpeechTrack, make_dialogue
from core.clock import FixedClock
from eventbus.bus import EmbeddedBus
from eventbus.ledger import Handler, RetryPolicy, clear_failure
from eventbus.models import OutboxEvent
from notifications import GuardianNotices
from scheduling.models import Guardianship, LiveSession, SessionStatus
from sessions.documentation import (
    DraftingHandler,
    TranscriptFacts,
    TranscriptionHandler,
    TranscriptState,
    record_recording,
    transcript_state,
)
from sessions.events import record
from sessions.models import (
    BriefingRecord,
    DocumentStatus,
    LiveSegmentRecord,
    PresenceType,
    SessionDocumentRecord,
    SessionException,
    SessionExceptionKind,
    TranscriptSegment,
)
from sessions.review import REVIEW_PROMISE, approve_due
from sessions.session_exceptions import detect_due
from tests.conftest import NOW, SECRET, World
from tests.notifications.test_notifications import (
    APP_URL,
    FROM,
    MailServer,
    dispatcher,
    parts,
    set_link,
    smtp,
)
from tests.notifications.test_notifications import mail as mail  # noqa: F401  (the fixture)
from tests.sessions.test_attendance import START, book_pair, end, presence

J = PresenceType.JOINED
TUTOR, STUDENT = "Person t1", "Person s1"
LINES = [
    Line("tutor", "Good afternoon. Today we are going to practise adding fractions."),
    Line("student", "Good afternoon. I found last week's exercises quite hard.", 0.8),
    Line("tutor", "That is fine. First we make the bottom numbers the same.", 0.8),
    Line("student", "So we multiply both numbers by the same amount?", 0.8),
    Line("tutor", "Exactly. Then we add the top numbers and keep the bottom one.", 0.8),
    Line("student", "Thank you. That makes much more sense to me.", 0.8),
]


@pytest.fixture(scope="module")
def speech(tmp_path_factory: pytest.TempPathFactory) -> list[SpeechTrack]:
    """The tutor's and the student's tracks; the student's file starts 2.5 s later."""
    return make_dialogue(
        LINES,
        tmp_path_factory.mktemp("speech"),
        speakers={"tutor": TUTOR, "student": STUDENT},
        offsets={"student": 2.5},
    )


class _Track:
    """Shaped like ``sfu.RecordedTrack``, for a file the test made."""

    def __init__(
        self, participant_id: str, role: str, speech: SpeechTrack, live: str | None = None
    ) -> None:
        self.participant_id, self.role, self.path = participant_id, role, speech.path
        self.live = live
        self.offset = speech.offset
        self.started_at = START + timedelta(seconds=speech.offset)
        self.duration = speech.duration
        self.size = speech.path.stat().st_size
        self.sha256 = hashlib.sha256(speech.path.read_bytes()).hexdigest()


async def recording_ready(
    app: Starlette,
    world: World,
    session_id: str,
    speech: list[SpeechTrack],
    live: dict[str, str] | None = None,
) -> None:
    """``live``: the role whose file live transcription heard in full, and its stream."""
    live = live or {}
    tracks = [
        _Track(world.users["t1"].id, "tutor", speech[0], live.get("tutor")),
        _Track(world.users["s1"].id, "student", speech[1], live.get("student")),
    ]
    async with app.state.services.sessionmaker() as db, db.begin():
        await record_recording(db, session_id, tracks, now=NOW)


def handlers(app: Starlette, settings: Settings | None = None) -> list[Handler]:
    services = app.state.services
    return [
        TranscriptionHandler(services.transcriber, clock=services.clock.now, consent_age=13),
        DraftingHandler(settings or services.settings, clock=services.clock.now, consent_age=13),
        GuardianNotices(app_url=APP_URL, secret=SECRET, mail_from=FROM),
    ]


async def run(app: Starlette, settings: Settings | None = None) -> None:
    """Every pending event through the documentation handlers until none is left."""
    bus = EmbeddedBus(app.state.services.sessionmaker, handlers(app, settings), clock=lambda: NOW)
    while await bus.dispatch_once():
        pass


async def status_of(app: Starlette, session_id: str) -> SessionStatus:
    async with app.state.services.sessionmaker() as db:
        live = await db.get(LiveSession, session_id)
        assert live is not None
        return live.status


async def event_types(app: Starlette, session_id: str) -> list[str]:
    async with app.state.services.sessionmaker() as db:
        return list(
            await db.scalars(
                select(OutboxEvent.type)
                .where(OutboxEvent.session_id == session_id)
                .order_by(OutboxEvent.seq)
            )
        )


async def transcript_body(client: httpx.AsyncClient, world: World, session_id: str) -> dict:
    r = await client.get(f"/api/v1/sessions/{session_id}/transcript", headers=world.as_("t1"))
    assert r.status_code == 200, r.text
    body: dict = r.json()
    return body


async def captions(client: httpx.AsyncClient, world: World, session_id: str) -> httpx.Response:
    return await client.get(f"/api/v1/sessions/{session_id}/captions.vtt", headers=world.as_("t1"))


def silence(path: Path, seconds: float) -> SpeechTrack:
    """A track in which nobody says anything."""
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(16_000)
        out.writeframes(b"\0\0" * int(16_000 * seconds))
    return SpeechTrack(path=path, speaker=TUTOR, role="tutor", offset=0.0, duration=seconds)


async def test_a_recording_becomes_a_transcript_a_document_and_a_briefing(
    app: Starlette, world: World, client: httpx.AsyncClient, speech: list[SpeechTrack]
) -> None:
    """Tracks in either order with the end; speakers by name, WER <= 15% each; documented."""
    async with app.state.services.sessionmaker() as db, db.begin():
        await db.execute(update(Guardianship).values(ai_processing_consent=True))
    ses = await book_pair(app, world)
    await presence(app, world, ses, "t1", J, 0)
    await presence(app, world, ses, "s1", J, 1)
    # The room closed (the recording is ready) before the session ended: a transcript, no draft.
    await recording_ready(app, world, ses, speech)
    assert (await transcript_body(client, world, ses))["state"] == "pending"
    await run(app)
    assert await status_of(app, ses) is SessionStatus.LIVE
    assert "transcript.ready" in await event_types(app, ses)
    assert "summary.drafted" not in await event_types(app, ses)

    r = await client.get(f"/api/v1/sessions/{ses}/transcript", headers=world.as_("t1"))
    assert r.status_code == 200, r.text
    assert r.json()["state"] == "ready"
    segments = r.json()["segments"]
    spoken = [s["speaker"] for s in segments]
    # Turn-taking comes back in the order spoken (a line may split into two segments).
    turns = [name for i, name in enumerate(spoken) if i == 0 or spoken[i - 1] != name]
    assert turns == [TUTOR, STUDENT] * 3
    assert [s["start"] for s in segments] == sorted(s["start"] for s in segments)
    for track in speech:
        said = " ".join(s["text"] for s in segments if s["speaker"] == track.speaker)
        assert word_error_rate(track.text, said) <= 0.15, (track.speaker, said)
    assert {s["role"] for s in segments} == {"tutor", "student"}

    await end(app, ses, 50)
    await run(app)
    assert await status_of(app, ses) is SessionStatus.DOCUMENTED
    types = await event_types(app, ses)
    assert types.count("summary.drafted") == 1 and "session.documented" in types

    r = await client.get(f"/api/v1/sessions/{ses}/document", headers=world.as_("t1"))
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["status"] == "draft" and body["label"] == "automatic draft (offline)"
    cited = {i for item in body["document"]["topics"] for i in item["segments"]}
    assert cited and cited <= set(range(len(segments)))
    assert body["document"]["parent_summary"]["text"]

    # s1's next session with t1 is the world's ses1: the briefing waits there.
    r = await client.get(f"/api/v1/sessions/{world.ids['ses1']}/briefing", headers=world.as_("t1"))
    assert r.status_code == 200, r.text
    [briefing] = r.json()["briefings"]
    assert briefing["student_id"] == world.ids["s1"] and briefing["source_session_id"] == ses
    assert briefing["briefing"]["based_on"] == 1

    vtt = await client.get(f"/api/v1/sessions/{ses}/captions.vtt", headers=world.as_("t1"))
    assert vtt.status_code == 200 and vtt.headers["content-type"].startswith("text/vtt")
    assert vtt.text.startswith("WEBVTT\n") and f"<v {TUTOR}>" in vtt.text

    # Nobody but the session's staff reads transcript or draft.
    for who in ("t2", "g1", "s1"):
        r = await client.get(f"/api/v1/sessions/{ses}/document", headers=world.as_(who))
        assert r.status_code in (403, 404), (who, r.text)
    r = await client.get(f"/api/v1/sessions/{ses}/summary", headers=world.as_("g1"))
    assert r.status_code == 404 and "no approved summary" in r.json()["error"]["message"]


async def _transcribed_and_ended(app: Starlette, world: World) -> str:
    """A session with a stored two-line transcript and its end, without Whisper."""
    ses = await book_pair(app, world)
    await presence(app, world, ses, "t1", J, 0)
    async with app.state.services.sessionmaker() as db, db.begin():
        for index, (who, role, text) in enumerate(
            [
                ("t1", "tutor", "Today we practise adding fractions with unlike denominators."),
                ("s1", "student", "I find common denominators hard. Is that the bottom number?"),
            ]
        ):
            db.add(
                TranscriptSegment(
                    session_id=ses,
                    index=index,
                    start=index * 5.0,
                    end=index * 5.0 + 4,
                    participant_id=world.users[who].id,
                    speaker=world.users[who].display_name,
                    role=role,
                    text=text,
                )
            )
        record(db, "transcript.ready", session_id=ses, at=NOW, payload={"segments": 2})
    await end(app, ses, 50)
    return ses


async def test_a_model_that_is_down_still_documents_the_session_and_tells_coordinators(
    app: Starlette, world: World, settings: Settings
) -> None:
    """The offline drafter writes the document and a drafting_failed exception is raised."""
    async with app.state.services.sessionmaker() as db, db.begin():
        await db.execute(update(Guardianship).values(ai_processing_consent=True))
    down = settings.model_copy(
        update={
            "openai_base_url": "http://127.0.0.1:9/v1",
            "llm_model": "absent",
            "llm_max_retries": 0,
            "llm_timeout_seconds": 2.0,
        }
    )
    ses = await _transcribed_and_ended(app, world)
    await run(app, down)
    assert await status_of(app, ses) is SessionStatus.DOCUMENTED
    async with app.state.services.sessionmaker() as db:
        doc = await db.scalar(
            select(SessionDocumentRecord).where(SessionDocumentRecord.session_id == ses)
        )
        [exc] = await db.scalars(select(SessionException).where(SessionException.session_id == ses))
    assert doc is not None and doc.drafted_by == "offline"
    assert doc.fallback_reason is not None and doc.fallback_reason.startswith("model_unreachable")
    assert exc.kind is SessionExceptionKind.DRAFTING_FAILED
    assert exc.details["reason"] == doc.fallback_reason


async def test_without_ai_consent_no_transcript_goes_to_the_model(
    app: Starlette, world: World, settings: Settings
) -> None:
    """A guardian who did not consent to AI processing: the offline drafter, no exception."""
    down = settings.model_copy(
        update={"openai_base_url": "http://127.0.0.1:9/v1", "llm_model": "absent"}
    )
    ses = await _transcribed_and_ended(app, world)
    await run(app, down)
    async with app.state.services.sessionmaker() as db:
        doc = await db.scalar(
            select(SessionDocumentRecord).where(SessionDocumentRecord.session_id == ses)
        )
        raised = list(
            await db.scalars(select(SessionException).where(SessionException.session_id == ses))
        )
    assert doc is not None and doc.drafted_by == "offline" and doc.fallback_reason is None
    assert raised == []


async def test_the_tutor_edits_and_approves_and_the_guardian_gets_one_email(
    app: Starlette, world: World, client: httpx.AsyncClient, mail: MailServer, clock: FixedClock
) -> None:
    """Review: edit the draft, approve once (a second approval is refused), one email to
    the guardian who consented to AI summaries and none to the one who did not."""
    async with app.state.services.sessionmaker() as db, db.begin():
        await db.execute(
            update(Guardianship)
            .where(Guardianship.guardian_id == world.ids["g1"])
            .values(ai_processing_consent=True)
        )
    ses = await _transcribed_and_ended(app, world)
    await run(app)
    url = f"/api/v1/sessions/{ses}/document"
    text = "Sam worked on adding fractions today and asked good questions about denominators."

    r = await client.patch(
        url, headers=world.as_("t1"), json={"parent_summary": {"text": text, "segments": [7]}}
    )
    assert r.status_code == 422 and "segments [7] do not exist" in r.json()["error"]["message"]
    r = await client.patch(
        url, headers=world.as_("t1"), json={"parent_summary": {"text": text, "segments": [1]}}
    )
    assert r.status_code == 200, r.text
    assert r.json()["document"]["parent_summary"]["text"] == text
    assert r.json()["edited_by"] == world.users["t1"].id
    r = await client.post(f"{url}/approve", headers=world.as_("t2"))
    assert r.status_code == 404  # another tutor cannot see the session at all
    # The tutor desk's list: the draft awaits t1's review, and coordinators see it too.
    drafts = await client.get("/api/v1/documents", headers=world.as_("t1"))
    assert [(d["session_id"], d["status"]) for d in drafts.json()["items"]] == [(ses, "draft")]
    assert (await client.get("/api/v1/documents", headers=world.as_("coord"))).json()["total"]
    assert (await client.get("/api/v1/documents", headers=world.as_("t2"))).json()["total"] == 0
    assert (await client.get("/api/v1/documents", headers=world.as_("g1"))).status_code == 403

    r = await client.post(f"{url}/approve", headers=world.as_("t1"))
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "approved" and r.json()["label"] == "reviewed"
    again = await client.post(f"{url}/approve", headers=world.as_("t1"))
    assert again.status_code == 409 and "already approved" in again.json()["error"]["message"]
    assert (await client.get("/api/v1/documents", headers=world.as_("t1"))).json()["total"] == 0
    approved = await client.get("/api/v1/documents?status=approved", headers=world.as_("t1"))
    assert [d["label"] for d in approved.json()["items"]] == ["reviewed"]
    late = await client.patch(
        url, headers=world.as_("t1"), json={"parent_summary": {"text": "x", "segments": [0]}}
    )
    assert late.status_code == 409

    r = await client.get(f"/api/v1/sessions/{ses}/summary", headers=world.as_("g1"))
    assert r.status_code == 200, r.text
    assert r.json()["summary"] == text and r.json()["automatic"] is False
    r = await client.get(f"/api/v1/sessions/{ses}/summary", headers=world.as_("g2"))
    assert r.status_code == 200  # g2's child s2 is in this session too
    # The family portal's history: each child's approved summaries, for whoever may see.
    history = f"/api/v1/students/{world.ids['s1']}/summaries"
    r = await client.get(history, headers=world.as_("g1"))
    assert r.status_code == 200, r.text
    assert [(s["session_id"], s["summary"]) for s in r.json()["items"]] == [(ses, text)]
    assert r.json()["total"] == 1
    for who in ("s1", "t1", "coord"):
        assert (await client.get(history, headers=world.as_(who))).json()["total"] == 1
    for who in ("g2", "t2"):  # not their child, not their student
        assert (await client.get(history, headers=world.as_(who))).status_code == 404

    await run(app)
    await run(app)  # a second pass queues nothing twice
    sender = dispatcher(app, smtp(mail), clock)
    await sender.dispatch_once()
    await sender.dispatch_once()
    got = {str(m["To"]): m for m in mail.inbox.parsed()}
    assert list(got) == [world.users["g1"].email]
    body = got[world.users["g1"].email].get_body(preferencelist=("plain",))
    assert body is not None and text in body.get_content()
    # It links to the summary in the family portal, and to the guardian's own choices.
    assert f"{APP_URL}#/summaries/{ses}" in body.get_content()
    assert f"{APP_URL}#/family" in body.get_content()
    assert "Ask your coordinator" not in body.get_content()
    # One click stops these summaries: the mail client's own button (RFC 8058) or the link.
    message = got[world.users["g1"].email]
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    stop = message["List-Unsubscribe"].strip("<>")
    assert stop in body.get_content() and stop.startswith("http")
    path = stop[stop.index("/unsubscribe/") :]
    page = await client.get(path)  # a mail scanner opening it stops nothing
    assert page.status_code == 200 and "Stop these emails" in page.text
    assert "form-action 'self'" in page.headers["content-security-policy"]
    wants = f"/api/v1/guardians/{world.ids['g1']}"
    [link] = (await client.get(wants, headers=world.as_("g1"))).json()["students"]
    assert link["notify_summaries"] is True
    done = await client.post(
        path,
        content="List-Unsubscribe=One-Click",
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    assert done.status_code == 200 and "no longer get the summary" in done.text
    [link] = (await client.get(wants, headers=world.as_("g1"))).json()["students"]
    assert link["notify_summaries"] is False and link["notify_absences"] is True
    forged = await client.post(path[:-4] + "AAAA")
    assert forged.status_code == 404 and "not one Liveclass sent" in forged.text


async def test_a_draft_is_approved_automatically_after_the_configured_delay(
    app: Starlette, world: World
) -> None:
    """LIVECLASS_SUMMARY_AUTO_APPROVE_MINUTES: untouched drafts go out, labelled automatic."""
    ses = await _transcribed_and_ended(app, world)
    await run(app)
    after = timedelta(minutes=60)
    async with app.state.services.sessionmaker() as db, db.begin():
        assert await approve_due(db, NOW + timedelta(minutes=59), after=after) == []
    async with app.state.services.sessionmaker() as db, db.begin():
        [event] = await approve_due(db, NOW + timedelta(minutes=60), after=after)
    assert event.type == "summary.approved" and event.payload["automatic"] is True
    assert sorted(event.payload["student_ids"]) == sorted([world.ids["s1"], world.ids["s2"]])
    async with app.state.services.sessionmaker() as db:
        doc = await db.scalar(
            select(SessionDocumentRecord).where(SessionDocumentRecord.session_id == ses)
        )
        briefings = list(await db.scalars(select(BriefingRecord)))
    assert doc is not None and doc.status is DocumentStatus.APPROVED and doc.approved_by is None
    assert [b.session_id for b in briefings] == [world.ids["ses1"]]


async def summary_email(app: Starlette, mail: MailServer, clock: FixedClock) -> tuple[str, str]:
    """Queue and send what the approval asked for; the one email's text and HTML."""
    await run(app)
    await dispatcher(app, smtp(mail), clock).dispatch_once()
    [message] = mail.inbox.parsed()
    return parts(message)


async def test_a_summary_the_tutor_approved_as_drafted_says_who_approved_it(
    app: Starlette, world: World, client: httpx.AsyncClient, mail: MailServer, clock: FixedClock
) -> None:
    """The guardian reads that the tutor (by name) reviewed and approved it, and no
    promise of a review still to come."""
    await set_link(app, world, "g1", ai_processing_consent=True)
    ses = await _transcribed_and_ended(app, world)
    await run(app)
    r = await client.post(f"/api/v1/sessions/{ses}/document/approve", headers=world.as_("t1"))
    assert r.status_code == 200, r.text
    summary = r.json()["document"]["parent_summary"]["text"]
    assert "review" not in summary

    text, html = await summary_email(app, mail, clock)
    assert " ".join(summary.split()) in " ".join(text.split())
    for body in (text, html):
        flat = " ".join(body.split())
        assert "then reviewed and approved by Person t1." in flat
        assert "will review" not in flat and "without review" not in flat


async def test_a_summary_approved_by_the_sweep_says_nobody_reviewed_it_and_for_how_long(
    app: Starlette, world: World, mail: MailServer, clock: FixedClock
) -> None:
    """Approved automatically after 60 minutes: the email says so, and a draft written
    while drafts still promised a review goes out without that promise."""
    await set_link(app, world, "g1", ai_processing_consent=True)
    ses = await _transcribed_and_ended(app, world)
    await run(app)
    async with app.state.services.sessionmaker() as db, db.begin():
        doc = await db.scalar(
            select(SessionDocumentRecord).where(SessionDocumentRecord.session_id == ses)
        )
        assert doc is not None
        summary = doc.content["parent_summary"]
        doc.content = {
            **doc.content,
            "parent_summary": {**summary, "text": f"{summary['text']} {REVIEW_PROMISE}"},
        }
    after = timedelta(minutes=60)
    clock.advance(after)
    async with app.state.services.sessionmaker() as db, db.begin():
        [event] = await approve_due(db, clock.now(), after=after)
    assert event.payload["automatic"] is True and event.payload["by"] is None
    assert event.payload["after_minutes"] == 60
    assert event.payload["parent_summary"] == summary["text"]

    text, html = await summary_email(app, mail, clock)
    for body in (text, html):
        flat = " ".join(body.split())
        assert "sent without review, as nobody reviewed it within 60 minutes." in flat
        assert "will review" not in flat and "approved by" not in flat


async def test_a_room_that_recorded_nothing_writes_no_recording_event(
    app: Starlette, world: World, tmp_path: Path
) -> None:
    """No audio: no recording.ready (the no_recording exception follows the end instead)."""
    ses = await book_pair(app, world)
    async with app.state.services.sessionmaker() as db, db.begin():
        assert await record_recording(db, ses, [], now=NOW) is None
    assert "recording.ready" not in await event_types(app, ses)


@pytest.mark.parametrize(
    ("facts", "state"),
    [
        (TranscriptFacts(SessionStatus.SCHEDULED), TranscriptState.PENDING),
        (TranscriptFacts(SessionStatus.ENDED), TranscriptState.PENDING),
        (TranscriptFacts(SessionStatus.ENDED, no_recording=True), TranscriptState.NONE),
        (TranscriptFacts(SessionStatus.CANCELLED), TranscriptState.NONE),
        (TranscriptFacts(SessionStatus.NO_SHOW), TranscriptState.NONE),
        (TranscriptFacts(SessionStatus.LIVE, last_recording=3), TranscriptState.PENDING),
        (
            TranscriptFacts(SessionStatus.ENDED, last_recording=3, gave_up=True),
            TranscriptState.FAILED,
        ),
        (
            TranscriptFacts(SessionStatus.ENDED, last_recording=3, last_transcript=5),
            TranscriptState.READY,
        ),
        # A second part of the recording came after the first part's transcript.
        (
            TranscriptFacts(SessionStatus.ENDED, last_recording=7, last_transcript=5),
            TranscriptState.PENDING,
        ),
        (
            TranscriptFacts(SessionStatus.ENDED, last_recording=7, last_transcript=5, gave_up=True),
            TranscriptState.FAILED,
        ),
        # A transcript with no recording event before it (stored by hand, or imported).
        (TranscriptFacts(SessionStatus.DOCUMENTED, last_transcript=5), TranscriptState.READY),
    ],
)
def test_the_transcript_state_follows_recording_transcript_and_failure(
    facts: TranscriptFacts, state: TranscriptState
) -> None:
    """pending until a transcript newer than every recording; failed once given up."""
    assert transcript_state(facts) is state


async def test_a_transcript_is_pending_until_transcribed_and_nobody_speaking_is_ready(
    app: Starlette, world: World, client: httpx.AsyncClient, tmp_path: Path
) -> None:
    """Before and after the recording, pending (captions 409, not an empty file); a silent
    recording transcribed: ready with no segments, and an empty WebVTT file."""
    ses = await book_pair(app, world)
    body = await transcript_body(client, world, ses)
    assert body["state"] == "pending" and body["segments"] == []
    r = await captions(client, world, ses)
    assert r.status_code == 409 and r.headers["content-type"] == "application/json"
    assert r.json()["error"]["code"] == "transcript_pending"
    assert "ask again later" in r.json()["error"]["message"]

    quiet = silence(tmp_path / "quiet.wav", 3.0)
    async with app.state.services.sessionmaker() as db, db.begin():
        await record_recording(db, ses, [_Track(world.users["t1"].id, "tutor", quiet)], now=NOW)
    assert (await transcript_body(client, world, ses))["state"] == "pending"
    assert (await captions(client, world, ses)).status_code == 409

    await run(app)
    body = await transcript_body(client, world, ses)
    assert body["state"] == "ready" and body["segments"] == []
    r = await captions(client, world, ses)
    assert r.status_code == 200 and r.text == "WEBVTT\n"


async def test_a_transcription_that_gave_up_is_failed_until_it_is_replayed(
    app: Starlette, world: World, client: httpx.AsyncClient, tmp_path: Path
) -> None:
    """The file went away: the handler gives up, the transcript says failed, captions 409
    transcript_failed; clearing the dead letter makes it pending again."""
    ses = await book_pair(app, world)
    gone = _Track(world.users["t1"].id, "tutor", silence(tmp_path / "gone.wav", 1.0))
    gone.path.unlink()
    async with app.state.services.sessionmaker() as db, db.begin():
        event = await record_recording(db, ses, [gone], now=NOW)
    assert event is not None
    bus = EmbeddedBus(
        app.state.services.sessionmaker,
        handlers(app),
        clock=lambda: NOW,
        retry=RetryPolicy(max_attempts=2, first_delay=timedelta(0)),
    )
    await bus.dispatch_once()
    # One attempt failed; it will be tried again, so not failed yet.
    assert (await transcript_body(client, world, ses))["state"] == "pending"
    await bus.dispatch_once()
    body = await transcript_body(client, world, ses)
    assert body["state"] == "failed" and body["segments"] == []
    r = await captions(client, world, ses)
    assert r.status_code == 409 and r.json()["error"]["code"] == "transcript_failed"
    assert "/api/v1/dead-letters" in r.json()["error"]["message"]

    async with app.state.services.sessionmaker() as db, db.begin():
        assert await clear_failure(db, handler="transcription", event_id=event.id) is not None
    assert (await transcript_body(client, world, ses))["state"] == "pending"


async def test_a_session_that_recorded_nothing_has_no_transcript_once_the_wait_is_over(
    app: Starlette, world: World, client: httpx.AsyncClient
) -> None:
    """Ended without recording.ready: pending while one may still come; none once
    no_recording is raised, and captions are a 404 no_transcript."""
    ses = await book_pair(app, world)
    await presence(app, world, ses, "t1", J, 0)
    await end(app, ses, 50)
    assert (await transcript_body(client, world, ses))["state"] == "pending"
    async with app.state.services.sessionmaker() as db, db.begin():
        raised = await detect_due(
            db, NOW, tutor_no_show_after=timedelta(minutes=10), recording_wait=timedelta(minutes=10)
        )
    assert [e.kind for e in raised] == [SessionExceptionKind.NO_RECORDING]
    body = await transcript_body(client, world, ses)
    assert body["state"] == "none" and body["segments"] == []
    r = await captions(client, world, ses)
    assert r.status_code == 404 and r.json()["error"]["code"] == "no_transcript"


async def _store_live(
    app: Starlette, session_id: str, participant_id: str, stream_id: str, lines: list[str]
) -> None:
    """Rows as ``sessions.live_transcript`` stores them while the lesson runs."""
    async with app.state.services.sessionmaker() as db, db.begin():
        for seq, text in enumerate(lines):
            db.add(
                LiveSegmentRecord(
                    stream_id=stream_id,
                    seq=seq,
                    session_id=session_id,
                    participant_id=participant_id,
                    start=1.0 + 4 * seq,
                    end=3.0 + 4 * seq,
                    text=text,
                    at=NOW,
                )
            )


@pytest.mark.parametrize("student_consents", [True, False], ids=["ai consent", "no ai consent"])
async def test_files_heard_live_are_not_transcribed_again(
    app: Starlette,
    world: World,
    client: httpx.AsyncClient,
    speech: list[SpeechTrack],
    student_consents: bool,
) -> None:
    """The tutor's and the student's files were transcribed live: their stored text is the
    transcript, on the session clock; a student whose guardian has since withdrawn AI
    consent is left out even though their text was stored."""
    if student_consents:
        async with app.state.services.sessionmaker() as db, db.begin():
            await db.execute(update(Guardianship).values(ai_processing_consent=True))
    ses = await book_pair(app, world)
    await presence(app, world, ses, "t1", J, 0)
    await presence(app, world, ses, "s1", J, 1)
    await _store_live(app, ses, world.users["t1"].id, "lvs_t", ["Heard live one.", "Two."])
    await _store_live(app, ses, world.users["s1"].id, "lvs_s", ["The student, live."])
    await recording_ready(app, world, ses, speech, live={"tutor": "lvs_t", "student": "lvs_s"})
    await run(app)
    body = await transcript_body(client, world, ses)
    assert body["state"] == "ready"
    said = [(s["speaker"], s["text"], s["start"]) for s in body["segments"]]
    expected = [(TUTOR, "Heard live one.", 1.0), (TUTOR, "Two.", 5.0)]
    if student_consents:
        expected.insert(1, (STUDENT, "The student, live.", 3.5))  # the file starts at 2.5 s
    assert said == expected
    # The captions after the session come from the same segments.
    vtt = await captions(client, world, ses)
    assert vtt.status_code == 200 and f"<v {TUTOR}>Heard live one." in vtt.text, vtt.text
    async with app.state.services.sessionmaker() as db:
        ready = await db.scalar(
            select(OutboxEvent).where(
                OutboxEvent.session_id == ses, OutboxEvent.type == "transcript.ready"
            )
        )
    assert ready is not None
    assert ready.payload["live_tracks"] == ready.payload["tracks"] == (2 if student_consents else 1)
    async with app.state.services.sessionmaker() as db:
        kept = set(await db.scalars(select(LiveSegmentRecord.participant_id).distinct()))
    # Without consent (any more), the student's live text is deleted, not only left out.
    expected_kept = {world.users["t1"].id} | ({world.users["s1"].id} if student_consents else set())
    assert kept == expected_kept


async def test_a_file_live_transcription_missed_is_transcribed_afterwards(
    app: Starlette, world: World, client: httpx.AsyncClient, speech: list[SpeechTrack]
) -> None:
    """Only the tutor's file was heard in full; the student's goes to Whisper."""
    async with app.state.services.sessionmaker() as db, db.begin():
        await db.execute(update(Guardianship).values(ai_processing_consent=True))
    ses = await book_pair(app, world)
    await presence(app, world, ses, "t1", J, 0)
    await _store_live(app, ses, world.users["t1"].id, "lvs_t2", ["Heard live."])
    await recording_ready(app, world, ses, speech, live={"tutor": "lvs_t2"})
    await run(app)
    segments = (await transcript_body(client, world, ses))["segments"]
    assert [s["text"] for s in segments if s["speaker"] == TUTOR] == ["Heard live."]
    student = " ".join(s["text"] for s in segments if s["speaker"] == STUDENT)
    assert word_error_rate(speech[1].text, student) <= 0.15, student
