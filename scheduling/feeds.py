"""Calendar feeds: a secret URL per tutor or guardian that calendar apps subscribe to.

The token in the URL is the only credential (calendar apps cannot log in), so
only its SHA-256 is stored and rotating it replaces that hash: the old URL
stops working at once. ``render_calendar`` turns sessions into an RFC 5545
VCALENDAR without I/O. Each session is one VEVENT whose UID never changes,
whose SEQUENCE grows with every change (seconds from creation to the last
update), and which says STATUS:CANCELLED once cancelled, so subscribed
calendars update or strike out the event instead of duplicating it.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta

from icalendar import Calendar, Event
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from core.ids import new_id
from scheduling.audit import Actor, AuditAction, record
from scheduling.models import (
    CalendarFeed,
    FeedOwner,
    Guardianship,
    LiveSession,
    SessionStatus,
    SessionStudent,
    Student,
    Tutor,
    User,
)

# How far back a feed reaches; calendar apps keep what they saw before.
HISTORY = timedelta(days=90)
PRODID = "-//Liveclass//Calendar feed//EN"


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


async def rotate_feed(
    db: AsyncSession, *, org_id: str, owner_kind: FeedOwner, owner_id: str, now: datetime
) -> str:
    """Give the owner a new feed token, replacing any old one; return the token (shown once)."""
    token = secrets.token_urlsafe(32)
    feed = await db.scalar(
        select(CalendarFeed).where(
            CalendarFeed.owner_kind == owner_kind, CalendarFeed.owner_id == owner_id
        )
    )
    if feed is None:
        db.add(
            CalendarFeed(
                id=new_id("cal"),
                org_id=org_id,
                owner_kind=owner_kind,
                owner_id=owner_id,
                token_hash=hash_token(token),
                created_at=now,
                rotated_at=None,
            )
        )
    else:
        feed.token_hash, feed.rotated_at = hash_token(token), now
    await db.flush()
    return token


async def feed_for(db: AsyncSession, token: str) -> CalendarFeed | None:
    """The feed this token opens, or None for an unknown or rotated-away token."""
    return await db.scalar(select(CalendarFeed).where(CalendarFeed.token_hash == hash_token(token)))


async def feed_sessions(
    db: AsyncSession, feed: CalendarFeed, *, now: datetime
) -> list[LiveSession]:
    """A tutor's own sessions, or a guardian's children's, from ``HISTORY`` ago on."""
    if feed.owner_kind is FeedOwner.TUTOR:
        mine = LiveSession.tutor_id == feed.owner_id
    else:
        children = select(Guardianship.student_id).where(Guardianship.guardian_id == feed.owner_id)
        attending = select(SessionStudent.session_id).where(SessionStudent.student_id.in_(children))
        mine = LiveSession.id.in_(attending)
    rows = await db.scalars(
        select(LiveSession)
        .where(
            mine,
            LiveSession.org_id == feed.org_id,
            LiveSession.scheduled_end >= now - HISTORY,
        )
        .order_by(LiveSession.scheduled_start, LiveSession.id)
    )
    return list(rows)


async def issue_feed(
    db: AsyncSession, *, org_id: str, owner_kind: FeedOwner, owner_id: str, now: datetime
) -> tuple[str, CalendarFeed]:
    """Create or rotate the owner's feed; return its new token (shown once) and the feed."""
    token = await rotate_feed(db, org_id=org_id, owner_kind=owner_kind, owner_id=owner_id, now=now)
    feed = await feed_for(db, token)
    assert feed is not None
    return token, feed


