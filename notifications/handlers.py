"""Event handlers that decide which emails should exist; the dispatcher sends them."""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from eventbus.outbox import DomainEvent
from notifications.change_notices import Invites, queue_change_notices
from notifications.models import DeliveryKind
from notifications.progress_pdf import progress_pdf, progress_pdf_name
from notifications.queue import queue_guardian_notice
from notifications.substitution_notices import queue_substitution_notices
from notifications.transport import sender_address
from notifications.unsubscribe import stop_links
from scheduling.models import User

ABSENCE = "student_absent"


class _Notices:
    """What every notice handler shares: the domain that ends each Message-ID, and what
    the calendar invites need.

    Args:
        mail_from: the From header; its domain ends each Message-ID, and its address
            organises the invites.
        calendar_domain: what ends each invite's ``UID``: the calendar feed's (the
            public URL's host), so a calendar holding both keeps one event.
    """

    def __init__(
        self, *, mail_from: str = "Liveclass <no-reply@localhost>", calendar_domain: str = ""
    ) -> None:
        self._domain = sender_address(mail_from).rpartition("@")[2] or "localhost"
        self._invites = Invites(
            organizer=sender_address(mail_from) or "no-reply@localhost",
            domain=calendar_domain or self._domain,
        )


class GuardianNotices(_Notices):
    """Queues absence notices (``exception.raised`` of kind ``student_absent``), summary
    emails (``summary.approved``) and progress reports with their PDF
    (``progress_report.approved``) for every guardian of the students concerned.
    A summary email says how it was approved: by whom (the approver's name, looked up
    from the event's ``by``), or automatically after ``after_minutes`` without review,
    and links to the summary in the family portal and to the guardian's email choices
    there (``app_url``: the web app's address, ``LIVECLASS_PUBLIC_URL`` + ``/app``).

    It only writes ``Delivery`` rows, in the bus's transaction, keyed by event
    and guardian; a retried event queues nothing twice.
    """

    name = "guardian_notices"
    types = frozenset({"exception.raised", "summary.approved", "progress_report.approved"})

    def __init__(
        self, *, app_url: str, secret: str, mail_from: str = "Liveclass <no-reply@localhost>"
    ) -> None:
        super().__init__(mail_from=mail_from)
        self._app_url = app_url
        # The stop links live at /unsubscribe/<token> on the server, outside the app.
        self._stop_link = stop_links(app_url.removesuffix("/app"), secret=secret)

    async def handle(self, db: AsyncSession, event: DomainEvent) -> None:
        payload = event.payload
        if event.type == "exception.raised" and payload.get("kind") == ABSENCE:
            await self._queue(
                db,
                event,
                DeliveryKind.ABSENCE_NOTICE,
                [payload["student_id"]],
                {"stop_link": self._stop_link},
            )
        elif event.type == "progress_report.approved":
            report = payload.get("report") or {}
            # One PDF for every guardian, made off the event loop (tens of milliseconds).
            pdf = await asyncio.to_thread(progress_pdf, report) if report else None
            await self._queue(
                db,
                event,
                DeliveryKind.PROGRESS_REPORT,
                [payload["student_id"]],
                {
                    "report": report,
                    "attachment": (progress_pdf_name(report), pdf) if pdf else None,
                    "approver_name": payload.get("approver_name"),
                    "app_url": self._app_url,
                    "stop_link": self._stop_link,
                },
            )
        elif event.type == "summary.approved":
            by = payload.get("by")
            approver = await db.get(User, by) if isinstance(by, str) else None
            await self._queue(
                db,
                event,
                DeliveryKind.SESSION_SUMMARY,
                list(payload.get("student_ids", [])),
                {
                    "summary": payload.get("parent_summary"),
                    "document_id": payload.get("document_id"),
                    # Events from before these fields: neither claim is made.
                    "automatic": payload.get("automatic"),
                    "approver_name": approver.display_name if approver is not None else None,
                    "after_minutes": payload.get("after_minutes"),
                    "app_url": self._app_url,
                    "stop_link": self._stop_link,
                },
            )

    async def _queue(
        self,
        db: AsyncSession,
        event: DomainEvent,
        kind: DeliveryKind,
        student_ids: list[str],
        context: dict[str, Any],
    ) -> None:
        now: datetime = event.occurred_at
        for student_id in student_ids:
            await queue_guardian_notice(
                db,
                kind=kind,
                student_id=student_id,
                session_id=event.session_id,
                event_id=event.id,
                context=context,
                now=now,
                message_domain=self._domain,
            )


class SubstitutionNotices(_Notices):
    """Queues the emails of ``session.tutor_substituted``: one per guardian of each
    student, one to the new tutor and one to the replaced tutor.

    It only writes ``Delivery`` rows, in the bus's transaction, keyed by event
    and recipient; a retried event queues nothing twice.
    """

    name = "substitution_notices"
    types = frozenset({"session.tutor_substituted"})

    async def handle(self, db: AsyncSession, event: DomainEvent) -> None:
        await queue_substitution_notices(
            db, event, message_domain=self._domain, invites=self._invites
        )


class ChangeNotices(_Notices):
    """Queues the emails of ``session.scheduled`` (a booking's confirmation),
    ``session.cancelled`` and ``session.rescheduled``: one to the tutor, one to each
    student and one to each guardian, with the (old and new) time in each person's
    zone, a short-notice line when the notice policy flagged the change as late, and
    the session's calendar invite (``calendar_domain``: the feed's, the public URL's
    host, so invites and feed events are one event in a calendar).

    It only writes ``Delivery`` rows, in the bus's transaction, keyed by event
    and recipient; a retried event queues nothing twice.
    """

    name = "change_notices"
    types = frozenset({"session.scheduled", "session.cancelled", "session.rescheduled"})

    async def handle(self, db: AsyncSession, event: DomainEvent) -> None:
        await queue_change_notices(db, event, message_domain=self._domain, invites=self._invites)
