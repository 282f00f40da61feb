"""Emails are kept ``LIVECLASS_RETENTION_EMAILS_DAYS`` after they were queued, then go.

A delivery that is done (sent, skipped or failed for good) and older than that is
deleted with its subject, bodies and attachment, and its ``.eml`` file when emails
are written to ``DATA_DIR/outbox/``. One that is still pending or being sent stays
until it is done. The API's sweep writes the audit entries (``api.workers``).
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from notifications.models import Delivery, DeliveryStatus

__all__ = ["expire_mail"]

DONE = (DeliveryStatus.SENT, DeliveryStatus.SKIPPED, DeliveryStatus.FAILED)


async def expire_mail(
    db: AsyncSession, *, days: int, outbox_dir: Path, now: datetime, limit: int = 1000
) -> list[tuple[str, str]]:
    """Delete up to ``limit`` done deliveries older than ``days``; returns each one's
    ``(org_id, student_id)`` for the audit log."""
    if not days:
        return []
    rows = list(
        await db.scalars(
            select(Delivery)
            .where(Delivery.status.in_(DONE), Delivery.created_at < now - timedelta(days=days))
            .order_by(Delivery.created_at)
            .limit(limit)
        )
    )
    for row in rows:
        eml = outbox_dir / f"{row.id}.eml"
        await asyncio.to_thread(eml.unlink, True)
        await db.delete(row)
    await db.flush()
    return [(r.org_id, r.student_id) for r in rows]
