"""One page of a query and its total: the shape every list read returns.

Use cases page their own queries; a route hands over the window it parsed
(``api.schemas.PageQuery`` has the two fields), so no route builds SQL.
"""

from __future__ import annotations

from typing import Any, Protocol

from sqlalchemy import ColumnElement, Select, func, select
from sqlalchemy.ext.asyncio import AsyncSession


class PageWindow(Protocol):
    """Which slice of the ordered rows: ``limit`` rows after skipping ``offset``."""

    @property
    def limit(self) -> int: ...
    @property
    def offset(self) -> int: ...


async def fetch_page(
    db: AsyncSession,
    stmt: Select[Any],
    *,
    where: list[ColumnElement[bool]],
    order_by: list[Any],
    page: PageWindow,
) -> tuple[list[Any], int]:
    """Return one page of ``stmt`` filtered by ``where``, and the total count."""
    filtered = stmt.where(*where)
    total = await db.scalar(select(func.count()).select_from(filtered.order_by(None).subquery()))
    rows = await db.scalars(filtered.order_by(*order_by).limit(page.limit).offset(page.offset))
    return list(rows.unique()), int(total or 0)
