"""A student's data as a whole: export it for their family, or erase it.

Each package gives and erases its own part (``sessions.export`` and
``sessions.erasure``, ``notifications.erasure``); this composes them with what
the API itself holds (the audit log, stored idempotent responses) and writes
the export's zip. The routes record each export and erasure in the audit log.
"""

from __future__ import annotations

import asyncio
import io
import json
import zipfile
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from api.models import IdempotencyKey
from core.sealing import KeyRing, read_maybe_sealed
from notifications.erasure import (
    erase_guardian_mail,
    erase_student_mail,
    guardian_mail,
    student_mail,
)
from scheduling.audit import Actor, AuditEntry
from scheduling.erasure import erase_guardian, org_guardian
from scheduling.models import Guardianship
from sessions.erasure import erase_student
from sessions.export import row_dict, student_export

__all__ = [
    "GuardianErased",
    "StudentErased",
    "erase_guardian_everywhere",
    "erase_student_everywhere",
    "export_guardian_zip",
    "export_student_zip",
]


@dataclass(frozen=True)
class StudentErased:
    student_id: str
    rows: dict[str, int]
    files: int
    already_sent: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)


async def erase_student_everywhere(
    db: AsyncSession,
    *,
    actor: Actor,
    student_id: str,
    data_dir: Path,
    recordings_dir: Path,
    now: datetime,
) -> StudentErased:
    """Erase the student from every package's tables and from disk, in ``db``'s
    transaction (the route's audit entry records it in the same one)."""
    assert actor.org_id is not None
    erased = await erase_student(
        db, org_id=actor.org_id, student_id=student_id, recordings_dir=recordings_dir
    )
    mail = await erase_student_mail(
        db, org_id=actor.org_id, student_id=student_id, outbox_dir=data_dir / "outbox"
    )
    rows = dict(erased.rows)
    rows["notification_deliveries"] = mail.deleted
    # Stored answers to idempotent requests (24 h) may hold the student's details.
    stored = await db.execute(
        delete(IdempotencyKey).where(IdempotencyKey.response_body.contains(student_id))
    )
    rows["idempotency_keys"] = int(getattr(stored, "rowcount", 0) or 0)
    kept = list(erased.kept)
    if mail.already_sent:
        kept.append(f"{len(mail.already_sent)} email(s) already sent (listed) cannot be recalled")
    return StudentErased(
        student_id=student_id,
        rows={k: v for k, v in sorted(rows.items()) if v},
        files=len(erased.files) + len(mail.files),
        already_sent=mail.already_sent,
        kept=kept,
    )


async def export_student_zip(
    db: AsyncSession,
    *,
    actor: Actor,
    student_id: str,
    recordings_dir: Path,
    keys: KeyRing,
    now: datetime,
) -> bytes:
    """A zip of everything held about the student: ``{kind}.json`` for each kind, and
    ``recordings/{session_id}/{file}``."""
    assert actor.org_id is not None
    held = await student_export(
        db, org_id=actor.org_id, student_id=student_id, recordings_dir=recordings_dir
    )
    held.kinds["emails"] = await student_mail(db, org_id=actor.org_id, student_id=student_id)
    entries = await db.scalars(
        select(AuditEntry)
        .where(AuditEntry.org_id == actor.org_id, AuditEntry.student_id == student_id)
        .order_by(AuditEntry.at, AuditEntry.id)
    )
    held.kinds["audit"] = [row_dict(e) for e in entries]
    readme = (
        f"Everything Liveclass held about student {student_id} on {now.isoformat()}.\n"
        "One JSON file per kind of data; recordings/ holds the student's own audio "
        "(Ogg Opus), one file per session.\n"
    )
    return await _zip(readme, held.kinds, held.files, keys)


async def _zip(
    readme: str,
    kinds: dict[str, list[dict[str, Any]]],
    files: list[tuple[str, Path]],
    keys: KeyRing | None = None,
) -> bytes:
    def write() -> bytes:
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            archive.writestr("README.txt", readme)
            for kind, items in kinds.items():
                archive.writestr(f"{kind}.json", json.dumps(items, indent=2, ensure_ascii=False))
            for name, path in files:
                # A family gets playable audio: a recording sealed at rest is opened.
                archive.writestr(name, read_maybe_sealed(path, keys or KeyRing({}, None)))
        return buffer.getvalue()

    # Recordings make it megabytes: read and compressed off the event loop.
    return await asyncio.to_thread(write)


@dataclass(frozen=True)
class GuardianErased:
    guardian_id: str
    rows: dict[str, int]
    files: int
    already_sent: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)


async def erase_guardian_everywhere(
    db: AsyncSession, *, actor: Actor, guardian_id: str, data_dir: Path
) -> GuardianErased:
    """Erase the guardian (``scheduling.erasure``) and the emails to them, in ``db``'s
    transaction; a consent they withheld stays withheld for their children."""
    assert actor.org_id is not None
    erased = await erase_guardian(db, org_id=actor.org_id, guardian_id=guardian_id)
    mail = await erase_guardian_mail(
        db, org_id=actor.org_id, guardian_id=guardian_id, outbox_dir=data_dir / "outbox"
    )
    rows = dict(erased.rows)
    rows["notification_deliveries"] = mail.deleted
    stored = await db.execute(
        delete(IdempotencyKey).where(IdempotencyKey.response_body.contains(guardian_id))
    )
    rows["idempotency_keys"] = int(getattr(stored, "rowcount", 0) or 0)
    kept = [*erased.notes, "audit log entries (ids only)"]
    if mail.already_sent:
        kept.append(f"{len(mail.already_sent)} email(s) already sent (listed) cannot be recalled")
    return GuardianErased(
        guardian_id=guardian_id,
        rows={k: v for k, v in sorted(rows.items()) if v},
        files=len(mail.files),
        already_sent=mail.already_sent,
        kept=kept,
    )


async def export_guardian_zip(
    db: AsyncSession, *, actor: Actor, guardian_id: str, now: datetime
) -> bytes:
    """A zip of what is held about a guardian: their profile and login, their links to
    children with the consents, the emails to them, and what they did (the audit log)."""
    assert actor.org_id is not None
    guardian, user = await org_guardian(db, org_id=actor.org_id, guardian_id=guardian_id)
    links = await db.scalars(select(Guardianship).where(Guardianship.guardian_id == guardian.id))
    done = await db.scalars(
        select(AuditEntry)
        .where(AuditEntry.org_id == actor.org_id, AuditEntry.actor_id == user.id)
        .order_by(AuditEntry.at, AuditEntry.id)
    )
    kinds = {
        "guardian": [
            {**row_dict(guardian), **row_dict(user, leave_out=("password_hash", "id", "org_id"))}
        ],
        "guardianships": [row_dict(link) for link in links],
        "emails": await guardian_mail(db, org_id=actor.org_id, guardian_id=guardian.id),
        "audit": [row_dict(e) for e in done],
    }
    readme = (
        f"Everything Liveclass held about guardian {guardian_id} on {now.isoformat()}.\n"
        "One JSON file per kind of data; audit.json is what they read and changed.\n"
    )
    return await _zip(readme, kinds, [])
