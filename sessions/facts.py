"""Structured session data: what each held session measured, stored as rows.

A session's facts (``SessionFacts``, one ``ParticipantFacts`` per participant and
a ``FactItem`` per topic, check, difficulty and homework) are what analytics,
progress reports and the at-risk detector read, and what any SQL user can query.
They are derived, never edited: ``build`` is pure and turns what is stored about
one session (attendance, transcript, document, whether homework was due) into
rows; ``rebuild`` reads that state and replaces the session's rows, so running it
again (a replayed event, ``liveclass facts rebuild``) gives the same rows.

``FactsHandler`` rebuilds on every event that changes the inputs: the end (or
no-show), the transcript, the draft and the approval; then it runs the at-risk
rules on the session's students and tutor (``sessions.risk_detection``). A session's
``homework_due`` depends on the student's previous session's document, so a
draft or an approval also rebuilds each student's next held session with the
tutor, when there is one.

Talk figures exist only for participants whose audio may be transcribed
(``sessions.consent.transcribable``); for anyone else they are null, never 0.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Protocol

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from ai_docs import SessionDocument
from eventbus.outbox import DomainEvent
from scheduling.models import LiveSession, SessionStatus, SessionStudent
from sessions.attendance import attendance_of
from sessions.consent import ConsentRule, transcribable
from sessions.models import (
    Attendance,
    FactItem,
    FactItemKind,
    ParticipantFacts,
    SessionDocumentRecord,
    SessionFacts,
    TranscriptSegment,
)
from sessions.risk_detection import detect_for_session

__all__ = [
    "FACT_STATUSES",
    "FactsHandler",
    "FactsInput",
    "SessionFactRows",
    "build",
    "period_dates",
    "rebuild",
    "rebuild_all",
]

# Sessions that were held (or were due and nobody came): the ones with facts.
FACT_STATUSES = frozenset({SessionStatus.ENDED, SessionStatus.DOCUMENTED, SessionStatus.NO_SHOW})
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")
_ITEM_CHARS = 400


class PresenceLike(Protocol):
    """A participant's attendance: a stored ``Attendance`` row or one worked out."""

    @property
    def participant_id(self) -> str: ...
    @property
    def role(self) -> str: ...
    @property
    def student_id(self) -> str | None: ...
    @property
    def late_minutes(self) -> int | None: ...
    @property
    def seconds_present(self) -> int: ...
    @property
    def absent(self) -> bool: ...


@dataclass(frozen=True)
class Spoken:
    """One transcript segment, as far as facts need it."""

    participant_id: str
    start: float
    end: float
    text: str


@dataclass(frozen=True)
class FactsInput:
    """Everything stored about one session that its facts are drawn from."""

    session_id: str
    org_id: str
    tutor_id: str
    subject: str
    status: str
    scheduled_start: datetime
    scheduled_end: datetime
    attendance: Sequence[PresenceLike]
    segments: Sequence[Spoken] = ()
    transcribed: Collection[str] = frozenset()  # participants whose audio may be transcribed
    has_transcript: bool = False
    document: SessionDocument | None = None
    document_status: str | None = None
    drafted_at: datetime | None = None
    approved_at: datetime | None = None
    homework_due: Mapping[str, bool] = field(default_factory=dict)  # student id → due


@dataclass(frozen=True)
class SessionFactRows:
    """The rows ``build`` makes for one session."""

    session: SessionFacts
    participants: list[ParticipantFacts]
    items: list[FactItem]


def period_dates(at: datetime) -> tuple[date, date, date]:
    """The UTC day of ``at``, the Monday of its week and the first of its month."""
    day = at.astimezone(UTC).date() if at.tzinfo is not None else at.date()
    return day, day - timedelta(days=day.weekday()), day.replace(day=1)


def _questions(texts: Sequence[str]) -> int:
    return sum(
        1
        for text in texts
        for sentence in _SENTENCE_END.split(text.strip())
        if sentence.strip().endswith("?")
    )


