"""The retention sweep as one step of the lifecycle sweep: sessions' data, emails, the audit log.

Each package deletes its own kind (``sessions.retention``, ``notifications.retention``,
``scheduling.audit.expire_entries``); this runs them on the sweep's beat, at most
once an hour, in one transaction, and writes the audit entries for the emails.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncSession

from api.settings import Settings
from notifications.retention import expire_mail
from scheduling.audit import SYSTEM, AuditAction, expire_entries, record
from sessions.retention import ROUTE, RetentionPolicy, sweep_retention

__all__ = ["Retention"]


@dataclass
class Retention:
    """``LIVECLASS_RETENTION_*_DAYS`` applied; ``name`` for the sweep's log."""

    policy: RetentionPolicy
    emails_days: int
    audit_days: int
    data_dir: Path
    recordings_dir: Path
    every: timedelta = timedelta(hours=1)
    name: str = "retention"
    _last: datetime | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> Retention:
        return cls(
            policy=RetentionPolicy(
                recordings_days=settings.retention_recordings_days,
                transcripts_days=settings.retention_transcripts_days,
                documents_days=settings.retention_documents_days,
                presence_days=settings.retention_presence_days,
            ),
            emails_days=settings.retention_emails_days,
            audit_days=settings.retention_audit_days,
            data_dir=settings.data_dir,
            recordings_dir=settings.recordings_dir,
        )

    async def __call__(self, db: AsyncSession, now: datetime) -> int:
        if self._last is not None and now - self._last < self.every:
            return 0
        swept = await sweep_retention(
            db, policy=self.policy, recordings_dir=self.recordings_dir, now=now
        )
        mail = await expire_mail(
            db, days=self.emails_days, outbox_dir=self.data_dir / "outbox", now=now
        )
        for org_id, student_id in sorted(set(mail)):
            record(
                db,
                SYSTEM,
                AuditAction.EXPIRE,
                "notification",
                at=now,
                route=ROUTE,
                student_ids=[student_id],
                org_id=org_id,
            )
        audit = await expire_entries(db, days=self.audit_days, now=now)
        self._last = now
        return sum(swept.rows.values()) + swept.files + len(mail) + audit