async def feed_summaries(
    db: AsyncSession, feed: CalendarFeed, sessions: Sequence[LiveSession]
) -> dict[str, str]:
    """Each session's SUMMARY by id: its subject and the other party.

    A tutor's feed names the students (by name), a guardian's the tutor, so
    an event reads the same as the lesson does to whoever subscribed.
    """
    ids = [s.id for s in sessions]
    if feed.owner_kind is FeedOwner.TUTOR:
        rows = await db.execute(
            select(SessionStudent.session_id, User.display_name)
            .join(Student, Student.id == SessionStudent.student_id)
            .join(User, User.id == Student.user_id)
            .where(SessionStudent.session_id.in_(ids))
            .order_by(User.display_name)
        )
        students: dict[str, list[str]] = {}
        for session_id, name in rows:
            students.setdefault(session_id, []).append(name)
        return {s.id: f"{s.subject} with {', '.join(students.get(s.id, []))}" for s in sessions}
    rows = await db.execute(
        select(Tutor.id, User.display_name)
        .join(User, User.id == Tutor.user_id)
        .where(Tutor.id.in_({s.tutor_id for s in sessions}))
    )
    tutors: dict[str, str] = {row[0]: row[1] for row in rows}
    return {s.id: f"{s.subject} with {tutors.get(s.tutor_id, 'your tutor')}" for s in sessions}


async def feed_calendar(
    db: AsyncSession,
    token: str,
    *,
    now: datetime,
    name: str,
    domain: str,
    route: str = "GET /api/v1/calendar/{token}.ics",
    address: str | None = None,
) -> bytes | None:
    """The VCALENDAR that ``token`` opens (see ``render_calendar``), or None for an
    unknown or rotated-away token.

    Each read is in the audit log as the feed's (``calendar_feed``, its owner's profile
    id; the feed's id, never the token), one entry per student whose sessions it lists.
    """
    feed = await feed_for(db, token)
    if feed is None:
        return None
    sessions = await feed_sessions(db, feed, now=now)
    listed = {sid for s in sessions for sid in s.student_ids}
    if feed.owner_kind is FeedOwner.GUARDIAN:  # a shared session lists others' children too
        children = set(
            await db.scalars(
                select(Guardianship.student_id).where(Guardianship.guardian_id == feed.owner_id)
            )
        )
        listed &= children
    record(
        db,
        Actor("calendar_feed", feed.owner_id, feed.org_id),
        AuditAction.READ,
        "calendar",
        at=now,
        route=route,
        resource_id=feed.id,
        student_ids=sorted(listed) or (None,),
        address=address,
    )
    return render_calendar(
        sessions,
        summaries=await feed_summaries(db, feed, sessions),
        name=name,
        domain=domain,
    )


def render_calendar(
    sessions: Iterable[LiveSession], *, summaries: Mapping[str, str], name: str, domain: str
) -> bytes:
    """An RFC 5545 VCALENDAR with one VEVENT per session, times in UTC.

    Args:
        sessions: what to list.
        summaries: the SUMMARY of each session, by id (subject and the other party).
        name: the calendar's display name (X-WR-CALNAME).
        domain: the right-hand side of each UID, e.g. the server's host name.
    """
    cal = Calendar()
    cal.add("prodid", PRODID)
    cal.add("version", "2.0")
    cal.add("calscale", "GREGORIAN")
    cal.add("method", "PUBLISH")
    cal.add("x-wr-calname", name)
    for s in sessions:
        cal.add_component(session_event(s, summary=summaries.get(s.id, s.subject), domain=domain))
    return bytes(cal.to_ical())


def session_event(s: LiveSession, *, summary: str, domain: str) -> Event:
    """One session as a VEVENT, as the feed and the emailed invites both give it: the
    same ``UID`` (so a calendar that has both keeps one event), UTC times, and a
    ``SEQUENCE`` that grows with every change (seconds from booking to the last change).
    """
    event = Event()
    event.add("uid", f"{s.id}@{domain}")
    event.add("dtstamp", s.updated_at)
    event.add("dtstart", s.scheduled_start)
    event.add("dtend", s.scheduled_end)
    event.add("summary", summary)
    event.add("status", "CANCELLED" if s.status is SessionStatus.CANCELLED else "CONFIRMED")
    event.add("sequence", max(0, int((s.updated_at - s.created_at).total_seconds())))
    event.add("last-modified", s.updated_at)
    return event
