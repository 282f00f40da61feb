"""After a session: its recording becomes a transcript, the transcript a document, the
document a briefing for the next session, and an approved document a guardian email.

The chain runs from events, each step a handler idempotent on the event id::

    recording.ready ──transcription──▶ transcript.ready ─┐
    session.ended ───────────────────────────────────────┴─drafting─▶ summary.drafted
                                                                      (session documented,
                                                                       briefings attached)
    tutor approves (API), or the sweep after LIVECLASS_SUMMARY_AUTO_APPROVE_MINUTES
        ──▶ summary.approved ──guardian_notices──▶ one email per guardian

The review between drafting and approval (edits, approval, the automatic
approval) is the tutor's, by command rather than event: ``sessions.review``.

``recording.ready`` and ``session.ended`` come in either order (a room closes when
its last participant leaves; the session ends by hand or by the sweep), so the
drafting handler listens to both and drafts once both a transcript and the end
are there. Heavy work (Whisper, the model) runs before the handler writes
anything, so no write lock is held while it runs.

Where a session's transcript stands (``transcript_state``) is derived from what
is stored, never kept beside it: ``pending`` until a ``transcript.ready`` newer
than every ``recording.ready``, then ``ready``; ``failed`` once the transcription
handler gave up on the newest recording (a replay makes it ``pending`` again);
``none`` when nothing was recorded (the ``no_recording`` exception, a cancelled
or no-show session) or nothing recorded could be transcribed.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import Any

from sqlalchemy import Select, delete, exists, select
from sqlalchemy.ext.asyncio import AsyncSession

from ai_docs import (
    Briefing,
    Segment,
    SessionDocument,
    SourceTranscript,
    Track,
    Transcriber,
    Transcript,
    brief_offline,
    draft_document,
)
from ai_docs.settings import AIDocsSettings
from core.errors import NotFound
from core.ids import new_id
from core.logging import get_logger
from core.sealing import is_sealed, process_keys, read_maybe_sealed
from eventbus.models import HandlerFailure, OutboxEvent
from eventbus.outbox import DomainEvent
from scheduling.models import LiveSession, SessionStatus, SessionStudent, User
from sessions.consent import ConsentRule, ai_consented, transcribable
from sessions.errors import NoTranscript, TranscriptionGaveUp, TranscriptPending
from sessions.events import record
from sessions.lifecycle import Action
from sessions.live_transcript import live_segments
from sessions.models import (
    BriefingRecord,
    DocumentStatus,
    LiveSegmentRecord,
    SessionDocumentRecord,
    SessionException,
    SessionExceptionKind,
    TranscriptSegment,
)
from sessions.schedule_update import next_session_with_tutor
from sessions.service import apply, session_status
from sessions.session_exceptions import raise_exception

log = get_logger("liveclass.sessions.documentation")

BRIEFING_FROM_LAST = 3


def recording_payload(tracks: Sequence[Any]) -> dict[str, Any]:
    """The ``recording.ready`` payload for a closed room's files (``sfu.RecordedTrack``s)."""
    return {
        "tracks": [
            {
                "participant_id": t.participant_id,
                "role": t.role,
                "path": str(t.path),
                "offset": round(t.offset, 3),
                "started_at": t.started_at.isoformat(),
                "duration": round(t.duration, 3),
                "size": t.size,
                "sha256": t.sha256,
                "live": getattr(t, "live", None),
            }
            for t in tracks
        ]
    }


async def record_recording(
    db: AsyncSession, session_id: str, tracks: Sequence[Any], *, now: datetime
) -> OutboxEvent | None:
    """Write ``recording.ready`` for a closed room's files; the caller commits.

    A room that recorded nothing writes no event: the ``no_recording`` exception
    is then raised once the session has ended and ``recording_wait`` has passed.
    """
    if not tracks:
        log.info("room closed with no recorded audio", session=session_id)
        return None
    return record(
        db, "recording.ready", session_id=session_id, at=now, payload=recording_payload(tracks)
    )


async def record_recording_decision(
    db: AsyncSession,
    session_id: str,
    participant_id: str,
    role: str,
    recorded: bool,
    *,
    now: datetime,
) -> OutboxEvent:
    """Write ``recording.started`` (their audio is being recorded) or ``recording.skipped``
    (it is not: no guardian's consent) for one participant of a room; the caller commits.
    The ops view reads a room's recording status from these."""
    return record(
        db,
        "recording.started" if recorded else "recording.skipped",
        session_id=session_id,
        at=now,
        payload={"participant_id": participant_id, "role": role}
        | ({} if recorded else {"reason": "no_consent"}),
    )


