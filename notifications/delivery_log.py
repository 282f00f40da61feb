"""Reading the delivery log: the emails sent, waiting or skipped, for a coordinator.

The log is the ``Delivery`` rows that ``notifications.queue`` and the reminder
and notice writers leave behind; a read is always scoped to one organisation.
"""

from __future__ import annotations

from sqlalchemy import ColumnElement, select
from sqlalchemy.ext.asyncio import AsyncSession

from core.pagination import PageWindow, fetch_page
from notifications.models import Delivery, DeliveryKind, DeliveryStatus


async def deliveries_page(
    db: AsyncSession,
    *,
    org_id: str,
    page: PageWindow,
    status: DeliveryStatus | None = None,
    kind: DeliveryKind | None = None,
    session_id: str | None = None,
) -> tuple[list[Delivery], int]:
    """One page of the organisation's deliveries, newest first, and how many match."""
    where: list[ColumnElement[bool]] = [Delivery.org_id == org_id]
    if status is not None:
        where.append(Delivery.status == status)
    if kind is not None:
        where.append(Delivery.kind == kind)
    if session_id is not None:
        where.append(Delivery.session_id == session_id)
    return await fetch_page(
        db,
        select(Delivery),
        where=where,
        order_by=[Delivery.created_at.desc(), Delivery.id.desc()],
        page=page,
    )
