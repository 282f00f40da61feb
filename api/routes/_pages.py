"""Paginated reads shared by the list endpoints."""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, Select, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from api.schemas import PageQuery


async def fetch_page(
    db: AsyncSession,
    stmt: Select[Any],
    *,
    where: list[ColumnElement[bool]],
    order_by: list[Any],
    page: PageQuery,
) -> tuple[list[Any], int]:
    """Return one page of ``stmt`` filtered by ``where``, and the total count."""
    filtered = stmt.where(*where)
    total = await db.scalar(select(func.count()).select_from(filtered.order_by(None).subquery()))
    rows = await db.scalars(filtered.order_by(*order_by).limit(page.limit).offset(page.offset))
    return list(rows.unique()), int(total or 0)