def _open_sealed(paths: Sequence[str]) -> dict[str, bytes]:
    """The plaintext of each sealed file among ``paths`` (by path); plain files and missing
    ones are left to the transcriber, which reads (or misses) them itself."""
    keys = process_keys()  # the process's keys, as for the sealed transcript columns
    out = {}
    for name in paths:
        path = Path(name)
        if path.is_file() and is_sealed(path):
            out[name] = read_maybe_sealed(path, keys)
    return out


class TranscriptionHandler:
    """On ``recording.ready``: transcribe every participant's track on its own (Whisper,
    off the event loop), merge them on the session clock and store the segments.

    Only the tracks that consent allows are transcribed (``sessions.consent.
    transcribable``: the tutor's, and a student's only with AI consent: their own from
    the consent age, every guardian's before); the others are never turned into text,
    and the event names them (``untranscribed``). A session recorded in several parts
    (its room emptied and filled again) is transcribed from all of its recordings
    together, each time one arrives, and the stored transcript replaced. A file that
    live transcription heard in full (its track names the ``live`` stream) is not
    transcribed again: its stored live segments (``sessions.live_transcript``) are used,
    so after a lesson only the files it missed go to Whisper. Emits ``transcript.ready``
    with ``segments``, ``duration``, ``tracks`` (files transcribed), ``live_tracks`` (of
    those, how many live) and ``untranscribed``.
    """

    name = "transcription"
    types = frozenset({"recording.ready"})

    def __init__(
        self, transcriber: Transcriber, *, clock: Callable[[], datetime], consent_age: int
    ) -> None:
        self._transcriber = transcriber
        self._clock = clock
        self._consent_age = consent_age

    async def handle(self, db: AsyncSession, event: DomainEvent) -> None:
        recordings = [
            e.payload
            for e in await db.scalars(
                select(OutboxEvent)
                .where(
                    OutboxEvent.session_id == event.session_id,
                    OutboxEvent.type == "recording.ready",
                )
                .order_by(OutboxEvent.seq)
            )
        ]
        # One session clock: every part's files are placed by their UTC start.
        files = [t for payload in recordings for t in payload.get("tracks", [])]
        if not files:
            return
        origin = min(datetime.fromisoformat(t["started_at"]) for t in files)
        recorded = {t["participant_id"] for t in files}
        allowed = await transcribable(
            db, recorded, ConsentRule(self._consent_age, self._clock().date())
        )
        untranscribed = sorted(recorded - allowed)
        if untranscribed:
            log.info(
                "tracks left untranscribed without AI consent",
                session=event.session_id,
                participants=len(untranscribed),
            )
            # Consent withdrawn since the lesson: what was transcribed live goes too.
            await db.execute(
                delete(LiveSegmentRecord).where(
                    LiveSegmentRecord.session_id == event.session_id,
                    LiveSegmentRecord.participant_id.in_(untranscribed),
                )
            )
        kept = [t for t in files if t["participant_id"] in allowed]
        # Sealed at rest (LIVECLASS_ENCRYPTION_KEYS): opened in memory, never to disk.
        opened = await asyncio.to_thread(
            _open_sealed, [t["path"] for t in kept if not t.get("live")]
        )
        entries = [
            (
                Track(
                    path=t["path"],
                    speaker=t["participant_id"],
                    role=t.get("role"),
                    offset=(datetime.fromisoformat(t["started_at"]) - origin).total_seconds(),
                    data=opened.get(t["path"]),
                ),
                t.get("live"),
                float(t.get("duration") or 0.0),
            )
            for t in kept
        ]
        # Files heard in full while the lesson ran are transcribed already; only the
        # others go to Whisper, before anything is written (no lock is held meanwhile).
        later = [track for track, live, _ in entries if not live]
        transcribed = (
            await self._transcriber.atranscribe(later)
            if later
            else Transcript(segments=(), duration=0.0)
        )
        per_track = [list(transcribed.segments)]
        ends = [transcribed.duration]
        for index, (track, live, duration) in enumerate(entries):
            if not live:
                continue
            per_track.append(
                [
                    Segment(
                        start=round(row.start + track.offset, 3),
                        end=round(row.end + track.offset, 3),
                        text=row.text,
                        speaker=track.speaker,
                        role=track.role,
                        track=index,
                    )
                    for row in await live_segments(db, live)
                ]
            )
            ends.append(track.offset + duration)
        transcript = Transcript.merge(
            per_track, duration=round(max(ends), 3), language=transcribed.language
        )
        tracks = [track for track, _, _ in entries]
        ids = sorted(allowed)
        rows = await db.execute(select(User.id, User.display_name).where(User.id.in_(ids)))
        names: dict[str, str] = {row[0]: row[1] for row in rows}
        await db.execute(
            delete(TranscriptSegment).where(TranscriptSegment.session_id == event.session_id)
        )
        for index, segment in enumerate(transcript.segments):
            db.add(
                TranscriptSegment(
                    session_id=event.session_id,
                    index=index,
                    start=round(segment.start, 3),
                    end=round(segment.end, 3),
                    participant_id=segment.speaker,
                    speaker=names.get(segment.speaker) or segment.role or "participant",
                    role=segment.role,
                    text=segment.text,
                )
            )
        record(
            db,
            "transcript.ready",
            session_id=event.session_id,
            at=event.occurred_at,
            payload={
                "segments": len(transcript.segments),
                "duration": round(transcript.duration, 3),
                "tracks": len(tracks),
                "live_tracks": len(tracks) - len(later),
                "untranscribed": untranscribed,
            },
        )


