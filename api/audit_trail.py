"""What the router writes to the audit log for a route over a student's personal data.

A route declares the kind of personal data it touches (``audit="transcript"``);
for each call the router writes one ``scheduling.audit.AuditEntry`` per student the
data is about: a read or change when the handler succeeds (in the request's own
transaction, so the data is never served without its entry), or a refusal when the
caller may not see or change it (403, or a 404 for what they cannot see; in a
transaction of its own, as the request's is rolled back). Which students: those
the handler named with ``Call.about``; else the path's ``student_id``; else the
students booked into the path's ``session_id``; else nobody in particular.

Unauthenticated requests (401) reach no data and are not entries: they are
counted in the ``liveclass_auth_failures_total`` metric. Failed and throttled
logins are entries of their own (``api.login``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import Request

from api.auth import Principal
from scheduling.audit import Actor, AuditAction, record
from scheduling.models import SessionStudent

__all__ = ["actor_of", "address_of", "write_entries"]

ACTIONS = {
    "GET": AuditAction.READ,
    "POST": AuditAction.CREATE,
    "PUT": AuditAction.UPDATE,
    "PATCH": AuditAction.UPDATE,
    "DELETE": AuditAction.DELETE,
}


def actor_of(principal: Principal | None) -> Actor:
    if principal is None:
        return Actor("anonymous", None, None)
    return Actor(principal.kind, principal.id, principal.org_id)


def address_of(request: Request) -> str | None:
    """The caller's address as the web server saw it (behind a proxy, uvicorn's
    ``--forwarded-allow-ips`` decides whether X-Forwarded-For is believed)."""
    return request.client.host if request.client is not None else None


async def _students(
    db: AsyncSession, named: Sequence[str], path: Mapping[str, str]
) -> list[str | None]:
    if named:
        return list(dict.fromkeys(named))
    if "student_id" in path:
        return [path["student_id"]]
    if "session_id" in path:
        rows = await db.scalars(
            select(SessionStudent.student_id)
            .where(SessionStudent.session_id == path["session_id"])
            .order_by(SessionStudent.student_id)
        )
        return list(rows) or [None]
    return [None]


async def write_entries(
    db: AsyncSession,
    *,
    resource: str,
    method: str,
    path_template: str,
    request: Request,
    principal: Principal | None,
    named: Sequence[str],
    denied: bool,
    now: datetime,
    action: str | None = None,
) -> None:
    """Add the call's entries to ``db``'s transaction; ``action`` names what a
    successful call did when its method does not say (an export, an erasure)."""
    path = {k: str(v) for k, v in request.path_params.items()}
    record(
        db,
        actor_of(principal),
        AuditAction.DENIED
        if denied
        else AuditAction(action)
        if action
        else ACTIONS.get(method, AuditAction.READ),
        resource,
        at=now,
        route=f"{method} {path_template}",
        resource_id=next(iter(path.values()), None),
        student_ids=await _students(db, named, path),
        address=address_of(request),
    )
