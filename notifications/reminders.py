"""Session reminders: 24 h and 1 h before a session, to its tutor, students and guardians.

``queue_due_reminders`` runs on the lifecycle sweep's beat (``sessions.timers``)
in every ``liveclass serve`` and ``liveclass worker``, as a ``ReminderSweep``
step that ``api.workers`` hands it. It keeps no timers of its
own: each pass reads the upcoming sessions and the delivery log, and writes
the reminders that are due now and not yet in the log. A restart therefore
catches up on its first pass, and several workers may run it at once: each
reminder has one unique key, ``session_reminder:{session}:{start}:{offset}:
{recipient}``, and the row is written with ``INSERT ... ON CONFLICT DO
NOTHING``, so the loser of a race writes nothing (on PostgreSQL it waits for
the winner's commit on the key's index; on SQLite for its write lock). The
dispatcher then sends each row once.

The start is part of the key, so a session moved to a new time gets reminders
for that time, while the pending ones for the old time are withdrawn
(``skipped``, with the reason), as are pending ones of a session that was
cancelled or has already started. A reminder is never sent late: only the
nearest offset that is due is written (a session booked 30 minutes ahead gets
its 1 h reminder, never the 24 h one). Guardians' ``notify_email`` and
``notify_reminders`` apply as for every other email: a ``skipped`` row says
why nothing went. Tutors and students get theirs while their account is active
and their own ``notify_reminders`` is on.
Who gets a reminder is decided when it falls due: someone added to a session
after its 24 h reminder went out gets the 1 h one only.

The tutor's and each student's reminder link straight to the lesson page of that
session (``lesson_link``, which ``api.workers`` makes: a join token for that
person and session, good until shortly after its end). A minor's link (under
``ADULT_AGE`` by their date of birth, or with none on file) carries no token, so
the page asks them to log in first, unless every guardian on file allowed the
direct link (``join_without_login``): ``login_required``.

The tutor's reminder also carries each student's briefing for the session (what
is still difficult, homework to check, what to focus on: ``briefings``, which the
composition root reads from ``sessions``); a substitute, being the session's tutor
by then, gets it too. Each briefing emailed is an audit entry (a read of the
student's ``briefing`` by that tutor).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from core.ids import new_id
from core.logging import get_logger
from notifications.models import Delivery, DeliveryKind, DeliveryStatus, RecipientRole
from notifications.queue import message_id_for, skip_reason
from notifications.templates import join_names, lead_time, local_time, render, zone
from notifications.unsubscribe import STOPS, Stop
from scheduling.ages import age_on
from scheduling.audit import Actor, AuditAction, record
from scheduling.models import (
    Guardian,
    Guardianship,
    LiveSession,
    SessionStatus,
    Student,
    Tutor,
    User,
)

log = get_logger("liveclass.sessions.notifications")

DEFAULT_AHEAD: tuple[timedelta, ...] = (timedelta(hours=24), timedelta(hours=1))
ADULT_AGE = 18  # a younger student's reminder link asks for a login (unless allowed)
UPCOMING = (SessionStatus.SCHEDULED, SessionStatus.OPEN)
KIND = DeliveryKind.SESSION_REMINDER
# Sessions looked at per query of the delivery log.
CHUNK = 200


# Each student's briefing for a session, as text by student id (``sessions.documentation.
# briefing_texts``, handed in by ``api.workers``: this package cannot read sessions').
BriefingSource = Callable[[AsyncSession, str], Awaitable[dict[str, str]]]


@dataclass(frozen=True)
class LessonLink:
    """What a reminder's link into the lesson is for: one person, one session, until
    ``until``; with ``login_required`` it carries nothing that lets them in by itself."""

    session_id: str
    user_id: str
    role: str
    name: str
    until: datetime
    login_required: bool


def login_required(
    born: date | None, guardians_allow: Sequence[bool], *, today: date, adult_age: int = ADULT_AGE
) -> bool:
    """Whether a student's reminder link must ask for a login: a minor's (or one whose
    age is unknown) does, unless they have guardians on file and every one allowed the
    direct link; an adult's never does."""
    if born is not None and age_on(born, today) >= adult_age:
        return False
    return not (guardians_allow and all(guardians_allow))