async def stored_segments(db: AsyncSession, session_id: str) -> list[TranscriptSegment]:
    """A session's stored transcript segments, in their stored order."""
    rows = await db.scalars(
        select(TranscriptSegment)
        .where(TranscriptSegment.session_id == session_id)
        .order_by(TranscriptSegment.index)
    )
    return list(rows)


async def transcript_of(db: AsyncSession, session_id: str) -> SourceTranscript:
    """A session's stored segments, numbered as stored (what documents cite)."""
    return SourceTranscript.from_segments(await stored_segments(db, session_id))


class TranscriptState(StrEnum):
    """Where a session's transcript stands, so that "not yet" and "nobody spoke" differ."""

    PENDING = "pending"  # recording or transcription still to come (or being retried)
    READY = "ready"  # transcribed: the stored segments are the transcript (maybe none)
    FAILED = "failed"  # the transcription handler gave up; a replay can bring it back
    NONE = "none"  # nothing to transcribe: no recording, or the session never ran


@dataclass(frozen=True)
class TranscriptFacts:
    """What the outbox, the handler ledger and the exceptions say about a session's
    transcription; ``transcript_state`` decides from these alone.

    Args:
        status: the session's lifecycle status.
        last_recording: ``seq`` of its newest ``recording.ready``, if any.
        last_transcript: ``seq`` of its newest ``transcript.ready``, if any.
        transcribed_tracks: that event's ``tracks`` (how many files were transcribed).
        gave_up: the transcription handler is dead on the newest ``recording.ready``.
        no_recording: the ``no_recording`` exception was raised (the wait is over).
        untranscribed: who was recorded but, without AI consent, not transcribed
            (user ids, from the newest ``transcript.ready``).
    """

    status: SessionStatus
    last_recording: int | None = None
    last_transcript: int | None = None
    transcribed_tracks: int | None = None
    gave_up: bool = False
    no_recording: bool = False
    untranscribed: tuple[str, ...] = ()


def transcript_state(facts: TranscriptFacts) -> TranscriptState:
    """The state a session's transcript is in.

    A ``transcript.ready`` newer than every ``recording.ready`` is the answer (each
    transcription covers every recording that came before it); a newer recording
    means another pass is due, or failed for good.
    """
    newest_first = facts.last_recording is None or (
        facts.last_transcript is not None and facts.last_transcript > facts.last_recording
    )
    if facts.last_transcript is not None and newest_first:
        return TranscriptState.NONE if facts.transcribed_tracks == 0 else TranscriptState.READY
    if facts.last_recording is not None:
        return TranscriptState.FAILED if facts.gave_up else TranscriptState.PENDING
    if facts.no_recording or facts.status in (SessionStatus.CANCELLED, SessionStatus.NO_SHOW):
        return TranscriptState.NONE
    return TranscriptState.PENDING


def require_transcript(state: TranscriptState, session_id: str) -> None:
    """Refuse what needs a finished transcript (captions) in any state but ``ready``.

    Raises:
        TranscriptPending: not transcribed yet.
        TranscriptionGaveUp: transcription failed for good.
        NoTranscript: nothing was recorded or may be transcribed.
    """
    if state is TranscriptState.PENDING:
        raise TranscriptPending(
            f"session {session_id} is not transcribed yet; its recording is transcribed once "
            "its room closes, so ask again later (GET .../transcript says when it is ready)"
        )
    if state is TranscriptState.FAILED:
        raise TranscriptionGaveUp(
            f"transcribing session {session_id} failed; a coordinator can see why and replay "
            "it under /api/v1/dead-letters (handler transcription) once the cause is fixed"
        )
    if state is TranscriptState.NONE:
        raise NoTranscript(
            f"session {session_id} has no transcript: nothing was recorded that may be transcribed"
        )


