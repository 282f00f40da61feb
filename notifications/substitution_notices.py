"""Who hears that another tutor takes a session: the guardians and both tutors.

``queue_substitution_notices`` runs in the handler of ``session.tutor_substituted``
and writes, in its transaction, one ``tutor_substituted`` delivery per guardian
of each student (through ``queue_guardian_notice``: ``notify_email`` applies,
an opted-out guardian gets a ``skipped`` row) and one to each tutor
(``recipient_role`` ``tutor``: the incoming one is told they now teach it, the
replaced one that they no longer do). Every row is keyed
``tutor_substituted:{event_id}:{profile_id}``, so a retried handler queues
nothing twice; a guardian of two students of the session gets one email.

Each email carries the session's calendar invite (``notifications.invites``): a
``METHOD:REQUEST`` naming the new tutor for the guardians and the incoming tutor
(the same ``UID`` as the booking's, a higher ``SEQUENCE``: their calendars update
the event), a ``METHOD:CANCEL`` for the replaced tutor (theirs removes it).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from core.logging import get_logger
from eventbus.outbox import DomainEvent
from notifications.change_notices import Invites
from notifications.invites import INVITE_NAME, invite
from notifications.models import Delivery, DeliveryKind, DeliveryStatus, RecipientRole
from notifications.queue import delivery_key, new_delivery, queue_guardian_notice
from notifications.templates import (
    SUBSTITUTION_TUTORS,
    join_names,
    local_time,
    render,
    zone,
)
from scheduling.models import LiveSession, Student, Tutor

log = get_logger("liveclass.sessions.notifications")

KIND = DeliveryKind.TUTOR_SUBSTITUTED


async def queue_substitution_notices(
    db: AsyncSession,
    event: DomainEvent,
    *,
    message_domain: str = "localhost",
    invites: Invites | None = None,
) -> list[Delivery]:
    """Queue the emails of one ``session.tutor_substituted``; returns the rows written now."""
    invites = invites or Invites()
    live = await db.get(LiveSession, event.session_id)
    if live is None:
        log.warning("substitution of an unknown session", event=event.id)
        return []
    payload = event.payload
    incoming = await db.get(Tutor, payload["to_tutor_id"])
    outgoing = await db.get(Tutor, payload["from_tutor_id"])
    student_ids: list[str] = list(payload.get("student_ids") or live.student_ids)
    students = list(
        await db.scalars(select(Student).where(Student.id.in_(student_ids)).order_by(Student.id))
    )
    if not students:
        return []
    now: datetime = event.occurred_at
    names = {
        "new_tutor_name": incoming.user.display_name if incoming else "a new tutor",
        "old_tutor_name": outgoing.user.display_name if outgoing else "the previous tutor",
    }
    written: list[Delivery] = []
    for student in students:
        written += await queue_guardian_notice(
            db,
            kind=KIND,
            student_id=student.id,
            session_id=live.id,
            event_id=event.id,
            context=names,
            now=now,
            message_domain=message_domain,
        )
    student_names = join_names([s.user.display_name for s in students])
    for tutor, variant in ((incoming, "incoming"), (outgoing, "outgoing")):
        if tutor is None:
            continue
        key = delivery_key(KIND, event.id, tutor.id)
        if await db.scalar(select(Delivery.id).where(Delivery.key == key)) is not None:
            continue
        skip = None if tutor.user.is_active else "account deactivated (is_active)"
        row = new_delivery(
            key=key,
            kind=KIND,
            org_id=live.org_id,
            recipient_id=tutor.id,
            role=RecipientRole.TUTOR,
            student_id=students[0].id,
            session_id=live.id,
            to_address=tutor.user.email,
            now=now,
            message_domain=message_domain,
            skip=skip,
            rendered=None
            if skip
            else render(
                KIND,
                {
                    **names,
                    "recipient_name": tutor.user.display_name,
                    "session_subject": live.subject,
                    "student_names": student_names,
                    "scheduled_local": local_time(live.scheduled_start, zone(tutor.time_zone)),
                },
                role=RecipientRole.TUTOR,
                letter=SUBSTITUTION_TUTORS[variant],
            ),
        )
        db.add(row)
        written.append(row)
        log.info(
            "notice queued" if skip is None else "notice skipped",
            delivery=row.id,
            kind=KIND.value,
            tutor=tutor.id,
            session=live.id,
            event=event.id,
        )
    for row in written:
        if row.status is not DeliveryStatus.PENDING:
            continue
        outgoing_tutor = outgoing is not None and row.guardian_id == outgoing.id
        row.attachment_name = INVITE_NAME
        row.attachment = invite(
            live,
            method="CANCEL" if outgoing_tutor else "REQUEST",
            summary=f"{live.subject} with "
            + (
                student_names
                if row.recipient_role is RecipientRole.TUTOR
                else names["new_tutor_name"]
            ),
            description=f"Liveclass: {live.subject} with {names['new_tutor_name']}.",
            domain=invites.domain,
            organizer=invites.organizer,
            attendee=row.to_address,
            attendee_name=row.to_address,
        )
    await db.flush()
    return written
