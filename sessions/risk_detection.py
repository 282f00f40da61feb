"""Runs the at-risk rules (``sessions.risk``) on new data and raises what they find.

``detect_for_session`` reads, from the structured session data, the recent
sessions of each student of one session and of its tutor, up to and including
that session, asks the rules, and raises each new finding as a coordinator
exception on that session, its evidence in the details:

    {"student_id" | "tutor_id": ..., "why": "missed 4 of the last 6 sessions, ...",
     "sessions": [session ids, oldest first], "evidence": [{"session_id", "value"}]}

A finding is raised once: not while an exception of its kind about the same
person is open or acknowledged, and never again for a stretch that shares a
session with one raised before (``sessions.risk.is_new``). The facts handler
calls it each time a session's facts are rebuilt, so a pattern is raised as the
session that completes it is recorded. Overdue reviews need no new session to
show: ``OverdueReviewSweep``, a step of the lifecycle sweep, runs the tutors'
rules whenever one of their drafts has waited longer than the review time, and
raises on their newest held session.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from scheduling.models import LiveSession, Student, User
from sessions.models import (
    FactItem,
    FactItemKind,
    ParticipantFacts,
    SessionException,
    SessionExceptionKind,
    SessionExceptionStatus,
    SessionFacts,
)
from sessions.risk import (
    DEFAULT_POLICY,
    Finding,
    RiskKind,
    RiskPolicy,
    StudentPoint,
    TutorPoint,
    is_new,
    student_findings,
    tutor_findings,
)
from sessions.session_exceptions import raise_exception

__all__ = [
    "OverdueReviewSweep",
    "detect_for_session",
    "detect_overdue_reviews",
    "student_history",
    "tutor_history",
]

# Enough sessions for the longest rule (ten before and six in the window).
HISTORY = 20


async def student_history(
    db: AsyncSession, student_id: str, *, until: datetime, limit: int = HISTORY
) -> list[StudentPoint]:
    """The student's last ``limit`` held sessions starting at or before ``until``, oldest first."""
    rows = (
        await db.execute(
            select(ParticipantFacts, SessionFacts)
            .join(SessionFacts, SessionFacts.session_id == ParticipantFacts.session_id)
            .where(
                ParticipantFacts.student_id == student_id,
                ParticipantFacts.role == "student",
                SessionFacts.scheduled_start <= until,
            )
            .order_by(SessionFacts.scheduled_start.desc(), SessionFacts.session_id.desc())
            .limit(limit)
        )
    ).all()
    ids = [s.session_id for _, s in rows]
    difficulties: dict[str, list[str]] = {}
    for item in await db.scalars(
        select(FactItem)
        .where(FactItem.session_id.in_(ids), FactItem.kind == FactItemKind.DIFFICULTY)
        .order_by(FactItem.session_id, FactItem.position)
    ):
        difficulties.setdefault(item.session_id, []).append(item.text)
    return [
        StudentPoint(
            session_id=s.session_id,
            at=s.scheduled_start,
            present=p.present,
            late_minutes=p.late_minutes,
            talk_share=p.talk_share,
            documented=s.document_status is not None,
            difficulties=tuple(difficulties.get(s.session_id, ())),
            homework_due=p.homework_due,
            homework_followed_up=p.homework_followed_up,
        )
        for p, s in reversed(rows)
    ]


async def tutor_history(
    db: AsyncSession, tutor_id: str, *, until: datetime, limit: int = HISTORY
) -> list[TutorPoint]:
    """The tutor's last ``limit`` held sessions starting at or before ``until``, oldest first."""
    rows = await db.scalars(
        select(SessionFacts)
        .where(SessionFacts.tutor_id == tutor_id, SessionFacts.scheduled_start <= until)
        .order_by(SessionFacts.scheduled_start.desc(), SessionFacts.session_id.desc())
        .limit(limit)
    )
    return [
        TutorPoint(
            session_id=s.session_id,
            at=s.scheduled_start,
            present=s.tutor_present,
            late_minutes=s.tutor_late_minutes,
            drafted_at=s.drafted_at,
            approved_at=s.approved_at,
        )
        for s in reversed(list(rows))
    ]


