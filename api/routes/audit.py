"""The audit log for coordinators: who read or changed a student's data, and who was refused.

Entries are ids only (``scheduling.audit``); the JSON pages and the CSV read the
same filter, so the CSV holds exactly the entries of the pages, newest first.
Reading the log is itself not an entry: it names no student's data.
"""

from __future__ import annotations

import csv
import io
from datetime import datetime

from pydantic import AwareDatetime, BaseModel, Field
from starlette.responses import Response

from api.permissions import require_coordinator
from api.routing import Call, Router
from api.schemas import Input, Page, PageQuery
from scheduling.audit import AuditAction, AuditEntry, AuditFilter, audit_page

router = Router()
TAGS = ["audit"]
CSV_LIMIT = 100_000


class AuditQuery(Input):
    student_id: str | None = Field(default=None, description="Only entries about this student.")
    actor_id: str | None = Field(default=None, description="Only this user's or API key's entries.")
    action: AuditAction | None = Field(default=None, description="Only this action.")
    since: AwareDatetime | None = Field(default=None, description="From this time, inclusive.")
    until: AwareDatetime | None = Field(default=None, description="Before this time.")


class AuditPageQuery(AuditQuery, PageQuery):
    pass


class AuditEntryOut(BaseModel):
    id: str
    at: datetime
    actor_kind: str = Field(
        description="`user`, `api_key`, `anonymous`, `system` or `calendar_feed` (a feed "
        "address was read; `actor_id` is its owner's tutor or guardian id)."
    )
    actor_id: str | None
    action: str
    resource: str = Field(description="The kind of data: `transcript`, `student`, ...")
    resource_id: str | None = Field(description="The id in the route (a session, a student).")
    student_id: str | None = Field(description="The student the data is about, if one.")
    route: str = Field(description="Method and route template, or the use case's name.")
    address: str | None = Field(description="The caller's address, as the server saw it.")

    @classmethod
    def of(cls, e: AuditEntry) -> AuditEntryOut:
        return cls(
            id=e.id,
            at=e.at,
            actor_kind=e.actor_kind,
            actor_id=e.actor_id,
            action=e.action,
            resource=e.resource,
            resource_id=e.resource_id,
            student_id=e.student_id,
            route=e.route,
            address=e.address,
        )


class AuditPage(Page[AuditEntryOut]):
    pass


def _filter(call: Call, query: AuditQuery) -> AuditFilter:
    p = call.principal
    require_coordinator(p, "read the audit log")
    return AuditFilter(
        org_id=p.org_id,
        student_id=query.student_id,
        actor_id=query.actor_id,
        action=query.action.value if query.action else None,
        since=query.since,
        until=query.until,
    )


@router.get("/api/v1/audit", tags=TAGS)
async def list_audit_entries(call: Call, query: AuditPageQuery) -> AuditPage:
    """Your organisation's audit log, newest first: every read and change of a student's
    personal data, every refused attempt at one, failed and throttled logins, exports
    and erasures (coordinators; API keys need the `admin` scope)."""
    rows, total = await audit_page(
        call.db, _filter(call, query), limit=query.limit, offset=query.offset
    )
    return AuditPage(
        items=[AuditEntryOut.of(e) for e in rows],
        total=total,
        limit=query.limit,
        offset=query.offset,
    )


@router.get("/api/v1/audit.csv", tags=TAGS, media_type="text/csv")
async def export_audit_entries(call: Call, query: AuditQuery) -> Response:
    """The same entries as CSV (up to 100,000, newest first), for a regulator or a parent's
    request: one row per entry, the columns of the JSON items."""
    rows, _ = await audit_page(call.db, _filter(call, query), limit=CSV_LIMIT, offset=0)
    columns = list(AuditEntryOut.model_fields)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(columns)
    for e in rows:
        item = AuditEntryOut.of(e).model_dump(mode="json")
        writer.writerow(["" if item[c] is None else item[c] for c in columns])
    return Response(
        out.getvalue(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": 'attachment; filename="audit-log.csv"'},
    )