async def transcript_facts(db: AsyncSession, session_id: str) -> TranscriptFacts:
    """Read what ``transcript_state`` decides from.

    Raises:
        NotFound: there is no such session.
    """
    status = await session_status(db, session_id)
    if status is None:
        raise NotFound(f"no session {session_id}; check the id")

    def newest(type_: str) -> Select[tuple[int, str, dict[str, Any]]]:
        return (
            select(OutboxEvent.seq, OutboxEvent.id, OutboxEvent.payload)
            .where(OutboxEvent.session_id == session_id, OutboxEvent.type == type_)
            .order_by(OutboxEvent.seq.desc())
            .limit(1)
        )

    recording = (await db.execute(newest("recording.ready"))).first()
    transcript = (await db.execute(newest("transcript.ready"))).first()
    gave_up = False
    if recording is not None:
        dead = await db.scalar(
            select(HandlerFailure.dead).where(
                HandlerFailure.handler == TranscriptionHandler.name,
                HandlerFailure.event_id == recording.id,
            )
        )
        gave_up = bool(dead)
    no_recording = await db.scalar(
        select(
            exists().where(
                SessionException.session_id == session_id,
                SessionException.kind == SessionExceptionKind.NO_RECORDING,
            )
        )
    )
    payload = transcript.payload if transcript is not None else {}
    tracks = payload.get("tracks")
    return TranscriptFacts(
        status=status,
        last_recording=recording.seq if recording is not None else None,
        last_transcript=transcript.seq if transcript is not None else None,
        transcribed_tracks=tracks if isinstance(tracks, int) else None,
        gave_up=gave_up,
        no_recording=bool(no_recording),
        untranscribed=tuple(payload.get("untranscribed", ())),
    )


@dataclass(frozen=True)
class StoredTranscript:
    """A session's transcript as its readers get it: where it stands and what is stored.

    ``segments`` is the whole transcript only when ``state`` is ``ready``; before
    that, at most those of the earlier parts of a recording made in several parts.
    """

    state: TranscriptState
    segments: list[TranscriptSegment]
    untranscribed: tuple[str, ...]


async def read_transcript(db: AsyncSession, session_id: str) -> StoredTranscript:
    """The session's stored transcript with its state, so that "not yet" reads as such.

    Raises:
        NotFound: there is no such session.
    """
    facts = await transcript_facts(db, session_id)
    return StoredTranscript(
        state=transcript_state(facts),
        segments=await stored_segments(db, session_id),
        untranscribed=facts.untranscribed,
    )


async def finished_transcript(db: AsyncSession, session_id: str) -> Transcript:
    """The session's transcript once it is ``ready``, one track per speaker (for captions).

    Raises:
        NotFound: there is no such session.
        TranscriptPending: not transcribed yet.
        TranscriptionGaveUp: transcription failed for good.
        NoTranscript: nothing was recorded or may be transcribed.
    """
    require_transcript(transcript_state(await transcript_facts(db, session_id)), session_id)
    rows = await stored_segments(db, session_id)
    tracks = {r.participant_id: n for n, r in enumerate(rows)}
    return Transcript(
        segments=tuple(
            Segment(
                start=r.start,
                end=r.end,
                text=r.text,
                speaker=r.speaker,
                role=r.role,
                track=tracks[r.participant_id],
            )
            for r in rows
        ),
        duration=max((r.end for r in rows), default=0.0),
    )


