"""Erasing the emails held about a student or sent to a guardian (``sessions.erasure`` and
``scheduling.erasure`` erase the rest).

Every delivery about the student (to their guardians, or their own reminders)
goes: its row, with its subject, bodies and attachment, and its ``.eml`` file
when emails are written to ``DATA_DIR/outbox/``. An email that was already sent
cannot be called back: each is listed (kind, when, to which recipient profile)
so the coordinator can tell the family what went where before the erasure.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import ColumnElement, and_, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from notifications.models import Delivery, DeliveryStatus, RecipientRole

__all__ = [
    "ErasedMail",
    "erase_guardian_mail",
    "erase_student_mail",
    "guardian_mail",
    "student_mail",
]


@dataclass
class ErasedMail:
    deleted: int = 0
    files: list[str] = field(default_factory=list)
    # Sent before the erasure: "session_summary to guardian gua_... on 2026-12-05T10:00:00Z".
    already_sent: list[str] = field(default_factory=list)


def _about_student(org_id: str, student_id: str) -> ColumnElement[bool]:
    return and_(
        Delivery.org_id == org_id,
        or_(Delivery.student_id == student_id, Delivery.guardian_id == student_id),
    )


def _to_guardian(org_id: str, guardian_id: str) -> ColumnElement[bool]:
    return and_(
        Delivery.org_id == org_id,
        Delivery.guardian_id == guardian_id,
        Delivery.recipient_role == RecipientRole.GUARDIAN,
    )


async def erase_student_mail(
    db: AsyncSession, *, org_id: str, student_id: str, outbox_dir: Path
) -> ErasedMail:
    """Delete the deliveries about ``student_id`` and their ``.eml`` files."""
    return await _erase(db, _about_student(org_id, student_id), outbox_dir)


async def erase_guardian_mail(
    db: AsyncSession, *, org_id: str, guardian_id: str, outbox_dir: Path
) -> ErasedMail:
    """Delete the deliveries to the guardian ``guardian_id`` and their ``.eml`` files."""
    return await _erase(db, _to_guardian(org_id, guardian_id), outbox_dir)


async def _erase(db: AsyncSession, where: ColumnElement[bool], outbox_dir: Path) -> ErasedMail:
    out = ErasedMail()
    rows = await db.scalars(select(Delivery).where(where))
    for row in rows:
        if row.status is DeliveryStatus.SENT:
            sent = row.sent_at.isoformat() if row.sent_at else "an unknown time"
            out.already_sent.append(
                f"{row.kind.value} to {row.recipient_role.value} {row.guardian_id} on {sent}"
            )
        eml = outbox_dir / f"{row.id}.eml"
        if await asyncio.to_thread(_unlink, eml):
            out.files.append(str(eml))
        await db.delete(row)
        out.deleted += 1
    await db.flush()
    return out


async def student_mail(db: AsyncSession, *, org_id: str, student_id: str) -> list[dict[str, str]]:
    """The emails held about ``student_id``, for an export: who, what, when and the text."""
    return await _listed(db, _about_student(org_id, student_id))


async def guardian_mail(db: AsyncSession, *, org_id: str, guardian_id: str) -> list[dict[str, str]]:
    """The emails held that went (or were to go) to the guardian, for an export."""
    return await _listed(db, _to_guardian(org_id, guardian_id))


async def _listed(db: AsyncSession, where: ColumnElement[bool]) -> list[dict[str, str]]:
    rows = await db.scalars(
        select(Delivery).where(where).order_by(Delivery.created_at, Delivery.id)
    )
    return [
        {
            "id": r.id,
            "kind": r.kind.value,
            "recipient_role": r.recipient_role.value,
            "recipient_id": r.guardian_id,
            "to_address": r.to_address,
            "status": r.status.value,
            "created_at": r.created_at.isoformat(),
            "sent_at": r.sent_at.isoformat() if r.sent_at else "",
            "subject": r.subject or "",
            "text_body": r.text_body or "",
            "attachment_name": r.attachment_name or "",
        }
        for r in rows
    ]


def _unlink(path: Path) -> bool:
    """Delete the file if it is there; whether it was."""
    try:
        path.unlink()
    except FileNotFoundError:
        return False
    return True
