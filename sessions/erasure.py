"""Erasing a student: what is held about them goes, from rows and from disk.

GDPR's right to erasure (and a guardian's under COPPA) as one use case. What goes:
the student's profile, login and guardianships (contact details and consents),
their recordings and transcript segments, their chat lines and live captions,
their match requests, bookings, briefings, progress reports and at-risk findings.
In a session where they were the only student, the whole lesson is about them:
its recordings, transcript, chat, document and its drafted items go too. In a
group session only their part goes: the other students' recordings and words
stay, and their name is taken out of the session's document.

What stays, anonymously: attendance, presence and per-participant analytics rows
keep their figures under a fresh random id that nothing links back to the
student, so a tutor's and the organisation's aggregates still add up. The audit
log keeps its entries (ids only), and records the erasure itself.

Emails are the notifications package's (``notifications.erasure``) and stored API
responses the API's; the API composes the three (``api.erasure``). Files are
deleted before the transaction commits: a failure after that leaves rows that a
second run erases, never rows whose files were kept.
"""

from __future__ import annotations

import asyncio
import json
import re
import secrets
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from core.errors import NotFound
from eventbus.models import OutboxEvent
from scheduling.match_requests import MatchRequestRecord
from scheduling.models import (
    Guardianship,
    LiveSession,
    SessionSeries,
    SessionStudent,
    Student,
    Tutor,
    User,
)
from sessions.models import (
    Attendance,
    BriefingRecord,
    ChatLine,
    FactItem,
    LiveSegmentRecord,
    ParticipantFacts,
    Presence,
    ProgressReportRecord,
    SessionDocumentRecord,
    SessionException,
    TranscriptSegment,
)

__all__ = ["Erasure", "erase_student", "org_student", "recording_files"]

REDACTED = "a student"


@dataclass
class Erasure:
    """What one erasure removed: rows per table, files, and what it could not remove."""

    student_id: str
    rows: Counter[str] = field(default_factory=Counter)
    files: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)


def recording_files(recordings_dir: Path, session_id: str, user_id: str) -> list[Path]:
    """The files of ``user_id``'s recordings in a session (``sfu.recording`` names them
    after the participant id, characters other than letters, digits, ``-`` and ``_``
    replaced)."""
    folder = recordings_dir / session_id
    safe = "".join(c if c.isalnum() or c in "-_" else "_" for c in user_id)
    return sorted(folder.glob(f"{safe}.*")) if folder.is_dir() else []


def _redact(value: Any, names: Sequence[str]) -> Any:
    if isinstance(value, str):
        for name in names:
            value = re.sub(rf"\b{re.escape(name)}\b", REDACTED, value)
        return value
    if isinstance(value, list):
        return [_redact(v, names) for v in value]
    if isinstance(value, dict):
        return {k: _redact(v, names) for k, v in value.items()}
    return value


def names_to_redact(display_name: str, others: Sequence[str]) -> list[str]:
    """The full name, then each part of it (three letters or more) that no one else in
    the session has in their name: "Sam" goes unless another participant is a Sam too."""
    taken = {part.casefold() for other in others for part in other.split()}
    parts = [p for p in display_name.split() if len(p) >= 3 and p.casefold() not in taken]
    return [display_name, *sorted(set(parts), key=len, reverse=True)]


def _delete_recordings(
    recordings_dir: Path, sessions: Sequence[str], alone: set[str], uid: str
) -> list[str]:
    """Delete the user's recordings, and every recording of the sessions in ``alone``."""
    deleted = []
    for session_id in sessions:
        folder = recordings_dir / session_id
        if session_id in alone:
            paths = sorted(p for p in folder.glob("*") if p.is_file()) if folder.is_dir() else []
        else:
            paths = recording_files(recordings_dir, session_id, uid)
        for path in paths:
            path.unlink(missing_ok=True)
            deleted.append(str(path))
        if session_id in alone and folder.is_dir() and not any(folder.iterdir()):
            folder.rmdir()
    return deleted


async def org_student(db: AsyncSession, *, org_id: str, student_id: str) -> tuple[Student, User]:
    """The organisation's student and their login.

    Raises:
        NotFound: no such student in the organisation.
    """
    student = await db.scalar(
        select(Student).where(Student.id == student_id, Student.org_id == org_id)
    )
    if student is None:
        raise NotFound(f"no student {student_id} in your organisation")
    return student, await db.get_one(User, student.user_id)