@dataclass(frozen=True)
class Recipient:
    """One person a session's reminder goes to, and the student it is about."""

    role: RecipientRole
    profile_id: str
    student_id: str
    user: User
    time_zone: str
    skip: str | None = None


def offset_label(offset: timedelta) -> str:
    """``24h``, ``1h``, ``30m``: how an offset reads inside a key."""
    minutes = int(offset.total_seconds() // 60)
    return f"{minutes // 60}h" if minutes % 60 == 0 else f"{minutes}m"


def start_stamp(start: datetime) -> str:
    """The session's start inside a key (UTC, to the second): a move changes the key."""
    return f"{start:%Y%m%dT%H%M%SZ}"


def pass_key(live: LiveSession, offset: timedelta) -> str:
    """What every reminder of one session, start and offset has in common."""
    return f"{KIND.value}:{live.id}:{start_stamp(live.scheduled_start)}:{offset_label(offset)}"


def reminder_key(live: LiveSession, offset: timedelta, recipient: Recipient) -> str:
    who = recipient.profile_id
    if recipient.role is RecipientRole.GUARDIAN:
        # A guardian of two children in one session gets one reminder for each.
        who = f"{who}:{recipient.student_id}"
    return f"{pass_key(live, offset)}:{who}"


def _pass_of(key: str) -> str:
    return ":".join(key.split(":")[:4])


def due_offset(start: datetime, now: datetime, offsets: Sequence[timedelta]) -> timedelta | None:
    """The nearest reminder due at ``now`` (``offsets`` ascending): older ones have passed
    unsent and are left out, so nobody gets yesterday's "24 hours to go" an hour before."""
    if start <= now:
        return None
    return next((o for o in offsets if start - o <= now), None)


async def queue_due_reminders(
    db: AsyncSession,
    now: datetime,
    *,
    ahead: Iterable[timedelta] = DEFAULT_AHEAD,
    message_domain: str = "localhost",
    stop_link: Callable[[Stop], str] | None = None,
    lesson_link: Callable[[LessonLink], str] | None = None,
    briefings: BriefingSource | None = None,
) -> int:
    """Write the reminders due at ``now``; the caller commits. Returns how many emails
    were queued to send (skipped rows are written too, but not counted).

    Args:
        ahead: how long before the start each reminder is due (24 h and 1 h).
        message_domain: the right-hand side of each Message-ID (the From domain).
        stop_link: a guardian's one-click stop to its URL (``notifications.
            unsubscribe``); with it, each guardian's reminder carries its stop.
        lesson_link: the tutor's or a student's link into the lesson; without it their
            reminder says to join from their Liveclass page.
        briefings: each student's briefing for a session as text, by student id.
    """
    offsets = sorted({o for o in ahead if o > timedelta(0)})
    if not offsets:
        return 0
    await withdraw_stale_reminders(db, now)
    upcoming = list(
        await db.scalars(
            select(LiveSession)
            .where(
                LiveSession.status.in_(UPCOMING),
                LiveSession.scheduled_start > now,
                LiveSession.scheduled_start <= now + offsets[-1],
            )
            .order_by(LiveSession.scheduled_start, LiveSession.id)
        )
    )
    queued = 0
    for first in range(0, len(upcoming), CHUNK):
        chunk = upcoming[first : first + CHUNK]
        # Which (session, start, offset) passes are done: one pass writes all of a
        # session's rows in one transaction, so one row of it means all of it.
        done = {
            _pass_of(key)
            for key in await db.scalars(
                select(Delivery.key).where(
                    Delivery.session_id.in_([live.id for live in chunk]), Delivery.kind == KIND
                )
            )
        }
        for live in chunk:
            offset = due_offset(live.scheduled_start, now, offsets)
            if offset is None or pass_key(live, offset) in done:
                continue
            people = await recipients(db, live)
            shared = await _session_values(db, live)
            links = await _join_lines(db, live, people, now, lesson_link)
            briefed = await briefings(db, live.id) if briefings is not None else {}
            for recipient in people:
                tutor = recipient.role is RecipientRole.TUTOR
                written = await _write(
                    db,
                    live,
                    offset,
                    recipient,
                    now,
                    message_domain,
                    {
                        **shared,
                        "join_line": links.get(recipient.profile_id, ""),
                        "briefing": _briefing_block(briefed, shared) if tutor else "",
                    },
                    stop_link,
                )
                if written and tutor and briefed:
                    record(
                        db,
                        Actor("user", recipient.user.id, live.org_id),
                        AuditAction.READ,
                        "briefing",
                        at=now,
                        route="email: session reminder",
                        resource_id=live.id,
                        student_ids=sorted(briefed),
                    )
                queued += written
    return queued


def _briefing_block(briefed: dict[str, str], shared: dict[str, str]) -> str:
    """The students' briefings as the tutor's reminder shows them, after a blank line."""
    if not briefed:
        return ""
    parts = [
        f"{shared.get(f'student:{sid}', 'A student')}\n{text}"
        for sid, text in sorted(briefed.items())
    ]
    return "\n\nBefore the lesson, from your last lessons together:\n\n" + "\n\n".join(parts)


async def _join_lines(
    db: AsyncSession,
    live: LiveSession,
    people: Sequence[Recipient],
    now: datetime,
    lesson_link: Callable[[LessonLink], str] | None,
) -> dict[str, str]:
    """The tutor's and each student's sentence on how to join, by profile id."""
    if lesson_link is None:
        return {
            r.profile_id: "Join from your Liveclass page a few minutes before the start."
            for r in people
        }
    allow: dict[str, list[bool]] = {}
    for student_id, allowed in await db.execute(
        select(Guardianship.student_id, Guardianship.join_without_login).where(
            Guardianship.student_id.in_(live.student_ids)
        )
    ):
        allow.setdefault(student_id, []).append(bool(allowed))
    born = {
        s.id: s.date_of_birth
        for s in await db.scalars(select(Student).where(Student.id.in_(live.student_ids)))
    }
    out = {}
    for r in people:
        if r.role is RecipientRole.GUARDIAN:
            continue
        login = r.role is RecipientRole.STUDENT and login_required(
            born.get(r.profile_id), allow.get(r.profile_id, []), today=now.date()
        )
        link = lesson_link(
            LessonLink(
                session_id=live.id,
                user_id=r.user.id,
                role=r.role.value,
                name=r.user.display_name,
                until=live.scheduled_end,
                login_required=login,
            )
        )
        out[r.profile_id] = (
            f"Join the lesson here (you will be asked to log in first): {link}"
            if login
            else f"Join the lesson here, a few minutes before the start: {link}"
        )
    return out


async def recipients(
    db: AsyncSession, live: LiveSession, kind: DeliveryKind = KIND
) -> list[Recipient]:
    """The tutor, each student, and each guardian of each student, with why any is
    skipped (for ``kind``: a guardian's preferences differ by email)."""
    students = list(
        await db.scalars(
            select(Student).where(Student.id.in_(live.student_ids)).order_by(Student.id)
        )
    )
    if not students:
        return []
    out = []
    tutor = await db.get(Tutor, live.tutor_id)
    if tutor is not None:
        out.append(
            Recipient(
                RecipientRole.TUTOR,
                tutor.id,
                students[0].id,
                tutor.user,
                tutor.time_zone,
                _own_choice(kind, tutor.notify_reminders, "tutor") or _inactive(tutor.user),
            )
        )
    for student in students:
        out.append(
            Recipient(
                RecipientRole.STUDENT,
                student.id,
                student.id,
                student.user,
                student.time_zone,
                _own_choice(kind, student.notify_reminders, "student") or _inactive(student.user),
            )
        )
    links = (
        await db.execute(
            select(Guardianship, Guardian)
            .join(Guardian, Guardian.id == Guardianship.guardian_id)
            .where(Guardianship.student_id.in_([s.id for s in students]))
            .order_by(Guardianship.student_id, Guardian.id)
        )
    ).all()
    for link, guardian in links:
        out.append(
            Recipient(
                RecipientRole.GUARDIAN,
                guardian.id,
                link.student_id,
                guardian.user,
                guardian.time_zone,
                skip_reason(kind, link) or _inactive(guardian.user),
            )
        )
    return out


def _own_choice(kind: DeliveryKind, notify_reminders: bool, who: str) -> str | None:
    """A tutor's or student's own preference: only reminders can be turned off."""
    if kind is DeliveryKind.SESSION_REMINDER and not notify_reminders:
        return f"{who} turned off session reminders (notify_reminders)"
    return None


def _inactive(user: User) -> str | None:
    return None if user.is_active else "account deactivated (is_active)"


async def _write(
    db: AsyncSession,
    live: LiveSession,
    offset: timedelta,
    recipient: Recipient,
    now: datetime,
    message_domain: str,
    shared: dict[str, str],
    stop_link: Callable[[Stop], str] | None = None,
) -> int:
    """Insert one reminder unless its key exists (another worker's, committed or not);
    1 if an email was queued."""
    key = reminder_key(live, offset, recipient)
    values: dict[str, Any] = {
        "id": new_id("dlv"),
        "key": key,
        "org_id": live.org_id,
        "guardian_id": recipient.profile_id,
        "recipient_role": recipient.role,
        "student_id": recipient.student_id,
        "session_id": live.id,
        "kind": KIND,
        "to_address": recipient.user.email,
        "message_id": message_id_for(key, message_domain),
        "status": DeliveryStatus.SKIPPED if recipient.skip else DeliveryStatus.PENDING,
        "skip_reason": recipient.skip,
        "attempts": 0,
        "next_attempt_at": None if recipient.skip else now,
        "created_at": now,
    }
    if recipient.skip is None:
        tz = zone(recipient.time_zone)
        stop = None
        if stop_link is not None and recipient.role is RecipientRole.GUARDIAN:
            stop = stop_link(Stop(recipient.profile_id, recipient.student_id, STOPS[KIND]))
        rendered = render(
            KIND,
            {
                **shared,
                "recipient_name": recipient.user.display_name,
                "student_name": shared[f"student:{recipient.student_id}"],
                "scheduled_local": local_time(live.scheduled_start, tz),
                "starts_in": lead_time(live.scheduled_start - now),
                "stop_line": f"Stop these reminders with one click: {stop}"
                if stop
                else "Choose which emails you get in your family portal.",
            },
            role=recipient.role,
        )
        values.update(
            subject=rendered.subject,
            text_body=rendered.text,
            html_body=rendered.html,
            unsubscribe_url=stop,
        )
    written = await db.scalar(_insert_ignoring_duplicate_key(db, values))
    if written is None:
        return 0  # another worker wrote this reminder first
    log.info(
        "reminder queued" if recipient.skip is None else "reminder skipped",
        delivery=written,
        session=live.id,
        recipient=recipient.profile_id,
        role=recipient.role.value,
        offset=offset_label(offset),
    )
    return 0 if recipient.skip else 1


def _insert_ignoring_duplicate_key(db: AsyncSession, values: dict[str, Any]) -> Any:
    dialect = db.get_bind().dialect.name
    if dialect == "postgresql":
        return (
            postgresql.insert(Delivery)
            .values(values)
            .on_conflict_do_nothing(index_elements=[Delivery.key])
            .returning(Delivery.id)
        )
    if dialect == "sqlite":
        return (
            sqlite.insert(Delivery)
            .values(values)
            .on_conflict_do_nothing(index_elements=[Delivery.key])
            .returning(Delivery.id)
        )
    raise NotImplementedError(f"reminders need ON CONFLICT, which {dialect} lacks here")


async def _session_values(db: AsyncSession, live: LiveSession) -> dict[str, str]:
    """What every reminder of a session says alike, and each student's name
    (``student:{id}``)."""
    tutor = await db.get(Tutor, live.tutor_id)
    students = list(
        await db.scalars(
            select(Student).where(Student.id.in_(live.student_ids)).order_by(Student.id)
        )
    )
    return {
        "session_subject": live.subject,
        "tutor_name": tutor.user.display_name if tutor is not None else "your tutor",
        "student_names": join_names([s.user.display_name for s in students]),
        **{f"student:{s.id}": s.user.display_name for s in students},
    }


async def withdraw_stale_reminders(db: AsyncSession, now: datetime) -> int:
    """Mark ``skipped`` the pending reminders that must no longer go: their session was
    cancelled, moved or removed, or has started, or the tutor it is for no longer
    teaches it (another tutor stands in; theirs comes on the next pass). Returns how many.

    Each update re-checks that the row is still ``pending``, so a dispatcher that
    claimed it first keeps it (it is already on its way).
    """
    rows = (
        await db.execute(
            select(
                Delivery.id,
                Delivery.key,
                Delivery.recipient_role,
                Delivery.guardian_id,
                LiveSession.status,
                LiveSession.scheduled_start,
                LiveSession.tutor_id,
            )
            .outerjoin(LiveSession, LiveSession.id == Delivery.session_id)
            .where(Delivery.kind == KIND, Delivery.status == DeliveryStatus.PENDING)
            # One order for every worker, so two of them lock these rows in turn.
            .order_by(Delivery.id)
        )
    ).all()
    withdrawn = 0
    for delivery_id, key, role, recipient, status, start, tutor_id in rows:
        if status is None or start is None:
            reason = "the session no longer exists"
        elif status not in UPCOMING:
            reason = f"the session is {status.value}"
        elif key.split(":")[2] != start_stamp(start):
            reason = "the session was moved; reminders for its new time replace this one"
        elif start <= now:
            reason = "the session had started before the reminder could go"
        elif role is RecipientRole.TUTOR and recipient != tutor_id:
            reason = "another tutor now teaches this session"
        else:
            continue
        result = await db.execute(
            update(Delivery)
            .where(Delivery.id == delivery_id, Delivery.status == DeliveryStatus.PENDING)
            .values(status=DeliveryStatus.SKIPPED, skip_reason=reason, next_attempt_at=None)
            .execution_options(synchronize_session=False)
        )
        if result.rowcount == 1:  # type: ignore[attr-defined]
            withdrawn += 1
            log.info("reminder withdrawn", delivery=delivery_id, reason=reason)
    return withdrawn


@dataclass(frozen=True)
class ReminderSweep:
    """The due reminders as one step of the lifecycle sweep (``sessions.timers.SweepStep``).

    Args:
        message_domain: the right-hand side of each Message-ID (the From domain).
        ahead: how long before the start each reminder is due; empty: none.
    """

    message_domain: str = "localhost"
    ahead: tuple[timedelta, ...] = DEFAULT_AHEAD
    name: str = "reminder"
    stop_link: Callable[[Stop], str] | None = None  # guardians' one-click stops
    lesson_link: Callable[[LessonLink], str] | None = None  # tutors' and students' way in
    briefings: BriefingSource | None = None  # the tutor's reminder carries them

    async def __call__(self, db: AsyncSession, now: datetime) -> int:
        queued = await queue_due_reminders(
            db,
            now,
            ahead=self.ahead,
            message_domain=self.message_domain,
            stop_link=self.stop_link,
            lesson_link=self.lesson_link,
            briefings=self.briefings,
        )
        if queued:
            log.info("reminders queued", count=queued)
        return queued
