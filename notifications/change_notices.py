"""Who hears that a session was booked, cancelled or moved: its tutor, students and
guardians, each email with the session's calendar invite (``notifications.invites``).

``queue_change_notices`` runs in the handler of ``session.scheduled``,
``session.cancelled`` and ``session.rescheduled`` and writes, in its transaction,
one delivery per
person (``recipients``, as reminders have them): the tutor, each student and
each guardian, a guardian of two students of the session getting one email
naming both. Keys are ``{kind}:{event_id}:{profile_id}``, so a retried
handler queues nothing twice. A guardian's ``notify_email`` applies, and
tutors' and students' accounts must be active; a ``skipped`` row says why.

A cancellation or move of a session that was already ``open`` (its room
ready) tells the same people; the room itself is closed by the lifecycle.

The invite describes the session as it is when the email is queued: a
``METHOD:REQUEST`` (the calendar adds or moves the event), or ``METHOD:CANCEL``
once it is cancelled; its ``UID`` never changes and its ``SEQUENCE`` grows, so
calendars keep the newest. A series is confirmed once, on its first occurrence's
event: one email per person naming how many sessions and the last one's date, with
a ``METHOD:PUBLISH`` calendar of them all (``series.ics``: iTIP allows one ``UID``
per ``REQUEST``); each occurrence's later move or cancellation has its own invite.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from core.logging import get_logger
from eventbus.outbox import DomainEvent
from notifications.invites import INVITE_NAME, SERIES_NAME, Method, invite, series_calendar
from notifications.models import Delivery, DeliveryKind, RecipientRole
from notifications.queue import delivery_key, new_delivery
from notifications.reminders import Recipient, recipients
from notifications.templates import (
    CHANGES,
    SERIES_BOOKED,
    join_names,
    local_time,
    render,
    zone,
)
from scheduling.models import ChangeParty, LiveSession, SessionStatus, Student, Tutor

log = get_logger("liveclass.sessions.notifications")

KINDS = {
    "session.scheduled": DeliveryKind.SESSION_BOOKED,
    "session.cancelled": DeliveryKind.SESSION_CANCELLED,
    "session.rescheduled": DeliveryKind.SESSION_RESCHEDULED,
}
_REQUESTED = {
    ChangeParty.STUDENT.value: "at the student's request",
    ChangeParty.TUTOR.value: "at the tutor's request",
    ChangeParty.ORGANISATION.value: "by your coordinator",
}


def _notice(payload: dict[str, object], verb: str) -> str:
    """The short-notice sentence of a late change, or nothing."""
    if not payload.get("late"):
        return ""
    return (
        f" This was {verb} at short notice ({payload.get('notice_hours')} hours before the start)."
    )


@dataclass(frozen=True)
class Invites:
    """What the invites need: the organiser's address (the school's sending address) and
    the domain ending each ``UID`` (the calendar feed's: the public URL's host)."""

    organizer: str = "no-reply@localhost"
    domain: str = "localhost"


async def queue_change_notices(
    db: AsyncSession,
    event: DomainEvent,
    *,
    message_domain: str = "localhost",
    invites: Invites | None = None,
) -> list[Delivery]:
    """Queue the emails of one ``session.scheduled``, ``session.cancelled`` or
    ``session.rescheduled``; returns the rows written now (none for another type)."""
    invites = invites or Invites()
    kind = KINDS.get(event.type)
    if kind is None:
        return []
    live = await db.get(LiveSession, event.session_id)
    if live is None:
        log.warning("change of an unknown session", event=event.id)
        return []
    payload = event.payload
    if kind is DeliveryKind.SESSION_CANCELLED and "requested_by" not in payload:
        # A cancellation from before the notice policy: its people were not told then.
        return []
    series: list[LiveSession] = []
    if kind is DeliveryKind.SESSION_BOOKED and payload.get("series_id"):
        if not payload.get("first_of_series"):
            return []  # the series' first occurrence confirms them all
        series = list(
            await db.scalars(
                select(LiveSession)
                .where(
                    LiveSession.series_id == payload["series_id"],
                    LiveSession.status != SessionStatus.CANCELLED,
                )
                .order_by(LiveSession.scheduled_start)
            )
        )
    everyone = await recipients(db, live, kind)
    if not everyone:
        return []
    old_start = datetime.fromisoformat(
        str(payload.get("from_start") or payload.get("scheduled_start") or live.scheduled_start)
    )
    new_start = live.scheduled_start
    if "to_start" in payload:
        new_start = datetime.fromisoformat(str(payload["to_start"]))
    tutor = await db.get(Tutor, live.tutor_id)
    students = {
        s.id: s.user.display_name
        for s in await db.scalars(select(Student).where(Student.id.in_(live.student_ids)))
    }
    shared = {
        "session_subject": live.subject,
        "tutor_name": tutor.user.display_name if tutor is not None else "your tutor",
        "student_names": join_names([students[i] for i in sorted(students)]),
        "requested": _REQUESTED.get(str(payload.get("requested_by")), "by your coordinator"),
        "notice": _notice(
            payload, "cancelled" if kind is DeliveryKind.SESSION_CANCELLED else "moved"
        ),
    }
    method: Method = "CANCEL" if live.status is SessionStatus.CANCELLED else "REQUEST"
    # One email per person: a guardian of two students in the session is one recipient.
    children: dict[str, list[str]] = defaultdict(list)
    people: dict[str, Recipient] = {}
    for r in everyone:
        people.setdefault(r.profile_id, r)
        if r.role is RecipientRole.GUARDIAN:
            children[r.profile_id].append(students.get(r.student_id, "your child"))
    keys = {pid: delivery_key(kind, event.id, pid) for pid in people}
    existing = set(await db.scalars(select(Delivery.key).where(Delivery.key.in_(keys.values()))))
    written = []
    for pid, r in people.items():
        if keys[pid] in existing:
            continue
        tz = zone(r.time_zone)
        values = {
            **shared,
            "recipient_name": r.user.display_name,
            "student_name": join_names(children[pid]) or students.get(r.student_id, ""),
            "scheduled_local": local_time(old_start, tz),
            "new_local": local_time(new_start, tz),
            "count": str(len(series)),
            "last_local": local_time(series[-1].scheduled_start, tz) if series else "",
        }
        row = new_delivery(
            key=keys[pid],
            kind=kind,
            org_id=live.org_id,
            recipient_id=pid,
            role=r.role,
            student_id=r.student_id,
            session_id=live.id,
            to_address=r.user.email,
            now=event.occurred_at,
            message_domain=message_domain,
            skip=r.skip,
            rendered=None
            if r.skip
            else render(
                kind,
                values,
                role=r.role,
                letter=(SERIES_BOOKED if series else CHANGES[kind])[r.role],
            ),
        )
        summary = f"{live.subject} with " + (
            shared["student_names"] if r.role is RecipientRole.TUTOR else shared["tutor_name"]
        )
        if r.skip is None and series:
            row.attachment_name = SERIES_NAME
            row.attachment = series_calendar(
                series,
                summary=summary,
                description=f"Liveclass: {live.subject} with {shared['tutor_name']}.",
                domain=invites.domain,
            )
        elif r.skip is None:
            row.attachment_name = INVITE_NAME
            row.attachment = invite(
                live,
                method=method,
                summary=summary,  # as the feed's: a family's never names other children
                description=f"Liveclass: {live.subject} with {shared['tutor_name']}.",
                domain=invites.domain,
                organizer=invites.organizer,
                attendee=r.user.email,
                attendee_name=r.user.display_name,
            )
        db.add(row)
        written.append(row)
        log.info(
            "notice queued" if r.skip is None else "notice skipped",
            delivery=row.id,
            kind=kind.value,
            recipient=pid,
            role=r.role.value,
            session=live.id,
            event=event.id,
        )
    await db.flush()
    return written