async def erase_student(
    db: AsyncSession, *, org_id: str, student_id: str, recordings_dir: Path
) -> Erasure:
    """Erase the student ``student_id`` of ``org_id`` (see the module docstring).

    Raises:
        NotFound: no such student in the organisation.
    """
    _, user = await org_student(db, org_id=org_id, student_id=student_id)
    uid = user.id
    out = Erasure(student_id=student_id)
    pseudonym = f"anon_{secrets.token_hex(12)}"

    booked = list(
        await db.scalars(
            select(SessionStudent.session_id).where(SessionStudent.student_id == student_id)
        )
    )
    joined = set(
        await db.scalars(select(Presence.session_id).where(Presence.participant_id == uid))
    )
    sessions = sorted(set(booked) | joined)
    alone: set[str] = set()
    for session_id in sessions:
        others = await db.scalar(
            select(SessionStudent.student_id).where(
                SessionStudent.session_id == session_id, SessionStudent.student_id != student_id
            )
        )
        if others is None:
            alone.add(session_id)

    # Files first (see the module docstring), off the event loop.
    out.files = await asyncio.to_thread(_delete_recordings, recordings_dir, sessions, alone, uid)

    async def gone(table: str, statement: Any) -> None:
        result = await db.execute(statement)
        out.rows[table] += int(getattr(result, "rowcount", 0) or 0)

    whole = sorted(alone)
    # Words and files of the lesson: all of a lesson that was theirs alone, else theirs.
    for model, table in (
        (TranscriptSegment, "transcript_segments"),
        (LiveSegmentRecord, "live_segments"),
        (ChatLine, "chat_lines"),
    ):
        await gone(table, delete(model).where(model.participant_id == uid))
        if whole:
            await gone(table, delete(model).where(model.session_id.in_(whole)))
    if whole:
        await gone(
            "session_documents",
            delete(SessionDocumentRecord).where(SessionDocumentRecord.session_id.in_(whole)),
        )
        await gone("fact_items", delete(FactItem).where(FactItem.session_id.in_(whole)))
    for doc in await db.scalars(
        select(SessionDocumentRecord).where(
            SessionDocumentRecord.session_id.in_(sorted(set(sessions) - alone))
        )
    ):
        classmates = await db.scalars(
            select(User.display_name)
            .join(Student, Student.user_id == User.id)
            .join(SessionStudent, SessionStudent.student_id == Student.id)
            .where(SessionStudent.session_id == doc.session_id, Student.id != student_id)
        )
        tutor = await db.scalar(
            select(User.display_name)
            .join(Tutor, Tutor.user_id == User.id)
            .join(LiveSession, LiveSession.tutor_id == Tutor.id)
            .where(LiveSession.id == doc.session_id)
        )
        names = names_to_redact(user.display_name, [*classmates, *([tutor] if tutor else [])])
        redacted = _redact(doc.content, names)
        if redacted != doc.content:
            doc.content = redacted
            out.rows["session_documents (name removed)"] += 1
    await gone("briefings", delete(BriefingRecord).where(BriefingRecord.student_id == student_id))
    await gone(
        "progress_reports",
        delete(ProgressReportRecord).where(ProgressReportRecord.student_id == student_id),
    )
    for row in await db.scalars(select(SessionException).where(SessionException.org_id == org_id)):
        if (row.details or {}).get("student_id") == student_id:
            await db.delete(row)
            out.rows["session_exceptions"] += 1
    # Events: their payloads may carry what was drafted about the student.
    marker = (student_id, uid)
    for event in await db.scalars(select(OutboxEvent).where(OutboxEvent.session_id.in_(sessions))):
        text = json.dumps(event.payload)
        if event.session_id in alone or any(m in text for m in marker):
            if event.payload != {"erased": True}:
                event.payload = {"erased": True}
                out.rows["outbox_events (payload erased)"] += 1

    # Figures stay, under an id that links to nobody.
    anonymous: list[tuple[type[Presence] | type[Attendance] | type[ParticipantFacts], str]] = [
        (Presence, "presence_records"),
        (Attendance, "attendance"),
        (ParticipantFacts, "participant_facts"),
    ]
    for kept, table in anonymous:
        values: dict[str, Any] = {"participant_id": pseudonym}
        if hasattr(kept, "student_id"):
            values["student_id"] = None
        result = await db.execute(update(kept).where(kept.participant_id == uid).values(**values))
        out.rows[f"{table} (anonymised)"] += int(getattr(result, "rowcount", 0) or 0)

    # The person: bookings, requests, series rosters, guardianships, profile, login.
    await gone(
        "session_students", delete(SessionStudent).where(SessionStudent.student_id == student_id)
    )
    for series in await db.scalars(select(SessionSeries).where(SessionSeries.org_id == org_id)):
        if student_id in (series.student_ids or []):
            series.student_ids = [s for s in series.student_ids if s != student_id]
            out.rows["session_series (roster)"] += 1
    await gone(
        "match_requests",
        delete(MatchRequestRecord).where(MatchRequestRecord.student_id == student_id),
    )
    await gone("guardianships", delete(Guardianship).where(Guardianship.student_id == student_id))
    await gone("students", delete(Student).where(Student.id == student_id))
    await gone("users", delete(User).where(User.id == uid))
    await db.flush()
    out.kept.append(
        "audit log entries about the student (ids only; they record who saw what, and this erasure)"
    )
    if alone or sessions:
        out.kept.append(
            f"attendance and analytics of {len(sessions)} session(s), under an anonymous id"
        )
    return out
