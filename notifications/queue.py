"""Deciding who should get which email, in the caller's transaction.

``queue_guardian_notice`` writes one ``Delivery`` per guardian of a student.
It runs inside an event handler's transaction, so the rows commit with the
handler's ledger entry; the unique ``key`` makes a second run for the same
event a no-op. Preferences and consents are read here, at decision time: a
guardian who opted out gets a ``skipped`` row (with the reason, without a
body), so a coordinator can see why nothing went.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from core.ids import new_id
from core.logging import get_logger
from notifications.errors import InvalidNotice
from notifications.models import Delivery, DeliveryKind, DeliveryStatus, RecipientRole
from notifications.templates import (
    Rendered,
    approval_note,
    local_date,
    local_time,
    render,
    zone,
)
from notifications.unsubscribe import STOPS, Stop
from scheduling.models import Guardian, Guardianship, LiveSession, Student

log = get_logger("liveclass.sessions.notifications")


def delivery_key(kind: DeliveryKind, event_id: str, guardian_id: str) -> str:
    return f"{kind.value}:{event_id}:{guardian_id}"


def message_id_for(key: str, domain: str) -> str:
    """The same Message-ID for every send of one delivery, so a resend is recognisably one."""
    digest = hashlib.sha256(key.encode()).hexdigest()[:32]
    return f"<{digest}@{domain}>"


def new_delivery(
    *,
    key: str,
    kind: DeliveryKind,
    org_id: str,
    recipient_id: str,
    role: RecipientRole,
    student_id: str,
    session_id: str | None,
    to_address: str,
    now: datetime,
    message_domain: str,
    skip: str | None,
    rendered: Rendered | None,
    unsubscribe_url: str | None = None,
) -> Delivery:
    """One row of the delivery log: ``pending`` and due now with its body, or
    ``skipped`` with the reason and no body (``rendered`` is then ignored)."""
    row = Delivery(
        id=new_id("dlv"),
        key=key,
        org_id=org_id,
        guardian_id=recipient_id,
        recipient_role=role,
        student_id=student_id,
        session_id=session_id,
        kind=kind,
        to_address=to_address,
        message_id=message_id_for(key, message_domain),
        status=DeliveryStatus.SKIPPED if skip else DeliveryStatus.PENDING,
        skip_reason=skip,
        attempts=0,
        next_attempt_at=None if skip else now,
        created_at=now,
    )
    if skip is None and rendered is not None:
        row.subject, row.text_body, row.html_body = rendered.subject, rendered.text, rendered.html
        row.unsubscribe_url = unsubscribe_url
    return row


def skip_reason(kind: DeliveryKind, link: Guardianship) -> str | None:
    """Why this guardian must not get this email, or None if they may."""
    if not link.notify_email:
        return "guardian turned off email (notify_email)"
    if kind is DeliveryKind.ABSENCE_NOTICE and not link.notify_absences:
        return "guardian turned off absence notices (notify_absences)"
    if kind is DeliveryKind.SESSION_REMINDER and not link.notify_reminders:
        return "guardian turned off session reminders (notify_reminders)"
    if kind in (DeliveryKind.SESSION_SUMMARY, DeliveryKind.PROGRESS_REPORT):
        if not link.notify_summaries:
            return "guardian turned off session summaries (notify_summaries)"
        if not link.ai_processing_consent:
            return "no consent to AI processing (ai_processing_consent), so no AI summary"
    return None


async def queue_guardian_notice(
    db: AsyncSession,
    *,
    kind: DeliveryKind | str,
    student_id: str,
    session_id: str | None,
    event_id: str,
    context: Mapping[str, Any],
    now: datetime,
    message_domain: str = "localhost",
) -> list[Delivery]:
    """Queue one email per guardian of ``student_id``; returns the rows written now.

    Args:
        kind: which email (``absence_notice``, ``session_summary``, ``tutor_substituted``).
        session_id: the session it is about; its subject and time go into the email.
        event_id: the event that caused it; with the kind and guardian it keys the row.
        context: kind-specific values: ``summary`` (the parent-friendly text) for
            ``session_summary``, with how it was approved (``automatic``,
            ``approver_name``, ``after_minutes``; see ``templates.approval_note``) and
            ``app_url`` (the web app's address, for its links); for every kind that a
            guardian can stop (``notifications.unsubscribe.STOPS``), ``stop_link``: a
            ``Stop`` to the URL of its one-click stop;
            ``new_tutor_name`` and ``old_tutor_name`` for ``tutor_substituted``;
            ``report`` (the approved report's JSON) for ``progress_report``; for any kind,
            ``attachment``: a ``(file name, PDF bytes)`` pair sent with each email.
        message_domain: the right-hand side of the Message-ID (the From domain).

    Raises:
        InvalidNotice: an unknown kind, a reminder (``queue_due_reminders`` writes
            those), or a summary without ``summary`` text.
    """
    try:
        kind = DeliveryKind(kind)
    except ValueError:
        raise InvalidNotice(f"unknown notice kind {kind!r}") from None
    if kind is DeliveryKind.SESSION_REMINDER:
        raise InvalidNotice("session reminders are queued by queue_due_reminders, not by events")
    if kind in (DeliveryKind.SESSION_CANCELLED, DeliveryKind.SESSION_RESCHEDULED):
        raise InvalidNotice(f"{kind.value} notices are queued by queue_change_notices")
    student = await db.get(Student, student_id)
    if student is None:
        log.warning("notice for an unknown student", student=student_id, event=event_id)
        return []
    live = await db.get(LiveSession, session_id) if session_id else None
    links = (
        await db.execute(
            select(Guardianship, Guardian)
            .join(Guardian, Guardian.id == Guardianship.guardian_id)
            .where(Guardianship.student_id == student_id)
            .order_by(Guardian.id)
        )
    ).all()
    keys = [delivery_key(kind, event_id, guardian.id) for _, guardian in links]
    existing = set(await db.scalars(select(Delivery.key).where(Delivery.key.in_(keys))))
    written = []
    for (link, guardian), key in zip(links, keys, strict=True):
        if key in existing:
            continue
        reason = skip_reason(kind, link)
        values = None if reason else _values(kind, student, guardian, live, context)
        row = new_delivery(
            key=key,
            kind=kind,
            org_id=student.org_id,
            recipient_id=guardian.id,
            role=RecipientRole.GUARDIAN,
            student_id=student_id,
            session_id=session_id,
            to_address=guardian.user.email,
            now=now,
            message_domain=message_domain,
            skip=reason,
            rendered=None if values is None else render(kind, values),
            unsubscribe_url=None if values is None else values.get("stop_url"),
        )
        attachment = context.get("attachment")
        if values is not None and attachment is not None:
            row.attachment_name, row.attachment = attachment
        db.add(row)
        written.append(row)
        log.info(
            "notice queued" if reason is None else "notice skipped",
            delivery=row.id,
            kind=kind.value,
            guardian=guardian.id,
            student=student_id,
            session=session_id,
            event=event_id,
        )
    await db.flush()
    return written


def _values(
    kind: DeliveryKind,
    student: Student,
    guardian: Guardian,
    live: LiveSession | None,
    context: Mapping[str, Any],
) -> dict[str, str]:
    if live is None:
        raise InvalidNotice(f"a {kind.value} needs the session it is about")
    tz = zone(guardian.time_zone)
    values = {
        "guardian_name": guardian.user.display_name,
        "student_name": student.user.display_name,
        "session_subject": live.subject,
    }
    stop_link = context.get("stop_link")
    if kind in STOPS:
        if not callable(stop_link):
            raise InvalidNotice(f"a {kind.value} needs its one-click 'stop_link'")
        values["stop_url"] = str(stop_link(Stop(guardian.id, student.id, STOPS[kind])))
    if kind is DeliveryKind.ABSENCE_NOTICE:
        values["scheduled_local"] = local_time(live.scheduled_start, tz)
    elif kind is DeliveryKind.TUTOR_SUBSTITUTED:
        values["scheduled_local"] = local_time(live.scheduled_start, tz)
        for name in ("new_tutor_name", "old_tutor_name"):
            value = context.get(name)
            if not isinstance(value, str):
                raise InvalidNotice(f"a tutor_substituted notice needs {name!r}")
            values[name] = value
    elif kind is DeliveryKind.PROGRESS_REPORT:
        report = context.get("report")
        if not isinstance(report, Mapping) or not str(report.get("summary", "")).strip():
            raise InvalidNotice("a progress_report needs the approved 'report' with its summary")
        app_url = context.get("app_url")
        if not isinstance(app_url, str) or not app_url.startswith(("http://", "https://")):
            raise InvalidNotice("a progress_report needs the web app's absolute 'app_url'")
        values["period_label"] = str(report.get("period_label", ""))
        values["summary"] = str(report["summary"]).strip()
        values["attendance"] = str(report.get("attendance", "")).strip()
        values["family_url"] = f"{app_url}#/family"
        approver = context.get("approver_name")
        values["approval"] = (
            f"Reviewed and approved by {approver}." if isinstance(approver, str) else "Reviewed."
        )
    elif kind is DeliveryKind.SESSION_SUMMARY:
        summary = context.get("summary")
        if not isinstance(summary, str) or not summary.strip():
            raise InvalidNotice("a session_summary needs the parent-friendly 'summary' text")
        values["summary"] = summary.strip()
        values["session_date"] = local_date(live.scheduled_start, tz)
        automatic = context.get("automatic")
        approver = context.get("approver_name")
        after = context.get("after_minutes")
        app_url = context.get("app_url")
        if not isinstance(app_url, str) or not app_url.startswith(("http://", "https://")):
            raise InvalidNotice("a session_summary needs the web app's absolute 'app_url'")
        values["summary_url"] = f"{app_url}#/summaries/{live.id}"
        values["family_url"] = f"{app_url}#/family"
        values["approval"] = approval_note(
            automatic=automatic if isinstance(automatic, bool) else None,
            approver_name=approver if isinstance(approver, str) else None,
            after_minutes=after if isinstance(after, int) else None,
        )
    return values