class DraftingHandler:
    """On ``transcript.ready`` or ``session.ended``, whichever comes second: draft the
    session's document (the configured model, else or on its failure the offline
    drafter), store it, move the session to ``documented`` and attach a briefing to
    each student's next session with this tutor.

    A model failure still documents the session (offline) and raises a
    ``drafting_failed`` exception for coordinators. The transcript goes to the
    model only when every guardian of every student consented to AI processing;
    otherwise the offline drafter writes it. Emits ``summary.drafted``.
    """

    name = "drafting"
    types = frozenset({"transcript.ready", "session.ended"})

    def __init__(
        self, settings: AIDocsSettings, *, clock: Callable[[], datetime], consent_age: int
    ) -> None:
        self._settings = settings
        self._clock = clock
        self._consent_age = consent_age

    async def handle(self, db: AsyncSession, event: DomainEvent) -> None:
        if not await self._ready(db, event.session_id):
            return
        transcript = await transcript_of(db, event.session_id)
        settings = self._settings
        if not await ai_consented(
            db, event.session_id, ConsentRule(self._consent_age, self._clock().date())
        ):
            # Nothing leaves for a model without every guardian's consent; the
            # offline drafter runs here, in process.
            settings = settings.model_copy(update={"openai_base_url": None, "llm_model": None})
        # The model (or the offline drafter) runs before anything is written.
        document = await draft_document(transcript, settings=settings)
        live = await db.get(
            LiveSession, event.session_id, with_for_update=True, populate_existing=True
        )
        if live is None or not await self._ready(db, live.id):
            return  # another worker documented it meanwhile
        now = self._clock()
        row = SessionDocumentRecord(
            id=new_id("doc"),
            session_id=live.id,
            status=DocumentStatus.DRAFT,
            content=document.model_dump(mode="json"),
            drafted_by=document.drafted_by,
            fallback_reason=document.fallback_reason,
            drafted_at=now,
        )
        db.add(row)
        await apply(db, live.id, Action.DOCUMENT, now=now, reason=document.drafted_by)
        record(
            db,
            "summary.drafted",
            session_id=live.id,
            at=now,
            payload={
                "document_id": row.id,
                "drafted_by": document.drafted_by,
                "fallback": document.fallback_reason is not None,
                "segments": len(transcript.segments),
            },
        )
        if document.fallback_reason is not None:
            await raise_exception(
                db,
                live,
                SessionExceptionKind.DRAFTING_FAILED,
                subject=live.id,
                details={"reason": document.fallback_reason},
                now=now,
            )
        await db.flush()
        for link in live.students:
            await attach_briefing(db, live, link.student_id, now=now)

    @staticmethod
    async def _ready(db: AsyncSession, session_id: str) -> bool:
        """Ended, transcribed, and not yet documented."""
        status = await session_status(db, session_id)
        if status is not SessionStatus.ENDED:
            return False
        transcribed = await db.scalar(
            select(
                exists().where(
                    OutboxEvent.session_id == session_id, OutboxEvent.type == "transcript.ready"
                )
            )
        )
        documented = await db.scalar(
            select(exists().where(SessionDocumentRecord.session_id == session_id))
        )
        return bool(transcribed) and not documented


async def attach_briefing(
    db: AsyncSession, live: LiveSession, student_id: str, *, now: datetime
) -> BriefingRecord | None:
    """Write (or rewrite) the briefing for ``student_id``'s next session with ``live``'s
    tutor, from their last few documented sessions together; None when none is booked."""
    next_id = await next_session_with_tutor(db, live, student_id)
    if next_id is None:
        return None
    rows = list(
        await db.scalars(
            select(SessionDocumentRecord)
            .join(LiveSession, LiveSession.id == SessionDocumentRecord.session_id)
            .join(SessionStudent, SessionStudent.session_id == LiveSession.id)
            .where(
                LiveSession.tutor_id == live.tutor_id,
                SessionStudent.student_id == student_id,
                LiveSession.scheduled_start <= live.scheduled_start,
            )
            .order_by(LiveSession.scheduled_start.desc())
            .limit(BRIEFING_FROM_LAST)
        )
    )
    documents = [SessionDocument.model_validate(r.content) for r in reversed(rows)]
    briefing: Briefing = brief_offline(documents, last=BRIEFING_FROM_LAST)
    existing = await db.get(BriefingRecord, (next_id, student_id))
    if existing is None:
        existing = BriefingRecord(session_id=next_id, student_id=student_id)
        db.add(existing)
    existing.source_session_id = live.id
    existing.content = briefing.model_dump(mode="json")
    existing.created_at = now
    return existing


BRIEFING_PARTS = (
    ("open_difficulties", "Still difficult"),
    ("homework_to_check", "Homework to check"),
    ("suggested_focus", "Suggested focus"),
    ("what_worked", "What worked"),
)


async def briefing_texts(db: AsyncSession, session_id: str) -> dict[str, str]:
    """Each student's briefing for the session as plain text (by student id), as the tutor's
    reminder carries it: a line per part the briefing has, its points separated by ``;``."""
    out = {}
    for row in await briefings_for(db, session_id):
        briefing = Briefing.model_validate(row.content)
        lines = [
            f"{title}: " + "; ".join(item.text for item in getattr(briefing, key))
            for key, title in BRIEFING_PARTS
            if getattr(briefing, key)
        ]
        if lines:
            out[row.student_id] = "\n".join(lines)
    return out


async def briefings_for(db: AsyncSession, session_id: str) -> list[BriefingRecord]:
    """The briefings attached to a session, one per student (by student id)."""
    rows = await db.scalars(
        select(BriefingRecord)
        .where(BriefingRecord.session_id == session_id)
        .order_by(BriefingRecord.student_id)
    )
    return list(rows)