def build(inp: FactsInput, *, now: datetime) -> SessionFactRows:
    """The facts of one session from what is stored about it; pure.

    Args:
        inp: the session's stored state.
        now: written as ``computed_at``.
    """
    day, week, month = period_dates(inp.scheduled_start)
    talk: dict[str, float] = {}
    said: dict[str, list[str]] = {}
    for s in inp.segments:
        talk[s.participant_id] = talk.get(s.participant_id, 0.0) + max(0.0, s.end - s.start)
        said.setdefault(s.participant_id, []).append(s.text)
    total_talk = sum(talk.values())
    doc = inp.document
    followed_up = bool(doc.analysis.homework_followups) if doc is not None else None

    def talk_of(participant_id: str) -> tuple[float | None, float | None, int | None]:
        if not inp.has_transcript or participant_id not in inp.transcribed:
            return None, None, None
        seconds = round(talk.get(participant_id, 0.0), 2)
        share = round(seconds / total_talk, 4) if total_talk > 0 else 0.0
        return seconds, share, _questions(said.get(participant_id, []))

    participants: list[ParticipantFacts] = []
    tutor: PresenceLike | None = None
    for person in inp.attendance:
        if person.role == "tutor" and tutor is None:
            tutor = person
        seconds, share, questions = talk_of(person.participant_id)
        due = inp.homework_due.get(person.student_id) if person.student_id else None
        participants.append(
            ParticipantFacts(
                session_id=inp.session_id,
                participant_id=person.participant_id,
                org_id=inp.org_id,
                role=person.role,
                student_id=person.student_id,
                tutor_id=inp.tutor_id,
                subject=inp.subject,
                day=day,
                week=week,
                month=month,
                present=not person.absent,
                late_minutes=person.late_minutes,
                seconds_present=person.seconds_present,
                talk_seconds=seconds,
                talk_share=share,
                questions=questions,
                homework_due=due,
                homework_followed_up=followed_up if due else None,
            )
        )
    tutor_share = talk_of(tutor.participant_id)[1] if tutor is not None else None
    outcomes = [c.outcome for c in doc.comprehension_checks] if doc is not None else []
    session = SessionFacts(
        session_id=inp.session_id,
        org_id=inp.org_id,
        tutor_id=inp.tutor_id,
        subject=inp.subject,
        status=inp.status,
        scheduled_start=inp.scheduled_start,
        day=day,
        week=week,
        month=month,
        scheduled_minutes=int((inp.scheduled_end - inp.scheduled_start).total_seconds() // 60),
        tutor_present=tutor is not None and not tutor.absent,
        tutor_late_minutes=tutor.late_minutes if tutor is not None else None,
        tutor_seconds_present=tutor.seconds_present if tutor is not None else 0,
        transcribed=inp.has_transcript,
        tutor_talk_share=tutor_share,
        document_status=inp.document_status,
        drafted_at=inp.drafted_at,
        approved_at=inp.approved_at,
        topics=len(doc.topics) if doc is not None else None,
        checks=len(outcomes) if doc is not None else None,
        checks_understood=outcomes.count("understood") if doc is not None else None,
        checks_partly=outcomes.count("partly") if doc is not None else None,
        checks_not_yet=outcomes.count("not_yet") if doc is not None else None,
        difficulties=len(doc.difficulties) if doc is not None else None,
        homework_set=bool(doc.homework) if doc is not None else None,
        homework_mentioned=followed_up,
        computed_at=now,
    )
    items: list[FactItem] = []
    if doc is not None:
        listed: list[tuple[FactItemKind, str, str | None]] = [
            *((FactItemKind.TOPIC, i.text, None) for i in doc.topics),
            *((FactItemKind.CHECK, c.text, c.outcome) for c in doc.comprehension_checks),
            *((FactItemKind.DIFFICULTY, i.text, None) for i in doc.difficulties),
            *((FactItemKind.HOMEWORK, i.text, None) for i in doc.homework),
        ]
        position: dict[FactItemKind, int] = {}
        for kind, text, outcome in listed:
            n = position.get(kind, 0)
            position[kind] = n + 1
            items.append(
                FactItem(
                    session_id=inp.session_id,
                    kind=kind,
                    position=n,
                    text=text[:_ITEM_CHARS],
                    outcome=outcome,
                )
            )
    return SessionFactRows(session=session, participants=participants, items=items)


async def _homework_due(db: AsyncSession, live: LiveSession) -> dict[str, bool]:
    """Per student of ``live``: whether their previous session with this tutor and subject
    set homework (its document lists some); absent when there was no such session."""
    due: dict[str, bool] = {}
    for student_id in live.student_ids:
        previous = await db.scalar(
            select(SessionDocumentRecord.content)
            .join(LiveSession, LiveSession.id == SessionDocumentRecord.session_id)
            .join(SessionStudent, SessionStudent.session_id == LiveSession.id)
            .where(
                SessionStudent.student_id == student_id,
                LiveSession.tutor_id == live.tutor_id,
                LiveSession.subject == live.subject,
                LiveSession.scheduled_start < live.scheduled_start,
            )
            .order_by(LiveSession.scheduled_start.desc())
            .limit(1)
        )
        if previous is not None:
            due[student_id] = bool(previous.get("homework"))
    return due


async def gather(db: AsyncSession, live: LiveSession, rule: ConsentRule) -> FactsInput:
    """Read what is stored about ``live`` into a ``FactsInput``."""
    stored = list(await db.scalars(select(Attendance).where(Attendance.session_id == live.id)))
    attendance: Sequence[PresenceLike] = stored or await attendance_of(
        db, live, end=live.ended_at or live.scheduled_end
    )
    rows = list(
        await db.scalars(
            select(TranscriptSegment)
            .where(TranscriptSegment.session_id == live.id)
            .order_by(TranscriptSegment.index)
        )
    )
    record = await db.scalar(
        select(SessionDocumentRecord).where(SessionDocumentRecord.session_id == live.id)
    )
    document = SessionDocument.model_validate(record.content) if record is not None else None
    participant_ids = [p.participant_id for p in attendance]
    return FactsInput(
        session_id=live.id,
        org_id=live.org_id,
        tutor_id=live.tutor_id,
        subject=live.subject,
        status=live.status.value,
        scheduled_start=live.scheduled_start,
        scheduled_end=live.scheduled_end,
        attendance=attendance,
        segments=[Spoken(r.participant_id, r.start, r.end, r.text) for r in rows],
        transcribed=await transcribable(db, participant_ids, rule) if rows else frozenset(),
        has_transcript=bool(rows),
        document=document,
        document_status=record.status.value if record is not None else None,
        drafted_at=record.drafted_at if record is not None else None,
        approved_at=record.approved_at if record is not None else None,
        homework_due=await _homework_due(db, live),
    )


async def rebuild(
    db: AsyncSession, session_id: str, *, now: datetime, consent_age: int
) -> SessionFactRows | None:
    """Replace a session's facts with ones drawn from what is stored now; None (and its
    facts removed) when it was not held. ``consent_age`` says whose consent counts for
    who may have been transcribed (``sessions.consent``). The caller commits."""
    for model in (FactItem, ParticipantFacts, SessionFacts):
        await db.execute(delete(model).where(model.session_id == session_id))
    live = await db.get(LiveSession, session_id)
    if live is None or live.status not in FACT_STATUSES:
        return None
    rows = build(await gather(db, live, ConsentRule(consent_age, now.date())), now=now)
    db.add(rows.session)
    db.add_all(rows.participants)
    db.add_all(rows.items)
    return rows


async def rebuild_all(
    db: AsyncSession,
    *,
    now: datetime,
    consent_age: int,
    org_id: str | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> int:
    """Rebuild the facts of every held session (of one organisation, if given), oldest
    first, flushing as it goes; how many sessions have facts. The caller commits."""
    stmt = select(LiveSession.id).where(LiveSession.status.in_(FACT_STATUSES))
    if org_id is not None:
        stmt = stmt.where(LiveSession.org_id == org_id)
    ids = list(await db.scalars(stmt.order_by(LiveSession.scheduled_start, LiveSession.id)))
    for n, session_id in enumerate(ids, start=1):
        await rebuild(db, session_id, now=now, consent_age=consent_age)
        if n % 100 == 0:
            await db.flush()
        if progress is not None:
            progress(n, len(ids))
    await db.flush()
    return len(ids)


async def _next_held(db: AsyncSession, live: LiveSession) -> list[str]:
    """Each student's next held session with ``live``'s tutor and subject, if any."""
    found: list[str] = []
    for student_id in live.student_ids:
        next_id = await db.scalar(
            select(LiveSession.id)
            .join(SessionStudent, SessionStudent.session_id == LiveSession.id)
            .where(
                SessionStudent.student_id == student_id,
                LiveSession.tutor_id == live.tutor_id,
                LiveSession.subject == live.subject,
                LiveSession.scheduled_start > live.scheduled_start,
                LiveSession.status.in_(FACT_STATUSES),
            )
            .order_by(LiveSession.scheduled_start)
            .limit(1)
        )
        if next_id is not None and next_id not in found:
            found.append(next_id)
    return found


@dataclass(frozen=True)
class FactsHandler:
    """Keeps each held session's facts in step with what is stored about it, and runs the
    at-risk rules on them (``sessions.risk_detection``)."""

    clock: Callable[[], datetime]
    consent_age: int
    name: str = "facts"
    types: frozenset[str] = frozenset(
        {
            "session.ended",
            "session.no_show",
            "transcript.ready",
            "summary.drafted",
            "summary.approved",
        }
    )

    async def handle(self, db: AsyncSession, event: DomainEvent) -> None:
        now = self.clock()
        if await rebuild(db, event.session_id, now=now, consent_age=self.consent_age) is not None:
            await db.flush()
            await detect_for_session(db, event.session_id, now=now)
        if event.type in ("summary.drafted", "summary.approved"):
            live = await db.get(LiveSession, event.session_id)
            if live is not None:
                for next_id in await _next_held(db, live):
                    await rebuild(db, next_id, now=now, consent_age=self.consent_age)
