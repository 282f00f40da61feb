"""The delivery log of guardian emails for coordinators: what went, waits or was skipped."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from api.permissions import require_coordinator
from api.routing import Call, Router
from api.schemas import Page, PageQuery
from notifications import Delivery, DeliveryKind, DeliveryStatus, RecipientRole
from notifications.delivery_log import deliveries_page

router = Router()
TAGS = ["notifications"]


class DeliveryOut(BaseModel):
    """One email to one person (the body stays in the database)."""

    id: str
    kind: DeliveryKind = Field(
        description="`absence_notice`, `session_summary`, `session_reminder` or "
        "`tutor_substituted`."
    )
    recipient_role: RecipientRole = Field(
        description="Whom it goes to: `guardian`, or for reminders also `tutor` or `student`, "
        "for a substitution also `tutor` (the new and the replaced one)."
    )
    status: DeliveryStatus = Field(
        description="`pending`, `sending`, `sent`, `failed` (gave up) or `skipped` "
        "(preferences or consent ruled it out; see `skip_reason`)."
    )
    guardian_id: str = Field(
        description="The recipient's profile id: a guardian's, or a tutor's or student's "
        "for their own reminders and substitution notices."
    )
    student_id: str = Field(description="The student the email is about.")
    session_id: str | None
    to_address: str
    subject: str | None
    message_id: str = Field(description="The Message-ID header; the same on every resend.")
    skip_reason: str | None
    attempts: int
    last_error: str | None
    next_attempt_at: datetime | None = Field(description="When a pending email is tried next.")
    created_at: datetime
    sent_at: datetime | None

    @classmethod
    def of(cls, d: Delivery) -> DeliveryOut:
        return cls(
            id=d.id,
            kind=d.kind,
            recipient_role=d.recipient_role,
            status=d.status,
            guardian_id=d.guardian_id,
            student_id=d.student_id,
            session_id=d.session_id,
            to_address=d.to_address,
            subject=d.subject,
            message_id=d.message_id,
            skip_reason=d.skip_reason,
            attempts=d.attempts,
            last_error=d.last_error,
            next_attempt_at=d.next_attempt_at,
            created_at=d.created_at,
            sent_at=d.sent_at,
        )


class DeliveryPage(Page[DeliveryOut]):
    pass


class DeliveryQuery(PageQuery):
    status: DeliveryStatus | None = Field(default=None, description="Only emails in this state.")
    kind: DeliveryKind | None = Field(default=None, description="Only emails of this kind.")
    session_id: str | None = Field(default=None, description="Only emails about this session.")


@router.get("/api/v1/notifications", audit="notification", tags=TAGS)
async def list_notifications(call: Call, query: DeliveryQuery) -> DeliveryPage:
    """The guardian email log of your organisation, newest first (coordinators only)."""
    p = call.principal
    require_coordinator(p, "read the notification log")
    rows, total = await deliveries_page(
        call.db,
        org_id=p.org_id,
        page=query,
        status=query.status,
        kind=query.kind,
        session_id=query.session_id,
    )
    return DeliveryPage(
        items=[DeliveryOut.of(d) for d in rows], total=total, limit=query.limit, offset=query.offset
    )
