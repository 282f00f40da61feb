"""Guardianships: which children a guardian answers for, and on what terms.

A guardianship's terms are its consents (recording, AI processing) and the
notices its guardian wants about that child. A coordinator sets them whole
(``link_student``), so their form is the one record of what was agreed; the
guardian changes them one at a time from the family portal (``change_terms``),
and the change holds from that moment: the consent checks in ``sessions`` read
the row as it is when a session records, transcribes or drafts.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from core.ids import new_id
from scheduling.models import Guardian, Guardianship

__all__ = [
    "TERMS",
    "GuardianshipTerms",
    "add_guardianship",
    "change_terms",
    "link_student",
    "unlink_student",
]


@dataclass(frozen=True)
class GuardianshipTerms:
    """What a guardian agreed to and wants to hear about for one child."""

    relationship: str | None
    recording_consent: bool
    ai_processing_consent: bool
    notify_email: bool
    notify_summaries: bool
    notify_absences: bool
    notify_reminders: bool
    join_without_login: bool = False


# The terms a guardian may change one at a time: the consents and the notices.
TERMS = (
    "recording_consent",
    "ai_processing_consent",
    "notify_email",
    "notify_summaries",
    "notify_absences",
    "notify_reminders",
    "join_without_login",
)


def _apply_terms(row: Guardianship, terms: GuardianshipTerms, now: datetime) -> None:
    row.relationship_label = terms.relationship
    row.recording_consent = terms.recording_consent
    row.ai_processing_consent = terms.ai_processing_consent
    row.notify_email = terms.notify_email
    row.notify_summaries = terms.notify_summaries
    row.notify_absences = terms.notify_absences
    row.notify_reminders = terms.notify_reminders
    row.join_without_login = terms.join_without_login
    row.updated_at = now


def add_guardianship(
    guardian: Guardian, student_id: str, terms: GuardianshipTerms, *, now: datetime
) -> None:
    """Link ``guardian`` to a student it has no link to yet (the caller checked the id)."""
    row = Guardianship(
        id=new_id("gsp"), guardian_id=guardian.id, student_id=student_id, created_at=now
    )
    _apply_terms(row, terms, now)
    guardian.guardianships.append(row)


async def link_student(
    db: AsyncSession,
    guardian: Guardian,
    *,
    student_id: str,
    terms: GuardianshipTerms,
    now: datetime,
) -> Guardian:
    """Link the guardian to the student on ``terms``, or replace the terms of their link.

    The student must be one the caller may see; the route checks that first.
    """
    existing = next((g for g in guardian.guardianships if g.student_id == student_id), None)
    if existing is None:
        add_guardianship(guardian, student_id, terms, now=now)
    else:
        _apply_terms(existing, terms, now)
    await db.flush()
    return guardian


async def change_terms(
    db: AsyncSession,
    guardian: Guardian,
    *,
    student_id: str,
    changes: dict[str, bool],
    now: datetime,
) -> Guardianship | None:
    """Change some of the terms of the guardian's link to the student; None when there
    is no such link. ``changes`` names terms of ``TERMS`` only (the caller parsed them)."""
    unknown = set(changes) - set(TERMS)
    if unknown:
        raise ValueError(f"not a guardianship term: {', '.join(sorted(unknown))}")
    existing = next((g for g in guardian.guardianships if g.student_id == student_id), None)
    if existing is None:
        return None
    for name, value in changes.items():
        setattr(existing, name, value)
    if changes:
        existing.updated_at = now
    await db.flush()
    return existing


async def unlink_student(db: AsyncSession, guardian: Guardian, *, student_id: str) -> bool:
    """Remove the guardian's link to the student; False when there was none."""
    existing = next((g for g in guardian.guardianships if g.student_id == student_id), None)
    if existing is None:
        return False
    guardian.guardianships.remove(existing)
    await db.flush()
    return True
