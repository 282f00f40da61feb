"""Everything held about a student, for their family (GDPR access, FERPA inspection).

``student_export`` gathers, per kind, the rows that are the student's or about
them: profile and login, guardianships with their consents, the sessions they
were booked into, attendance, their own transcript segments and chat lines, the
documents and briefings of their sessions, progress reports, their analytics
rows, and their recordings (the files of their own audio track). The
notifications package adds the emails (``notifications.erasure.student_mail``)
and the API the audit entries; ``api.privacy`` writes the zip.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from enum import Enum
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from scheduling.models import Guardian, Guardianship, LiveSession, SessionStudent, User
from sessions.erasure import org_student, recording_files
from sessions.models import (
    Attendance,
    BriefingRecord,
    ChatLine,
    ParticipantFacts,
    ProgressReportRecord,
    SessionDocumentRecord,
    TranscriptSegment,
)

__all__ = ["StudentExport", "row_dict", "student_export"]


def _plain(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, bytes):
        return None  # files travel as files
    return value


def row_dict(row: Any, *, leave_out: tuple[str, ...] = ()) -> dict[str, Any]:
    """A model row's columns as JSON-ready values."""
    return {
        c.key: _plain(getattr(row, c.key)) for c in row.__table__.columns if c.key not in leave_out
    }


@dataclass
class StudentExport:
    """JSON-ready lists per kind, and the recording files to put beside them."""

    student_id: str
    kinds: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    files: list[tuple[str, Path]] = field(default_factory=list)  # (name in the zip, file)


async def student_export(
    db: AsyncSession, *, org_id: str, student_id: str, recordings_dir: Path
) -> StudentExport:
    """Gather what is held about the student ``student_id`` of ``org_id``.

    Raises:
        NotFound: no such student in the organisation.
    """
    student, user = await org_student(db, org_id=org_id, student_id=student_id)
    uid = user.id
    out = StudentExport(student_id=student_id)
    out.kinds["student"] = [
        {**row_dict(student), **row_dict(user, leave_out=("password_hash", "id", "org_id"))}
    ]
    links = await db.scalars(select(Guardianship).where(Guardianship.student_id == student_id))
    guardianships = []
    for link in links:
        guardian = await db.get_one(Guardian, link.guardian_id)
        guardian_user = await db.get_one(User, guardian.user_id)
        guardianships.append(
            {
                **row_dict(link),
                "guardian_name": guardian_user.display_name,
                "guardian_email": guardian_user.email,
            }
        )
    out.kinds["guardianships"] = guardianships
    session_ids = sorted(
        await db.scalars(
            select(SessionStudent.session_id).where(SessionStudent.student_id == student_id)
        )
    )
    sessions = await db.scalars(
        select(LiveSession)
        .where(LiveSession.id.in_(session_ids))
        .order_by(LiveSession.scheduled_start)
    )
    out.kinds["sessions"] = [row_dict(s) for s in sessions]

    async def rows(model: Any, *where: Any, order: Any = None) -> list[dict[str, Any]]:
        query = select(model).where(*where)
        if order is not None:
            query = query.order_by(*order)
        return [row_dict(r) for r in await db.scalars(query)]

    out.kinds["attendance"] = await rows(Attendance, Attendance.participant_id == uid)
    out.kinds["transcripts"] = await rows(
        TranscriptSegment,
        TranscriptSegment.participant_id == uid,
        order=(TranscriptSegment.session_id, TranscriptSegment.index),
    )
    out.kinds["chat"] = await rows(
        ChatLine, ChatLine.participant_id == uid, order=(ChatLine.session_id, ChatLine.at)
    )
    out.kinds["documents"] = await rows(
        SessionDocumentRecord, SessionDocumentRecord.session_id.in_(session_ids)
    )
    out.kinds["briefings"] = await rows(BriefingRecord, BriefingRecord.student_id == student_id)
    out.kinds["progress_reports"] = await rows(
        ProgressReportRecord, ProgressReportRecord.student_id == student_id
    )
    out.kinds["analytics"] = await rows(ParticipantFacts, ParticipantFacts.participant_id == uid)
    for session_id in session_ids:
        for path in recording_files(recordings_dir, session_id, uid):
            out.files.append((f"recordings/{session_id}/{path.name}", path))
    return out