async def _raised(
    db: AsyncSession, kind: SessionExceptionKind, subject: str
) -> list[tuple[bool, list[str]]]:
    rows = await db.execute(
        select(SessionException.status, SessionException.details).where(
            SessionException.kind == kind, SessionException.subject == subject
        )
    )
    return [
        (status is not SessionExceptionStatus.RESOLVED, list(details.get("sessions", [])))
        for status, details in rows
    ]


async def _raise(
    db: AsyncSession, live: LiveSession, finding: Finding, who: str, *, now: datetime
) -> SessionException | None:
    kind = SessionExceptionKind(finding.kind.value)
    if not is_new(finding, await _raised(db, kind, finding.subject)):
        return None
    details: dict[str, Any] = {
        who: finding.subject,
        "why": finding.why,
        "sessions": list(finding.sessions),
        "evidence": [
            {"session_id": s, "value": v}
            for s, v in zip(finding.sessions, finding.values, strict=False)
        ],
    }
    row = await raise_exception(db, live, kind, subject=finding.subject, details=details, now=now)
    if row is not None:
        await db.flush()  # the next finding's check sees it
    return row


async def detect_for_session(
    db: AsyncSession, session_id: str, *, now: datetime, policy: RiskPolicy = DEFAULT_POLICY
) -> list[SessionException]:
    """Run the rules for the students and the tutor of a held session, on their sessions up
    to it, and raise each new finding on it; the caller commits."""
    facts = await db.get(SessionFacts, session_id)
    live = await db.get(LiveSession, session_id)
    if facts is None or live is None:
        return []
    raised: list[SessionException] = []
    for student_id in live.student_ids:
        points = await student_history(db, student_id, until=facts.scheduled_start)
        name = await db.scalar(
            select(User.display_name)
            .join(Student, Student.user_id == User.id)
            .where(Student.id == student_id)
        )
        names = (name or "").split()
        for finding in student_findings(student_id, points, policy=policy, names=names):
            row = await _raise(db, live, finding, "student_id", now=now)
            if row is not None:
                raised.append(row)
    points_t = await tutor_history(db, live.tutor_id, until=facts.scheduled_start)
    for finding in tutor_findings(live.tutor_id, points_t, now=now, policy=policy):
        row = await _raise(db, live, finding, "tutor_id", now=now)
        if row is not None:
            raised.append(row)
    return raised


async def detect_overdue_reviews(
    db: AsyncSession, *, now: datetime, policy: RiskPolicy = DEFAULT_POLICY, limit: int = 50
) -> list[SessionException]:
    """Run the tutors' rules, at ``now``, for each tutor with a draft older than the review
    time, and raise ``reviews_overdue`` on their newest held session; the caller commits."""
    cutoff = now - policy.review_within
    tutors = list(
        await db.scalars(
            select(SessionFacts.tutor_id)
            .where(SessionFacts.document_status == "draft", SessionFacts.drafted_at <= cutoff)
            .distinct()
            .order_by(SessionFacts.tutor_id)
            .limit(limit)
        )
    )
    raised: list[SessionException] = []
    for tutor_id in tutors:
        newest = await db.scalar(
            select(SessionFacts)
            .where(SessionFacts.tutor_id == tutor_id, SessionFacts.scheduled_start <= now)
            .order_by(SessionFacts.scheduled_start.desc(), SessionFacts.session_id.desc())
            .limit(1)
        )
        live = await db.get(LiveSession, newest.session_id) if newest is not None else None
        if newest is None or live is None:
            continue
        points = await tutor_history(db, tutor_id, until=newest.scheduled_start)
        for finding in tutor_findings(tutor_id, points, now=now, policy=policy):
            if finding.kind is RiskKind.REVIEWS_OVERDUE:
                row = await _raise(db, live, finding, "tutor_id", now=now)
                if row is not None:
                    raised.append(row)
    return raised


@dataclass(frozen=True)
class OverdueReviewSweep:
    """``detect_overdue_reviews`` as one step of the lifecycle sweep
    (``sessions.timers.SweepStep``)."""

    name: str = "overdue_reviews"

    async def __call__(self, db: AsyncSession, now: datetime) -> int:
        return len(await detect_overdue_reviews(db, now=now))
